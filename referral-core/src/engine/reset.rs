//! Password reset: requesting a link by email and confirming it with a new password.

use uuid::Uuid;

use super::Engine;
use crate::email::Email;
use crate::error::{Error, FieldError};
use crate::password::Password;
use crate::rate_limit::{login_key, reset_mail_key};
use crate::storage::{OutboxMessage, ResetTokenRecord};
use crate::templates;
use crate::tokens::OpaqueToken;

/// What `POST /api/reset-password` always answers for a well-formed email.
pub const RESET_REQUESTED_MESSAGE: &str =
    "If that email is registered, a password reset link has been sent.";

/// What `POST /api/reset-password/confirm` answers on success.
pub const RESET_DONE_MESSAGE: &str =
    "Your password has been reset. Please log in with the new password.";

impl Engine {
    /// Queues a reset link for `email` if it is registered and under the mail limit.
    ///
    /// Answers the same for registered and unknown emails. Only a malformed email is an error
    /// ([`Error::Validation`]). The message goes to the outbox in the same transaction as the
    /// token; the dispatcher sends it.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email)
            .map_err(|problem| Error::invalid("email", problem.code(), problem.message()))?;
        let storage = &self.inner.storage;
        let Some(user) = storage.user_by_email(&email).await? else {
            return Ok(());
        };
        let limit = self.inner.config.reset_mail_limit;
        let window = storage
            .hit_rate_limit(&reset_mail_key(&email), self.now(), limit.window)
            .await?;
        if !limit.allows(window.count) {
            tracing::info!(user = %user.id, "reset mail limit reached; no message sent");
            return Ok(());
        }
        let token = OpaqueToken::generate();
        let now = self.now();
        let ttl = self.inner.config.reset_ttl;
        let link = format!(
            "{}/reset-password?token={}",
            self.inner.config.app_base_url,
            token.expose()
        );
        let record = ResetTokenRecord {
            hash: token.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now + ttl,
        };
        let mail = OutboxMessage {
            id: Uuid::now_v7(),
            message: templates::password_reset(&user.email, &link, ttl.whole_minutes()),
            attempts: 0,
            created_at: now,
        };
        storage.create_reset_token(record, mail).await?;
        tracing::info!(user = %user.id, "password reset requested; message queued");
        self.wake_outbox();
        Ok(())
    }

    /// Sets a new password with a reset token. The token is consumed, every refresh token and
    /// every earlier access token of the user stops working, and the failed-login count for
    /// the email is cleared.
    ///
    /// Errors: [`Error::InvalidResetToken`] for an unknown, used, superseded or expired token;
    /// [`Error::Validation`] for a bad password (the token is not consumed then).
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), Error> {
        let hash = OpaqueToken::from_client(token).hash();
        let storage = &self.inner.storage;
        let user = storage
            .reset_token_user(&hash, self.now())
            .await?
            .ok_or(Error::InvalidResetToken)?;
        let password = Password::new_for(new_password, Some(&user.email)).map_err(|problem| {
            Error::Validation(vec![FieldError::new(
                "new_password",
                problem.code(),
                problem.message(),
            )])
        })?;
        let password_hash = self.inner.hasher.hash(&password).await?;
        storage
            .consume_reset_token(&hash, &password_hash, self.now())
            .await?
            .ok_or(Error::InvalidResetToken)?;
        storage.clear_rate_limit(&login_key(&user.email)).await?;
        tracing::info!(user = %user.id, "password reset; sessions revoked");
        Ok(())
    }
}

//! Password reset: requesting a link by email, sending it, and confirming it with a new
//! password.
//!
//! A request answers the same for every well-formed email, and does the same work for each:
//! it counts the client address and the email against their limits and queues a
//! `mail.password_reset` message naming the email, nothing else. Whether the email is
//! registered is only looked up by the outbox dispatcher, which creates the token when it
//! sends the mail, so no raw token is ever stored, and a request for an unknown email costs
//! what one for a registered email costs.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Engine, EventType};
use crate::email::Email;
use crate::error::{Error, FieldError};
use crate::mailer::Message;
use crate::password::Password;
use crate::rate_limit::RateScope;
use crate::storage::{OutboxMessage, ResetTokenRecord};
use crate::templates::LinkMail;
use crate::tokens::OpaqueToken;

/// What `POST /api/reset-password` always answers for a well-formed email.
pub const RESET_REQUESTED_MESSAGE: &str =
    "If that email is registered, a password reset link has been sent.";

/// What `POST /api/reset-password/confirm` answers on success.
pub const RESET_DONE_MESSAGE: &str =
    "Your password has been reset. Please log in with the new password.";

/// The outbox topic of a reset mail.
pub(crate) const RESET_MAIL_TOPIC: &str = "mail.password_reset";

/// The payload of a reset mail: only the address asked for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ResetMail {
    email: Email,
}

impl Engine {
    /// Queues a reset link for `email`, sent if it is registered and under the mail limit.
    ///
    /// Answers the same for registered and unknown emails, after the same work. Errors: a
    /// malformed email ([`Error::Validation`]); too many requests from `client_address`
    /// ([`Error::RateLimited`]). Past the per-email mail limit the request still succeeds and
    /// nothing is sent.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client_address: Option<IpAddr>,
    ) -> Result<(), Error> {
        let email = Email::parse(email)
            .map_err(|problem| Error::invalid("email", problem.code(), problem.message()))?;
        if let Some(address) = client_address {
            let limit = self.inner.config.reset_request_limit;
            self.count_attempt(RateScope::ResetFromAddress, &address.to_string(), limit)
                .await?;
        }
        let limit = self.inner.config.reset_mail_limit;
        if let Err(Error::RateLimited { .. }) = self
            .count_attempt(RateScope::ResetMail, email.as_str(), limit)
            .await
        {
            tracing::info!("reset mail limit reached for an address; no message queued");
            return Ok(());
        }
        let payload = serde_json::to_string(&ResetMail { email })
            .map_err(|e| Error::Internal(format!("encoding a reset mail failed: {e}")))?;
        let message = OutboxMessage {
            id: Uuid::now_v7(),
            topic: RESET_MAIL_TOPIC.to_owned(),
            user_id: None,
            payload,
            attempts: 0,
            created_at: self.now(),
        };
        self.inner.storage.enqueue_outbox(message).await?;
        self.wake_outbox();
        Ok(())
    }

    /// The reset mail for a queued request, with a token created now: `None` when the email
    /// is not registered (nothing to send). A request older than the token lifetime is not
    /// sent: [`Error::Internal`] says so, and the dispatcher gives up on it.
    pub(crate) async fn reset_mail(
        &self,
        queued: &OutboxMessage,
    ) -> Result<Option<Message>, Error> {
        let request: ResetMail = serde_json::from_str(&queued.payload)
            .map_err(|e| Error::Internal(format!("unreadable reset mail payload: {e}")))?;
        let now = self.now();
        let ttl = self.inner.config.reset_ttl;
        if queued.created_at + ttl <= now {
            return Err(Error::Internal(
                "the reset request expired before its mail could be sent".into(),
            ));
        }
        let Some(user) = self.inner.storage.user_by_email(&request.email).await? else {
            return Ok(None);
        };
        let token = OpaqueToken::generate();
        let record = ResetTokenRecord {
            hash: token.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now + ttl,
        };
        if !self.inner.storage.create_reset_token(record).await? {
            return Ok(None);
        }
        let link = self.token_link(&self.inner.config.link_paths.reset_path, token.expose());
        let view = self.user_view(&user);
        let content = self
            .inner
            .templates
            .password_reset(&LinkMail::new(&view, &link, ttl));
        tracing::info!(user = %user.id, "password reset mail prepared");
        Ok(Some(Message::new(
            user.email,
            &content.subject,
            content.text,
            content.html,
        )))
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
        let changed = self.event(
            EventType::PasswordChanged,
            Some(user.id),
            json!({ "user_id": user.id, "via": "reset" }),
        );
        storage
            .consume_reset_token(&hash, &password_hash, self.now(), vec![changed])
            .await?
            .ok_or(Error::InvalidResetToken)?;
        self.clear_attempts(RateScope::Login, user.email.as_str())
            .await?;
        tracing::info!(user = %user.id, "password reset; sessions revoked");
        Ok(())
    }
}

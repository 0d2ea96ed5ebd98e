//! Account self-service: a signed-in user changes their own password.
//!
//! Proving the current password is a login attempt in all but name: it is counted under the
//! login limit's key for the user's email (before the check, so parallel guesses cannot get
//! past it) and a correct one takes its attempt back, as a login does.

use serde_json::json;
use uuid::Uuid;

use super::{Engine, EventType};
use crate::error::{Error, FieldError};
use crate::password::Password;
use crate::rate_limit::RateScope;
use crate::storage::PasswordChange;
use crate::tokens::Tokens;
use crate::user::UserRecord;

/// What `POST /api/change-password` answers beside the new tokens.
pub const PASSWORD_CHANGED_MESSAGE: &str =
    "Your password has been changed. Your other sessions have been signed out.";

impl Engine {
    /// Changes `user`'s password after checking their current one, ends every other session
    /// of theirs and starts a new one for the caller.
    ///
    /// In one storage transaction: the new hash, a bumped token version (every earlier
    /// access token is refused), every refresh token revoked, the new session stored, and a
    /// `password.changed` event (`via: "change"`).
    ///
    /// Errors: [`Error::RateLimited`] past the login limit for the user's email;
    /// [`Error::InvalidCredentials`] for a wrong current password (counted toward that
    /// limit), or when a reset or another change landed while it was checked;
    /// [`Error::Validation`] (`new_password`) for a new password that registration would
    /// refuse.
    pub async fn change_password(
        &self,
        user: &UserRecord,
        current_password: &str,
        new_password: &str,
    ) -> Result<Tokens, Error> {
        self.check_own_password(user, current_password).await?;
        let password = Password::new_for(new_password, Some(&user.email)).map_err(|problem| {
            Error::Validation(vec![FieldError::new(
                "new_password",
                problem.code(),
                problem.message(),
            )])
        })?;
        let new_hash = self.inner.hasher.hash(&password).await?;
        let (token, session) = self.new_refresh_token(user, Uuid::now_v7());
        let changed = self.event(
            EventType::PasswordChanged,
            Some(user.id),
            json!({ "user_id": user.id, "via": "change" }),
        );
        let change = PasswordChange {
            user: user.id,
            expected: user.password_hash.clone(),
            new_hash,
            session,
            now: self.now(),
            outbox: vec![changed],
        };
        // `None`: a reset or another change replaced the password while this one was checked.
        let after = self
            .inner
            .storage
            .change_password(change)
            .await?
            .ok_or(Error::InvalidCredentials)?;
        self.wake_outbox();
        tracing::info!(user = %user.id, "password changed; other sessions revoked");
        self.tokens_for(&after, &token)
    }

    /// Checks that `password` is `user`'s, counted as a login attempt for their email:
    /// [`Error::RateLimited`] past the limit, [`Error::InvalidCredentials`] when it is wrong
    /// (the attempt stays counted); a right one takes its attempt back.
    pub(crate) async fn check_own_password(
        &self,
        user: &UserRecord,
        password: &str,
    ) -> Result<(), Error> {
        let attempt = self
            .count_attempt(
                RateScope::Login,
                user.email.as_str(),
                self.inner.config.login_limit,
            )
            .await?;
        let password = Password::normalise(password);
        if !self
            .inner
            .hasher
            .verify(&password, &user.password_hash)
            .await?
        {
            return Err(Error::InvalidCredentials);
        }
        self.refund_attempt(attempt).await
    }
}

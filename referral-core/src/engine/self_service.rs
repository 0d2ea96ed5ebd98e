//! Account self-service: a signed-in user changes their own password or metadata, or
//! erases their account; an admin (or the app) erases someone's.
//!
//! Erasure keeps the account's row as a tombstone under its id, so the referral rows,
//! ledger entries and codes naming it hold: referrers keep their history and totals (the
//! erased referee listed without an email), the erased user's codes are never held by
//! anyone again (a sign-up with one has no referrer), and the email is free for a new
//! account. Everything personal goes: email, password hash, metadata, roles, every token.
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
use crate::storage::{
    audit_actions, AuditEntry, Erasure, MetadataUpdate, PasswordChange, StorageError,
};
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

    /// Replaces `user`'s metadata, after the engine's rules (a JSON object of at most
    /// [`MAX_METADATA_BYTES`](crate::MAX_METADATA_BYTES) serialised) and the app's
    /// [`MetadataValidator`](crate::MetadataValidator) accept it. Answers the user as stored
    /// afterwards.
    ///
    /// In one storage transaction: the new metadata and a `user.updated` event (`data`:
    /// `user_id`, `changed: ["metadata"]`; never the metadata itself, which may be
    /// personal). Metadata equal to what is stored changes nothing and sends no event.
    ///
    /// Errors: [`Error::Validation`] (`metadata`, or `metadata.<key>` from the app's
    /// validator), writing nothing; [`Error::UserNotFound`] when the user was erased
    /// meanwhile.
    pub async fn update_metadata(
        &self,
        user: &UserRecord,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<UserRecord, Error> {
        self.check_metadata(&metadata).map_err(Error::Validation)?;
        if metadata == user.metadata {
            return Ok(user.clone());
        }
        let update = MetadataUpdate {
            user: user.id,
            metadata,
            outbox: vec![self.event(
                EventType::UserUpdated,
                Some(user.id),
                json!({ "user_id": user.id, "changed": ["metadata"] }),
            )],
        };
        let after = self
            .inner
            .storage
            .update_metadata(update)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.wake_outbox();
        tracing::info!(user = %user.id, "metadata changed");
        Ok(after)
    }

    /// Erases the account `user_id`, `actor` doing it (the user themselves, an admin, or
    /// `None` for the operator).
    ///
    /// In one storage transaction: the user's email, password hash, metadata, roles and
    /// every token are removed (the row stays as a tombstone, see the module), their earlier
    /// access tokens are refused at once, an audit entry `user.erased` and a `user.deleted`
    /// event (`data`: `user_id` only) are written.
    ///
    /// Errors: [`Error::UserNotFound`] for an unknown or already erased user;
    /// [`Error::LastAdmin`] when the user is the last enabled admin.
    pub async fn erase_user(&self, user_id: Uuid, actor: Option<Uuid>) -> Result<(), Error> {
        let now = self.now();
        let erasure = Erasure {
            user: user_id,
            now,
            audit: AuditEntry {
                id: Uuid::now_v7(),
                actor_id: actor,
                action: audit_actions::ERASED.to_owned(),
                target_id: Some(user_id),
                details: json!({}),
                at: now,
            },
            outbox: vec![self.event(
                EventType::UserDeleted,
                Some(user_id),
                json!({ "user_id": user_id }),
            )],
        };
        match self.inner.storage.erase_user(erasure).await {
            Ok(true) => {
                self.wake_outbox();
                tracing::info!(user = %user_id, actor = ?actor, "account erased");
                Ok(())
            }
            Ok(false) => Err(Error::UserNotFound),
            Err(StorageError::LastAdmin) => Err(Error::LastAdmin),
            Err(other) => Err(other.into()),
        }
    }

    /// Erases `user`'s own account after checking their password (counted as a login
    /// attempt, as [`change_password`](Self::change_password) counts it); see
    /// [`erase_user`](Self::erase_user).
    ///
    /// Errors: [`Error::RateLimited`], [`Error::InvalidCredentials`] as for a password change;
    /// [`Error::LastAdmin`] when the user is the last enabled admin.
    pub async fn delete_own_account(&self, user: &UserRecord, password: &str) -> Result<(), Error> {
        self.check_own_password(user, password).await?;
        self.erase_user(user.id, Some(user.id)).await
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

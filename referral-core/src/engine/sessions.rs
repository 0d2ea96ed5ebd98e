//! Sessions: issuing token pairs, refresh rotation with reuse detection, logout, and
//! authenticating access tokens.

use uuid::Uuid;

use super::Engine;
use crate::error::Error;
use crate::storage::{RefreshTokenRecord, Rotation};
use crate::tokens::{OpaqueToken, Tokens};
use crate::user::UserRecord;

impl Engine {
    /// A new refresh token for `user` in `family`, at the user's token version, and its record.
    pub(crate) fn new_refresh_token(
        &self,
        user: &UserRecord,
        family: Uuid,
    ) -> (OpaqueToken, RefreshTokenRecord) {
        let token = OpaqueToken::generate();
        let now = self.now();
        let record = RefreshTokenRecord {
            hash: token.hash(),
            user_id: user.id,
            family_id: family,
            issued_at: now,
            expires_at: now + self.inner.config.refresh_ttl,
            token_version: user.token_version,
        };
        (token, record)
    }

    /// The token pair answer for `user` with an already-stored refresh token.
    pub(crate) fn tokens_for(
        &self,
        user: &UserRecord,
        refresh: &OpaqueToken,
    ) -> Result<Tokens, Error> {
        let access = self.inner.access.issue_with_roles(
            user.id,
            user.token_version,
            &user.roles,
            self.now(),
        )?;
        Ok(Tokens {
            access_token: access.expose().to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: self.inner.config.access_ttl.whole_seconds(),
            refresh_token: refresh.expose().to_owned(),
            refresh_expires_in: self.inner.config.refresh_ttl.whole_seconds(),
        })
    }

    /// Starts a new session (a new refresh-token family) for `user` at the token version it
    /// was read with; `None` when that version is no longer current (a reset or a password
    /// change landed meanwhile) and nothing was stored.
    pub(crate) async fn start_session(&self, user: &UserRecord) -> Result<Option<Tokens>, Error> {
        let (token, record) = self.new_refresh_token(user, Uuid::now_v7());
        if !self.inner.storage.insert_refresh_token(record).await? {
            return Ok(None);
        }
        self.tokens_for(user, &token).map(Some)
    }

    /// Exchanges a refresh token for a new pair. The presented token stops working; presenting
    /// it again revokes every refresh token of its user.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Error> {
        let presented = OpaqueToken::from_client(refresh_token);
        let token = OpaqueToken::generate();
        let now = self.now();
        // Storage fills in the presented token's user, family and version.
        let replacement = RefreshTokenRecord {
            hash: token.hash(),
            user_id: Uuid::nil(),
            family_id: Uuid::nil(),
            issued_at: now,
            expires_at: now + self.inner.config.refresh_ttl,
            token_version: 0,
        };
        match self
            .inner
            .storage
            .rotate_refresh_token(&presented.hash(), replacement, now)
            .await?
        {
            Rotation::Rotated(user) => self.tokens_for(&user, &token),
            Rotation::Reused(user_id) => {
                tracing::warn!(user = %user_id, "refresh token reused; every refresh token of the user is revoked");
                Err(Error::InvalidRefreshToken)
            }
            Rotation::Invalid => Err(Error::InvalidRefreshToken),
        }
    }

    /// Ends a session: the refresh token stops working. Unknown tokens are not an error.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), Error> {
        let presented = OpaqueToken::from_client(refresh_token);
        self.inner
            .storage
            .revoke_refresh_token(&presented.hash(), self.now())
            .await?;
        Ok(())
    }

    /// The user an access token (the bare JWT) belongs to.
    ///
    /// Fails with [`Error::Unauthorized`] when the token is malformed, forged, of another
    /// algorithm or type, expired, issued before the user's last password reset or change of
    /// roles, for a disabled user, or for a user that no longer exists.
    pub async fn authenticate(&self, access_token: &str) -> Result<UserRecord, Error> {
        let claims = self.inner.access.verify(access_token.trim(), self.now())?;
        let user = self
            .inner
            .storage
            .user_by_id(claims.sub)
            .await?
            .ok_or(Error::Unauthorized)?;
        // A disable bumps the version too; the check on `disabled_at` holds even so.
        if user.token_version != claims.ver || user.disabled_at.is_some() {
            return Err(Error::Unauthorized);
        }
        Ok(user)
    }
}

//! Sessions: issuing token pairs, refresh rotation with reuse detection, logout, and
//! authenticating bearer tokens.

use uuid::Uuid;

use super::Engine;
use crate::error::Error;
use crate::http::Tokens;
use crate::storage::{RefreshTokenRecord, Rotation};
use crate::tokens::OpaqueToken;
use crate::user::UserRecord;

impl Engine {
    /// A new refresh token for `user` in `family`, and its record.
    pub(crate) fn new_refresh_token(
        &self,
        user: Uuid,
        family: Uuid,
    ) -> (OpaqueToken, RefreshTokenRecord) {
        let token = OpaqueToken::generate();
        let now = self.now();
        let record = RefreshTokenRecord {
            hash: token.hash(),
            user_id: user,
            family_id: family,
            issued_at: now,
            expires_at: now + self.inner.config.refresh_ttl,
        };
        (token, record)
    }

    /// The token pair answer for `user` with an already-stored refresh token.
    pub(crate) fn tokens_for(
        &self,
        user: &UserRecord,
        refresh: &OpaqueToken,
    ) -> Result<Tokens, Error> {
        let access = self
            .inner
            .access
            .issue(user.id, user.token_version, self.now())?;
        Ok(Tokens {
            access_token: access.expose().to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: self.inner.config.access_ttl.whole_seconds(),
            refresh_token: refresh.expose().to_owned(),
            refresh_expires_in: self.inner.config.refresh_ttl.whole_seconds(),
        })
    }

    /// Starts a new session (a new refresh-token family) for `user`.
    pub(crate) async fn start_session(&self, user: &UserRecord) -> Result<Tokens, Error> {
        let (token, record) = self.new_refresh_token(user.id, Uuid::now_v7());
        self.inner.storage.insert_refresh_token(record).await?;
        self.tokens_for(user, &token)
    }

    /// Exchanges a refresh token for a new pair. The presented token stops working; presenting
    /// it again revokes every refresh token of its user.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Error> {
        let presented = OpaqueToken::from_client(refresh_token);
        // The family is kept by storage; the placeholder user and family are replaced there.
        let (token, replacement) = self.new_refresh_token(Uuid::nil(), Uuid::nil());
        let now = self.now();
        match self
            .inner
            .storage
            .rotate_refresh_token(&presented.hash(), replacement, now)
            .await?
        {
            Rotation::Rotated(user_id) => {
                let user = self
                    .inner
                    .storage
                    .user_by_id(user_id)
                    .await?
                    .ok_or(Error::InvalidRefreshToken)?;
                self.tokens_for(&user, &token)
            }
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

    /// The user an `Authorization` header value (`Bearer <JWT>`) belongs to.
    ///
    /// Fails with [`Error::Unauthorized`] when the header is missing or malformed, or the
    /// token is forged, of another algorithm, expired, issued before the user's last
    /// password reset, or for a user that no longer exists.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<UserRecord, Error> {
        let header = authorization.ok_or(Error::Unauthorized)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or(Error::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthorized);
        }
        let claims = self.inner.access.verify(token.trim(), self.now())?;
        let user = self
            .inner
            .storage
            .user_by_id(claims.sub)
            .await?
            .ok_or(Error::Unauthorized)?;
        if user.token_version != claims.ver {
            return Err(Error::Unauthorized);
        }
        Ok(user)
    }
}

//! Tokens: signed JWT access tokens, opaque single-use secrets (refresh and reset), and the
//! token pair a session hands out.

mod access;
mod opaque;

pub use access::{AccessClaims, AccessToken, AccessTokenIssuer};
pub use opaque::{OpaqueToken, TokenHash};

use serde::{Deserialize, Serialize};

/// A token pair (`Tokens` in the contract): what registering, logging in and refreshing
/// answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Tokens {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Opaque, single use: exchange it at `/api/token/refresh`.
    pub refresh_token: String,
    /// Seconds the refresh token lives.
    pub refresh_expires_in: i64,
}

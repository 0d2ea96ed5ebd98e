//! Tokens: signed JWT access tokens and opaque single-use secrets (refresh and reset).

mod access;
mod opaque;

pub use access::{AccessClaims, AccessToken, AccessTokenIssuer};
pub use opaque::{OpaqueToken, TokenHash};

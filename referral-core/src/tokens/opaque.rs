//! Opaque tokens: 256 random bits shown once to the client, stored only as a SHA-256 hash.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret handed to a client (a refresh token or a password-reset token): 32 bytes from the
/// operating system's CSPRNG, base64url without padding (43 characters).
///
/// Only its [`TokenHash`] is ever stored; its `Debug` never shows the secret.
#[derive(Clone)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    /// Draws a new token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        OpaqueToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a token presented by a client.
    pub fn from_client(raw: &str) -> Self {
        OpaqueToken(raw.trim().to_owned())
    }

    /// The secret, to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the token is stored and looked up.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// The SHA-256 of an [`OpaqueToken`]: what storage keeps. Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps 32 bytes read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenHash(bytes)
    }

    /// Reads a hash stored as a byte vector; `None` unless it is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(TokenHash)
    }

    /// The 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_and_differ() {
        let a = OpaqueToken::generate();
        let b = OpaqueToken::generate();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn the_hash_of_a_presented_token_matches_the_stored_one() {
        let token = OpaqueToken::generate();
        assert_eq!(
            OpaqueToken::from_client(&format!(" {} ", token.expose())).hash(),
            token.hash()
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = OpaqueToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}

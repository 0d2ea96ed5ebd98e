//! Who clicked a share link, without knowing who: a [`VisitorHash`] is a keyed hash
//! (HMAC-SHA256 under a key derived from the engine's secret) of the client address and the
//! user agent. The address is never stored, and without the secret the hash cannot be
//! linked back to one.

use std::fmt;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;

/// What the visitor key is derived with, so it differs from every other key made from the
/// same secret.
const DERIVATION_LABEL: &[u8] = b"referral:visitor-key:v1";

/// A visitor of a share link: 32 bytes of HMAC-SHA256 of their address and user agent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisitorHash([u8; 32]);

impl VisitorHash {
    /// Wraps 32 bytes (read back from storage, or made up by a test).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        VisitorHash(bytes)
    }

    /// The 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for VisitorHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VisitorHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Makes [`VisitorHash`]es with a key derived from one secret.
#[derive(Clone)]
pub struct VisitorKeys(Hmac<Sha256>);

impl VisitorKeys {
    /// Keys derived from `secret` (the engine uses its signing secret).
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        let config = |e: hmac::digest::InvalidLength| Error::Config(format!("visitor key: {e}"));
        let mut derive = Hmac::<Sha256>::new_from_slice(secret).map_err(config)?;
        derive.update(DERIVATION_LABEL);
        let key = derive.finalize().into_bytes();
        Hmac::<Sha256>::new_from_slice(&key)
            .map(VisitorKeys)
            .map_err(config)
    }

    /// The visitor with this address and user agent (either may be unknown).
    pub fn visitor(&self, address: Option<IpAddr>, user_agent: Option<&str>) -> VisitorHash {
        let mut mac = self.0.clone();
        match address {
            Some(IpAddr::V4(v4)) => {
                mac.update(&[4]);
                mac.update(&v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                mac.update(&[6]);
                mac.update(&v6.octets());
            }
            None => mac.update(&[0]),
        }
        // The length first, so no address and agent pair reads as another.
        let agent = user_agent.unwrap_or("").as_bytes();
        mac.update(&(agent.len() as u64).to_be_bytes());
        mac.update(agent);
        VisitorHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for VisitorKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of at least thirty-two bytes!!";

    #[test]
    fn one_visitor_hashes_alike_and_others_differently() {
        let keys = VisitorKeys::new(SECRET).unwrap();
        let home: IpAddr = "203.0.113.7".parse().unwrap();
        let work: IpAddr = "2001:db8::7".parse().unwrap();
        let firefox = Some("Mozilla/5.0 Firefox");
        let a = keys.visitor(Some(home), firefox);
        assert_eq!(a, keys.visitor(Some(home), firefox));
        assert_ne!(a, keys.visitor(Some(work), firefox));
        assert_ne!(a, keys.visitor(Some(home), Some("curl/8")));
        assert_ne!(a, keys.visitor(None, firefox));
        // No user agent and an empty one are the same visitor.
        assert_eq!(keys.visitor(None, None), keys.visitor(None, Some("")));
    }

    #[test]
    fn another_secret_makes_other_hashes() {
        let address = Some("203.0.113.7".parse().unwrap());
        let one = VisitorKeys::new(SECRET).unwrap().visitor(address, None);
        let other = VisitorKeys::new(b"another secret of thirty-two bytes or more")
            .unwrap()
            .visitor(address, None);
        assert_ne!(one, other);
    }
}

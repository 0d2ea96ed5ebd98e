//! The `ReferralCode` type: what a user's own code looks like and how one is drawn.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a referral code.
pub const CODE_LEN: usize = 8;

/// A user's referral code: 8 characters of Crockford base32 (40 bits), stored upper-case.
///
/// Parsing trims surrounding spaces and ignores case, so `" ab12cd34 "` and `"AB12CD34"` are
/// the same code.
///
/// ```
/// use referral_core::ReferralCode;
/// let code: ReferralCode = " ab12cd34 ".parse().unwrap();
/// assert_eq!(code.as_str(), "AB12CD34");
/// assert!("AB12CD3I".parse::<ReferralCode>().is_err()); // I is not in the alphabet
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReferralCode(String);

/// A string that is not a referral code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a referral code is 8 characters of 0-9 and A-Z without I, L, O or U")]
pub struct MalformedReferralCode;

impl ReferralCode {
    /// Draws a fresh random code from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let code = (0..CODE_LEN)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        ReferralCode(code)
    }

    /// Parses a code typed by a person: trimmed, case-insensitive.
    pub fn parse(raw: &str) -> Result<Self, MalformedReferralCode> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(ReferralCode(code))
        } else {
            Err(MalformedReferralCode)
        }
    }

    /// The canonical upper-case code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReferralCode {
    type Err = MalformedReferralCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReferralCode::parse(s)
    }
}

impl TryFrom<String> for ReferralCode {
    type Error = MalformedReferralCode;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ReferralCode::parse(&value)
    }
}

impl From<ReferralCode> for String {
    fn from(code: ReferralCode) -> Self {
        code.0
    }
}

impl fmt::Display for ReferralCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_eight_crockford_characters() {
        for _ in 0..1000 {
            let code = ReferralCode::generate();
            assert_eq!(code.as_str().len(), 8);
            assert!(code.as_str().bytes().all(|b| ALPHABET.contains(&b)));
            assert!(!code.as_str().contains(['I', 'L', 'O', 'U']));
        }
    }

    #[test]
    fn codes_match_case_insensitively_with_spaces_trimmed() {
        assert_eq!(
            ReferralCode::parse("  abcd1234\t").unwrap().as_str(),
            "ABCD1234"
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in ["", "ABC", "ABCDEFGHJ", "ABCDEFGL", "ABCD-123", "ÀBCD1234"] {
            assert!(ReferralCode::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

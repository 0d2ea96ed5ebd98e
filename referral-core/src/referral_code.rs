//! The `ReferralCode` type: what a referral code looks like, how one is drawn at sign-up,
//! and which codes a user may choose for themselves (vanity codes).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code drawn at sign-up.
pub const CODE_LEN: usize = 8;

/// The fewest characters a code has.
pub const MIN_CODE_LEN: usize = 4;

/// The most characters a code has.
pub const MAX_CODE_LEN: usize = 32;

/// Codes nobody may choose (compared without case): words a reader would take for a page
/// or a person of the service rather than for a user. Only words of [`MIN_CODE_LEN`] or
/// more characters matter; shorter ones are refused anyway.
pub const RESERVED_CODES: &[&str] = &[
    "about",
    "account",
    "accounts",
    "admin",
    "administrator",
    "anonymous",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "contact",
    "dashboard",
    "help",
    "home",
    "info",
    "login",
    "logout",
    "moderator",
    "null",
    "official",
    "openapi",
    "password",
    "privacy",
    "referral",
    "referrals",
    "register",
    "reset-password",
    "root",
    "security",
    "settings",
    "signin",
    "signup",
    "staff",
    "static",
    "status",
    "support",
    "system",
    "team",
    "terms",
    "undefined",
    "verify-email",
    "webmaster",
    "www",
];

/// A referral code: 4 to 32 characters of `A-Z a-z 0-9 _ -`, kept as its owner writes it
/// and matched without case (`"Jane_Doe"` and `"jane_doe"` are the same code).
///
/// Codes drawn at sign-up are 8 characters of Crockford base32 (40 bits), upper-case; a user
/// may choose a vanity code of their own ([`ReferralCode::vanity`]). Parsing trims
/// surrounding spaces, so `" ab12cd34 "` is the code `AB12CD34`.
///
/// ```
/// use referral_core::ReferralCode;
/// let code: ReferralCode = " ab12cd34 ".parse().unwrap();
/// assert_eq!(code, "AB12CD34".parse().unwrap());
/// assert_eq!(code.key(), "ab12cd34");
/// assert!("AB C".parse::<ReferralCode>().is_err()); // a space is not allowed
/// assert!(ReferralCode::vanity("admin").is_err()); // reserved
/// assert_eq!(ReferralCode::vanity("Jane_Doe").unwrap().as_str(), "Jane_Doe");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReferralCode(String);

/// A string that is not a referral code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a referral code is 4 to 32 characters of A-Z, a-z, 0-9, `_` and `-`")]
pub struct MalformedReferralCode;

/// Why a code cannot be chosen as a vanity code: each maps to a field error on `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VanityCodeProblem {
    /// Fewer than [`MIN_CODE_LEN`] characters.
    #[error("a referral code has at least 4 characters")]
    TooShort,
    /// More than [`MAX_CODE_LEN`] characters.
    #[error("a referral code has at most 32 characters")]
    TooLong,
    /// A character outside `A-Z a-z 0-9 _ -`.
    #[error("a referral code uses only the letters A-Z and a-z, digits, `_` and `-`")]
    InvalidCharacters,
    /// One of the [`RESERVED_CODES`].
    #[error("this word is reserved; choose another code")]
    Reserved,
}

impl VanityCodeProblem {
    /// The stable field-error code (`too_short`, `too_long`, `invalid_characters`,
    /// `reserved`).
    pub fn code(self) -> &'static str {
        match self {
            VanityCodeProblem::TooShort => "too_short",
            VanityCodeProblem::TooLong => "too_long",
            VanityCodeProblem::InvalidCharacters => "invalid_characters",
            VanityCodeProblem::Reserved => "reserved",
        }
    }
}

fn allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

impl ReferralCode {
    /// Draws a fresh random code from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let code = (0..CODE_LEN)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        ReferralCode(code)
    }

    /// Parses a code typed by a person (at sign-up, in a link): surrounding spaces trimmed,
    /// case kept for display and ignored when matching.
    pub fn parse(raw: &str) -> Result<Self, MalformedReferralCode> {
        Self::check(raw).map_err(|_| MalformedReferralCode)
    }

    /// A code a user chooses for themselves: what [`parse`](Self::parse) accepts, except the
    /// [`RESERVED_CODES`]; the problem says which rule it breaks.
    pub fn vanity(raw: &str) -> Result<Self, VanityCodeProblem> {
        let code = Self::check(raw)?;
        let key = code.key();
        if RESERVED_CODES.iter().any(|reserved| *reserved == key) {
            return Err(VanityCodeProblem::Reserved);
        }
        Ok(code)
    }

    fn check(raw: &str) -> Result<Self, VanityCodeProblem> {
        let code = raw.trim();
        if !code.bytes().all(allowed) {
            return Err(VanityCodeProblem::InvalidCharacters);
        }
        if code.len() < MIN_CODE_LEN {
            return Err(VanityCodeProblem::TooShort);
        }
        if code.len() > MAX_CODE_LEN {
            return Err(VanityCodeProblem::TooLong);
        }
        Ok(ReferralCode(code.to_owned()))
    }

    /// The code as its owner writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code in lower case: what codes are matched and kept unique by.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for ReferralCode {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for ReferralCode {}

impl Hash for ReferralCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.0.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
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
        let typed = ReferralCode::parse("  abcd1234\t").unwrap();
        assert_eq!(typed.as_str(), "abcd1234");
        assert_eq!(typed, ReferralCode::parse("ABCD1234").unwrap());
        assert_eq!(typed.key(), "abcd1234");
    }

    #[test]
    fn malformed_codes_are_refused() {
        let long = "a".repeat(33);
        for bad in ["", "ABC", "AB D", "ÀBCD1234", "abc.def", long.as_str()] {
            assert!(ReferralCode::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn vanity_codes_keep_their_case_and_say_what_is_wrong() {
        assert_eq!(
            ReferralCode::vanity(" Jane-Doe_1 ").unwrap().as_str(),
            "Jane-Doe_1"
        );
        assert!(ReferralCode::vanity(&"x".repeat(32)).is_ok());
        assert!(ReferralCode::vanity("abcd").is_ok());
        let cases = [
            ("abc", VanityCodeProblem::TooShort),
            (&*"x".repeat(33), VanityCodeProblem::TooLong),
            ("jane doe", VanityCodeProblem::InvalidCharacters),
            ("jané", VanityCodeProblem::InvalidCharacters),
            ("ADMIN", VanityCodeProblem::Reserved),
            ("Register", VanityCodeProblem::Reserved),
        ];
        for (raw, problem) in cases {
            assert_eq!(ReferralCode::vanity(raw), Err(problem), "{raw:?}");
        }
    }

    #[test]
    fn reserved_words_are_lower_case_and_long_enough_to_matter() {
        for word in RESERVED_CODES {
            assert_eq!(*word, word.to_ascii_lowercase());
            assert!(ReferralCode::parse(word).is_ok() || word.len() < MIN_CODE_LEN);
        }
    }
}

//! The `Email` type: a trimmed, lower-cased, validated address.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest address accepted, in characters (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// A normalised, validated email address: trimmed, lower-cased, at most 254 characters,
/// `local@domain` with a dotted domain, and no control characters (so it can never inject
/// a mail header).
///
/// ```
/// use referral_core::Email;
/// let email: Email = "  Jane.Doe@Example.COM ".parse().unwrap();
/// assert_eq!(email.as_str(), "jane.doe@example.com");
/// assert!("not-an-address".parse::<Email>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailProblem {
    /// Nothing but whitespace.
    Empty,
    /// Longer than [`MAX_EMAIL_LEN`] characters.
    TooLong,
    /// Not of the form `local@domain.tld`.
    Invalid,
}

impl EmailProblem {
    /// A stable snake_case code for validation error lists.
    pub fn code(self) -> &'static str {
        match self {
            EmailProblem::Empty => "required",
            EmailProblem::TooLong => "too_long",
            EmailProblem::Invalid => "invalid_email",
        }
    }

    /// A sentence a user can act on.
    pub fn message(self) -> &'static str {
        match self {
            EmailProblem::Empty => "Email is required",
            EmailProblem::TooLong => "Email must be at most 254 characters",
            EmailProblem::Invalid => "Email is not a valid address",
        }
    }
}

impl fmt::Display for EmailProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EmailProblem {}

impl Email {
    /// Normalises and validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, EmailProblem> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailProblem::Empty);
        }
        if trimmed.chars().count() > MAX_EMAIL_LEN {
            return Err(EmailProblem::TooLong);
        }
        let normalised = trimmed.to_lowercase();
        if normalised
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(EmailProblem::Invalid);
        }
        let parsed = email_address::EmailAddress::from_str(&normalised)
            .map_err(|_| EmailProblem::Invalid)?;
        let domain = parsed.domain();
        // Quoted local parts and IP-literal domains are legal but never what a sign-up form
        // means, and they are what header-injection attempts look like.
        let plain_domain = domain.contains('.')
            && !domain.starts_with('[')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if !plain_domain || parsed.local_part().starts_with('"') {
            return Err(EmailProblem::Invalid);
        }
        Ok(Email(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with its local part hidden but for the first character:
    /// `jane@example.com` → `j***@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((self.0.as_str(), ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl FromStr for Email {
    type Err = EmailProblem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailProblem;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse(" A@B.Co ").unwrap().as_str(), "a@b.co");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "  ",
            "a",
            "a@",
            "@b.co",
            "a@b",
            "a b@c.de",
            "a@b.co\r\nBcc: x@y.z",
            "a@[127.0.0.1]",
            "\"a\"@b.co",
            "a@-b.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_address_over_254_characters_is_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailProblem::TooLong));
    }

    #[test]
    fn masking_keeps_the_first_character_and_the_domain() {
        assert_eq!(
            Email::parse("jane@example.com").unwrap().masked(),
            "j***@example.com"
        );
    }
}

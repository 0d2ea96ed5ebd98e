//! The common-password list shipped with the crate.
//!
//! `data/common_passwords.txt` holds the 30,000 most common passwords, most common first,
//! from the frequency lists of the zxcvbn project (MIT licence, © Dropbox and Joshua Holmer),
//! which rank passwords seen in public breach corpora.

use std::collections::HashSet;
use std::sync::LazyLock;

static LIST: &str = include_str!("../data/common_passwords.txt");

static SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Whether `password`, compared case-insensitively, is on the shipped list.
pub fn is_common(password: &str) -> bool {
    SET.contains(password.to_lowercase().as_str())
}

/// How many passwords the shipped list holds.
#[cfg(test)]
pub fn len() -> usize {
    SET.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_at_least_ten_thousand_passwords() {
        assert!(len() >= 10_000);
    }

    #[test]
    fn well_known_passwords_are_common_in_any_case() {
        assert!(is_common("password"));
        assert!(is_common("PassWord1"));
        assert!(is_common("qwertyuiop"));
        assert!(!is_common("correct horse battery staple"));
    }
}

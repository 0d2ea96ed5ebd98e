//! Fraud signals at sign-up: who is the same person as their referrer, who signs up with a
//! throw-away address. Each becomes a flag on the referral's rewards, never a refused
//! sign-up; the engine decides what a flag does to the reward (see `engine/accounts.rs`).
//!
//! `data/disposable_email_domains.txt` is the list of the disposable-email-domains project
//! (github.com/disposable-email-domains/disposable-email-domains, the list released under
//! CC0 1.0), as shipped in its PyPI package `disposable-email-domains` 0.0.293 (whose Python
//! wrapper is MIT, © 2016 Dustin Ingram): one domain a line, lower case, sorted.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::email::Email;

static LIST: &str = include_str!("../data/disposable_email_domains.txt");

static DISPOSABLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    LIST.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Mail providers that deliver `a.b+tag@` to `ab@`: dots in the local part and anything
/// after a `+` are ignored there.
const DOT_AND_TAG_BLIND: [&str; 2] = ["gmail.com", "googlemail.com"];

/// Providers that ignore `+tag` (but not dots).
const TAG_BLIND: [&str; 8] = [
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "me.com",
    "fastmail.com",
    "protonmail.com",
    "proton.me",
];

/// Whether `email`'s domain (or a parent domain of it) is on the shipped list of
/// disposable-mail domains.
pub(crate) fn is_disposable(email: &Email) -> bool {
    let Some((_, domain)) = email.as_str().rsplit_once('@') else {
        return false;
    };
    let mut rest = domain;
    loop {
        if DISPOSABLE.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

/// The mailbox an address delivers to: `email` (already lower case) with the dots and
/// `+tag` its provider ignores taken out, and `googlemail.com` read as `gmail.com`.
pub(crate) fn mailbox(email: &Email) -> String {
    let Some((local, domain)) = email.as_str().rsplit_once('@') else {
        return email.as_str().to_owned();
    };
    if DOT_AND_TAG_BLIND.contains(&domain) {
        let local = local.split('+').next().unwrap_or(local).replace('.', "");
        return format!("{local}@gmail.com");
    }
    if TAG_BLIND.contains(&domain) {
        let local = local.split('+').next().unwrap_or(local);
        return format!("{local}@{domain}");
    }
    email.as_str().to_owned()
}

/// Whether two addresses deliver to the same mailbox.
pub(crate) fn same_mailbox(a: &Email, b: &Email) -> bool {
    mailbox(a) == mailbox(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    #[test]
    fn the_shipped_list_holds_thousands_of_domains() {
        assert!(DISPOSABLE.len() > 3_000, "{}", DISPOSABLE.len());
        assert!(is_disposable(&email("x@mailinator.com")));
        assert!(is_disposable(&email("x@0815.ru")));
        assert!(!is_disposable(&email("x@example.com")));
        assert!(!is_disposable(&email("x@gmail.com")));
    }

    #[test]
    fn a_subdomain_of_a_disposable_domain_is_disposable() {
        assert!(is_disposable(&email("x@eu.mailinator.com")));
    }

    #[test]
    fn gmail_ignores_dots_tags_and_its_other_domain() {
        assert!(same_mailbox(
            &email("Jane.Doe+promo@gmail.com"),
            &email("janedoe@googlemail.com")
        ));
        assert!(!same_mailbox(
            &email("jane@gmail.com"),
            &email("jane2@gmail.com")
        ));
    }

    #[test]
    fn tag_blind_providers_keep_dots() {
        assert!(same_mailbox(
            &email("jane+x@outlook.com"),
            &email("jane@outlook.com")
        ));
        assert!(!same_mailbox(
            &email("ja.ne@outlook.com"),
            &email("jane@outlook.com")
        ));
    }

    #[test]
    fn other_domains_compare_as_they_are() {
        assert!(!same_mailbox(
            &email("jane+x@example.com"),
            &email("jane@example.com")
        ));
        assert!(!same_mailbox(
            &email("ja.ne@example.com"),
            &email("jane@example.com")
        ));
    }
}

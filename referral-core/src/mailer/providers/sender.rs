//! `Sender`: the `From` mailbox of `MAIL_FROM` (`addr@example.com` or
//! `Name <addr@example.com>`), parsed once, and written as each provider wants it.

use std::str::FromStr;

use email_address::EmailAddress;

use crate::error::Error;

/// A display name (possibly none) and an address, checked: one line, one valid address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sender {
    name: Option<String>,
    address: String,
}

impl Sender {
    /// Reads `addr@example.com`, `Name <addr@example.com>` or `"Name, Inc." <addr@…>`.
    ///
    /// Errors: [`Error::Config`] naming `MAIL_FROM`.
    pub(super) fn parse(from: &str) -> Result<Self, Error> {
        if from.contains(['\r', '\n']) {
            return Err(Error::Config(
                "MAIL_FROM must be one line; it contains a line break".into(),
            ));
        }
        let invalid = || {
            Error::Config(format!(
                "MAIL_FROM must be an address like no-reply@example.com or \
                 `Name <no-reply@example.com>`, not {from:?}"
            ))
        };
        let from = from.trim();
        let (name, address) = match from
            .strip_suffix('>')
            .and_then(|rest| rest.rsplit_once('<'))
        {
            Some((name, address)) => (unquote(name.trim()), address.trim()),
            None => (None, from),
        };
        let plain = !address.is_empty()
            && !address
                .contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c));
        if !plain || EmailAddress::from_str(address).is_err() {
            return Err(invalid());
        }
        if name
            .as_deref()
            .is_some_and(|name| name.contains(char::is_control))
        {
            return Err(invalid());
        }
        Ok(Sender {
            name,
            address: address.to_owned(),
        })
    }

    /// The address alone.
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// The display name, if any.
    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `addr@example.com`, or `Name <addr@example.com>` with the name quoted when it holds
    /// characters that would otherwise split it (`"Doe, Jane" <…>`).
    pub(super) fn mailbox(&self) -> String {
        match &self.name {
            None => self.address.clone(),
            Some(name) if name.contains(|c: char| "()<>[]:;@\\,.\"".contains(c)) => {
                let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{escaped}\" <{}>", self.address)
            }
            Some(name) => format!("{name} <{}>", self.address),
        }
    }
}

/// A display name without its quotes and escapes; an empty name is none.
fn unquote(name: &str) -> Option<String> {
    let name = match name
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(quoted) => {
            let mut plain = String::with_capacity(quoted.len());
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                plain.push(if c == '\\' {
                    chars.next().unwrap_or(c)
                } else {
                    c
                });
            }
            plain
        }
        None => name.to_owned(),
    };
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_and_a_named_mailbox_are_read() {
        let bare = Sender::parse(" no-reply@example.com ").unwrap();
        assert_eq!(
            (bare.name(), bare.address()),
            (None, "no-reply@example.com")
        );
        assert_eq!(bare.mailbox(), "no-reply@example.com");
        let named = Sender::parse("Referral <no-reply@example.com>").unwrap();
        assert_eq!(named.name(), Some("Referral"));
        assert_eq!(named.address(), "no-reply@example.com");
        assert_eq!(named.mailbox(), "Referral <no-reply@example.com>");
        assert_eq!(
            Sender::parse("no-reply@localhost").unwrap().address(),
            "no-reply@localhost"
        );
    }

    #[test]
    fn quoted_names_are_unquoted_and_quoted_again_when_needed() {
        let quoted = Sender::parse(r#""Doe, Jane \"JD\"" <jane@example.com>"#).unwrap();
        assert_eq!(quoted.name(), Some(r#"Doe, Jane "JD""#));
        assert_eq!(quoted.mailbox(), r#""Doe, Jane \"JD\"" <jane@example.com>"#);
        let unicode = Sender::parse("Zoë Café <zoe@example.com>").unwrap();
        assert_eq!(unicode.mailbox(), "Zoë Café <zoe@example.com>");
        let empty = Sender::parse(r#""" <a@example.com>"#).unwrap();
        assert_eq!(empty.name(), None);
    }

    #[test]
    fn anything_but_one_mailbox_on_one_line_names_mail_from() {
        for bad in [
            "",
            "not an address",
            "Name <not an address>",
            "a@example.com, b@example.com",
            "<a@example.com",
            "a@example.com\r\nBcc: b@example.com",
            "Name\u{7} <a@example.com>",
        ] {
            match Sender::parse(bad) {
                Err(Error::Config(message)) => {
                    assert!(message.starts_with("MAIL_FROM"), "{bad:?}: {message}")
                }
                other => panic!("{bad:?} was accepted: {other:?}"),
            }
        }
    }
}

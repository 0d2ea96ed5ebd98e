//! Where the library's tables live in a database it shares with its host: a validated
//! namespace (a PostgreSQL schema, an SQLite table-name prefix), and the rendering of query
//! and migration text whose table and index names are placeholders.
//!
//! Shared SQL names tables as `{users}` and indexes as `{index:outbox_due}`; a backend's
//! [`Naming`] turns them into `"referral".users` and `outbox_due` (PostgreSQL: indexes live
//! in their table's schema) or `"referral_users"` and `"referral_outbox_due"` (SQLite: one
//! namespace per file). Only validated names are ever spliced into SQL.

use std::fmt;

use crate::storage::StorageError;

/// The longest namespace accepted (PostgreSQL identifiers stop at 63 bytes; this leaves room
/// for the longest of our names after a prefix).
pub(crate) const MAX_NAMESPACE_LEN: usize = 32;

/// A namespace name: `[a-z_][a-z0-9_]*`, at most [`MAX_NAMESPACE_LEN`] characters, so it can
/// be spliced into SQL as an identifier (or part of one) without escaping anything.
#[derive(Clone, PartialEq, Eq)]
pub struct Namespace(String);

/// Whether `name` may be a namespace (see [`Namespace`]); `const` so the backends' defaults
/// are checked when the crate compiles.
pub(crate) const fn is_plain_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAMESPACE_LEN || bytes[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if !(byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

impl Namespace {
    /// Checks `name`; `what` names it in the error ("schema", "table prefix").
    pub(crate) fn parse(name: &str, what: &str) -> Result<Self, StorageError> {
        if is_plain_identifier(name) {
            Ok(Namespace(name.to_owned()))
        } else {
            Err(StorageError::InvalidNamespace(format!(
                "{what} {name:?} is not a plain lowercase identifier: use ASCII letters a-z, \
                 digits and `_`, not starting with a digit, 1 to {MAX_NAMESPACE_LEN} characters"
            )))
        }
    }

    /// A backend's default, which its file checks with [`is_plain_identifier`] at compile
    /// time.
    pub(crate) fn default_of(name: &'static str) -> Self {
        Namespace(name.to_owned())
    }

    /// The name as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// How a backend qualifies names within a namespace, and the clauses that differ between
/// backends in otherwise shared query text.
#[derive(Debug, Clone, Copy)]
pub struct Naming {
    /// How a table name is written.
    pub(crate) table: fn(&Namespace, &str) -> String,
    /// How an index name is written where an index is created or dropped.
    pub(crate) index: fn(&Namespace, &str) -> String,
    /// `{lock_row}`: appended to a `SELECT` that locks the rows it reads until the
    /// transaction ends (empty where the backend serialises writers instead).
    pub(crate) lock_row: &'static str,
    /// `{skip_locked}`: appended to the `SELECT` choosing outbox rows to claim.
    pub(crate) skip_locked: &'static str,
}

/// Renders shared SQL text for one namespace.
#[derive(Debug, Clone, Copy)]
pub struct Renderer<'a> {
    pub(crate) namespace: &'a Namespace,
    pub(crate) naming: Naming,
}

impl Renderer<'_> {
    /// `template` with every placeholder replaced: `{name}` by the table, `{index:name}` by
    /// the index, `{lock_row}` and `{skip_locked}` by the backend's clauses. Anything else in
    /// braces is left as it is (a unit test checks every template renders completely).
    pub(crate) fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                rest = &rest[open..];
                break;
            };
            let key = &after[..close];
            match self.resolve(key) {
                Some(text) => out.push_str(&text),
                None => {
                    out.push('{');
                    out.push_str(key);
                    out.push('}');
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The table name `table` renders to.
    pub(crate) fn table(&self, table: &str) -> String {
        (self.naming.table)(self.namespace, table)
    }

    fn resolve(&self, key: &str) -> Option<String> {
        let plain = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match key {
            "lock_row" => Some(self.naming.lock_row.to_owned()),
            "skip_locked" => Some(self.naming.skip_locked.to_owned()),
            _ => match key.strip_prefix("index:") {
                Some(index) if plain(index) => Some((self.naming.index)(self.namespace, index)),
                Some(_) => None,
                None if plain(key) => Some(self.table(key)),
                None => None,
            },
        }
    }
}

/// `name` as a quoted SQL identifier (for names read from a database catalog, which are not
/// validated like a [`Namespace`]).
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixed(namespace: &Namespace, name: &str) -> String {
        format!("\"{}{name}\"", namespace.as_str())
    }

    fn naming() -> Naming {
        Naming {
            table: prefixed,
            index: prefixed,
            lock_row: " FOR UPDATE",
            skip_locked: "",
        }
    }

    #[test]
    fn plain_lowercase_identifiers_are_namespaces() {
        for name in ["referral", "referral_", "_x", "auth2", "a"] {
            assert_eq!(Namespace::parse(name, "schema").unwrap().as_str(), name);
        }
        let longest = "a".repeat(MAX_NAMESPACE_LEN);
        assert!(Namespace::parse(&longest, "schema").is_ok());
    }

    #[test]
    fn anything_that_would_need_quoting_is_refused_with_the_rule() {
        for name in [
            "",
            "Auth",
            "2fa",
            "auth-x",
            "auth.users",
            "a\"; DROP TABLE users; --",
            "ré",
            " auth",
            &"a".repeat(MAX_NAMESPACE_LEN + 1),
        ] {
            let Err(StorageError::InvalidNamespace(message)) = Namespace::parse(name, "schema")
            else {
                panic!("{name:?} was accepted");
            };
            assert!(message.starts_with("schema "), "{message}");
            assert!(message.contains("ASCII letters a-z"), "{message}");
        }
    }

    #[test]
    fn placeholders_become_names_and_clauses() {
        let namespace = Namespace::parse("auth_", "table prefix").unwrap();
        let renderer = Renderer {
            namespace: &namespace,
            naming: naming(),
        };
        assert_eq!(
            renderer.render("SELECT id FROM {users} WHERE id = $1{lock_row}"),
            "SELECT id FROM \"auth_users\" WHERE id = $1 FOR UPDATE"
        );
        assert_eq!(
            renderer.render("CREATE INDEX {index:outbox_due} ON {outbox} (id){skip_locked}"),
            "CREATE INDEX \"auth_outbox_due\" ON \"auth_outbox\" (id)"
        );
    }

    #[test]
    fn text_that_is_no_placeholder_is_left_alone() {
        let namespace = Namespace::parse("auth_", "table prefix").unwrap();
        let renderer = Renderer {
            namespace: &namespace,
            naming: naming(),
        };
        for text in ["{}", "{Users}", "{index:}", "{ users}", "a { b", "}{"] {
            assert_eq!(renderer.render(text), text);
        }
    }

    #[test]
    fn quoted_identifiers_escape_their_quotes() {
        assert_eq!(quote_identifier("public"), "\"public\"");
        assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
    }
}

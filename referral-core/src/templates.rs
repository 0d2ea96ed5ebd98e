//! The messages the service sends, and the paths of the links in them: replaceable by the
//! app, message by message.
//!
//! - [`MailTemplates`]: one method per kind of message (a password reset, an email
//!   verification, and any later one), each with a default, so an app implements only the
//!   ones it wants to look like its own product. Give it to
//!   [`EngineBuilder::mail_templates`](crate::EngineBuilder::mail_templates).
//! - [`LinkPaths`]: where the links in mail (and the referral link) point under
//!   `APP_BASE_URL`. Give it to [`ConfigBuilder::link_paths`](crate::ConfigBuilder::link_paths).
//!
//! Links come from the configured base URL only, never from a request.

use time::Duration;

use crate::error::Error;
use crate::user::User;

/// A rendered message: subject, plain-text body and HTML body (a whole document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    /// The subject line (line breaks are replaced by spaces when sent).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, a complete document; escape what you interpolate into it.
    pub html: String,
}

/// What a message carrying a link is rendered from.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LinkMail<'a> {
    /// The recipient, as the API shows them (id, email, referral code and link, …).
    pub user: &'a User,
    /// The link to open: `{APP_BASE_URL}{path}?token={token}`.
    pub link: &'a str,
    /// How long the link works.
    pub valid_for: Duration,
}

impl<'a> LinkMail<'a> {
    /// A message for `user` carrying `link`, valid for `valid_for`.
    pub fn new(user: &'a User, link: &'a str, valid_for: Duration) -> Self {
        LinkMail {
            user,
            link,
            valid_for,
        }
    }
}

/// The messages the engine sends, each replaceable: implement the methods you want to change
/// and keep the shipped defaults for the rest.
///
/// ```
/// use referral_core::templates::{LinkMail, MailContent, MailTemplates};
///
/// struct Branded;
///
/// impl MailTemplates for Branded {
///     fn password_reset(&self, mail: &LinkMail<'_>) -> MailContent {
///         MailContent {
///             subject: "Your Linkhub password".into(),
///             text: format!("Hi {}, choose a new password: {}", mail.user.email, mail.link),
///             html: format!("<!doctype html><p><a href=\"{}\">Choose a new password</a></p>", mail.link),
///         }
///     }
///     // email_verification: the shipped default.
/// }
/// ```
pub trait MailTemplates: Send + Sync + 'static {
    /// The password-reset message (default: [`DefaultTemplates`]'s).
    fn password_reset(&self, mail: &LinkMail<'_>) -> MailContent {
        render(&PasswordReset(mail))
    }

    /// The email-verification message (default: [`DefaultTemplates`]'s).
    fn email_verification(&self, mail: &LinkMail<'_>) -> MailContent {
        render(&EmailVerification(mail))
    }
}

/// The shipped messages: plain English, a text body and a small HTML document carrying the
/// link, how long it works, and what to do when it was not asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultTemplates;

impl MailTemplates for DefaultTemplates {}

/// Where links point under `APP_BASE_URL`: the page that confirms a reset, the one that
/// verifies an email, and the registration page of referral links.
///
/// ```
/// use referral_core::{templates::LinkPaths, Config};
/// let paths = LinkPaths {
///     reset_path: "/account/reset".into(),
///     ..LinkPaths::default()
/// };
/// let config = Config::builder().random_secret().link_paths(paths).build()?;
/// assert_eq!(config.link_paths().reset_path, "/account/reset");
/// assert_eq!(config.link_paths().register_path, "/register");
/// # Ok::<(), referral_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPaths {
    /// The reset link's path (default `/reset-password`): `{APP_BASE_URL}{reset_path}?token=…`.
    pub reset_path: String,
    /// The verification link's path (default `/verify-email`).
    pub verify_path: String,
    /// The referral link's path (default `/register`): `{APP_BASE_URL}{register_path}?ref=…`.
    pub register_path: String,
}

impl Default for LinkPaths {
    fn default() -> Self {
        LinkPaths {
            reset_path: "/reset-password".into(),
            verify_path: "/verify-email".into(),
            register_path: "/register".into(),
        }
    }
}

impl LinkPaths {
    /// Refuses a path that does not start with `/`, or holds a query, a fragment, spaces or
    /// control characters (the engine adds the query).
    pub(crate) fn validated(self) -> Result<Self, Error> {
        for (name, path) in [
            ("reset_path", &self.reset_path),
            ("verify_path", &self.verify_path),
            ("register_path", &self.register_path),
        ] {
            let plain = path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains(['?', '#'])
                && !path.chars().any(|c| c.is_whitespace() || c.is_control());
            if !plain {
                return Err(Error::Config(format!(
                    "link path {name} must start with a single / and hold no query, fragment \
                     or spaces, got {path:?}"
                )));
            }
        }
        Ok(self)
    }
}

/// One shipped message: its subject, its plain-text body, and the inside of its HTML body.
trait Template {
    fn subject(&self) -> String;
    fn text(&self) -> String;
    /// The HTML that goes inside `<body>`, with every interpolated value escaped.
    fn html_body(&self) -> String;
}

/// Wraps a shipped message's HTML in a complete UTF-8 document.
fn render(template: &impl Template) -> MailContent {
    MailContent {
        subject: template.subject(),
        text: template.text(),
        html: format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"></head><body>{}</body></html>",
            template.html_body()
        ),
    }
}

/// "expires in 30 minutes", "expires in 24 hours".
fn lifetime(valid_for: Duration) -> String {
    let minutes = valid_for.whole_minutes();
    if minutes >= 120 && minutes % 60 == 0 {
        format!("{} hours", minutes / 60)
    } else {
        format!("{minutes} minutes")
    }
}

struct PasswordReset<'m, 'a>(&'m LinkMail<'a>);

impl Template for PasswordReset<'_, '_> {
    fn subject(&self) -> String {
        "Reset your password".to_owned()
    }

    fn text(&self) -> String {
        let link = self.0.link;
        let lifetime = lifetime(self.0.valid_for);
        format!(
            "Someone (hopefully you) asked to reset the password of this account.\n\n\
             Open this link to choose a new password:\n{link}\n\n\
             The link works once and expires in {lifetime}. \
             If you did not ask for this, ignore this message: your password stays as it is.\n"
        )
    }

    fn html_body(&self) -> String {
        let safe_link = escape_html(self.0.link);
        let lifetime = lifetime(self.0.valid_for);
        format!(
            "<p>Someone (hopefully you) asked to reset the password of this account.</p>\
             <p><a href=\"{safe_link}\">Choose a new password</a></p>\
             <p>Or paste this link into your browser: {safe_link}</p>\
             <p>The link works once and expires in {lifetime}. \
             If you did not ask for this, ignore this message: your password stays as it is.</p>"
        )
    }
}

struct EmailVerification<'m, 'a>(&'m LinkMail<'a>);

impl Template for EmailVerification<'_, '_> {
    fn subject(&self) -> String {
        "Verify your email address".to_owned()
    }

    fn text(&self) -> String {
        let link = self.0.link;
        let lifetime = lifetime(self.0.valid_for);
        format!(
            "Please confirm that this is your email address by opening this link:\n{link}\n\n\
             The link works once and expires in {lifetime}. \
             If you did not sign up, ignore this message.\n"
        )
    }

    fn html_body(&self) -> String {
        let safe_link = escape_html(self.0.link);
        let lifetime = lifetime(self.0.valid_for);
        format!(
            "<p>Please confirm that this is your email address.</p>\
             <p><a href=\"{safe_link}\">Verify my email address</a></p>\
             <p>Or paste this link into your browser: {safe_link}</p>\
             <p>The link works once and expires in {lifetime}. \
             If you did not sign up, ignore this message.</p>"
        )
    }
}

/// `text` with the five HTML special characters escaped, for apps' templates too.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use uuid::Uuid;

    fn user() -> User {
        User {
            id: Uuid::nil(),
            email: "a@example.com".into(),
            referral_code: "AB12CD34".into(),
            referral_link: "https://app.example.com/register?ref=AB12CD34".into(),
            referred_by: None,
            email_verified: false,
            metadata: serde_json::Map::new(),
            created_at: datetime!(2026-01-01 0:00 UTC),
            roles: vec!["user".into()],
        }
    }

    #[test]
    fn both_bodies_of_the_reset_carry_the_link() {
        let link = "https://app.example.com/reset-password?token=abc_DEF-123";
        let user = user();
        let content =
            DefaultTemplates.password_reset(&LinkMail::new(&user, link, Duration::minutes(30)));
        assert!(content.text.contains(link));
        assert!(content.html.contains(link));
        assert_eq!(content.subject, "Reset your password");
        assert!(content.text.contains("expires in 30 minutes"));
    }

    #[test]
    fn the_verification_carries_its_link_and_lifetime_in_hours() {
        let link = "https://app.example.com/verify-email?token=t0k3n";
        let user = user();
        let content =
            DefaultTemplates.email_verification(&LinkMail::new(&user, link, Duration::hours(24)));
        assert!(content.text.contains(link));
        assert!(content.html.contains(link));
        assert_eq!(content.subject, "Verify your email address");
        assert!(content.text.contains("expires in 24 hours"));
    }

    #[test]
    fn the_html_body_is_a_complete_utf8_document() {
        let user = user();
        let mail = LinkMail::new(
            &user,
            "https://app.example.com/x?token=t",
            Duration::minutes(30),
        );
        for content in [
            DefaultTemplates.password_reset(&mail),
            DefaultTemplates.email_verification(&mail),
        ] {
            assert!(content
                .html
                .starts_with("<!doctype html><html><head><meta charset=\"utf-8\">"));
            assert!(content.html.ends_with("</body></html>"));
        }
    }

    #[test]
    fn html_special_characters_in_the_link_are_escaped() {
        assert_eq!(escape_html("a&b<\"c\">"), "a&amp;b&lt;&quot;c&quot;&gt;");
    }

    #[test]
    fn link_paths_start_with_a_slash_and_carry_no_query() {
        assert!(LinkPaths::default().validated().is_ok());
        for bad in ["reset", "/reset?x=1", "/a#b", "//evil.example", "/a b", ""] {
            let paths = LinkPaths {
                reset_path: bad.into(),
                ..LinkPaths::default()
            };
            assert!(paths.validated().is_err(), "{bad:?} accepted");
        }
    }
}

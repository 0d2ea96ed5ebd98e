//! The messages the service sends, as text and HTML.
//!
//! Each kind of message is a [`Template`]; [`render`] wraps it in the shared HTML document and
//! addresses it, so a new kind is one struct and one `impl`. Links in messages come from the
//! configured base URL only, never from a request.

use crate::email::Email;
use crate::mailer::Message;

/// One kind of message: its subject, its plain-text body, and the inside of its HTML body.
trait Template {
    /// The subject line.
    fn subject(&self) -> String;
    /// The plain-text body.
    fn text(&self) -> String;
    /// The HTML that goes inside `<body>`, with every interpolated value escaped.
    fn html_body(&self) -> String;
}

/// Addresses `template` to `to`, wrapping its HTML in a complete UTF-8 document.
fn render(to: &Email, template: &impl Template) -> Message {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"></head><body>{}</body></html>",
        template.html_body()
    );
    Message::new(to.clone(), &template.subject(), template.text(), html)
}

/// The password-reset message.
struct PasswordReset<'a> {
    link: &'a str,
    valid_minutes: i64,
}

impl Template for PasswordReset<'_> {
    fn subject(&self) -> String {
        "Reset your password".to_owned()
    }

    fn text(&self) -> String {
        let PasswordReset {
            link,
            valid_minutes,
        } = self;
        format!(
            "Someone (hopefully you) asked to reset the password of this account.\n\n\
             Open this link to choose a new password:\n{link}\n\n\
             The link works once and expires in {valid_minutes} minutes. \
             If you did not ask for this, ignore this message: your password stays as it is.\n"
        )
    }

    fn html_body(&self) -> String {
        let safe_link = escape_html(self.link);
        let valid_minutes = self.valid_minutes;
        format!(
            "<p>Someone (hopefully you) asked to reset the password of this account.</p>\
             <p><a href=\"{safe_link}\">Choose a new password</a></p>\
             <p>Or paste this link into your browser: {safe_link}</p>\
             <p>The link works once and expires in {valid_minutes} minutes. \
             If you did not ask for this, ignore this message: your password stays as it is.</p>"
        )
    }
}

/// The password-reset message carrying `link` (built from the configured base URL only).
pub fn password_reset(to: &Email, link: &str, valid_minutes: i64) -> Message {
    render(
        to,
        &PasswordReset {
            link,
            valid_minutes,
        },
    )
}

/// The email-verification message.
struct EmailVerification<'a> {
    link: &'a str,
    valid_hours: i64,
}

impl Template for EmailVerification<'_> {
    fn subject(&self) -> String {
        "Verify your email address".to_owned()
    }

    fn text(&self) -> String {
        let EmailVerification { link, valid_hours } = self;
        format!(
            "Please confirm that this is your email address by opening this link:\n{link}\n\n\
             The link works once and expires in {valid_hours} hours. \
             If you did not sign up, ignore this message.\n"
        )
    }

    fn html_body(&self) -> String {
        let safe_link = escape_html(self.link);
        let valid_hours = self.valid_hours;
        format!(
            "<p>Please confirm that this is your email address.</p>\
             <p><a href=\"{safe_link}\">Verify my email address</a></p>\
             <p>Or paste this link into your browser: {safe_link}</p>\
             <p>The link works once and expires in {valid_hours} hours. \
             If you did not sign up, ignore this message.</p>"
        )
    }
}

/// The email-verification message carrying `link` (built from the configured base URL
/// only).
pub fn email_verification(to: &Email, link: &str, valid_hours: i64) -> Message {
    render(to, &EmailVerification { link, valid_hours })
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bodies_carry_the_link() {
        let to = Email::parse("a@example.com").unwrap();
        let link = "https://app.example.com/reset-password?token=abc_DEF-123";
        let message = password_reset(&to, link, 30);
        assert!(message.text.contains(link));
        assert!(message.html.contains(link));
        assert_eq!(message.to, to);
        assert_eq!(message.subject, "Reset your password");
        assert!(message.text.contains("expires in 30 minutes"));
    }

    #[test]
    fn the_html_body_is_a_complete_utf8_document() {
        let to = Email::parse("a@example.com").unwrap();
        let message = password_reset(&to, "https://app.example.com/reset-password?token=t", 30);
        assert!(message
            .html
            .starts_with("<!doctype html><html><head><meta charset=\"utf-8\">"));
        assert!(message.html.ends_with("</body></html>"));
    }

    #[test]
    fn the_verification_message_carries_its_link_in_both_bodies() {
        let to = Email::parse("a@example.com").unwrap();
        let link = "https://app.example.com/verify-email?token=abc_DEF-123";
        let message = email_verification(&to, link, 24);
        assert!(message.text.contains(link));
        assert!(message.html.contains(link));
        assert_eq!(message.subject, "Verify your email address");
        assert!(message.text.contains("expires in 24 hours"));
    }

    #[test]
    fn html_special_characters_in_the_link_are_escaped() {
        assert_eq!(escape_html("a&b<\"c\">"), "a&amp;b&lt;&quot;c&quot;&gt;");
    }
}

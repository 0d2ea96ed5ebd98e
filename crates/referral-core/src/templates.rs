//! The messages the service sends, as text and HTML.

use crate::email::Email;
use crate::mailer::Message;

/// The password-reset message carrying `link` (built from the configured base URL only).
pub fn password_reset(to: &Email, link: &str, valid_minutes: i64) -> Message {
    let text = format!(
        "Someone (hopefully you) asked to reset the password of this account.\n\n\
         Open this link to choose a new password:\n{link}\n\n\
         The link works once and expires in {valid_minutes} minutes. \
         If you did not ask for this, ignore this message: your password stays as it is.\n"
    );
    let safe_link = escape_html(link);
    let html = format!(
        "<!doctype html><html><body>\
         <p>Someone (hopefully you) asked to reset the password of this account.</p>\
         <p><a href=\"{safe_link}\">Choose a new password</a></p>\
         <p>Or paste this link into your browser: {safe_link}</p>\
         <p>The link works once and expires in {valid_minutes} minutes. \
         If you did not ask for this, ignore this message: your password stays as it is.</p>\
         </body></html>"
    );
    Message::new(to.clone(), "Reset your password", text, html)
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
    }

    #[test]
    fn html_special_characters_in_the_link_are_escaped() {
        assert_eq!(escape_html("a&b<\"c\">"), "a&amp;b&lt;&quot;c&quot;&gt;");
    }
}

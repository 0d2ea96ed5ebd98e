//! `Message`: a multipart text + HTML email to one recipient.

use crate::email::Email;

/// An email to one recipient with a plain-text and an HTML body.
///
/// The recipient is an [`Email`], so it cannot carry a CR/LF header injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Recipient.
    pub to: Email,
    /// Subject line (single line: line breaks are replaced by spaces).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl Message {
    /// A message; line breaks in `subject` become spaces.
    pub fn new(to: Email, subject: &str, text: String, html: String) -> Self {
        Message {
            to,
            subject: subject.replace(['\r', '\n'], " "),
            text,
            html,
        }
    }
}

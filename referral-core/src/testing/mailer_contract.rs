//! The mailer contract: what every [`Mailer`] must do, checked on the far side through an
//! [`Inbox`].
//!
//! Run it with one line per implementation:
//!
//! ```ignore
//! referral_core::mailer_contract_tests!(async {
//!     let catcher = referral_core::testing::SmtpCatcher::start().await;
//!     let mailer = my_mailer_pointed_at(catcher.port());
//!     (mailer, catcher)
//! });
//! ```
//!
//! or call the case functions (or [`run_mailer_contract`]) yourself. The setup returns the
//! mailer under test and the inbox that sees what it delivered; cases only count messages
//! that arrive after they start, so one inbox may serve several cases.

use std::time::Duration;

use async_trait::async_trait;

use crate::email::Email;
use crate::mailer::{Mailer, Message, RecordingMailer};
use crate::testing::{CaughtMail, SmtpCatcher};

/// How long a case waits for a message to arrive.
pub const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A message as it arrived, in the terms the contract checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject, decoded.
    pub subject: String,
    /// Plain-text body, decoded, line endings as `\n`.
    pub text: String,
    /// HTML body, decoded, line endings as `\n`.
    pub html: String,
}

impl From<CaughtMail> for Delivered {
    fn from(mail: CaughtMail) -> Self {
        Delivered {
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
        }
    }
}

impl From<Message> for Delivered {
    fn from(message: Message) -> Self {
        Delivered {
            to: vec![message.to.to_string()],
            subject: message.subject,
            text: message.text,
            html: message.html,
        }
    }
}

/// Where a mailer's messages can be seen after delivery.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Every message delivered so far, oldest first, after waiting (up to
    /// [`ARRIVAL_TIMEOUT`]) until there are at least `at_least`.
    async fn delivered(&self, at_least: usize) -> Vec<Delivered>;
}

#[async_trait]
impl Inbox for SmtpCatcher {
    async fn delivered(&self, at_least: usize) -> Vec<Delivered> {
        self.wait_for(at_least, ARRIVAL_TIMEOUT)
            .await
            .into_iter()
            .map(Delivered::from)
            .collect()
    }
}

/// A [`RecordingMailer`] is its own inbox: sending is delivering.
#[async_trait]
impl Inbox for RecordingMailer {
    async fn delivered(&self, _at_least: usize) -> Vec<Delivered> {
        self.messages().into_iter().map(Delivered::from).collect()
    }
}

fn message(to: &str, subject: &str, text: &str, html: &str) -> Message {
    let to = Email::parse(to).unwrap_or_else(|problem| panic!("bad test address {to}: {problem}"));
    Message::new(to, subject, text.to_owned(), html.to_owned())
}

/// Sends `messages` and returns what arrived for them, in order.
async fn send_and_collect(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
    messages: &[Message],
) -> Vec<Delivered> {
    let before = inbox.delivered(0).await.len();
    for message in messages {
        if let Err(error) = mailer.send(message).await {
            panic!("send to {} failed: {error}", message.to);
        }
    }
    let delivered = inbox.delivered(before + messages.len()).await;
    assert_eq!(
        delivered.len(),
        before + messages.len(),
        "expected {} new message(s) to arrive",
        messages.len()
    );
    delivered[before..].to_vec()
}

fn assert_arrived_intact(delivered: &Delivered, sent: &Message) {
    assert_eq!(delivered.to, [sent.to.to_string()], "recipient");
    assert_eq!(delivered.subject, sent.subject, "subject");
    // Transports may add a final line break; nothing else may change.
    assert_eq!(delivered.text.trim_end(), sent.text.trim_end(), "text body");
    assert_eq!(delivered.html.trim_end(), sent.html.trim_end(), "HTML body");
}

/// A message arrives once, for its recipient, with its subject and both bodies intact.
pub async fn a_message_arrives_with_recipient_subject_and_both_bodies(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
) {
    let sent = message(
        "reader@example.com",
        "Reset your password",
        "Open this link:\nhttps://app.example.com/reset-password?token=abc_DEF-123\n",
        "<!doctype html><html><body><p><a href=\"https://app.example.com/reset-password?token=abc_DEF-123\">Reset</a></p></body></html>",
    );
    let delivered = send_and_collect(mailer, inbox, std::slice::from_ref(&sent)).await;
    assert_arrived_intact(&delivered[0], &sent);
}

/// Non-ASCII subjects and bodies arrive unchanged.
pub async fn unicode_subject_and_bodies_arrive_unchanged(mailer: &dyn Mailer, inbox: &dyn Inbox) {
    let sent = message(
        "zoe@example.com",
        "Réinitialisez votre mot de passe — 密码重置 🔑",
        "Bonjour Zoë,\nvoici le lien : https://app.example.com/reset-password?token=ü\nСпасибо! 🙂\n",
        "<p>Bonjour Zoë — 密码重置 🔑</p><p>Спасибо!</p>",
    );
    let delivered = send_and_collect(mailer, inbox, std::slice::from_ref(&sent)).await;
    assert_arrived_intact(&delivered[0], &sent);
}

/// Long lines, lines starting with a dot, and markup survive the trip.
pub async fn long_lines_and_leading_dots_arrive_unchanged(mailer: &dyn Mailer, inbox: &dyn Inbox) {
    let long_link = format!(
        "https://app.example.com/reset-password?token={}",
        "x".repeat(300)
    );
    let sent = message(
        "dots@example.com",
        "Dots and long lines",
        &format!(".\n.. starts with dots\n{long_link}\n.\n"),
        &format!("<p>.</p>\n.<a href=\"{long_link}\">{long_link}</a>\n"),
    );
    let delivered = send_and_collect(mailer, inbox, std::slice::from_ref(&sent)).await;
    assert_arrived_intact(&delivered[0], &sent);
}

/// Several messages sent in a row all arrive, each once, in order, each to its recipient.
pub async fn several_messages_in_a_row_each_arrive_once_in_order(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
) {
    let sent: Vec<Message> = (1..=5)
        .map(|n| {
            message(
                &format!("user{n}@example.com"),
                &format!("Message {n}"),
                &format!("Body {n}\n"),
                &format!("<p>Body {n}</p>"),
            )
        })
        .collect();
    let delivered = send_and_collect(mailer, inbox, &sent).await;
    for (delivered, sent) in delivered.iter().zip(&sent) {
        assert_arrived_intact(delivered, sent);
    }
}

/// Every case, one after another, on one mailer and inbox.
pub async fn run_mailer_contract(mailer: &dyn Mailer, inbox: &dyn Inbox) {
    a_message_arrives_with_recipient_subject_and_both_bodies(mailer, inbox).await;
    unicode_subject_and_bodies_arrive_unchanged(mailer, inbox).await;
    long_lines_and_leading_dots_arrive_unchanged(mailer, inbox).await;
    several_messages_in_a_row_each_arrive_once_in_order(mailer, inbox).await;
}

/// Expands to one `#[tokio::test]` per mailer contract case. `$setup` is an expression
/// evaluating to a future of `(mailer, inbox)`, where the mailer implements
/// [`Mailer`](crate::Mailer) and the inbox [`Inbox`]; it runs once per case. The calling
/// crate needs `tokio` (with `macros` and `rt`) as a dev-dependency.
#[macro_export]
macro_rules! mailer_contract_tests {
    ($setup:expr) => {
        $crate::mailer_contract_tests!(@cases $setup;
            a_message_arrives_with_recipient_subject_and_both_bodies,
            unicode_subject_and_bodies_arrive_unchanged,
            long_lines_and_leading_dots_arrive_unchanged,
            several_messages_in_a_row_each_arrive_once_in_order,
        );
    };
    (@cases $setup:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let (mailer, inbox) = $setup.await;
                $crate::testing::mailer_contract::$case(&mailer, &inbox).await;
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use crate::RecordingMailer;

    crate::mailer_contract_tests!(async {
        let mailer = RecordingMailer::new();
        (mailer.clone(), mailer)
    });
}

//! Real mail over a real socket: `SmtpMailer` against the in-process `SmtpCatcher`, through
//! the engine's outbox.

mod harness;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use referral_core::testing::{reset_token_in, SmtpCatcher};
use referral_core::{
    Engine, MailError, Mailer, MemoryStorage, Message, NewAccount, OutboxPolicy, SmtpMailer,
    SmtpSettings, Storage,
};
use time::Duration;
use tokio::sync::mpsc;

use harness::{config, APP_BASE_URL, PASSWORD};

const WAIT: StdDuration = StdDuration::from_secs(10);

fn mailer_for(catcher: &SmtpCatcher) -> SmtpMailer {
    SmtpMailer::new(SmtpSettings {
        port: catcher.port(),
        from: "Referral <no-reply@example.com>".into(),
        timeout: StdDuration::from_secs(5),
        ..SmtpSettings::new("127.0.0.1")
    })
    .unwrap()
}

/// An engine on the wall clock: the dispatcher's retries wait for real time here.
fn engine_with(mailer: Arc<dyn Mailer>, storage: MemoryStorage, outbox: OutboxPolicy) -> Engine {
    Engine::builder(config().outbox(outbox).build().unwrap())
        .storage(Arc::new(storage))
        .mailer(mailer)
        .build()
        .unwrap()
}

async fn register(engine: &Engine, email: &str) {
    engine
        .register(NewAccount::new(email, PASSWORD))
        .await
        .unwrap();
}

referral_core::mailer_contract_tests!(async {
    let catcher = SmtpCatcher::start().await;
    (mailer_for(&catcher), catcher)
});

#[tokio::test]
async fn a_reset_mail_reaches_the_smtp_server_with_a_link_that_works() {
    let catcher = SmtpCatcher::start().await;
    let storage = MemoryStorage::new();
    let engine = engine_with(
        Arc::new(mailer_for(&catcher)),
        storage.clone(),
        OutboxPolicy::default(),
    );
    register(&engine, "Reader@Example.com").await;

    engine
        .request_password_reset("reader@example.com", None)
        .await
        .unwrap();
    let report = engine.outbox_dispatcher().dispatch_due().await.unwrap();
    assert_eq!(report.sent, 1);

    let mails = catcher.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, ["reader@example.com"]);
    assert_eq!(mail.from, "no-reply@example.com");
    assert_eq!(mail.subject, "Reset your password");
    let raw = String::from_utf8_lossy(&mail.raw);
    assert!(
        raw.contains("From: Referral <no-reply@example.com>"),
        "{raw}"
    );
    assert!(raw.contains("To: reader@example.com"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    let token = reset_token_in(&mail.text, APP_BASE_URL).expect("a link in the text body");
    assert_eq!(
        reset_token_in(&mail.html, APP_BASE_URL),
        Some(token.clone()),
        "the same link in the HTML body"
    );
    assert!(token.len() >= 22, "token {token:?} is too short");

    engine
        .confirm_password_reset(&token, "a brand new passphrase")
        .await
        .unwrap();
    engine
        .login("reader@example.com", "a brand new passphrase")
        .await
        .unwrap();
    // The reset queued its `password.changed` event; one more round delivers it.
    engine.outbox_dispatcher().dispatch_due().await.unwrap();
    assert_eq!(storage.pending_outbox().await.unwrap(), 0);
}

/// Wraps a mailer and reports each failed attempt, so a test can wait for one.
struct Observed {
    inner: SmtpMailer,
    failures: mpsc::UnboundedSender<MailError>,
}

#[async_trait]
impl Mailer for Observed {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let outcome = self.inner.send(message).await;
        if let Err(error) = &outcome {
            let _ = self.failures.send(error.clone());
        }
        outcome
    }
}

#[tokio::test]
async fn with_the_smtp_server_down_a_reset_still_succeeds_and_the_mail_arrives_once_it_is_back() {
    let catcher = SmtpCatcher::start().await;
    catcher.stop().await;
    let (failures, mut failed) = mpsc::unbounded_channel();
    let storage = MemoryStorage::new();
    let policy = OutboxPolicy {
        backoff_base: Duration::milliseconds(50),
        backoff_max: Duration::milliseconds(200),
        poll_interval: Duration::milliseconds(20),
        ..OutboxPolicy::default()
    };
    let engine = engine_with(
        Arc::new(Observed {
            inner: mailer_for(&catcher),
            failures,
        }),
        storage.clone(),
        policy,
    );
    register(&engine, "patient@example.com").await;
    let outbox = engine.outbox_dispatcher().spawn();

    engine
        .request_password_reset("patient@example.com", None)
        .await
        .unwrap();
    let first_failure = tokio::time::timeout(WAIT, failed.recv())
        .await
        .expect("the dispatcher tried while the server was down")
        .unwrap();
    assert!(
        matches!(first_failure, MailError::Unavailable(_)),
        "{first_failure:?}"
    );
    assert_eq!(storage.pending_outbox().await.unwrap(), 1);
    assert!(catcher.messages().is_empty());

    catcher.restart().await;
    let mails = catcher.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["patient@example.com"]);
    outbox.shutdown().await.unwrap();

    assert_eq!(storage.pending_outbox().await.unwrap(), 0);
    assert_eq!(
        catcher.messages().len(),
        1,
        "the mail was delivered exactly once"
    );
}

fn sample() -> Message {
    Message::new(
        referral_core::Email::parse("someone@example.com").unwrap(),
        "Hello",
        "text".into(),
        "<p>html</p>".into(),
    )
}

#[tokio::test]
async fn a_server_that_is_not_listening_is_unavailable_not_rejected() {
    let catcher = SmtpCatcher::start().await;
    let mailer = mailer_for(&catcher);
    catcher.stop().await;
    let error = mailer.send(&sample()).await.unwrap_err();
    assert!(matches!(error, MailError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_temporary_refusal_is_unavailable_and_a_permanent_one_is_rejected() {
    let catcher = SmtpCatcher::start().await;
    let mailer = mailer_for(&catcher);
    catcher.refuse_recipients_with(Some(451));
    let error = mailer.send(&sample()).await.unwrap_err();
    assert!(matches!(error, MailError::Unavailable(_)), "{error:?}");
    catcher.refuse_recipients_with(Some(550));
    let error = mailer.send(&sample()).await.unwrap_err();
    assert!(matches!(error, MailError::Rejected(_)), "{error:?}");
    catcher.refuse_recipients_with(None);
    mailer.send(&sample()).await.unwrap();
    assert_eq!(catcher.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_unavailable() {
    // Accepts connections and says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let mailer = SmtpMailer::new(SmtpSettings {
        port,
        timeout: StdDuration::from_millis(300),
        ..SmtpSettings::new("127.0.0.1")
    })
    .unwrap();
    let started = std::time::Instant::now();
    let error = mailer.send(&sample()).await.unwrap_err();
    assert!(matches!(error, MailError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "the timeout bounds the send"
    );
    silent.abort();
}

/// An SMTP server that greets, answers `EHLO` with no extensions (so no SMTPUTF8), and says
/// `250` to anything else until `QUIT`.
async fn server_without_smtputf8() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"220 localhost ESMTP\r\n").await;
            while let Ok(Some(line)) = lines.next_line().await {
                let reply: &[u8] = match line.to_ascii_uppercase().get(..4) {
                    Some("QUIT") => b"221 bye\r\n",
                    _ => b"250 localhost\r\n",
                };
                if write.write_all(reply).await.is_err() || reply.starts_with(b"221") {
                    break;
                }
            }
        }
    });
    (port, server)
}

#[tokio::test]
async fn a_non_ascii_recipient_the_server_cannot_take_is_rejected_not_retried() {
    let (port, server) = server_without_smtputf8().await;
    let mailer = SmtpMailer::new(SmtpSettings {
        port,
        timeout: StdDuration::from_secs(5),
        ..SmtpSettings::new("127.0.0.1")
    })
    .unwrap();
    let to = referral_core::Email::parse("zoë@example.com").unwrap();
    let error = mailer
        .send(&Message::new(
            to,
            "Hello",
            "text".into(),
            "<p>html</p>".into(),
        ))
        .await
        .unwrap_err();
    assert!(error.is_permanent(), "{error:?}");
    assert!(error.to_string().contains("SMTPUTF8"), "{error}");
    server.abort();
}

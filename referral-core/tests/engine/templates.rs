//! Mail templates and link paths the app replaces: the message it renders is the one sent,
//! with the link and the user; links follow the configured paths; the defaults stay.

use std::sync::Arc;

use referral_core::templates::{LinkMail, LinkPaths, MailContent, MailTemplates};
use referral_core::{
    Engine, Error, ManualClock, MemoryStorage, Message, NewAccount, RecordingMailer, User,
};

use crate::harness::{config, APP_BASE_URL, PASSWORD};

/// Replaces the reset mail only; verification keeps the shipped default.
struct Branded;

impl MailTemplates for Branded {
    fn password_reset(&self, mail: &LinkMail<'_>) -> MailContent {
        MailContent {
            subject: format!("Linkhub: a new password for {}", mail.user.email),
            text: format!(
                "Your code is {}. Reset here: {} (valid {} min)",
                mail.user.referral_code,
                mail.link,
                mail.valid_for.whole_minutes()
            ),
            html: format!("<!doctype html><a href=\"{}\">Reset</a>", mail.link),
        }
    }
}

fn engine(
    paths: LinkPaths,
    templates: Option<Arc<dyn MailTemplates>>,
) -> (Engine, RecordingMailer) {
    let mailer = RecordingMailer::new();
    let mut builder = Engine::builder(config().link_paths(paths).build().unwrap())
        .storage(Arc::new(MemoryStorage::new()))
        .mailer(Arc::new(mailer.clone()))
        .clock(Arc::new(ManualClock::starting_now()));
    if let Some(templates) = templates {
        builder = builder.mail_templates(templates);
    }
    (builder.build().unwrap(), mailer)
}

/// Registers ada, asks for a reset, delivers: ada and the one mail sent.
async fn reset_mail_of_ada(engine: &Engine, mailer: &RecordingMailer) -> (User, Message) {
    let ada = engine
        .register(NewAccount::new("ada@example.com", PASSWORD))
        .await
        .unwrap()
        .user;
    engine
        .request_password_reset("ada@example.com", None)
        .await
        .unwrap();
    while !engine
        .outbox_dispatcher()
        .dispatch_due()
        .await
        .unwrap()
        .is_idle()
    {}
    let mut sent = mailer.messages();
    assert_eq!(sent.len(), 1);
    (ada, sent.remove(0))
}

#[tokio::test]
async fn the_apps_reset_template_is_sent_with_the_link_and_the_user_and_the_link_works() {
    let paths = LinkPaths {
        reset_path: "/account/new-password".into(),
        ..LinkPaths::default()
    };
    let (engine, mailer) = engine(paths, Some(Arc::new(Branded)));
    let (ada, mail) = reset_mail_of_ada(&engine, &mailer).await;
    let mail = &mail;
    assert_eq!(mail.subject, "Linkhub: a new password for ada@example.com");
    let prefix = format!("{APP_BASE_URL}/account/new-password?token=");
    assert!(mail.text.starts_with(&format!(
        "Your code is {}. Reset here: {prefix}",
        ada.referral_code
    )));
    assert!(mail.text.ends_with("(valid 30 min)"));
    let token = mail.text[mail.text.find(&prefix).unwrap() + prefix.len()..]
        .split(' ')
        .next()
        .unwrap();
    assert!(mail.html.contains(token));
    engine
        .confirm_password_reset(token, "a brand new passphrase")
        .await
        .unwrap();
    assert!(engine
        .login("ada@example.com", "a brand new passphrase")
        .await
        .is_ok());
}

#[tokio::test]
async fn without_templates_the_shipped_reset_mail_is_sent() {
    let (engine, mailer) = engine(LinkPaths::default(), None);
    let (user, mail) = reset_mail_of_ada(&engine, &mailer).await;
    assert_eq!(mail.subject, "Reset your password");
    assert!(mail
        .text
        .contains(&format!("{APP_BASE_URL}/reset-password?token=")));
    assert!(mail.text.contains("expires in 30 minutes"));
    // The trait's default for messages the app did not replace.
    let verification = Branded.email_verification(&LinkMail::new(
        &user,
        "https://app.example.com/verify-email?token=t",
        time::Duration::hours(24),
    ));
    assert_eq!(verification.subject, "Verify your email address");
}

#[tokio::test]
async fn referral_links_follow_the_configured_register_path() {
    let paths = LinkPaths {
        register_path: "/join".into(),
        ..LinkPaths::default()
    };
    let (engine, _) = engine(paths, None);
    let ada = engine
        .register(NewAccount::new("ada@example.com", PASSWORD))
        .await
        .unwrap()
        .user;
    assert_eq!(
        ada.referral_link,
        format!("{APP_BASE_URL}/join?ref={}", ada.referral_code)
    );
}

#[test]
fn a_link_path_with_a_query_or_without_a_slash_is_refused() {
    for paths in [
        LinkPaths {
            verify_path: "verify".into(),
            ..LinkPaths::default()
        },
        LinkPaths {
            register_path: "/register?x=1".into(),
            ..LinkPaths::default()
        },
    ] {
        assert!(matches!(
            config().link_paths(paths).build(),
            Err(Error::Config(message)) if message.contains("link path")
        ));
    }
}

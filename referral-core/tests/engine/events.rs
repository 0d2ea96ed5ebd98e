//! Events: delivered to every registered handler, at least once, in order per user; a failing
//! handler retried on its own, given up on into a dead letter, redelivered; no secret in any
//! event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use time::Duration;
use uuid::Uuid;

use referral_core::testing::{reset_token_in, verification_token_in};
use referral_core::{
    AccessUpdate, Config, DispatchReport, Engine, Error, Event, EventHandler, HandlerError,
    ManualClock, MemoryStorage, NewAccount, RecordingMailer, RewardStatus, Storage,
};

use crate::harness::{config, APP_BASE_URL, PASSWORD};

/// Records what it is handed; fails the first `failures` attempts (all of them, when
/// `permanent`), and every attempt for an event of `refuse_kind`.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    attempts: AtomicUsize,
    failures: usize,
    permanent: bool,
}

impl Recorder {
    fn failing(failures: usize) -> Arc<Self> {
        Arc::new(Recorder {
            failures,
            ..Recorder::default()
        })
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn kinds(&self) -> Vec<String> {
        self.events().into_iter().map(|event| event.kind).collect()
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.permanent {
            return Err(HandlerError::Permanent(
                "this handler refuses everything".into(),
            ));
        }
        if attempt < self.failures {
            return Err(HandlerError::Transient("the app's database is down".into()));
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

struct Setup {
    engine: Engine,
    storage: MemoryStorage,
    mailer: RecordingMailer,
    clock: ManualClock,
}

fn setup(handlers: &[(&str, Arc<Recorder>)]) -> Setup {
    setup_with(config().build().unwrap(), handlers)
}

fn setup_with(config: Config, handlers: &[(&str, Arc<Recorder>)]) -> Setup {
    let storage = MemoryStorage::new();
    let mailer = RecordingMailer::new();
    let clock = ManualClock::starting_now();
    let mut builder = Engine::builder(config)
        .storage(Arc::new(storage.clone()))
        .mailer(Arc::new(mailer.clone()))
        .clock(Arc::new(clock.clone()));
    for (name, handler) in handlers {
        builder = builder.event_handler(*name, Arc::clone(handler) as Arc<dyn EventHandler>);
    }
    Setup {
        engine: builder.build().expect("a valid engine"),
        storage,
        mailer,
        clock,
    }
}

/// Dispatcher rounds until one finds nothing to do; what they did, summed.
async fn deliver_all(engine: &Engine) -> DispatchReport {
    let mut total = DispatchReport::default();
    loop {
        let report = engine.outbox_dispatcher().dispatch_due().await.unwrap();
        if report.is_idle() {
            return total;
        }
        total.sent += report.sent;
        total.skipped += report.skipped;
        total.fanned_out += report.fanned_out;
        total.failed += report.failed;
        total.dead += report.dead;
    }
}

async fn register(engine: &Engine, email: &str, code: Option<&str>) -> referral_core::User {
    let mut account = NewAccount::new(email, PASSWORD);
    if let Some(code) = code {
        account = account.referral_code(code);
    }
    engine.register(account).await.unwrap().user
}

fn user_id_of(event: &Event) -> Uuid {
    let field = if event.kind == "referral.created" {
        "referrer_id"
    } else {
        "user_id"
    };
    event.data[field].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_metadata_change_is_a_user_updated_event_naming_the_change_not_the_data() {
    let recorder = Arc::new(Recorder::default());
    let s = setup(&[("crm", Arc::clone(&recorder))]);
    let ada = register(&s.engine, "ada@example.com", None).await;
    let stored = s.storage.user_by_id(ada.id).await.unwrap().unwrap();
    let metadata = serde_json::from_value(json!({ "phone": "+44 20 7946 0958" })).unwrap();
    s.engine.update_metadata(&stored, metadata).await.unwrap();
    deliver_all(&s.engine).await;
    let updated: Vec<Event> = recorder
        .events()
        .into_iter()
        .filter(|event| event.kind == "user.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{:?}", recorder.kinds());
    assert_eq!(
        updated[0].data,
        json!({ "user_id": ada.id, "changed": ["metadata"] })
    );
    assert!(!updated[0].data.to_string().contains("7946"));
}

#[tokio::test]
async fn every_handler_receives_every_event_once_in_order_per_user() {
    let crm = Arc::new(Recorder::default());
    let profiles = Arc::new(Recorder::default());
    let s = setup(&[
        ("crm", Arc::clone(&crm)),
        ("profiles", Arc::clone(&profiles)),
    ]);
    let ada = register(&s.engine, "ada@example.com", None).await;
    let bob = register(&s.engine, "bob@example.com", Some(&ada.referral_code)).await;
    let report = deliver_all(&s.engine).await;
    // user.registered ×2, referral.created, reward.created (the referrer's 100 points).
    assert_eq!(report.fanned_out, 4);
    assert_eq!(report.sent, 8, "four events, two handlers");
    for handler in [&crm, &profiles] {
        let events = handler.events();
        assert_eq!(events.len(), 4);
        let of_ada: Vec<&str> = events
            .iter()
            .filter(|event| user_id_of(event) == ada.id)
            .map(|event| event.kind.as_str())
            .collect();
        assert_eq!(
            of_ada,
            ["user.registered", "referral.created", "reward.created"],
            "ada's events in the order they happened"
        );
        let registered_bob = events
            .iter()
            .find(|event| event.kind == "user.registered" && user_id_of(event) == bob.id)
            .unwrap();
        assert_eq!(registered_bob.data["referrer_id"], ada.id.to_string());
    }
    let ids = |handler: &Recorder| {
        let mut ids: Vec<Uuid> = handler.events().iter().map(|event| event.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&crm),
        ids(&profiles),
        "one id per event, the same everywhere"
    );
    assert_eq!(s.storage.pending_outbox().await.unwrap(), 0);
}

#[tokio::test]
async fn a_failing_handler_is_retried_without_holding_back_the_others() {
    let flaky = Recorder::failing(2);
    let steady = Arc::new(Recorder::default());
    let s = setup(&[
        ("flaky", Arc::clone(&flaky)),
        ("steady", Arc::clone(&steady)),
    ]);
    register(&s.engine, "ada@example.com", None).await;
    register(&s.engine, "bob@example.com", None).await;
    let first = deliver_all(&s.engine).await;
    assert_eq!(steady.kinds(), ["user.registered", "user.registered"]);
    assert!(flaky.events().is_empty());
    assert_eq!(first.failed, 2, "each user's delivery to flaky failed once");
    // Backoff: 5 s after the first failure.
    s.clock.advance(Duration::seconds(5));
    deliver_all(&s.engine).await;
    assert_eq!(flaky.kinds(), ["user.registered", "user.registered"]);
    assert_eq!(
        steady.events().len(),
        2,
        "nothing delivered twice to steady"
    );
    assert_eq!(s.storage.pending_outbox().await.unwrap(), 0);
}

#[tokio::test]
async fn a_users_later_events_wait_for_the_earlier_one_at_a_failing_handler() {
    let flaky = Recorder::failing(1);
    let s = setup(&[("flaky", Arc::clone(&flaky))]);
    let ada = register(&s.engine, "ada@example.com", None).await;
    let report = deliver_all(&s.engine).await;
    assert_eq!(report.failed, 1);
    register(&s.engine, "bob@example.com", Some(&ada.referral_code)).await;
    deliver_all(&s.engine).await;
    // bob's registration reached flaky; ada's referral and reward wait behind her first event.
    assert_eq!(flaky.kinds(), ["user.registered"]);
    assert_ne!(user_id_of(&flaky.events()[0]), ada.id);
    s.clock.advance(Duration::seconds(5));
    deliver_all(&s.engine).await;
    let of_ada: Vec<String> = flaky
        .events()
        .into_iter()
        .filter(|event| user_id_of(event) == ada.id)
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        of_ada,
        ["user.registered", "referral.created", "reward.created"]
    );
}

#[tokio::test]
async fn a_handler_refusing_for_good_leaves_a_dead_letter_that_can_be_redelivered() {
    let refusing = Arc::new(Recorder {
        permanent: true,
        ..Recorder::default()
    });
    let s = setup(&[("refusing", Arc::clone(&refusing))]);
    let ada = register(&s.engine, "ada@example.com", None).await;
    let report = deliver_all(&s.engine).await;
    assert_eq!(report.dead, 1);
    let dead = s.engine.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(letter.message.topic, "delivery:handler:refusing");
    assert_eq!(letter.message.user_id, Some(ada.id));
    assert_eq!(letter.reason, "this handler refuses everything");
    let event: Event = serde_json::from_str(&letter.message.payload).unwrap();
    assert_eq!(event.kind, "user.registered");

    assert!(s
        .engine
        .redeliver_dead_letter(letter.message.id)
        .await
        .unwrap());
    assert!(!s
        .engine
        .redeliver_dead_letter(letter.message.id)
        .await
        .unwrap());
    assert!(!s
        .engine
        .redeliver_dead_letter(Uuid::now_v7())
        .await
        .unwrap());
    assert!(s.engine.dead_letters(None, 10).await.unwrap().is_empty());
    assert_eq!(s.storage.pending_outbox().await.unwrap(), 1);
    assert!(matches!(
        s.engine.dead_letters(None, 0).await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        s.engine.dead_letters(None, 101).await,
        Err(Error::Validation(_))
    ));
}

#[tokio::test]
async fn a_handler_failing_for_three_days_is_given_up_on() {
    let down = Recorder::failing(usize::MAX);
    let s = setup(&[("down", Arc::clone(&down))]);
    register(&s.engine, "ada@example.com", None).await;
    deliver_all(&s.engine).await;
    let mut waited = Duration::ZERO;
    while s.engine.dead_letters(None, 10).await.unwrap().is_empty() {
        // The backoff grows to its one-hour cap; an hour at a time covers every retry.
        s.clock.advance(Duration::hours(1));
        waited += Duration::hours(1);
        deliver_all(&s.engine).await;
        assert!(
            waited <= Duration::days(3) + Duration::hours(1),
            "never given up"
        );
    }
    assert!(waited >= Duration::days(3), "given up after {waited}");
    let letter = &s.engine.dead_letters(None, 10).await.unwrap()[0];
    assert!(
        letter.reason.starts_with("gave up after 72 hours"),
        "{}",
        letter.reason
    );
    assert!(down.attempts.load(Ordering::SeqCst) > 70);
}

#[tokio::test]
async fn events_with_no_handler_and_no_webhook_are_done_at_once() {
    let s = setup(&[]);
    register(&s.engine, "ada@example.com", None).await;
    let report = deliver_all(&s.engine).await;
    assert_eq!((report.skipped, report.fanned_out), (1, 0));
    assert_eq!(s.storage.pending_outbox().await.unwrap(), 0);
}

#[tokio::test]
async fn handler_names_are_plain_and_distinct() {
    let handler = || Arc::new(Recorder::default()) as Arc<dyn EventHandler>;
    let build = |names: &[&str]| {
        let mut builder = Engine::builder(config().build().unwrap());
        for name in names {
            builder = builder.event_handler(*name, handler());
        }
        builder.build()
    };
    assert!(build(&["crm", "profiles"]).is_ok());
    for bad in [&["crm", "crm"][..], &["Has Spaces"], &[""], &["a:b"]] {
        assert!(
            matches!(build(bad), Err(Error::Config(_))),
            "{bad:?} accepted"
        );
    }
}

/// Every string anywhere in `value`, with the key it is under.
fn strings<'a>(value: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        Value::String(text) => out.push((key, text)),
        Value::Array(items) => items.iter().for_each(|item| strings(item, key, out)),
        Value::Object(fields) => fields
            .iter()
            .for_each(|(key, value)| strings(value, key, out)),
        _ => {}
    }
}

#[tokio::test]
async fn no_event_carries_a_token_a_hash_or_a_password() {
    let recorder = Arc::new(Recorder::default());
    let config = config().verification_mail_on_sign_up(true).build().unwrap();
    let s = setup_with(config, &[("all", Arc::clone(&recorder))]);
    let mut secrets: Vec<String> = vec![PASSWORD.to_owned()];
    let ada = s
        .engine
        .register(NewAccount::new("ada@example.com", PASSWORD))
        .await
        .unwrap();
    let bob = s
        .engine
        .register(
            NewAccount::new("bob@example.com", PASSWORD).referral_code(&ada.user.referral_code),
        )
        .await
        .unwrap();
    for tokens in [&ada.tokens, &bob.tokens] {
        secrets.push(tokens.access_token.clone());
        secrets.push(tokens.refresh_token.clone());
    }
    let login = s.engine.login("ada@example.com", PASSWORD).await.unwrap();
    secrets.push(login.refresh_token.clone());
    let visitor = "203.0.113.7";
    s.engine
        .follow_share_link(
            &ada.user.referral_code,
            Some(visitor.parse().unwrap()),
            Some("a browser"),
        )
        .await;
    s.engine.flush_clicks().await;
    secrets.push(visitor.to_owned());
    s.engine
        .request_password_reset("ada@example.com", None)
        .await
        .unwrap();
    deliver_all(&s.engine).await;
    let mailed = s.mailer.messages();
    let reset = mailed
        .iter()
        .find_map(|mail| reset_token_in(&mail.text, APP_BASE_URL))
        .unwrap();
    let verification = mailed
        .iter()
        .filter(|mail| mail.to.as_str() == "ada@example.com")
        .find_map(|mail| verification_token_in(&mail.text, APP_BASE_URL))
        .unwrap();
    s.engine.verify_email(&verification).await.unwrap();
    secrets.push(verification);
    let reward_id: Uuid = recorder
        .events()
        .iter()
        .find(|event| event.kind == "reward.created")
        .and_then(|event| event.data["reward_id"].as_str()?.parse().ok())
        .unwrap();
    s.engine
        .set_reward_status(reward_id, RewardStatus::Revoked, Some("test"))
        .await
        .unwrap();
    s.engine
        .change_access(
            None,
            bob.user.id,
            AccessUpdate {
                roles: Some(vec!["user".to_owned(), "admin".to_owned()]),
                disabled: Some(true),
            },
        )
        .await
        .unwrap();
    let new_password = "a brand new passphrase";
    s.engine
        .confirm_password_reset(&reset, new_password)
        .await
        .unwrap();
    secrets.extend([reset, new_password.to_owned()]);
    // Bob changes his password, then erases his account.
    let stored_bob = s.storage.user_by_id(bob.user.id).await.unwrap().unwrap();
    secrets.push(stored_bob.password_hash.as_str().to_owned());
    let changed = "another brand new passphrase";
    let bob_tokens = s
        .engine
        .change_password(&stored_bob, PASSWORD, changed)
        .await
        .unwrap();
    secrets.extend([
        changed.to_owned(),
        bob_tokens.access_token,
        bob_tokens.refresh_token,
    ]);
    let stored_bob = s.storage.user_by_id(bob.user.id).await.unwrap().unwrap();
    secrets.push(stored_bob.password_hash.as_str().to_owned());
    s.engine.erase_user(bob.user.id, None).await.unwrap();
    deliver_all(&s.engine).await;
    let stored_ada = s.storage.user_by_id(ada.user.id).await.unwrap().unwrap();
    secrets.push(stored_ada.password_hash.as_str().to_owned());

    let events = recorder.events();
    let mut kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "password.changed",
            "referral.clicked",
            "referral.created",
            "reward.created",
            "reward.revoked",
            "user.deleted",
            "user.disabled",
            "user.email_verified",
            "user.registered",
            "user.updated"
        ],
        "every kind this engine emits today is walked"
    );
    let forbidden_keys = ["token", "hash", "password", "secret"];
    for event in &events {
        let mut found = Vec::new();
        strings(&event.data, "", &mut found);
        for key in event.data.as_object().unwrap().keys() {
            assert!(
                !forbidden_keys.iter().any(|word| key.contains(word)),
                "{} has a field named {key}",
                event.kind
            );
        }
        for (key, text) in found {
            assert!(
                !secrets.iter().any(|secret| text.contains(secret.as_str())),
                "{}.{key} carries a secret",
                event.kind
            );
            assert!(
                !text.contains("$argon2"),
                "{}.{key} carries a hash",
                event.kind
            );
        }
    }
    let by_kind: HashMap<&str, usize> = events.iter().fold(HashMap::new(), |mut counts, event| {
        *counts.entry(event.kind.as_str()).or_default() += 1;
        counts
    });
    assert_eq!(by_kind["user.registered"], 2);
    let clicked = events
        .iter()
        .find(|event| event.kind == "referral.clicked")
        .unwrap();
    assert_eq!(clicked.data["user_id"], json!(ada.user.id));
    assert_eq!(clicked.data["clicks"], json!(1));
}

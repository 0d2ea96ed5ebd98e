//! Webhooks end to end, over a real socket, on a SQLite file: a receiver that checks every
//! request with its own implementation of the Standard Webhooks signature (HMAC-SHA256 from the
//! `hmac`, `sha2` and `base64` crates, not the library's signing code), one user's events in
//! the order they happened, and a receiver outage that delays events and loses none.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

use referral::storage::SqliteStorage;
use referral::testing::ScratchSqlite;
use referral::{
    Argon2Params, Clock, Config, Engine, LogMailer, ManualClock, NewAccount, WebhookSettings,
};

/// 32 random bytes, as `whsec_` and base64.
const SECRET: &str = "whsec_3q2+7wAAAAC6ursOyv7K/t6tvu8BAgMEBQYHCAkKCww=";
const PASSWORD: &str = "correct horse battery staple";

/// Checks a request the way a receiver following the specification does, written from the
/// specification alone: the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the
/// key the bytes of the base64 after `whsec_`, and the header a space-separated list of
/// `v1,<base64 HMAC-SHA256>` of which one must match.
fn signature_is_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(encoded) = secret.strip_prefix("whsec_") else {
        return false;
    };
    let Ok(key) = BASE64.decode(encoded) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = BASE64.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .any(|signature| signature == expected)
}

#[test]
fn the_independent_check_accepts_the_specifications_example_and_nothing_else() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (id, timestamp, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );
    let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert!(signature_is_valid(secret, id, timestamp, body, header));
    assert!(signature_is_valid(
        secret,
        id,
        timestamp,
        body,
        &format!("v1,bm9wZQ== {header}")
    ));
    assert!(!signature_is_valid(secret, id, "1614265331", body, header));
    assert!(!signature_is_valid(
        secret,
        id,
        timestamp,
        br#"{"test": 1}"#,
        header
    ));
    assert!(!signature_is_valid(SECRET, id, timestamp, body, header));
}

/// What the receiver saw: each request's event, in arrival order, and the requests it
/// refused (a missing header, a bad signature, a stale timestamp).
#[derive(Default)]
struct Inbox {
    events: Vec<(String, Value)>,
    refused: Vec<String>,
}

#[derive(Clone)]
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    /// The engine's clock: timestamps are checked against it, five minutes either way.
    clock: ManualClock,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let mut inbox = receiver.inbox.lock().unwrap();
    let (Some(id), Some(timestamp), Some(signature)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        inbox.refused.push("a webhook header is missing".into());
        return StatusCode::BAD_REQUEST;
    };
    if !signature_is_valid(SECRET, id, timestamp, body.as_bytes(), signature) {
        inbox.refused.push(format!("bad signature on {id}"));
        return StatusCode::UNAUTHORIZED;
    }
    let sent_at: i64 = timestamp.parse().unwrap_or(0);
    if (receiver.clock.now().unix_timestamp() - sent_at).abs() > 300 {
        inbox.refused.push(format!("stale timestamp on {id}"));
        return StatusCode::BAD_REQUEST;
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        inbox.refused.push(format!("not JSON: {id}"));
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    let event: Value = serde_json::from_str(&body).expect("the body is the event's JSON");
    assert_eq!(event["id"], id, "webhook-id is the event's id");
    inbox.events.push((id.to_owned(), event));
    StatusCode::NO_CONTENT
}

/// Serves the receiver on `listener` until the task is aborted.
fn serve(listener: TcpListener, receiver: Receiver) -> JoinHandle<()> {
    let app = Router::new()
        .route("/hooks", post(receive))
        .with_state(receiver);
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the receiver serves");
    })
}

struct Setup {
    engine: Engine,
    clock: ManualClock,
    receiver: Receiver,
    address: SocketAddr,
    _file: ScratchSqlite,
}

/// An engine on a fresh SQLite file, its webhook pointed at a free local port (nothing
/// listens there yet).
async fn setup() -> Setup {
    let file = ScratchSqlite::new().unwrap();
    let storage = SqliteStorage::connect(file.url()).await.unwrap();
    storage.migrate().await.unwrap();
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let clock = ManualClock::starting_now();
    let config = Config::builder()
        .secret("events-tests-secret-of-more-than-32-bytes")
        .argon2(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap();
    let webhook = WebhookSettings::new(&format!("http://{address}/hooks"), SECRET)
        .unwrap()
        .timeout(std::time::Duration::from_secs(5));
    let engine = Engine::builder(config)
        .storage(Arc::new(storage))
        .mailer(Arc::new(LogMailer))
        .clock(Arc::new(clock.clone()))
        .webhook(webhook)
        .build()
        .unwrap();
    Setup {
        engine,
        receiver: Receiver {
            inbox: Arc::default(),
            clock: clock.clone(),
        },
        clock,
        address,
        _file: file,
    }
}

/// Dispatcher rounds until one finds nothing due; how many deliveries failed meanwhile.
async fn deliver_all(engine: &Engine) -> u32 {
    let mut failed = 0;
    loop {
        let report = engine.outbox_dispatcher().dispatch_due().await.unwrap();
        if report.is_idle() {
            return failed;
        }
        failed += report.failed;
    }
}

/// Signs up ada, then bob with ada's code: ada's events are user.registered,
/// referral.created and reward.created, in that order; bob's user.registered.
async fn two_sign_ups(engine: &Engine) -> (Uuid, Uuid) {
    let ada = engine
        .register(NewAccount::new("ada@example.com", PASSWORD))
        .await
        .unwrap()
        .user;
    let bob = engine
        .register(NewAccount::new("bob@example.com", PASSWORD).referral_code(&ada.referral_code))
        .await
        .unwrap()
        .user;
    (ada.id, bob.id)
}

/// The types received about `user`, in arrival order.
fn types_about(inbox: &Inbox, user: Uuid) -> Vec<String> {
    let user = user.to_string();
    inbox
        .events
        .iter()
        .filter(|(_, event)| {
            let about = if event["type"] == "referral.created" {
                &event["data"]["referrer_id"]
            } else {
                &event["data"]["user_id"]
            };
            about == &Value::String(user.clone())
        })
        .map(|(_, event)| event["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_signed_with_its_id_in_order_per_user() {
    let s = setup().await;
    let server = serve(
        TcpListener::bind(s.address).await.unwrap(),
        s.receiver.clone(),
    );
    let (ada, bob) = two_sign_ups(&s.engine).await;
    assert_eq!(deliver_all(&s.engine).await, 0, "no delivery failed");
    let inbox = s.receiver.inbox.lock().unwrap();
    assert!(inbox.refused.is_empty(), "refused: {:?}", inbox.refused);
    assert_eq!(inbox.events.len(), 4);
    assert_eq!(
        types_about(&inbox, ada),
        ["user.registered", "referral.created", "reward.created"]
    );
    assert_eq!(types_about(&inbox, bob), ["user.registered"]);
    for (_, event) in &inbox.events {
        assert!(event["occurred_at"].as_str().unwrap().ends_with('Z'));
        assert!(event["data"].is_object());
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_delays_events_and_loses_none() {
    let s = setup().await;
    // Down: nothing listens on the port.
    let (ada, bob) = two_sign_ups(&s.engine).await;
    let failed = deliver_all(&s.engine).await;
    assert_eq!(
        failed, 2,
        "the first event of each user failed; the others wait behind it"
    );
    // Still down at the first retry.
    s.clock.advance(Duration::seconds(5));
    assert_eq!(deliver_all(&s.engine).await, 2);
    assert!(s.engine.dead_letters(None, 10).await.unwrap().is_empty());

    // Back up: the next retry (10 s after the second failure) delivers everything, in order.
    let server = serve(
        TcpListener::bind(s.address).await.unwrap(),
        s.receiver.clone(),
    );
    s.clock.advance(Duration::seconds(9));
    assert_eq!(deliver_all(&s.engine).await, 0);
    assert!(
        s.receiver.inbox.lock().unwrap().events.is_empty(),
        "nothing before its retry time"
    );
    s.clock.advance(Duration::seconds(1));
    assert_eq!(deliver_all(&s.engine).await, 0);
    assert_eq!(s.engine.storage().pending_outbox().await.unwrap(), 0);
    let inbox = s.receiver.inbox.lock().unwrap();
    assert!(inbox.refused.is_empty(), "refused: {:?}", inbox.refused);
    assert_eq!(
        types_about(&inbox, ada),
        ["user.registered", "referral.created", "reward.created"]
    );
    assert_eq!(types_about(&inbox, bob), ["user.registered"]);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &inbox.events {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    assert_eq!(seen.len(), 4, "every event arrived");
    assert!(seen.values().all(|count| *count == 1), "none twice");

    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_three_days_leaves_dead_letters_that_redeliver() {
    let s = setup().await;
    let (ada, _bob) = two_sign_ups(&s.engine).await;
    deliver_all(&s.engine).await;
    let mut hours = 0;
    while s.engine.dead_letters(None, 10).await.unwrap().len() < 2 {
        s.clock.advance(Duration::hours(1));
        hours += 1;
        deliver_all(&s.engine).await;
        assert!(hours <= 73, "never given up");
    }
    assert_eq!(hours, 72, "given up after 3 days of retries");
    // The first event of each user died; ada's later ones, 3 days old by then, went next
    // and died at their first failure.
    assert_eq!(s.engine.storage().pending_outbox().await.unwrap(), 0);
    let dead = s.engine.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 4);
    assert!(dead
        .iter()
        .all(|letter| letter.message.topic == "delivery:webhook"));

    let server = serve(
        TcpListener::bind(s.address).await.unwrap(),
        s.receiver.clone(),
    );
    // Oldest first, as the operator would.
    for letter in dead.iter().rev() {
        assert!(s
            .engine
            .redeliver_dead_letter(letter.message.id)
            .await
            .unwrap());
        deliver_all(&s.engine).await;
    }
    let inbox = s.receiver.inbox.lock().unwrap();
    assert!(inbox.refused.is_empty(), "refused: {:?}", inbox.refused);
    assert_eq!(
        inbox.events.len(),
        4,
        "every dead letter delivered once redelivered"
    );
    assert_eq!(
        types_about(&inbox, ada),
        ["user.registered", "referral.created", "reward.created"]
    );
    server.abort();
}

//! Rate limits decided on an atomic count: failed logins per email, reset mail per email,
//! sign-ups and reset requests per client address.

use referral_core::{Error, NewAccount, RateLimit, Storage};
use time::Duration;

use crate::harness::{at_once, ip, tally, Harness, Tally, PASSWORD};

const WRONG: &str = "wrong password!";

async fn fail(h: &Harness, email: &str, times: usize) {
    for _ in 0..times {
        let err = h.engine.login(email, WRONG).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials), "{err:?}");
    }
}

#[tokio::test]
async fn ten_failures_lock_the_email_until_the_window_passes() {
    let h = Harness::new();
    h.register("lock@example.com").await;
    fail(&h, "lock@example.com", 10).await;
    h.clock.advance(Duration::minutes(5));
    let err = h
        .engine
        .login("lock@example.com", PASSWORD)
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after_secs } = err else {
        panic!("expected a rate limit, got {err:?}")
    };
    assert_eq!(retry_after_secs, 600);
    h.clock.advance(Duration::minutes(10));
    assert!(h.engine.login("lock@example.com", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn unregistered_emails_are_limited_the_same_way() {
    let h = Harness::new();
    fail(&h, "nobody@example.com", 10).await;
    let err = h.engine.login("NOBODY@example.com", "x").await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn the_login_limit_is_configurable() {
    let h = Harness::with(|c| {
        c.login_limit(RateLimit {
            max: 2,
            window: Duration::minutes(1),
        })
    });
    fail(&h, "two@example.com", 2).await;
    assert!(matches!(
        h.engine.login("two@example.com", "x").await,
        Err(Error::RateLimited { .. })
    ));
}

#[tokio::test]
async fn a_password_reset_clears_the_failure_count() {
    let h = Harness::new();
    h.register("reset@example.com").await;
    fail(&h, "reset@example.com", 10).await;
    let token = h.reset_token("reset@example.com").await;
    h.engine
        .confirm_password_reset(&token, "a brand new password")
        .await
        .unwrap();
    assert!(h
        .engine
        .login("reset@example.com", "a brand new password")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_successful_login_takes_back_its_attempt_without_clearing_the_failures() {
    let h = Harness::new();
    h.register("mixed@example.com").await;
    fail(&h, "mixed@example.com", 9).await;
    for _ in 0..5 {
        assert!(h.engine.login("mixed@example.com", PASSWORD).await.is_ok());
    }
    // Nine failures, five successes taken back: the tenth failure is still within the limit…
    fail(&h, "mixed@example.com", 1).await;
    // …and the eleventh attempt is not.
    assert!(matches!(
        h.engine.login("mixed@example.com", PASSWORD).await,
        Err(Error::RateLimited { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_wrong_passwords_for_one_email_check_ten_and_rate_limit_the_rest() {
    let h = Harness::new();
    h.register("target@example.com").await;
    let verified_before = h.engine.hasher().verifications();
    let outcomes = at_once(60, |_| {
        let engine = h.engine.clone();
        async move { engine.login("target@example.com", WRONG).await }
    })
    .await;
    assert_eq!(
        tally(&outcomes),
        Tally {
            invalid_credentials: 10,
            rate_limited: 50,
            ..Tally::default()
        }
    );
    assert_eq!(
        h.engine.hasher().verifications() - verified_before,
        10,
        "a rate-limited attempt never reaches the password check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_reset_requests_for_one_email_send_at_most_three_mails() {
    let h = Harness::new();
    h.register("popular@example.com").await;
    let outcomes = at_once(20, |_| {
        let engine = h.engine.clone();
        async move {
            engine
                .request_password_reset("popular@example.com", None)
                .await
        }
    })
    .await;
    assert_eq!(
        tally(&outcomes).ok,
        20,
        "every request answers alike, past the mail limit too"
    );
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 3);
    assert_eq!(h.mailed_reset_tokens().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sign_ups_from_one_address_let_ten_through_an_hour() {
    let h = Harness::new();
    let address = Some(ip("203.0.113.7"));
    let outcomes = at_once(20, |i| {
        let engine = h.engine.clone();
        let account =
            NewAccount::new(format!("signup{i}@example.com"), PASSWORD).client_address(address);
        async move { engine.register(account).await }
    })
    .await;
    assert_eq!(
        tally(&outcomes),
        Tally {
            ok: 10,
            rate_limited: 10,
            ..Tally::default()
        }
    );
    for (i, outcome) in outcomes.iter().enumerate() {
        let stored = h.stored_user(&format!("signup{i}@example.com")).await;
        assert_eq!(stored.is_some(), outcome.is_ok(), "signup{i}");
    }
    // Other addresses, and callers with no address (a CLI), are not held.
    let elsewhere =
        NewAccount::new("elsewhere@example.com", PASSWORD).client_address(Some(ip("198.51.100.1")));
    assert!(h.engine.register(elsewhere).await.is_ok());
    assert!(h
        .engine
        .register(NewAccount::new("cli@example.com", PASSWORD))
        .await
        .is_ok());
    h.clock.advance(Duration::hours(1));
    let later = NewAccount::new("later@example.com", PASSWORD).client_address(address);
    assert!(h.engine.register(later).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_reset_requests_from_one_address_let_twenty_through_an_hour() {
    let h = Harness::new();
    let address = Some(ip("203.0.113.8"));
    let outcomes = at_once(30, |i| {
        let engine = h.engine.clone();
        async move {
            engine
                .request_password_reset(&format!("anyone{i}@example.com"), address)
                .await
        }
    })
    .await;
    assert_eq!(
        tally(&outcomes),
        Tally {
            ok: 20,
            rate_limited: 10,
            ..Tally::default()
        }
    );
    assert_eq!(
        h.storage.pending_outbox().await.unwrap(),
        20,
        "a refused request queues nothing"
    );
    assert!(h
        .engine
        .request_password_reset("anyone@example.com", None)
        .await
        .is_ok());
    h.clock.advance(Duration::hours(1));
    assert!(h
        .engine
        .request_password_reset("anyone@example.com", address)
        .await
        .is_ok());
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_sign_up_limit() {
    let h = Harness::with(|c| c.trusted_proxies(["10.0.0.0/8".parse().unwrap()]));
    let outsider = Some(ip("203.0.113.7"));
    let sign_up = |n: usize, peer, forwarded_for: String| {
        let address = h.engine.client_address(peer, Some(&forwarded_for));
        let account =
            NewAccount::new(format!("spoof{n}@example.com"), PASSWORD).client_address(address);
        h.engine.register(account)
    };
    for n in 0..10 {
        assert!(sign_up(n, outsider, format!("198.51.100.{n}"))
            .await
            .is_ok());
    }
    assert!(
        matches!(
            sign_up(10, outsider, "198.51.100.10".into()).await,
            Err(Error::RateLimited { .. })
        ),
        "a new X-Forwarded-For from the same untrusted peer is the same address"
    );
    // Through a trusted proxy the forwarded client is the one counted: the same outsider is
    // held, another client is not.
    let proxy = Some(ip("10.0.0.2"));
    assert!(matches!(
        sign_up(11, proxy, "203.0.113.7".into()).await,
        Err(Error::RateLimited { .. })
    ));
    assert!(sign_up(12, proxy, "198.51.100.99".into()).await.is_ok());
}

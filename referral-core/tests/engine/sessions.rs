//! Sessions: refresh rotation with reuse detection, logout, and access tokens.

use referral_core::{AccessTokenIssuer, Error};
use time::Duration;

use crate::harness::{Harness, PASSWORD};

#[tokio::test]
async fn a_refresh_token_rotates_and_the_old_one_stops_working() {
    let h = Harness::new();
    let first = h.register("r@example.com").await.tokens;
    let second = h.engine.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(h.engine.authenticate(&second.access_token).await.is_ok());
    assert!(matches!(
        h.engine.refresh(&first.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn presenting_a_rotated_token_revokes_every_refresh_token_of_the_user() {
    let h = Harness::new();
    let first = h.register("reuse@example.com").await.tokens;
    let other_session = h.engine.login("reuse@example.com", PASSWORD).await.unwrap();
    let second = h.engine.refresh(&first.refresh_token).await.unwrap();
    assert!(h.engine.refresh(&first.refresh_token).await.is_err());
    for revoked in [&second.refresh_token, &other_session.refresh_token] {
        assert!(matches!(
            h.engine.refresh(revoked).await,
            Err(Error::InvalidRefreshToken)
        ));
    }
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let h = Harness::new();
    let tokens = h.register("exp@example.com").await.tokens;
    h.clock.advance(Duration::days(30));
    assert!(matches!(
        h.engine.refresh(&tokens.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let h = Harness::new();
    let tokens = h.register("out@example.com").await.tokens;
    h.engine.logout(&tokens.refresh_token).await.unwrap();
    h.engine.logout(&tokens.refresh_token).await.unwrap();
    h.engine.logout("never-issued").await.unwrap();
    assert!(matches!(
        h.engine.refresh(&tokens.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn access_tokens_are_refused_when_malformed_forged_expired_or_for_no_user() {
    let h = Harness::new();
    let tokens = h.register("at@example.com").await.tokens;
    assert!(h.engine.authenticate(&tokens.access_token).await.is_ok());
    let forged = AccessTokenIssuer::new(
        b"another-secret-another-secret-another-secret",
        "referral",
        "referral-api",
        Duration::minutes(15),
    );
    let me = h.engine.authenticate(&tokens.access_token).await.unwrap();
    let forged = forged
        .issue(me.id, me.token_version, h.engine.now())
        .unwrap();
    let ghost = h
        .engine
        .access_tokens()
        .issue(uuid::Uuid::now_v7(), 0, h.engine.now())
        .unwrap();
    for refused in [
        "",
        "not.a.jwt",
        tokens.refresh_token.as_str(),
        forged.expose(),
        ghost.expose(),
    ] {
        assert!(
            matches!(
                h.engine.authenticate(refused).await,
                Err(Error::Unauthorized)
            ),
            "{refused:?}"
        );
    }
    h.clock.advance(Duration::minutes(15));
    assert!(matches!(
        h.engine.authenticate(&tokens.access_token).await,
        Err(Error::Unauthorized)
    ));
}

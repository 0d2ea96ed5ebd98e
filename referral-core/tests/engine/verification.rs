//! Email verification: the mail a sign-up queues, the link's token, resending, and the
//! login rule that can require a verified address.

use referral_core::{Error, NewAccount, RateLimit, RewardApproval, RewardPolicy};
use time::Duration;

use crate::harness::{config, Harness, PASSWORD};

fn verifying() -> Harness {
    Harness::with(|c| c.verification_mail_on_sign_up(true))
}

#[tokio::test]
async fn the_default_configuration_mails_a_verification_link_at_sign_up() {
    let config = config().build().unwrap();
    assert!(
        !config.verification_mail_on_sign_up(),
        "the harness turns it off"
    );
    let defaults = referral_core::Config::builder()
        .random_secret()
        .build()
        .unwrap();
    assert!(defaults.verification_mail_on_sign_up());
    assert!(!defaults.login_requires_verified_email());
    assert_eq!(defaults.verification_ttl(), Duration::hours(24));

    let h = verifying();
    let jane = h.register("jane@example.com").await;
    assert!(!jane.user.email_verified);
    let mailed = h.mailed_verification_tokens().await;
    assert_eq!(mailed.len(), 1);
    assert_eq!(mailed[0].0, "jane@example.com");
    let user = h.engine.verify_email(&mailed[0].1).await.unwrap();
    assert!(user.email_verified);
    assert!(
        h.stored_user("jane@example.com")
            .await
            .unwrap()
            .email_verified
    );
}

#[tokio::test]
async fn a_verification_token_works_once() {
    let h = verifying();
    h.register("jane@example.com").await;
    let (_, token) = h.mailed_verification_tokens().await.remove(0);
    h.engine.verify_email(&token).await.unwrap();
    assert!(matches!(
        h.engine.verify_email(&token).await,
        Err(Error::InvalidVerificationToken)
    ));
    for bad in ["", "nope", &"x".repeat(500)] {
        assert!(matches!(
            h.engine.verify_email(bad).await,
            Err(Error::InvalidVerificationToken)
        ));
    }
}

#[tokio::test]
async fn a_verification_token_expires_after_its_lifetime() {
    let h = Harness::with(|c| {
        c.verification_mail_on_sign_up(true)
            .verification_ttl(Duration::hours(2))
    });
    h.register("jane@example.com").await;
    let (_, token) = h.mailed_verification_tokens().await.remove(0);
    h.clock.advance(Duration::hours(2));
    assert!(matches!(
        h.engine.verify_email(&token).await,
        Err(Error::InvalidVerificationToken)
    ));
    assert!(
        !h.stored_user("jane@example.com")
            .await
            .unwrap()
            .email_verified
    );
}

#[tokio::test]
async fn a_resent_link_supersedes_the_first_and_resending_is_limited() {
    let h = Harness::with(|c| {
        c.verification_mail_on_sign_up(true)
            .verification_mail_limit(RateLimit {
                max: 2,
                window: Duration::hours(1),
            })
    });
    h.register("jane@example.com").await;
    let (_, first) = h.mailed_verification_tokens().await.remove(0);
    let jane = h.stored_user("jane@example.com").await.unwrap();
    h.engine.resend_verification(&jane).await.unwrap();
    h.engine.resend_verification(&jane).await.unwrap();
    assert!(matches!(
        h.engine.resend_verification(&jane).await,
        Err(Error::RateLimited { .. })
    ));
    let resent = h.mailed_verification_tokens().await;
    assert_eq!(resent.len(), 2);
    assert!(matches!(
        h.engine.verify_email(&first).await,
        Err(Error::InvalidVerificationToken)
    ));
    assert!(matches!(
        h.engine.verify_email(&resent[0].1).await,
        Err(Error::InvalidVerificationToken)
    ));
    h.engine.verify_email(&resent[1].1).await.unwrap();
    let verified = h.stored_user("jane@example.com").await.unwrap();
    h.clock.advance(Duration::hours(2));
    h.engine.resend_verification(&verified).await.unwrap();
    assert!(
        h.mailed_verification_tokens().await.is_empty(),
        "nothing is sent once verified"
    );
}

#[tokio::test]
async fn a_verified_login_can_be_required_after_the_password_check() {
    let h = Harness::with(|c| {
        c.verification_mail_on_sign_up(true)
            .login_requires_verified_email(true)
    });
    h.register("jane@example.com").await;
    assert!(matches!(
        h.engine.login("jane@example.com", "wrong password!").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        h.engine.login("jane@example.com", PASSWORD).await,
        Err(Error::EmailNotVerified)
    ));
    let (_, token) = h.mailed_verification_tokens().await.remove(0);
    h.engine.verify_email(&token).await.unwrap();
    h.engine.login("jane@example.com", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn verifying_approves_the_rewards_waiting_for_it() {
    let h = Harness::with(|c| {
        c.verification_mail_on_sign_up(true)
            .reward_policy(RewardPolicy {
                referrer: 100,
                referee: 20,
                approval: RewardApproval::OnEmailVerified,
                ..RewardPolicy::default()
            })
    });
    let referrer = h.register("ref@example.com").await;
    let referee = h
        .engine
        .register(
            NewAccount::new("new@example.com", PASSWORD)
                .referral_code(&referrer.user.referral_code),
        )
        .await
        .unwrap();
    let stats = h.stats_of(referrer.user.id).await;
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (0, 100)
    );
    let mailed = h.mailed_verification_tokens().await;
    let token = &mailed
        .iter()
        .find(|(to, _)| to == "new@example.com")
        .expect("the referee's link")
        .1;
    h.engine.verify_email(token).await.unwrap();
    let stats = h.stats_of(referrer.user.id).await;
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (100, 0)
    );
    let own = h.stats_of(referee.user.id).await;
    assert_eq!(
        (own.total_reward_points, own.pending_reward_points),
        (20, 0)
    );
}

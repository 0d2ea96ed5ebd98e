//! The cache of users and referral counters: observable through its counters, exact for
//! this engine's own writes, and giving the same answers when turned off.

use referral_core::{CachePolicy, Error};

use crate::harness::{Harness, PASSWORD};

#[tokio::test]
async fn repeated_reads_are_served_from_the_cache_and_counted() {
    let h = Harness::new();
    let alice = h.register("alice@example.com").await;
    let access = alice.tokens.access_token.clone();
    let before = h.engine.cache_stats().expect("the cache is on by default");
    for _ in 0..3 {
        let user = h.engine.authenticate(&access).await.unwrap();
        h.engine.referral_stats(&user).await.unwrap();
    }
    let after = h.engine.cache_stats().unwrap();
    assert_eq!(after.user_misses - before.user_misses, 1, "{after:?}");
    assert_eq!(after.user_hits - before.user_hits, 2, "{after:?}");
    assert_eq!(after.stats_misses - before.stats_misses, 1, "{after:?}");
    assert_eq!(after.stats_hits - before.stats_hits, 2, "{after:?}");
    assert_eq!(after.click_misses - before.click_misses, 1, "{after:?}");
    assert_eq!(after.click_hits - before.click_hits, 2, "{after:?}");
}

#[tokio::test]
async fn counted_clicks_show_in_cached_stats_at_once() {
    let h = Harness::new();
    let (alice, user) = h.signed_in("alice@example.com").await;
    assert_eq!(h.engine.referral_stats(&user).await.unwrap().clicks, 0);
    assert_eq!(h.engine.referral_stats(&user).await.unwrap().clicks, 0);
    assert!(h.engine.cache_stats().unwrap().click_hits >= 1, "cached");
    h.engine
        .follow_share_link(
            &alice.user.referral_code,
            Some("192.0.2.1".parse().unwrap()),
            Some("a browser"),
        )
        .await;
    h.engine.flush_clicks().await;
    let stats = h.engine.referral_stats(&user).await.unwrap();
    assert_eq!((stats.clicks, stats.clicks_last_30_days), (1, 1));
}

#[tokio::test]
async fn a_reset_refuses_a_cached_token_at_once() {
    let h = Harness::new();
    let alice = h.register("alice@example.com").await;
    let access = alice.tokens.access_token.clone();
    h.engine.authenticate(&access).await.unwrap();
    h.engine.authenticate(&access).await.unwrap();
    assert!(
        h.engine.cache_stats().unwrap().user_hits >= 1,
        "the user is cached"
    );
    let token = h.reset_token("alice@example.com").await;
    h.engine
        .confirm_password_reset(&token, "a brand new password")
        .await
        .unwrap();
    assert!(matches!(
        h.engine.authenticate(&access).await,
        Err(Error::Unauthorized)
    ));
}

#[tokio::test]
async fn a_sign_up_shows_in_cached_stats_at_once_for_both_tiers() {
    let h = Harness::new();
    let alice = h.register("alice@example.com").await;
    let bob = h
        .register_referred("bob@example.com", &alice.user.referral_code)
        .await;
    let alice_user = h
        .engine
        .authenticate(&alice.tokens.access_token)
        .await
        .unwrap();
    let bob_user = h
        .engine
        .authenticate(&bob.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(
        h.engine
            .referral_stats(&alice_user)
            .await
            .unwrap()
            .total_referrals,
        1
    );
    assert_eq!(
        h.engine
            .referral_stats(&bob_user)
            .await
            .unwrap()
            .total_referrals,
        0
    );
    h.register_referred("carol@example.com", &bob.user.referral_code)
        .await;
    let alice_stats = h.engine.referral_stats(&alice_user).await.unwrap();
    let bob_stats = h.engine.referral_stats(&bob_user).await.unwrap();
    assert_eq!(alice_stats.second_tier_referrals, 1);
    assert_eq!(bob_stats.total_referrals, 1);
    assert_eq!(bob_stats.referrals_last_30_days, 1);
}

#[tokio::test]
async fn a_policy_over_a_second_or_empty_is_refused() {
    for policy in [
        CachePolicy {
            ttl: time::Duration::seconds(2),
            ..CachePolicy::default()
        },
        CachePolicy {
            ttl: time::Duration::ZERO,
            ..CachePolicy::default()
        },
        CachePolicy {
            capacity: 0,
            ..CachePolicy::default()
        },
    ] {
        let built = crate::harness::config().cache(policy).build();
        assert!(matches!(built, Err(Error::Config(_))), "{policy:?}");
    }
}

/// The same script with the cache on and off answers the same.
#[tokio::test]
async fn turning_the_cache_off_gives_the_same_answers() {
    async fn script(h: &Harness) -> Vec<String> {
        let mut seen = Vec::new();
        let alice = h.register("alice@example.com").await;
        let access = alice.tokens.access_token.clone();
        for i in 0..3 {
            let user = h.engine.authenticate(&access).await.unwrap();
            let stats = h.engine.referral_stats(&user).await.unwrap();
            seen.push(format!(
                "{} {} {}",
                stats.total_referrals, stats.referrals_last_30_days, stats.second_tier_referrals
            ));
            h.register_referred(&format!("friend{i}@example.com"), &alice.user.referral_code)
                .await;
        }
        let token = h.reset_token("alice@example.com").await;
        h.engine
            .confirm_password_reset(&token, "a brand new password")
            .await
            .unwrap();
        seen.push(format!(
            "{:?}",
            h.engine
                .authenticate(&access)
                .await
                .map(|u| u.email.to_string())
        ));
        let tokens = h
            .engine
            .login("alice@example.com", "a brand new password")
            .await
            .unwrap();
        let user = h.engine.authenticate(&tokens.access_token).await.unwrap();
        let stats = h.engine.referral_stats(&user).await.unwrap();
        seen.push(format!(
            "{} {} {}",
            stats.total_referrals, stats.referrals_last_30_days, stats.total_reward_points
        ));
        seen.push(format!(
            "{:?}",
            h.engine.login("alice@example.com", PASSWORD).await.err()
        ));
        seen
    }
    let on = Harness::new();
    let off = Harness::with(|config| config.cache(CachePolicy::disabled()));
    assert!(off.engine.cache_stats().is_none());
    let with_cache = script(&on).await;
    assert_eq!(with_cache, script(&off).await);
    assert!(on.engine.cache_stats().unwrap().user_hits > 0);
}

#[tokio::test]
async fn first_pages_of_referrals_are_cached_and_a_sign_up_shows_at_once() {
    let h = Harness::new();
    let (alice, user) = h.signed_in("alice@example.com").await;
    h.register_referred("bob@example.com", &alice.user.referral_code)
        .await;
    let before = h.engine.cache_stats().unwrap();
    for _ in 0..3 {
        let page = h.engine.referrals(&user, 50, None).await.unwrap();
        assert_eq!(page.referrals.len(), 1);
    }
    let after = h.engine.cache_stats().unwrap();
    assert_eq!(after.page_misses - before.page_misses, 1, "{after:?}");
    assert_eq!(after.page_hits - before.page_hits, 2, "{after:?}");
    // Another limit is another page: read from storage.
    assert_eq!(
        h.engine
            .referrals(&user, 10, None)
            .await
            .unwrap()
            .referrals
            .len(),
        1
    );
    assert_eq!(
        h.engine.cache_stats().unwrap().page_misses - before.page_misses,
        2
    );
    h.register_referred("carol@example.com", &alice.user.referral_code)
        .await;
    let page = h.engine.referrals(&user, 10, None).await.unwrap();
    assert_eq!(page.referrals.len(), 2, "the new referral shows at once");
}

#[tokio::test]
async fn an_erased_referee_leaves_a_cached_first_page_at_once() {
    let h = Harness::new();
    let (alice, user) = h.signed_in("alice@example.com").await;
    let bob = h
        .register_referred("bob@example.com", &alice.user.referral_code)
        .await;
    let before = h.engine.referrals(&user, 50, None).await.unwrap();
    assert!(before.referrals[0].email.is_some());
    h.engine.referrals(&user, 50, None).await.unwrap();
    assert!(h.engine.cache_stats().unwrap().page_hits >= 1, "cached");
    h.engine
        .erase_user(bob.user.id, Some(bob.user.id))
        .await
        .unwrap();
    let after = h.engine.referrals(&user, 50, None).await.unwrap();
    assert_eq!(after.referrals.len(), 1, "the row stays");
    assert_eq!(after.referrals[0].email, None, "without the erased address");
}

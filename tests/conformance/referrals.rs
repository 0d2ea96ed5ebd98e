//! The referral list (newest first, masked, cursor-paged) and referral statistics.

use serde_json::Value;
use time::Duration;

use super::{assert_utc_timestamp, Account, Target, TestServer, APP_BASE_URL, PASSWORD};

/// Registers `count` users with `referrer`'s code, a second apart, oldest first.
async fn refer(
    server: &TestServer,
    referrer: &Account,
    prefix: &str,
    count: usize,
) -> Vec<Account> {
    let mut referees = Vec::with_capacity(count);
    for n in 0..count {
        server.advance(Duration::seconds(1));
        let email = format!("{prefix}{n}@example.com");
        referees.push(server.register(&email, Some(referrer.code())).await);
    }
    referees
}

/// Every page of `GET /api/referrals?limit=..` in order; checks each page's size.
async fn all_pages(server: &TestServer, access: &str, limit: Option<usize>) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(cursor) = &cursor {
            query.push(format!("cursor={cursor}"));
        }
        let path = format!("/api/referrals?{}", query.join("&"));
        let page = server.get_as(&path, access).await.expect_json(200);
        let referrals = page["referrals"]
            .as_array()
            .expect("referrals is an array")
            .clone();
        assert!(
            referrals.len() <= limit.unwrap_or(50),
            "{path}: {} rows",
            referrals.len()
        );
        rows.extend(referrals);
        match &page["next_cursor"] {
            Value::Null => return rows,
            Value::String(next) => {
                assert_eq!(
                    page["referrals"].as_array().unwrap().len(),
                    limit.unwrap_or(50),
                    "only full pages have a next page"
                );
                cursor = Some(next.clone());
            }
            other => panic!("next_cursor is a string or null, got {other}"),
        }
    }
}

/// The referral stats of `email`, with a fresh login (the clock may have moved past the
/// registration's access token).
pub(super) async fn stats_of(server: &TestServer, email: &str) -> Value {
    let tokens = server.tokens(email, PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    server
        .get_as("/api/referral-stats", access)
        .await
        .expect_json(200)
}

fn ids_newest_first(referees: &[Account]) -> Vec<Value> {
    referees
        .iter()
        .rev()
        .map(|account| account.user["id"].clone())
        .collect()
}

pub async fn referrals_are_listed_newest_first_with_masked_emails(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    let referees = refer(&server, &referrer, "jane", 3).await;
    let page = server
        .get_as("/api/referrals", referrer.access())
        .await
        .expect_json(200);
    assert!(page["next_cursor"].is_null());
    let rows = page["referrals"].as_array().unwrap();
    let ids: Vec<Value> = rows.iter().map(|row| row["user_id"].clone()).collect();
    assert_eq!(ids, ids_newest_first(&referees));
    for row in rows {
        assert_eq!(row["email"], "j***@example.com");
        assert_eq!(row["reward_points"], 100);
        assert_utc_timestamp(&row["joined_at"]);
        assert_eq!(
            row.as_object().unwrap().len(),
            4,
            "Referral has the contract's fields: {row}"
        );
    }
    let joined: Vec<&str> = rows
        .iter()
        .map(|row| row["joined_at"].as_str().unwrap())
        .collect();
    assert!(
        joined.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {joined:?}"
    );
}

pub async fn referrals_are_paged_fifty_at_a_time_by_default_with_a_cursor(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    let referees = refer(&server, &referrer, "user", 55).await;
    let first = server
        .get_as("/api/referrals", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(first["referrals"].as_array().unwrap().len(), 50);
    assert!(first["next_cursor"].is_string());
    let rows = all_pages(&server, referrer.access(), None).await;
    let ids: Vec<Value> = rows.iter().map(|row| row["user_id"].clone()).collect();
    assert_eq!(ids, ids_newest_first(&referees));
}

pub async fn a_small_limit_pages_through_every_referral_exactly_once(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    let referees = refer(&server, &referrer, "user", 5).await;
    for limit in [1, 2, 5, 100] {
        let rows = all_pages(&server, referrer.access(), Some(limit)).await;
        let ids: Vec<Value> = rows.iter().map(|row| row["user_id"].clone()).collect();
        assert_eq!(ids, ids_newest_first(&referees), "limit {limit}");
    }
}

pub async fn a_bad_limit_or_cursor_answers_422(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    for limit in ["0", "101", "abc", "-1", "1.5", ""] {
        server
            .get_as(&format!("/api/referrals?limit={limit}"), referrer.access())
            .await
            .expect_field_error("limit", "out_of_range");
    }
    for cursor in ["garbage", "AAAA", "%00"] {
        let reply = server
            .get_as(
                &format!("/api/referrals?cursor={cursor}"),
                referrer.access(),
            )
            .await;
        let problem = reply.expect_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "cursor", "{problem}");
    }
}

pub async fn stats_count_totals_recent_sign_ups_second_tier_and_points(target: Target) {
    let server = TestServer::start(target).await;
    let top = server.register("top@example.com", None).await;
    let middle = server
        .register("middle@example.com", Some(top.code()))
        .await;
    server
        .register("bottom@example.com", Some(middle.code()))
        .await;
    server.register("early@example.com", Some(top.code())).await;
    server.advance(Duration::days(31));
    server.register("late@example.com", Some(top.code())).await;

    let stats = stats_of(&server, "top@example.com").await;
    assert_eq!(stats["referral_code"], top.code());
    assert_eq!(
        stats["referral_link"],
        format!("{APP_BASE_URL}/register?ref={}", top.code())
    );
    assert_eq!(stats["total_referrals"], 3);
    assert_eq!(stats["referrals_last_30_days"], 1);
    assert_eq!(stats["second_tier_referrals"], 1);
    assert_eq!(stats["total_reward_points"], 300);
    assert_eq!(stats["pending_reward_points"], 0);
    assert_eq!(stats["clicks"], 0);
    assert_eq!(stats["clicks_last_30_days"], 0);
    assert_eq!(
        stats["share_link"],
        format!("{APP_BASE_URL}/r/{}", top.code())
    );
    assert_eq!(stats.as_object().unwrap().len(), 10, "{stats}");

    let stats = stats_of(&server, "middle@example.com").await;
    assert_eq!(stats["total_referrals"], 1);
    assert_eq!(stats["referrals_last_30_days"], 0);
    assert_eq!(stats["second_tier_referrals"], 0);
    assert_eq!(stats["total_reward_points"], 100);
}

pub async fn a_new_user_has_empty_referrals_and_zero_stats(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let page = server
        .get_as("/api/referrals", account.access())
        .await
        .expect_json(200);
    assert_eq!(
        page,
        serde_json::json!({ "referrals": [], "next_cursor": null })
    );
    let stats = server
        .get_as("/api/referral-stats", account.access())
        .await
        .expect_json(200);
    for field in [
        "total_referrals",
        "referrals_last_30_days",
        "second_tier_referrals",
        "total_reward_points",
        "pending_reward_points",
    ] {
        assert_eq!(stats[field], 0, "{field}");
    }
}

//! Email verification and the reward lifecycle over HTTP: `POST /api/verify-email`,
//! `POST /api/verify-email/resend`, `GET /api/rewards`, and `pending_reward_points`.

use referral::{RewardApproval, RewardPolicy};
use serde_json::json;

use super::{assert_utc_timestamp, assert_uuid, Target, TestServer, APP_BASE_URL, PASSWORD};

/// The token of the verification link in a mail body.
fn verification_token_in(body: &str) -> String {
    referral::testing::verification_token_in(body, APP_BASE_URL)
        .unwrap_or_else(|| panic!("no verification link in: {body}"))
}

pub async fn a_sign_up_mails_a_verification_link_that_verifies_once(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    assert_eq!(jane.user["email_verified"], false);
    let mails = server.verification_mails().await;
    assert_eq!(mails.len(), 1, "one verification mail");
    assert_eq!(mails[0].to.as_str(), "jane@example.com");
    let token = verification_token_in(&mails[0].text);
    assert_eq!(verification_token_in(&mails[0].html), token);
    assert!(token.len() >= 22, "at least 128 bits: {token}");

    let user = server
        .post("/api/verify-email", &json!({ "token": token }))
        .await
        .expect_json(200);
    assert_eq!(user["id"], jane.user["id"]);
    assert_eq!(user["email_verified"], true);
    let me = server
        .get_as("/api/me", jane.access())
        .await
        .expect_json(200);
    assert_eq!(me["email_verified"], true);
    server
        .post("/api/verify-email", &json!({ "token": token }))
        .await
        .expect_problem(400, "invalid_verification_token");
}

pub async fn an_unknown_or_superseded_verification_token_answers_400(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let first = verification_token_in(&server.verification_mails().await[0].text);
    server
        .post_as("/api/verify-email/resend", jane.access())
        .await
        .expect_json(202);
    let second = verification_token_in(&server.verification_mails().await[0].text);
    for token in [first.as_str(), "unknown-token", ""] {
        server
            .post("/api/verify-email", &json!({ "token": token }))
            .await
            .expect_problem(400, "invalid_verification_token");
    }
    server.advance(time::Duration::hours(24));
    server
        .post("/api/verify-email", &json!({ "token": second }))
        .await
        .expect_problem(400, "invalid_verification_token");
}

pub async fn resending_answers_202_and_the_fourth_within_the_hour_answers_429(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    server.verification_mails().await;
    for _ in 0..3 {
        let body = server
            .post_as("/api/verify-email/resend", jane.access())
            .await
            .expect_json(202);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let refused = server
        .post_as("/api/verify-email/resend", jane.access())
        .await;
    refused.expect_problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(server.verification_mails().await.len(), 3);
    let anonymous = server.post("/api/verify-email/resend", &json!({})).await;
    anonymous.expect_problem(401, "unauthorized");
}

pub async fn an_unverified_login_can_be_refused_with_403_email_not_verified(target: Target) {
    let server =
        TestServer::start_with(target, |config| config.login_requires_verified_email(true)).await;
    server.register("jane@example.com", None).await;
    server
        .refused_login("jane@example.com", "not the password")
        .await;
    server
        .login("jane@example.com", PASSWORD)
        .await
        .expect_problem(403, "email_not_verified");
    let token = verification_token_in(&server.verification_mails().await[0].text);
    server
        .post("/api/verify-email", &json!({ "token": token }))
        .await
        .expect_json(200);
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn rewards_held_until_verification_are_listed_pending_then_approved(target: Target) {
    let server = TestServer::start_with(target, |config| {
        config.reward_policy(RewardPolicy {
            approval: RewardApproval::OnEmailVerified,
            ..RewardPolicy::default()
        })
    })
    .await;
    let referrer = server.register("ref@example.com", None).await;
    let referee = server
        .register("new@example.com", Some(referrer.code()))
        .await;
    let stats = server
        .get_as("/api/referral-stats", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(
        (
            &stats["total_reward_points"],
            &stats["pending_reward_points"]
        ),
        (&json!(0), &json!(100))
    );
    let page = server
        .get_as("/api/rewards", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(page["next_cursor"], json!(null));
    let reward = &page["rewards"][0];
    assert_uuid(&reward["id"]);
    assert_eq!(reward["kind"], "referrer");
    assert_eq!(reward["points"], 100);
    assert_eq!(reward["status"], "pending");
    assert_eq!(reward["referral_user_id"], referee.user["id"]);
    assert_eq!(reward["reason"], json!(null));
    assert_eq!(reward["flags"], json!([]));
    assert_utc_timestamp(&reward["created_at"]);
    assert_utc_timestamp(&reward["updated_at"]);
    let mut fields: Vec<&str> = reward
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "flags",
            "id",
            "kind",
            "points",
            "reason",
            "referral_user_id",
            "status",
            "updated_at"
        ]
    );

    let mails = server.verification_mails().await;
    let mail = mails
        .iter()
        .find(|mail| mail.to.as_str() == "new@example.com")
        .expect("the referee's verification mail");
    server
        .post(
            "/api/verify-email",
            &json!({ "token": verification_token_in(&mail.text) }),
        )
        .await
        .expect_json(200);
    let stats = server
        .get_as("/api/referral-stats", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(
        (
            &stats["total_reward_points"],
            &stats["pending_reward_points"]
        ),
        (&json!(100), &json!(0))
    );
    let page = server
        .get_as("/api/rewards", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(page["rewards"][0]["status"], "approved");
}

pub async fn rewards_answer_a_page_newest_first_and_refuse_a_bad_limit(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    for i in 0..3 {
        server
            .register(&format!("new{i}@example.com"), Some(referrer.code()))
            .await;
    }
    let first = server
        .get_as("/api/rewards?limit=2", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(first["rewards"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = server
        .get_as(
            &format!("/api/rewards?limit=2&cursor={cursor}"),
            referrer.access(),
        )
        .await
        .expect_json(200);
    assert_eq!(rest["rewards"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], json!(null));
    let mut seen: Vec<&str> = first["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["rewards"].as_array().unwrap())
        .map(|reward| reward["created_at"].as_str().unwrap())
        .collect();
    let listed = seen.clone();
    seen.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(listed, seen, "newest first");
    for query in ["limit=0", "limit=101", "limit=x", "cursor=nope"] {
        server
            .get_as(&format!("/api/rewards?{query}"), referrer.access())
            .await
            .expect_problem(422, "validation_failed");
    }
    let empty = server
        .get_as(
            "/api/rewards",
            server.register("solo@example.com", None).await.access(),
        )
        .await
        .expect_json(200);
    assert_eq!(empty, json!({ "rewards": [], "next_cursor": null }));
}

pub async fn a_disposable_sign_up_shows_a_held_flagged_reward(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    server
        .register("someone@mailinator.com", Some(referrer.code()))
        .await;
    let page = server
        .get_as("/api/rewards", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(page["rewards"][0]["status"], "pending");
    assert_eq!(page["rewards"][0]["flags"], json!(["disposable_email"]));
    let stats = server
        .get_as("/api/referral-stats", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(
        (
            &stats["total_reward_points"],
            &stats["pending_reward_points"]
        ),
        (&json!(0), &json!(100))
    );
}

//! `/api/admin` for rewards: the review queue, approving and revoking (`409
//! invalid_transition` where the lifecycle forbids it), with every refusal (`401`, `403
//! forbidden` for a plain user, `404 not_found`, `422`) and the audit entry each change
//! writes.
//!
//! Every case starts from one [`Desk`]: a server whose referral rewards wait for the
//! referee's email verification (so they are pending), an admin from `ADMIN_EMAILS`, and a
//! plain user who refers people.

use referral::{RewardApproval, RewardPolicy};
use serde_json::{json, Value};

use super::admin::call;
use super::{assert_utc_timestamp, assert_uuid, Account, Reply, Target, TestServer};

/// The address the desk's server gives `admin` at sign-up.
const ADMIN: &str = "boss@example.com";

/// Every endpoint of this file, as (method, path) with `{id}` for a reward id and `{user}`
/// for a user id.
const ENDPOINTS: [(&str, &str); 5] = [
    ("GET", "/api/admin/rewards"),
    ("POST", "/api/admin/rewards/{id}/approve"),
    ("POST", "/api/admin/rewards/{id}/revoke"),
    ("POST", "/api/admin/users/{user}/adjustments"),
    ("POST", "/api/admin/users/{user}/conversions"),
];

/// The shared set-up: a server, its admin, and `ann`, a plain user who refers people.
pub struct Desk {
    /// The server.
    pub server: TestServer,
    /// Its admin (from `ADMIN_EMAILS`).
    pub boss: Account,
    /// A plain user (role `user` only) who refers people.
    pub ann: Account,
}

impl Desk {
    /// A fresh server with its admin and ann signed up.
    pub async fn open(target: Target) -> Self {
        let server = TestServer::start_with(target, |config| {
            config.admin_emails([ADMIN]).reward_policy(RewardPolicy {
                approval: RewardApproval::OnEmailVerified,
                ..RewardPolicy::default()
            })
        })
        .await;
        let boss = server.register(ADMIN, None).await;
        let ann = server.register("ann@example.com", None).await;
        Desk { server, boss, ann }
    }

    /// Signs `tag@example.com` up with ann's code: ann earns a pending reward, whose id
    /// this answers.
    async fn pending_reward(&self, tag: &str) -> String {
        self.server
            .register(&format!("{tag}@example.com"), Some(self.ann.code()))
            .await;
        let page = self
            .server
            .get_as("/api/rewards?limit=1", self.ann.access())
            .await
            .expect_json(200);
        page["rewards"][0]["id"]
            .as_str()
            .expect("a reward id")
            .to_owned()
    }

    /// `method path` as the admin, with `body`.
    pub async fn as_boss(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        call(&self.server, method, path, Some(self.boss.access()), body).await
    }

    async fn approve(&self, id: &str) -> Reply {
        let path = format!("/api/admin/rewards/{id}/approve");
        self.as_boss("POST", &path, None).await
    }

    async fn revoke(&self, id: &str, reason: &str) -> Reply {
        let path = format!("/api/admin/rewards/{id}/revoke");
        self.as_boss("POST", &path, Some(&json!({ "reason": reason })))
            .await
    }

    /// The queue's page for `query` (`status=…&limit=…`).
    async fn queue(&self, query: &str) -> Value {
        self.as_boss("GET", &format!("/api/admin/rewards?{query}"), None)
            .await
            .expect_json(200)
    }

    /// Ann's (approved, pending) points.
    async fn ann_points(&self) -> (Value, Value) {
        let stats = self
            .server
            .get_as("/api/referral-stats", self.ann.access())
            .await
            .expect_json(200);
        (
            stats["total_reward_points"].clone(),
            stats["pending_reward_points"].clone(),
        )
    }

    /// The newest audit entry.
    async fn last_audit(&self) -> Value {
        let page = self
            .as_boss("GET", "/api/admin/audit?limit=1", None)
            .await
            .expect_json(200);
        page["entries"][0].clone()
    }

    /// Every endpoint's path, with a real reward and user id.
    async fn paths(&self) -> Vec<(&'static str, String)> {
        let reward = self.pending_reward("someone").await;
        ENDPOINTS
            .iter()
            .map(|(method, path)| {
                (
                    *method,
                    path.replace("{id}", &reward)
                        .replace("{user}", self.ann.id()),
                )
            })
            .collect()
    }
}

fn ids(page: &Value, key: &str) -> Vec<String> {
    page[key]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

pub async fn reward_admin_endpoints_without_a_valid_token_answer_401(target: Target) {
    let desk = Desk::open(target).await;
    for (method, path) in desk.paths().await {
        for token in [None, Some("not-a-token")] {
            let reply = call(&desk.server, method, &path, token, Some(&json!({}))).await;
            reply.expect_problem(401, "unauthorized");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
}

pub async fn reward_admin_endpoints_with_a_plain_user_token_answer_403_forbidden(target: Target) {
    let desk = Desk::open(target).await;
    let body = json!({ "reason": "mine", "points": 5, "kind": "purchase", "external_id": "1",
                       "value": 1 });
    for (method, path) in desk.paths().await {
        call(
            &desk.server,
            method,
            &path,
            Some(desk.ann.access()),
            Some(&body),
        )
        .await
        .expect_problem(403, "forbidden");
    }
    // Nothing changed: the reward is still pending, nothing was audited.
    assert_eq!(desk.ann_points().await, (json!(0), json!(100)));
    let audit = desk
        .as_boss("GET", "/api/admin/audit", None)
        .await
        .expect_json(200);
    assert_eq!(audit["entries"], json!([]));
}

pub async fn the_review_queue_lists_pending_rewards_newest_first_with_a_cursor(target: Target) {
    let desk = Desk::open(target).await;
    let mut pending = Vec::new();
    for i in 0..3 {
        pending.push(desk.pending_reward(&format!("held{i}")).await);
    }
    pending.reverse();
    let page = desk.queue("").await;
    assert_eq!(ids(&page, "rewards"), pending);
    assert_eq!(page["next_cursor"], Value::Null);
    let reward = &page["rewards"][0];
    assert_uuid(&reward["id"]);
    assert_eq!(reward["kind"], "referrer");
    assert_eq!(reward["status"], "pending");
    assert_eq!(reward["points"], 100);
    assert_utc_timestamp(&reward["created_at"]);
    assert_eq!(reward["flags"], json!([]));

    let first = desk.queue("status=pending&limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = desk.queue(&format!("limit=2&cursor={cursor}")).await;
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_eq!(
        [ids(&first, "rewards"), ids(&rest, "rewards")].concat(),
        pending
    );

    desk.approve(&pending[0]).await.expect_json(200);
    desk.revoke(&pending[1], "fraud").await.expect_json(200);
    assert_eq!(
        ids(&desk.queue("").await, "rewards"),
        vec![pending[2].clone()]
    );
    assert_eq!(
        ids(&desk.queue("status=approved").await, "rewards"),
        vec![pending[0].clone()]
    );
    assert_eq!(
        ids(&desk.queue("status=revoked").await, "rewards"),
        vec![pending[1].clone()]
    );

    for (query, field, code) in [
        ("status=paid", "status", "invalid_status"),
        ("limit=0", "limit", "out_of_range"),
        ("limit=abc", "limit", "out_of_range"),
        ("cursor=garbage", "cursor", "invalid_cursor"),
    ] {
        desk.as_boss("GET", &format!("/api/admin/rewards?{query}"), None)
            .await
            .expect_field_error(field, code);
    }
}

pub async fn approving_a_pending_reward_counts_its_points_and_is_audited(target: Target) {
    let desk = Desk::open(target).await;
    let id = desk.pending_reward("new").await;
    assert_eq!(desk.ann_points().await, (json!(0), json!(100)));
    let reward = desk.approve(&id).await.expect_json(200);
    assert_eq!(reward["id"], id.as_str());
    assert_eq!(reward["status"], "approved");
    assert_eq!(desk.ann_points().await, (json!(100), json!(0)));
    let entry = desk.last_audit().await;
    assert_eq!(entry["action"], "reward.approved");
    assert_eq!(entry["actor_id"], desk.boss.id());
    assert_eq!(entry["target_id"], desk.ann.id());
    assert_eq!(entry["details"]["reward_id"], id.as_str());
    assert_eq!(
        (&entry["details"]["from"], &entry["details"]["to"]),
        (&json!("pending"), &json!("approved"))
    );
}

pub async fn revoking_needs_a_reason_and_takes_the_points_back(target: Target) {
    let desk = Desk::open(target).await;
    let approved = desk.pending_reward("one").await;
    let pending = desk.pending_reward("two").await;
    desk.approve(&approved).await.expect_json(200);
    assert_eq!(desk.ann_points().await, (json!(100), json!(100)));

    let path = format!("/api/admin/rewards/{approved}/revoke");
    for body in [json!({}), json!({ "reason": 7 })] {
        desk.as_boss("POST", &path, Some(&body))
            .await
            .expect_problem(400, "invalid_json");
    }
    desk.as_boss("POST", &path, None)
        .await
        .expect_problem(400, "invalid_json");
    for reason in ["", "   ", &"x".repeat(501)] {
        desk.revoke(&approved, reason)
            .await
            .expect_field_error("reason", "invalid_length");
    }
    assert_eq!(desk.ann_points().await, (json!(100), json!(100)));

    let revoked = desk
        .revoke(&approved, " chargeback ")
        .await
        .expect_json(200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["reason"], "chargeback");
    desk.revoke(&pending, "fake account").await.expect_json(200);
    assert_eq!(desk.ann_points().await, (json!(0), json!(0)));
    let entry = desk.last_audit().await;
    assert_eq!(entry["action"], "reward.revoked");
    assert_eq!(entry["actor_id"], desk.boss.id());
    assert_eq!(entry["details"]["reward_id"], pending.as_str());
    assert_eq!(entry["details"]["reason"], "fake account");
}

pub async fn a_transition_the_lifecycle_forbids_answers_409_invalid_transition(target: Target) {
    let desk = Desk::open(target).await;
    let id = desk.pending_reward("new").await;
    desk.approve(&id).await.expect_json(200);
    desk.approve(&id)
        .await
        .expect_problem(409, "invalid_transition");
    desk.revoke(&id, "fraud").await.expect_json(200);
    desk.approve(&id)
        .await
        .expect_problem(409, "invalid_transition");
    desk.revoke(&id, "again")
        .await
        .expect_problem(409, "invalid_transition");
    assert_eq!(desk.ann_points().await, (json!(0), json!(0)));
}

pub async fn an_unknown_or_malformed_reward_id_answers_404_not_found(target: Target) {
    let desk = Desk::open(target).await;
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        desk.approve(&id).await.expect_problem(404, "not_found");
        desk.revoke(&id, "fraud")
            .await
            .expect_problem(404, "not_found");
    }
}

pub async fn the_admin_user_view_shows_email_verified_and_the_users_reward_flags(target: Target) {
    let desk = Desk::open(target).await;
    desk.server
        .register("someone@mailinator.com", Some(desk.ann.code()))
        .await;
    desk.pending_reward("plain").await;
    let path = format!("/api/admin/users/{}", desk.ann.id());
    let detail = desk.as_boss("GET", &path, None).await.expect_json(200);
    assert_eq!(detail["email_verified"], false);
    assert_eq!(detail["flags"], json!(["disposable_email"]));
    let boss = format!("/api/admin/users/{}", desk.boss.id());
    let detail = desk.as_boss("GET", &boss, None).await.expect_json(200);
    assert_eq!(detail["flags"], json!([]));
    let listed = desk
        .as_boss("GET", "/api/admin/users?query=ann", None)
        .await
        .expect_json(200);
    assert_eq!(listed["users"][0]["email_verified"], false);
}

async fn adjust(desk: &Desk, user: &str, body: Value) -> super::Reply {
    let path = format!("/api/admin/users/{user}/adjustments");
    desk.as_boss("POST", &path, Some(&body)).await
}

pub async fn an_adjustment_answers_201_moves_the_total_and_is_audited(target: Target) {
    let desk = Desk::open(target).await;
    let reward = adjust(
        &desk,
        desk.ann.id(),
        json!({ "points": 250, "reason": " goodwill " }),
    )
    .await
    .expect_json(201);
    assert_uuid(&reward["id"]);
    assert_eq!(reward["kind"], "adjustment");
    assert_eq!(reward["status"], "approved");
    assert_eq!(reward["points"], 250);
    assert_eq!(reward["reason"], "goodwill");
    assert_eq!(reward["referral_user_id"], Value::Null);
    assert_eq!(desk.ann_points().await, (json!(250), json!(0)));
    adjust(
        &desk,
        desk.ann.id(),
        json!({ "points": -300, "reason": "correction" }),
    )
    .await
    .expect_json(201);
    assert_eq!(desk.ann_points().await, (json!(-50), json!(0)));
    let mine = desk
        .server
        .get_as("/api/rewards", desk.ann.access())
        .await
        .expect_json(200);
    assert_eq!(mine["rewards"][0]["points"], -300);
    let entry = desk.last_audit().await;
    assert_eq!(entry["action"], "reward.adjusted");
    assert_eq!(entry["actor_id"], desk.boss.id());
    assert_eq!(entry["target_id"], desk.ann.id());
    assert_eq!(entry["details"]["points"], -300);
    assert_eq!(entry["details"]["reason"], "correction");
}

pub async fn a_bad_adjustment_answers_422_or_400_and_an_unknown_user_404(target: Target) {
    let desk = Desk::open(target).await;
    for points in [0, 1_000_001, -1_000_001] {
        adjust(
            &desk,
            desk.ann.id(),
            json!({ "points": points, "reason": "x" }),
        )
        .await
        .expect_field_error("points", "out_of_range");
    }
    for reason in ["", "  ", &"x".repeat(501)] {
        adjust(
            &desk,
            desk.ann.id(),
            json!({ "points": 5, "reason": reason }),
        )
        .await
        .expect_field_error("reason", "invalid_length");
    }
    for body in [
        json!({ "points": 5 }),
        json!({ "points": 1.5, "reason": "x" }),
        json!({ "points": "5", "reason": "x" }),
    ] {
        adjust(&desk, desk.ann.id(), body)
            .await
            .expect_problem(400, "invalid_json");
    }
    for user in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        adjust(&desk, &user, json!({ "points": 5, "reason": "x" }))
            .await
            .expect_problem(404, "not_found");
    }
    assert_eq!(desk.ann_points().await, (json!(0), json!(0)));
}

pub async fn a_conversion_answers_201_approves_held_rewards_and_a_repeat_200(target: Target) {
    let server = TestServer::start_with(target, |config| {
        config.admin_emails([ADMIN]).reward_policy(RewardPolicy {
            approval: RewardApproval::OnConversion,
            conversion: 30,
            ..RewardPolicy::default()
        })
    })
    .await;
    let boss = server.register(ADMIN, None).await;
    let ann = server.register("ann@example.com", None).await;
    let buyer = server.register("buyer@example.com", Some(ann.code())).await;
    let path = format!("/api/admin/users/{}/conversions", buyer.id());
    let body = json!({ "kind": "purchase", "external_id": "order-1", "value": 4200 });
    let first = call(&server, "POST", &path, Some(boss.access()), Some(&body))
        .await
        .expect_json(201);
    assert_eq!(first["recorded"], true);
    let rewards = first["rewards"].as_array().expect("rewards");
    assert_eq!(
        rewards.len(),
        2,
        "the held referral reward and the conversion's"
    );
    let stats = server
        .get_as("/api/referral-stats", ann.access())
        .await
        .expect_json(200);
    assert_eq!(stats["total_reward_points"], 130);
    let again = call(&server, "POST", &path, Some(boss.access()), Some(&body))
        .await
        .expect_json(200);
    assert_eq!(again, json!({ "recorded": false, "rewards": [] }));
    let audit = call(
        &server,
        "GET",
        "/api/admin/audit",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "the repeat is not audited");
    assert_eq!(entries[0]["action"], "conversion.recorded");
    assert_eq!(entries[0]["actor_id"], boss.id());
    assert_eq!(entries[0]["target_id"], buyer.id());
    assert_eq!(entries[0]["details"]["external_id"], "order-1");
}

pub async fn a_bad_conversion_answers_422_or_400_and_an_unknown_user_404(target: Target) {
    let desk = Desk::open(target).await;
    let path = format!("/api/admin/users/{}/conversions", desk.ann.id());
    for (body, field) in [
        (json!({ "kind": " ", "external_id": "1" }), "kind"),
        (
            json!({ "kind": "purchase", "external_id": "x".repeat(201) }),
            "external_id",
        ),
    ] {
        desk.as_boss("POST", &path, Some(&body))
            .await
            .expect_field_error(field, "invalid_length");
    }
    desk.as_boss("POST", &path, Some(&json!({ "kind": "purchase" })))
        .await
        .expect_problem(400, "invalid_json");
    for user in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let path = format!("/api/admin/users/{user}/conversions");
        let body = json!({ "kind": "purchase", "external_id": "1" });
        desk.as_boss("POST", &path, Some(&body))
            .await
            .expect_problem(404, "not_found");
    }
}

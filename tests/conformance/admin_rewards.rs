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
const ENDPOINTS: [(&str, &str); 3] = [
    ("GET", "/api/admin/rewards"),
    ("POST", "/api/admin/rewards/{id}/approve"),
    ("POST", "/api/admin/rewards/{id}/revoke"),
];

/// The shared set-up: a server, its admin, and `ann`, a plain user who refers people.
struct Desk {
    server: TestServer,
    boss: Account,
    ann: Account,
}

impl Desk {
    async fn open(target: Target) -> Self {
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
    async fn as_boss(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
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

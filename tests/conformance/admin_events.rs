//! `/api/admin/dead-letters`: listing the outbox messages the dispatcher gave up on (no
//! payload, so nothing secret) and redelivering one, audited; with every refusal (`401`,
//! `403 forbidden` for a plain user, `404 not_found`, `422`).

use referral::storage::OutboxMessage;
use serde_json::{json, Value};
use uuid::Uuid;

use super::admin::call;
use super::admin_rewards::Desk;
use super::{assert_utc_timestamp, Target};

/// Every endpoint of this file, `{id}` for a dead letter's id.
const ENDPOINTS: [(&str, &str); 2] = [
    ("GET", "/api/admin/dead-letters"),
    ("POST", "/api/admin/dead-letters/{id}/redeliver"),
];

/// Queues `count` messages of a topic no version knows, about ann, and lets the dispatcher
/// give up on them: their ids, oldest first.
async fn dead_letters(desk: &Desk, count: usize) -> Vec<String> {
    let storage = desk.server.engine.storage();
    let mut ids = Vec::new();
    for i in 0..count {
        let message = OutboxMessage {
            id: Uuid::now_v7(),
            topic: "mail.from_the_future".to_owned(),
            user_id: Some(desk.ann.id().parse().expect("a user id")),
            payload: json!({ "n": i, "token": "never-shown" }).to_string(),
            attempts: 0,
            created_at: desk.server.engine.now(),
        };
        storage
            .enqueue_outbox(message.clone())
            .await
            .expect("queueing a message");
        ids.push(message.id.to_string());
    }
    desk.server.mails().await;
    ids
}

fn redeliver_path(id: &str) -> String {
    format!("/api/admin/dead-letters/{id}/redeliver")
}

fn ids(page: &Value) -> Vec<String> {
    page["dead_letters"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|letter| letter["id"].as_str().expect("an id").to_owned())
        .collect()
}

pub async fn dead_letter_endpoints_refuse_without_a_token_and_without_the_permission(
    target: Target,
) {
    let desk = Desk::open(target).await;
    let id = dead_letters(&desk, 1).await.remove(0);
    for (method, path) in ENDPOINTS {
        let path = path.replace("{id}", &id);
        for token in [None, Some("not-a-token")] {
            let reply = call(&desk.server, method, &path, token, None).await;
            reply.expect_problem(401, "unauthorized");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
        call(&desk.server, method, &path, Some(desk.ann.access()), None)
            .await
            .expect_problem(403, "forbidden");
    }
    // Still dead.
    let page = desk
        .as_boss("GET", "/api/admin/dead-letters", None)
        .await
        .expect_json(200);
    assert_eq!(ids(&page), vec![id]);
}

pub async fn dead_letters_are_listed_newest_first_without_their_payload(target: Target) {
    let desk = Desk::open(target).await;
    let mut dead = dead_letters(&desk, 3).await;
    dead.reverse();
    let page = desk
        .as_boss("GET", "/api/admin/dead-letters", None)
        .await
        .expect_json(200);
    assert_eq!(ids(&page), dead);
    assert_eq!(page["next_cursor"], Value::Null);
    let letter = &page["dead_letters"][0];
    assert_eq!(letter["topic"], "mail.from_the_future");
    assert_eq!(letter["user_id"], desk.ann.id());
    assert_eq!(letter["attempts"], 1);
    assert!(letter["last_error"]
        .as_str()
        .is_some_and(|error| error.contains("unknown outbox topic")));
    assert_utc_timestamp(&letter["created_at"]);
    assert_utc_timestamp(&letter["failed_at"]);
    assert!(!page.to_string().contains("never-shown"), "{page}");

    let first = desk
        .as_boss("GET", "/api/admin/dead-letters?limit=2", None)
        .await
        .expect_json(200);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = desk
        .as_boss(
            "GET",
            &format!("/api/admin/dead-letters?limit=2&cursor={cursor}"),
            None,
        )
        .await
        .expect_json(200);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_eq!([ids(&first), ids(&rest)].concat(), dead);
    for (query, field, code) in [
        ("limit=0", "limit", "out_of_range"),
        ("cursor=garbage", "cursor", "invalid_cursor"),
    ] {
        desk.as_boss("GET", &format!("/api/admin/dead-letters?{query}"), None)
            .await
            .expect_field_error(field, code);
    }
}

pub async fn redelivering_a_dead_letter_answers_202_and_is_audited(target: Target) {
    let desk = Desk::open(target).await;
    let id = dead_letters(&desk, 1).await.remove(0);
    let reply = desk.as_boss("POST", &redeliver_path(&id), None).await;
    reply.expect_json(202);
    let page = desk
        .as_boss("GET", "/api/admin/dead-letters", None)
        .await
        .expect_json(200);
    assert_eq!(page["dead_letters"], json!([]));
    let audit = desk
        .as_boss("GET", "/api/admin/audit?limit=1", None)
        .await
        .expect_json(200);
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "dead_letter.redelivered");
    assert_eq!(entry["actor_id"], desk.boss.id());
    assert_eq!(entry["target_id"], id.as_str());
    // Queued again: it is no longer a dead letter, so a second redelivery finds none.
    desk.as_boss("POST", &redeliver_path(&id), None)
        .await
        .expect_problem(404, "not_found");
}

pub async fn redelivering_an_unknown_dead_letter_answers_404_not_found(target: Target) {
    let desk = Desk::open(target).await;
    for id in [Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        desk.as_boss("POST", &redeliver_path(&id), None)
            .await
            .expect_problem(404, "not_found");
    }
}

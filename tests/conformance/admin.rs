//! Roles, permissions and `/api/admin`: who may call it (`401`, `403 forbidden`), unknown ids
//! (`404 not_found`), changing roles and disabling (sessions end at once, `403
//! account_disabled` at login), the last-admin rule (`409 last_admin`), user search and
//! detail, and the audit log.

use referral::permissions::RolePermissions;
use serde_json::{json, Value};

use super::sessions::claims_of;
use super::{assert_utc_timestamp, assert_uuid, Account, Reply, Target, TestServer, PASSWORD};

/// The address the test servers give `admin` at sign-up (`ADMIN_EMAILS`).
const ADMIN: &str = "boss@example.com";

/// Every admin endpoint, as (method, path) with `{id}` for a user id.
const ADMIN_ENDPOINTS: [(&str, &str); 5] = [
    ("GET", "/api/admin/users"),
    ("GET", "/api/admin/users/{id}"),
    ("PATCH", "/api/admin/users/{id}"),
    ("DELETE", "/api/admin/users/{id}"),
    ("GET", "/api/admin/audit"),
];

/// A server whose `ADMIN_EMAILS` is [`ADMIN`], and whose `support` role may read users.
async fn server(target: Target) -> TestServer {
    TestServer::start_with(target, |config| {
        config.admin_emails([ADMIN]).role_permissions(
            RolePermissions::new()
                .grant("support", ["admin:users:read"])
                .expect("a valid role map"),
        )
    })
    .await
}

/// Sends `method path` with `token` (if any) and a JSON `body` (if any).
pub async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    server.call(method, path, token, body).await
}

async fn patch(server: &TestServer, token: &str, id: &str, body: Value) -> Reply {
    call(
        server,
        "PATCH",
        &format!("/api/admin/users/{id}"),
        Some(token),
        Some(&body),
    )
    .await
}

/// `actor` gives `user` exactly `roles` (`PATCH /api/admin/users/{id}`), expecting `200`;
/// answers the user afterwards.
async fn set_roles(server: &TestServer, actor: &Account, user: &Account, roles: Value) -> Value {
    patch(server, actor.access(), user.id(), json!({ "roles": roles }))
        .await
        .expect_json(200)
}

/// The admin's account and a fresh access token for it.
async fn admin(server: &TestServer) -> Account {
    server.register(ADMIN, None).await
}

fn access_of(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("an access token")
}

pub async fn admin_endpoints_without_a_valid_token_answer_401(target: Target) {
    let server = server(target).await;
    let jane = server.register("jane@example.com", None).await;
    for (method, path) in ADMIN_ENDPOINTS {
        let path = path.replace("{id}", jane.id());
        for token in [None, Some("not-a-token")] {
            let reply = call(&server, method, &path, token, Some(&json!({}))).await;
            reply.expect_problem(401, "unauthorized");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
}

pub async fn admin_endpoints_with_a_token_lacking_the_permission_answer_403_forbidden(
    target: Target,
) {
    let server = server(target).await;
    let jane = server.register("jane@example.com", None).await;
    for (method, path) in ADMIN_ENDPOINTS {
        let path = path.replace("{id}", jane.id());
        let body = json!({ "roles": ["user", "admin"] });
        call(&server, method, &path, Some(jane.access()), Some(&body))
            .await
            .expect_problem(403, "forbidden");
    }
    // Nothing changed: jane is still only a user.
    let me = server
        .get_as("/api/me", jane.access())
        .await
        .expect_json(200);
    assert_eq!(me["roles"], json!(["user"]));
}

pub async fn an_app_role_holds_only_the_permissions_mapped_to_it(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let sam = server.register("sam@example.com", None).await;
    set_roles(&server, &boss, &sam, json!(["support"])).await;
    let sam_tokens = server.tokens("sam@example.com", PASSWORD).await;
    let sam_access = access_of(&sam_tokens);
    let listed = call(&server, "GET", "/api/admin/users", Some(sam_access), None).await;
    assert_eq!(
        listed.expect_json(200)["users"].as_array().unwrap().len(),
        2
    );
    let one = format!("/api/admin/users/{}", boss.id());
    call(&server, "GET", &one, Some(sam_access), None)
        .await
        .expect_json(200);
    patch(&server, sam_access, boss.id(), json!({ "disabled": true }))
        .await
        .expect_problem(403, "forbidden");
    call(&server, "GET", "/api/admin/audit", Some(sam_access), None)
        .await
        .expect_problem(403, "forbidden");
}

pub async fn an_unknown_or_malformed_user_id_answers_404_not_found(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let path = format!("/api/admin/users/{id}");
        call(&server, "GET", &path, Some(boss.access()), None)
            .await
            .expect_problem(404, "not_found");
        patch(&server, boss.access(), &id, json!({ "disabled": true }))
            .await
            .expect_problem(404, "not_found");
        call(&server, "DELETE", &path, Some(boss.access()), None)
            .await
            .expect_problem(404, "not_found");
    }
}

pub async fn an_admin_erases_a_user_with_204_once_and_it_is_audited(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let jane = server.register("jane@example.com", None).await;
    let path = format!("/api/admin/users/{}", jane.id());
    let erased = call(&server, "DELETE", &path, Some(boss.access()), None).await;
    assert_eq!(erased.status, 204);
    assert!(erased.body.is_empty());
    // Gone at once: her tokens, her login, the admin views; a second erasure finds nobody.
    server
        .get_as("/api/me", jane.access())
        .await
        .expect_problem(401, "unauthorized");
    server.refused_login("jane@example.com", PASSWORD).await;
    for method in ["GET", "DELETE"] {
        call(&server, method, &path, Some(boss.access()), None)
            .await
            .expect_problem(404, "not_found");
    }
    let listed = call(
        &server,
        "GET",
        "/api/admin/users?query=jane",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    assert_eq!(listed["users"], json!([]));
    let audit = call(
        &server,
        "GET",
        "/api/admin/audit",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "user.erased");
    assert_eq!(entry["actor_id"], boss.user["id"]);
    assert_eq!(entry["target_id"], jane.user["id"]);
    assert_eq!(entry["details"], json!({}));
}

pub async fn erasing_the_last_admin_answers_409_last_admin(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let own = format!("/api/admin/users/{}", boss.id());
    call(&server, "DELETE", &own, Some(boss.access()), None)
        .await
        .expect_problem(409, "last_admin");
    server
        .call(
            "DELETE",
            "/api/me",
            Some(boss.access()),
            Some(&json!({ "password": PASSWORD })),
        )
        .await
        .expect_problem(409, "last_admin");
    // Nothing changed; with a second admin, the first may go.
    server
        .get_as("/api/me", boss.access())
        .await
        .expect_json(200);
    let jane = server.register("jane@example.com", None).await;
    set_roles(&server, &boss, &jane, json!(["user", "admin"])).await;
    assert_eq!(
        call(&server, "DELETE", &own, Some(boss.access()), None)
            .await
            .status,
        204
    );
}

pub async fn new_users_hold_the_user_role_and_admin_emails_also_admin(target: Target) {
    let server = server(target).await;
    let jane = server.register("jane@example.com", None).await;
    assert_eq!(jane.user["roles"], json!(["user"]));
    // ADMIN_EMAILS match in any case.
    let boss = server.register("Boss@Example.com", None).await;
    assert_eq!(boss.user["roles"], json!(["user", "admin"]));
    let me = server
        .get_as("/api/me", boss.access())
        .await
        .expect_json(200);
    assert_eq!(me["roles"], json!(["user", "admin"]));
}

pub async fn an_admin_lists_and_searches_users_newest_first_with_a_cursor(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let referrer = server.register("ref@example.com", None).await;
    for n in 0..3 {
        server
            .register(&format!("ann{n}@example.com"), Some(referrer.code()))
            .await;
    }
    let all = call(
        &server,
        "GET",
        "/api/admin/users",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    let users = all["users"].as_array().unwrap();
    assert_eq!(users.len(), 5);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(
        users[0]["email"], "ann2@example.com",
        "newest first, full email"
    );
    assert_eq!(users[4]["email"], ADMIN);
    let listed_referrer = &users[3];
    assert_eq!(listed_referrer["total_referrals"], 3);
    assert_eq!(listed_referrer["total_reward_points"], 300);
    assert_eq!(listed_referrer["roles"], json!(["user"]));
    assert_eq!(listed_referrer["disabled"], false);
    assert_eq!(listed_referrer["disabled_at"], Value::Null);
    assert_uuid(&listed_referrer["id"]);
    assert_utc_timestamp(&listed_referrer["created_at"]);

    let path = "/api/admin/users?query=ANN&limit=2";
    let first = call(&server, "GET", path, Some(boss.access()), None)
        .await
        .expect_json(200);
    let emails = |page: &Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(emails(&first), ["ann2@example.com", "ann1@example.com"]);
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let next = format!("/api/admin/users?query=ann&limit=2&cursor={cursor}");
    let second = call(&server, "GET", &next, Some(boss.access()), None)
        .await
        .expect_json(200);
    assert_eq!(emails(&second), ["ann0@example.com"]);
    assert_eq!(second["next_cursor"], Value::Null);

    for bad in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        let path = format!("/api/admin/users?{bad}");
        call(&server, "GET", &path, Some(boss.access()), None)
            .await
            .expect_problem(422, "validation_failed");
    }
}

pub async fn an_admin_reads_one_user_with_referrer_and_stats(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let referrer = server.register("ref@example.com", None).await;
    let ann = server
        .register("ann@example.com", Some(referrer.code()))
        .await;
    let path = format!("/api/admin/users/{}", ann.id());
    let detail = call(&server, "GET", &path, Some(boss.access()), None)
        .await
        .expect_json(200);
    assert_eq!(detail["id"], ann.user["id"]);
    assert_eq!(detail["email"], "ann@example.com");
    assert_eq!(detail["referred_by"], referrer.user["id"]);
    assert_eq!(detail["referrer"]["id"], referrer.user["id"]);
    assert_eq!(detail["referrer"]["email"], "ref@example.com");
    let path = format!("/api/admin/users/{}", referrer.id());
    let detail = call(&server, "GET", &path, Some(boss.access()), None)
        .await
        .expect_json(200);
    assert_eq!(detail["referrer"], Value::Null);
    assert_eq!(detail["stats"]["total_referrals"], 1);
    assert_eq!(detail["stats"]["total_reward_points"], 100);
    assert_eq!(detail["stats"]["referral_code"], referrer.code());
}

pub async fn a_role_change_refuses_the_users_earlier_tokens_at_once(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let jane = server.register("jane@example.com", None).await;
    let changed = set_roles(&server, &boss, &jane, json!(["user", "admin"])).await;
    assert_eq!(changed["roles"], json!(["user", "admin"]));
    server
        .get_as("/api/me", jane.access())
        .await
        .expect_problem(401, "unauthorized");
    server
        .post(
            "/api/token/refresh",
            &json!({ "refresh_token": jane.refresh() }),
        )
        .await
        .expect_problem(401, "invalid_refresh_token");
    // Signing in again gives a token carrying the new roles, which the admin API accepts.
    let tokens = server.tokens("jane@example.com", PASSWORD).await;
    assert_eq!(
        claims_of(access_of(&tokens))["roles"],
        json!(["user", "admin"])
    );
    call(
        &server,
        "GET",
        "/api/admin/users",
        Some(access_of(&tokens)),
        None,
    )
    .await
    .expect_json(200);
    // The admin's own token is untouched by a change to someone else.
    server
        .get_as("/api/me", boss.access())
        .await
        .expect_json(200);
}

pub async fn disabling_ends_every_session_and_login_answers_403_account_disabled(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let jane = server.register("jane@example.com", None).await;
    let disabled = patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "disabled": true }),
    )
    .await
    .expect_json(200);
    assert_eq!(disabled["disabled"], true);
    assert_utc_timestamp(&disabled["disabled_at"]);
    server
        .get_as("/api/me", jane.access())
        .await
        .expect_problem(401, "unauthorized");
    server
        .post(
            "/api/token/refresh",
            &json!({ "refresh_token": jane.refresh() }),
        )
        .await
        .expect_problem(401, "invalid_refresh_token");
    server
        .login("jane@example.com", PASSWORD)
        .await
        .expect_problem(403, "account_disabled");
    // A wrong password still answers as for anyone: the disable is told only to the owner.
    server
        .refused_login("jane@example.com", "wrong password here")
        .await;
    let enabled = patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "disabled": false }),
    )
    .await
    .expect_json(200);
    assert_eq!(enabled["disabled"], false);
    assert_eq!(enabled["disabled_at"], Value::Null);
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn removing_the_last_admin_answers_409_last_admin(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    for body in [json!({ "roles": ["user"] }), json!({ "disabled": true })] {
        patch(&server, boss.access(), boss.id(), body)
            .await
            .expect_problem(409, "last_admin");
    }
    // Nothing changed: the admin's token still works.
    call(
        &server,
        "GET",
        "/api/admin/users",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    // With a second admin, the first may step down.
    let jane = server.register("jane@example.com", None).await;
    set_roles(&server, &boss, &jane, json!(["user", "admin"])).await;
    let stepped_down = set_roles(&server, &boss, &boss, json!(["user"])).await;
    assert_eq!(stepped_down["roles"], json!(["user"]));
}

pub async fn two_admins_demoting_each_other_at_once_leave_one_admin(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let jane = server.register("jane@example.com", None).await;
    set_roles(&server, &boss, &jane, json!(["user", "admin"])).await;
    let jane_tokens = server.tokens("jane@example.com", PASSWORD).await;
    let mut requests = Vec::new();
    for (token, target_id) in [
        (boss.access().to_owned(), jane.id().to_owned()),
        (access_of(&jane_tokens).to_owned(), boss.id().to_owned()),
    ] {
        let request = server
            .client
            .patch(server.url(&format!("/api/admin/users/{target_id}")))
            .bearer_auth(token)
            .json(&json!({ "roles": ["user"] }));
        requests.push(tokio::spawn(request.send()));
    }
    let mut statuses = Vec::new();
    for request in requests {
        let response = request.await.unwrap().expect("the server answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON body");
        if status == 409 {
            assert_eq!(body["code"], "last_admin");
        }
        statuses.push(status);
    }
    statuses.sort_unstable();
    // The loser's token may already be refused (the winner demoted its owner first): 401.
    assert!(
        statuses == [200, 409] || statuses == [200, 401],
        "exactly one demotion wins: {statuses:?}"
    );
    let boss_tokens = server.login(ADMIN, PASSWORD).await;
    let jane_again = server.login("jane@example.com", PASSWORD).await;
    let admins = [boss_tokens, jane_again]
        .iter()
        .filter(|reply| reply.status == 200)
        .filter(|reply| {
            claims_of(access_of(&reply.json()))["roles"]
                .as_array()
                .is_some_and(|roles| roles.contains(&json!("admin")))
        })
        .count();
    assert_eq!(admins, 1);
}

pub async fn an_unknown_or_invalid_role_answers_422_and_a_wrong_shape_400(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let jane = server.register("jane@example.com", None).await;
    patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "roles": ["admn"] }),
    )
    .await
    .expect_field_error("roles", "unknown_role");
    patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "roles": ["Not A Role"] }),
    )
    .await
    .expect_field_error("roles", "invalid_role");
    patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "roles": "admin" }),
    )
    .await
    .expect_problem(400, "invalid_json");
    patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "disabled": "yes" }),
    )
    .await
    .expect_problem(400, "invalid_json");
    // An app role of the map is known.
    set_roles(&server, &boss, &jane, json!(["support"])).await;
}

pub async fn every_change_is_in_the_audit_log_newest_first(target: Target) {
    let server = server(target).await;
    let boss = admin(&server).await;
    let jane = server.register("jane@example.com", None).await;
    let empty = call(
        &server,
        "GET",
        "/api/admin/audit",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    assert_eq!(empty, json!({ "entries": [], "next_cursor": null }));
    set_roles(&server, &boss, &jane, json!(["user", "support"])).await;
    server.advance(time::Duration::seconds(1));
    patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "disabled": true }),
    )
    .await
    .expect_json(200);
    // A change to what the user has already is no change, and is not logged.
    patch(
        &server,
        boss.access(),
        jane.id(),
        json!({ "disabled": true }),
    )
    .await
    .expect_json(200);
    let log = call(
        &server,
        "GET",
        "/api/admin/audit",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["action"], "user.disabled");
    assert_eq!(
        entries[0]["details"],
        json!({ "disabled": { "from": false, "to": true } })
    );
    assert_eq!(entries[1]["action"], "user.roles_changed");
    assert_eq!(
        entries[1]["details"],
        json!({ "roles": { "from": ["user"], "to": ["user", "support"] } })
    );
    for entry in entries {
        assert_uuid(&entry["id"]);
        assert_eq!(entry["actor_id"], boss.user["id"]);
        assert_eq!(entry["target_id"], jane.user["id"]);
        assert_utc_timestamp(&entry["at"]);
    }
    let first = call(
        &server,
        "GET",
        "/api/admin/audit?limit=1",
        Some(boss.access()),
        None,
    )
    .await
    .expect_json(200);
    assert_eq!(first["entries"][0]["id"], entries[0]["id"]);
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let path = format!("/api/admin/audit?limit=1&cursor={cursor}");
    let second = call(&server, "GET", &path, Some(boss.access()), None)
        .await
        .expect_json(200);
    assert_eq!(second["entries"][0]["id"], entries[1]["id"]);
    assert_eq!(second["next_cursor"], Value::Null);
}

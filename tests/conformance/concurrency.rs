//! Parallel requests keep the invariants: every referral counted once, one account per email.

use serde_json::json;

use super::{Target, TestServer, PASSWORD};

pub async fn twenty_parallel_registrations_with_one_code_all_succeed_and_count_twenty(
    target: Target,
) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    let mut requests = Vec::new();
    for n in 0..20 {
        let request = server
            .client
            .post(server.url("/api/register"))
            .json(&json!({
                "email": format!("user{n}@example.com"),
                "password": PASSWORD,
                "referral_code": referrer.code(),
            }));
        requests.push(tokio::spawn(request.send()));
    }
    for request in requests {
        let response = request.await.unwrap().expect("the server answers");
        assert_eq!(response.status().as_u16(), 201);
    }
    let stats = server
        .get_as("/api/referral-stats", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(stats["total_referrals"], 20);
    assert_eq!(stats["total_reward_points"], 2000);
    let page = server
        .get_as("/api/referrals?limit=100", referrer.access())
        .await
        .expect_json(200);
    assert_eq!(page["referrals"].as_array().unwrap().len(), 20);
}

pub async fn racing_registrations_of_one_email_yield_exactly_one_account(target: Target) {
    let server = TestServer::start(target).await;
    let mut requests = Vec::new();
    for n in 0..10 {
        let request = server
            .client
            .post(server.url("/api/register"))
            .json(&json!({
                "email": if n % 2 == 0 { "jane@example.com" } else { "JANE@example.com" },
                "password": format!("{PASSWORD} {n}"),
            }));
        requests.push(tokio::spawn(request.send()));
    }
    let mut created = Vec::new();
    for request in requests {
        let response = request.await.unwrap().expect("the server answers");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        match status {
            201 => created.push(body),
            409 => assert_eq!(body["code"], "email_taken"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one registration wins");
    let winner = created[0]["user"]["id"].clone();
    let access = created[0]["tokens"]["access_token"].as_str().unwrap();
    let me = server.get_as("/api/me", access).await.expect_json(200);
    assert_eq!(me["id"], winner);
}

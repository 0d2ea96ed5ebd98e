//! Refresh rotation, reuse detection, logout, and the bearer-token check.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use referral::{AccessClaims, AccessTokenIssuer};
use serde_json::{json, Value};
use time::Duration;

use super::{Reply, Target, TestServer, PASSWORD, SECRET};

/// `{"alg":"none","typ":"JWT"}`, base64url.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
/// `{"alg":"HS512","typ":"JWT"}`, base64url.
const HS512_HEADER: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9";
/// `{"alg":"RS256","typ":"JWT"}`, base64url.
const RS256_HEADER: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9";

/// The routes that need a bearer token.
const PROTECTED: [&str; 4] = [
    "/api/me",
    "/api/referrals",
    "/api/referral-stats",
    "/api/rewards",
];

#[track_caller]
fn expect_unauthorized(reply: &Reply) {
    reply.expect_problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

async fn refresh(server: &TestServer, token: &str) -> Reply {
    server
        .post("/api/token/refresh", &json!({ "refresh_token": token }))
        .await
}

fn segments(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three segments: {token}");
    [parts[0].into(), parts[1].into(), parts[2].into()]
}

/// The claims the server put in `access` (every one an [`AccessClaims`] has), read with the
/// test engines' secret.
pub fn claims_of(access: &str) -> Value {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    validation.validate_exp = false;
    let claims: AccessClaims = decode(
        access,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("the server's access token is signed with SECRET")
    .claims;
    serde_json::to_value(claims).expect("claims are JSON")
}

/// `claims` signed with the test engines' own secret under `algorithm`.
fn signed_with_secret(algorithm: Algorithm, claims: &Value) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("claims sign")
}

pub async fn refreshing_answers_a_new_pair_and_retires_the_old_refresh_token(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let tokens = refresh(&server, account.refresh()).await.expect_json(200);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_ne!(tokens["refresh_token"], account.tokens["refresh_token"]);
    let access = tokens["access_token"].as_str().unwrap();
    server.get_as("/api/me", access).await.expect_json(200);
    let next = tokens["refresh_token"].as_str().unwrap();
    refresh(&server, next).await.expect_json(200);
}

pub async fn presenting_a_rotated_refresh_token_revokes_the_newer_one_too(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let other_session = server.tokens("jane@example.com", PASSWORD).await;
    let rotated = refresh(&server, account.refresh()).await.expect_json(200);
    refresh(&server, account.refresh())
        .await
        .expect_problem(401, "invalid_refresh_token");
    for token in [&rotated["refresh_token"], &other_session["refresh_token"]] {
        refresh(&server, token.as_str().unwrap())
            .await
            .expect_problem(401, "invalid_refresh_token");
    }
}

pub async fn an_unknown_refresh_token_answers_401_invalid_refresh_token(target: Target) {
    let server = TestServer::start(target).await;
    for token in [
        "",
        "nonsense",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        refresh(&server, token)
            .await
            .expect_problem(401, "invalid_refresh_token");
    }
}

pub async fn an_expired_refresh_token_answers_401_invalid_refresh_token(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    server.advance(Duration::days(30) + Duration::seconds(1));
    refresh(&server, account.refresh())
        .await
        .expect_problem(401, "invalid_refresh_token");
}

pub async fn logout_answers_204_and_the_refresh_token_stops_working(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let reply = server
        .post(
            "/api/logout",
            &json!({ "refresh_token": account.refresh() }),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    refresh(&server, account.refresh())
        .await
        .expect_problem(401, "invalid_refresh_token");
    let again = server
        .post(
            "/api/logout",
            &json!({ "refresh_token": account.refresh() }),
        )
        .await;
    assert_eq!(again.status, 204, "logging out twice is harmless");
}

pub async fn protected_routes_without_a_token_answer_401_with_www_authenticate_bearer(
    target: Target,
) {
    let server = TestServer::start(target).await;
    for path in PROTECTED {
        expect_unauthorized(&server.get(path).await);
    }
}

pub async fn malformed_authorization_headers_answer_401(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let headers = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer garbage".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Basic amFuZTpwYXNzd29yZA==".to_owned(),
        account.access().to_owned(),
        format!("Token {}", account.access()),
        format!("Bearer {}x", account.access()),
    ];
    for header in &headers {
        expect_unauthorized(&server.get_with_authorization("/api/me", header).await);
    }
}

pub async fn a_token_signed_with_another_key_answers_401(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let forger = AccessTokenIssuer::new(
        b"a different secret that is also long enough",
        "referral",
        "referral-api",
        Duration::minutes(15),
    );
    let id = uuid::Uuid::parse_str(account.id()).unwrap();
    let forged = forger.issue(id, 0, server.engine.now()).unwrap();
    for path in PROTECTED {
        expect_unauthorized(&server.get_as(path, forged.expose()).await);
    }
}

pub async fn an_alg_none_token_answers_401(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let [_, payload, _] = segments(account.access());
    for token in [
        format!("{ALG_NONE_HEADER}.{payload}."),
        format!("{ALG_NONE_HEADER}.{payload}"),
    ] {
        expect_unauthorized(&server.get_as("/api/me", &token).await);
    }
}

pub async fn a_token_claiming_another_algorithm_answers_401(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let [_, payload, signature] = segments(account.access());
    for header in [HS512_HEADER, RS256_HEADER] {
        let token = format!("{header}.{payload}.{signature}");
        expect_unauthorized(&server.get_as("/api/me", &token).await);
    }
}

/// A server with one user, and the claims of that user's access token, which re-signed under
/// HS256 with the server's secret are accepted: a forgery built from them that is refused is
/// refused for what it changed.
async fn server_and_faithful_claims(target: Target) -> (TestServer, Value) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let claims = claims_of(account.access());
    let faithful = signed_with_secret(Algorithm::HS256, &claims);
    server.get_as("/api/me", &faithful).await.expect_json(200);
    (server, claims)
}

pub async fn a_token_signed_with_the_key_under_hs384_or_hs512_answers_401(target: Target) {
    let (server, claims) = server_and_faithful_claims(target).await;
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let token = signed_with_secret(algorithm, &claims);
        for path in PROTECTED {
            expect_unauthorized(&server.get_as(path, &token).await);
        }
    }
}

pub async fn a_signed_token_of_another_type_answers_401(target: Target) {
    let (server, claims) = server_and_faithful_claims(target).await;
    let mut forged = Vec::new();
    for typ in ["refresh", "reset", ""] {
        let mut other = claims.clone();
        other["typ"] = json!(typ);
        forged.push(signed_with_secret(Algorithm::HS256, &other));
    }
    let mut untyped = claims;
    untyped
        .as_object_mut()
        .expect("claims are an object")
        .remove("typ");
    forged.push(signed_with_secret(Algorithm::HS256, &untyped));
    for token in &forged {
        for path in PROTECTED {
            expect_unauthorized(&server.get_as(path, token).await);
        }
    }
}

pub async fn a_token_with_a_swapped_payload_answers_401(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let john = server.register("john@example.com", None).await;
    let [header, _, signature] = segments(jane.access());
    let [_, johns_payload, _] = segments(john.access());
    let forged = format!("{header}.{johns_payload}.{signature}");
    expect_unauthorized(&server.get_as("/api/me", &forged).await);
}

pub async fn an_expired_access_token_answers_401(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    server.advance(Duration::minutes(14));
    server
        .get_as("/api/me", account.access())
        .await
        .expect_json(200);
    server.advance(Duration::minutes(1) + Duration::seconds(1));
    for path in PROTECTED {
        expect_unauthorized(&server.get_as(path, account.access()).await);
    }
}

pub async fn a_refresh_token_is_not_an_access_token(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    expect_unauthorized(&server.get_as("/api/me", account.refresh()).await);
    let reset_token = server.reset_token_for("jane@example.com").await;
    expect_unauthorized(&server.get_as("/api/me", &reset_token).await);
}

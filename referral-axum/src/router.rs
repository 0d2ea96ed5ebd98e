//! The router: every path under `/api` goes to the engine, which answers the contract.

use axum::extract::{FromRef, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use referral_core::{ApiResponse, Engine};

use crate::request::api_request;
use crate::response::EngineResponse;

/// A router serving the whole HTTP contract under `/api`, for any state `S` the [`Engine`]
/// can be taken from.
///
/// Every method on `/api` and `/api/...` reaches the engine, so unknown paths get its `404`
/// problem and wrong methods its `405` problem with `Allow`. Merge it at the root of your app
/// (see the [crate docs](crate) for an example), or use `router().with_state(engine)` as a
/// whole app.
pub fn router<S>() -> Router<S>
where
    Engine: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api", any(serve))
        .route("/api/", any(serve))
        .route("/api/{*rest}", any(serve))
}

async fn serve(State(engine): State<Engine>, request: Request) -> Response {
    let request = api_request(request).await;
    EngineResponse(engine.handle(request).await).into_response()
}

/// A fallback handler answering the contract's `404 not_found` problem, for apps that want
/// paths outside `/api` to answer like the API does: `app.fallback(referral_axum::not_found)`.
pub async fn not_found() -> EngineResponse {
    EngineResponse(ApiResponse::for_status(404))
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::body::{to_bytes, Body};
    use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::get;
    use referral_core::{Argon2Params, Config, MAX_BODY_BYTES};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::AuthUser;

    fn engine() -> Engine {
        let config = Config::builder()
            .random_secret()
            .argon2(Argon2Params {
                memory_kib: 256,
                iterations: 1,
                parallelism: 1,
            })
            .build()
            .unwrap();
        Engine::builder(config).build().unwrap()
    }

    fn app(engine: Engine) -> Router {
        async fn whoami(AuthUser(user): AuthUser) -> String {
            user.email.to_string()
        }
        Router::new()
            .route("/whoami", get(whoami))
            .merge(router())
            .fallback(not_found)
            .with_state(engine)
    }

    async fn send(
        app: Router,
        request: HttpRequest<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = app.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (parts.status, parts.headers, json)
    }

    fn post_json(path: &str, body: impl Into<Body>) -> HttpRequest<Body> {
        HttpRequest::post(path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap()
    }

    fn register_body() -> String {
        json!({ "email": "a@example.com", "password": "a long passphrase" }).to_string()
    }

    #[tokio::test]
    async fn a_registration_answers_201_with_location_and_json() {
        let (status, headers, body) =
            send(app(engine()), post_json("/api/register", register_body())).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers[LOCATION], "/api/me");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(body["user"]["email"], "a@example.com");
    }

    #[tokio::test]
    async fn a_body_over_64_kib_answers_413_payload_too_large() {
        let oversize = vec![b' '; MAX_BODY_BYTES + 1];
        let (status, headers, body) = send(app(engine()), post_json("/api/login", oversize)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[CONTENT_TYPE], "application/problem+json");
        assert_eq!(body["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn the_engines_headers_are_copied_onto_the_response() {
        let request = HttpRequest::get("/api/register")
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(app(engine()), request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[ALLOW], "POST");
        assert_eq!(body["code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn every_path_under_api_reaches_the_engine() {
        for path in ["/api", "/api/", "/api/nope", "/api/me/extra"] {
            let request = HttpRequest::get(path).body(Body::empty()).unwrap();
            let (status, headers, body) = send(app(engine()), request).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(headers[CONTENT_TYPE], "application/problem+json", "{path}");
            assert_eq!(body["code"], "not_found", "{path}");
        }
    }

    #[tokio::test]
    async fn the_fallback_answers_the_contracts_404_problem() {
        let request = HttpRequest::get("/elsewhere").body(Body::empty()).unwrap();
        let (status, _, body) = send(app(engine()), request).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["code"], "not_found");
    }

    #[tokio::test]
    async fn auth_user_rejects_a_missing_or_bad_token_with_the_engines_401() {
        for authorization in [None, Some("Bearer nonsense"), Some("Basic YTpi")] {
            let mut request = HttpRequest::get("/whoami");
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let (status, headers, body) =
                send(app(engine()), request.body(Body::empty()).unwrap()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
            assert_eq!(headers[WWW_AUTHENTICATE], "Bearer");
            assert_eq!(body["code"], "unauthorized");
        }
    }

    #[tokio::test]
    async fn auth_user_yields_the_user_of_a_valid_token() {
        let engine = engine();
        let (_, _, registered) = send(
            app(engine.clone()),
            post_json("/api/register", register_body()),
        )
        .await;
        let token = registered["tokens"]["access_token"].as_str().unwrap();
        let request = HttpRequest::get("/whoami")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app(engine).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(&body[..], b"a@example.com");
    }

    #[tokio::test]
    async fn a_router_with_its_own_state_type_serves_the_contract() {
        #[derive(Clone)]
        struct AppState {
            engine: Engine,
        }
        impl FromRef<AppState> for Engine {
            fn from_ref(state: &AppState) -> Engine {
                state.engine.clone()
            }
        }
        let app: Router = router().with_state(AppState { engine: engine() });
        let request = HttpRequest::get("/api/health").body(Body::empty()).unwrap();
        let (status, _, body) = send(app, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }
}

//! The router: one native axum route per endpoint of the table, under the prefix the app
//! chooses, for the endpoints it chooses, each open to a layer or a replacement of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRef, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, patch, post, put, MethodRouter};
use axum::Router;
use referral_core::{ApiResponse, Endpoint, Engine, Error, Method, Mount};

use crate::request::api_request;
use crate::response::EngineResponse;

/// A router serving the whole contract under `/api`, for any state `S` the [`Engine`] can be
/// taken from: `Api::new().router()`.
pub fn router<S>() -> Router<S>
where
    Engine: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Api::new().router()
}

/// Builds the router: which endpoints, under which prefix, with which layers or handlers.
///
/// Each endpoint becomes one native route (so `MatchedPath` names it, and a layer can be put
/// on it alone); a request under the prefix that no route takes gets the contract's `404`
/// problem, and a known path with another method its `405` problem with `Allow`.
///
/// ```
/// use axum::routing::post;
/// use axum::{extract::State, Router};
/// use referral_axum::{Api, ApiError, EngineRequest, EngineResponse};
/// use referral_core::{Endpoint, Engine, Error, Mount};
/// use tower_http_like::ConcurrencyLimitLayer;
/// # mod tower_http_like { pub use tower::limit::ConcurrencyLimitLayer; }
///
/// // Sign-ups only for invited addresses; parsing and answers stay the library's.
/// async fn invited_only(
///     State(engine): State<Engine>,
///     EngineRequest(request): EngineRequest,
/// ) -> Result<EngineResponse, ApiError> {
///     let body: referral_core::RegisterRequest = referral_core::parse_json(&request)?;
///     if !body.email.ends_with("@invited.example") {
///         return Err(Error::invalid("email", "not_invited", "Sign-ups are by invitation").into());
///     }
///     let mount = Mount::new("/auth")?;
///     Ok(engine.serve(&mount, Endpoint::Register, request).await.into())
/// }
///
/// # fn main() -> Result<(), referral_core::Error> {
/// let auth: Router<Engine> = Api::new()
///     .prefix("/auth")?
///     .without([Endpoint::OpenApi])
///     .map(Endpoint::Login, |route| route.layer(ConcurrencyLimitLayer::new(8)))
///     .replace(Endpoint::Register, post(invited_only))
///     .router();
/// # let _ = auth;
/// # Ok(())
/// # }
/// ```
pub struct Api<S> {
    mount: Mount,
    routes: BTreeMap<Endpoint, MethodRouter<S>>,
}

impl<S> Default for Api<S>
where
    Engine: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Api<S>
where
    Engine: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    /// Every endpoint under `/api`, with the library's handlers.
    pub fn new() -> Self {
        Api {
            mount: Mount::default(),
            routes: BTreeMap::new(),
        }
    }

    /// Serve under `prefix` instead (`/auth`, `/v1/api`, `/` for the root): paths,
    /// `Location` headers and the OpenAPI document follow it. Use this rather than
    /// `Router::nest`, whose prefix the library would not see.
    ///
    /// Errors: [`Error::Config`] for a prefix that is not a plain absolute path.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, Error> {
        self.mount = self.mount.with_prefix(prefix)?;
        Ok(self)
    }

    /// Serve share links (`GET /r/{code}`, at the app root whatever the prefix) under
    /// `path` instead of `/r`; build the engine's config with the same
    /// [`share_path`](referral_core::ConfigBuilder::share_path) so the links it hands out
    /// point here.
    ///
    /// Errors: [`Error::Config`] for a path that is not plain absolute segments.
    pub fn share_path(mut self, path: &str) -> Result<Self, Error> {
        self.mount = self.mount.share_path(path)?;
        Ok(self)
    }

    /// Serve only these endpoints (the others answer `404`).
    pub fn only(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        self.mount = self.mount.only(endpoints);
        self
    }

    /// Serve every endpoint chosen so far but these.
    pub fn without(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        self.mount = self.mount.without(endpoints);
        self
    }

    /// Changes one endpoint's route, e.g. to add a layer with `MethodRouter::layer` or
    /// `route_layer`. Does nothing for an endpoint that is not served.
    pub fn map(
        mut self,
        endpoint: Endpoint,
        change: impl FnOnce(MethodRouter<S>) -> MethodRouter<S>,
    ) -> Self {
        if self.mount.contains(endpoint) {
            let route = self
                .routes
                .remove(&endpoint)
                .unwrap_or_else(|| endpoint_route(Arc::new(self.mount.clone()), endpoint));
            self.routes.insert(endpoint, change(route));
        }
        self
    }

    /// Serves `endpoint` with a handler of your own (a `MethodRouter` for the endpoint's
    /// method, without a fallback). Take [`EngineRequest`](crate::EngineRequest) in it and
    /// call [`Engine::serve`] or the engine's typed methods to keep the library's parsing and
    /// problem answers.
    pub fn replace(mut self, endpoint: Endpoint, route: MethodRouter<S>) -> Self {
        if self.mount.contains(endpoint) {
            self.routes.insert(endpoint, route);
        }
        self
    }

    /// The router.
    pub fn router(mut self) -> Router<S> {
        let mount = Arc::new(self.mount.clone());
        // Endpoints sharing a path share one method router, with one fallback answering
        // the contract's 405.
        let mut by_path: BTreeMap<String, MethodRouter<S>> = BTreeMap::new();
        for endpoint in mount.endpoints() {
            let route = self
                .routes
                .remove(&endpoint)
                .unwrap_or_else(|| endpoint_route(mount.clone(), endpoint));
            let path = mount.route_path(endpoint);
            let merged = match by_path.remove(&path) {
                Some(existing) => existing.merge(route),
                None => route,
            };
            by_path.insert(path, merged);
        }
        let mut router = Router::new();
        for (path, route) in by_path {
            router = router.route(&path, route.fallback(unrouted(mount.clone())));
        }
        // Everything else under the prefix is the engine's 404 (or 405). At the root that
        // would swallow the app's own 404s, so there the app chooses its fallback.
        if !mount.prefix().is_empty() {
            router = router
                .route(mount.prefix(), any(unrouted(mount.clone())))
                .route(
                    &format!("{}/{{*rest}}", mount.prefix()),
                    any(unrouted(mount.clone())),
                );
        }
        router
    }
}

/// The library's own route for `endpoint` under `mount`: reads the request as the contract
/// says and answers with [`Engine::serve`].
pub fn endpoint_route<S>(mount: Arc<Mount>, endpoint: Endpoint) -> MethodRouter<S>
where
    Engine: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let handler = move |State(engine): State<Engine>, request: Request| async move {
        let request = api_request(&engine, request, endpoint.spec().body).await;
        EngineResponse(engine.serve(&mount, endpoint, request).await)
    };
    match endpoint.method() {
        Method::Get => get(handler),
        Method::Post => post(handler),
        Method::Put => put(handler),
        Method::Patch => patch(handler),
        Method::Delete => delete(handler),
    }
}

/// The future of an [`unrouted`] handler.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// A handler answering what `mount` does not route: `404`, or `405` with `Allow`.
fn unrouted(
    mount: Arc<Mount>,
) -> impl Fn(State<Engine>, Request) -> Answer + Clone + Send + Sync + 'static {
    move |State(engine): State<Engine>, request: Request| {
        let mount = mount.clone();
        Box::pin(async move {
            let request = api_request(&engine, request, false).await;
            EngineResponse(engine.fallback(&mount, request).await).into_response()
        })
    }
}

/// A fallback handler answering the contract's `404 not_found` problem, for apps that want
/// paths outside the API to answer like the API does: `app.fallback(referral_axum::not_found)`.
pub async fn not_found() -> EngineResponse {
    EngineResponse(ApiResponse::for_status(404))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::{to_bytes, Body};
    use axum::extract::MatchedPath;
    use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::middleware::{self, Next};
    use referral_core::{Argon2Params, Config, RecordingMailer, MAX_BODY_BYTES};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::{ApiError, AuthUser, EngineRequest};

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
        Engine::builder(config)
            .mailer(Arc::new(RecordingMailer::new()))
            .build()
            .unwrap()
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
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (parts.status, parts.headers, json)
    }

    fn post_json(path: &str, body: impl Into<Body>) -> HttpRequest<Body> {
        HttpRequest::post(path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap()
    }

    fn get_request(path: &str) -> HttpRequest<Body> {
        HttpRequest::get(path).body(Body::empty()).unwrap()
    }

    fn register_body(email: &str) -> String {
        json!({ "email": email, "password": "a long passphrase" }).to_string()
    }

    #[tokio::test]
    async fn a_registration_answers_201_with_location_and_json() {
        let (status, headers, body) = send(
            app(engine()),
            post_json("/api/register", register_body("a@example.com")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers[LOCATION], "/api/me");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(body["user"]["email"], "a@example.com");
    }

    #[tokio::test]
    async fn a_body_over_64_kib_answers_413_payload_too_large() {
        let oversize = vec![b' '; MAX_BODY_BYTES + 1];
        let (status, _, body) = send(app(engine()), post_json("/api/login", oversize)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn a_known_path_with_another_method_answers_405_with_allow() {
        let (status, headers, body) = send(app(engine()), get_request("/api/register")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[ALLOW], "POST");
        assert_eq!(body["code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn every_other_path_under_the_prefix_answers_the_engines_404() {
        for path in ["/api", "/api/", "/api/nope", "/api/me/extra", "/elsewhere"] {
            let (status, headers, body) = send(app(engine()), get_request(path)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(headers[CONTENT_TYPE], "application/problem+json", "{path}");
            assert_eq!(body["code"], "not_found", "{path}");
        }
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
            post_json("/api/register", register_body("a@example.com")),
        )
        .await;
        let token = registered["tokens"]["access_token"].as_str().unwrap();
        let request = HttpRequest::get("/whoami")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(app(engine), request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "a@example.com");
    }

    #[tokio::test]
    async fn each_endpoint_is_its_own_route_with_its_own_matched_path() {
        async fn matched(request: Request, next: Next) -> Response {
            let path = request
                .extensions()
                .get::<MatchedPath>()
                .map(|matched| matched.as_str().to_owned())
                .unwrap_or_default();
            let mut response = next.run(request).await;
            response
                .headers_mut()
                .insert("x-matched", path.parse().unwrap());
            response
        }
        let app: Router = router()
            .layer(middleware::from_fn(matched))
            .with_state(engine());
        for (path, matched) in [
            ("/api/health", "/api/health"),
            ("/api/referral-stats", "/api/referral-stats"),
            ("/api/nope", "/api/{*rest}"),
        ] {
            let (_, headers, _) = send(app.clone(), get_request(path)).await;
            assert_eq!(headers["x-matched"], matched, "{path}");
        }
    }

    #[tokio::test]
    async fn a_layer_on_one_endpoint_applies_there_alone() {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        async fn count(request: Request, next: Next) -> Response {
            SEEN.fetch_add(1, Ordering::SeqCst);
            next.run(request).await
        }
        let app: Router = Api::new()
            .map(Endpoint::Health, |route| {
                route.layer(middleware::from_fn(count))
            })
            .router()
            .with_state(engine());
        send(app.clone(), get_request("/api/health")).await;
        send(app.clone(), get_request("/api/openapi.json")).await;
        send(app.clone(), get_request("/api/me")).await;
        send(app.clone(), post_json("/api/login", "{}")).await;
        assert_eq!(SEEN.load(Ordering::SeqCst), 1);
        send(app, get_request("/api/health")).await;
        assert_eq!(SEEN.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_subset_under_another_prefix_serves_that_subset_there() {
        let app: Router = Api::new()
            .prefix("/v1/auth/")
            .unwrap()
            .without([Endpoint::Register])
            .router()
            .with_state(engine());
        let (status, _, body) = send(
            app.clone(),
            post_json("/v1/auth/register", register_body("a@example.com")),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let (status, _, _) = send(app.clone(), get_request("/v1/auth/health")).await;
        assert_eq!(status, StatusCode::OK);
        let (_, _, document) = send(app.clone(), get_request("/v1/auth/openapi.json")).await;
        assert!(document["paths"]["/v1/auth/login"].is_object());
        assert!(document["paths"]["/v1/auth/register"].is_null());
        let (status, _, _) = send(app, get_request("/api/health")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_replaced_handler_keeps_the_librarys_parsing_and_problems() {
        async fn invited_only(
            State(engine): State<Engine>,
            EngineRequest(request): EngineRequest,
        ) -> Result<EngineResponse, ApiError> {
            let body: referral_core::RegisterRequest = referral_core::parse_json(&request)?;
            if !body.email.ends_with("@invited.example") {
                return Err(
                    Error::invalid("email", "not_invited", "Sign-ups are by invitation").into(),
                );
            }
            Ok(engine
                .serve(&Mount::default(), Endpoint::Register, request)
                .await
                .into())
        }
        let app: Router = Api::new()
            .replace(Endpoint::Register, post(invited_only))
            .router()
            .with_state(engine());
        let (status, _, body) = send(
            app.clone(),
            post_json("/api/register", register_body("a@example.com")),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["code"], "not_invited");
        let (status, _, body) = send(app.clone(), post_json("/api/register", "not json")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_json"))
        );
        let (status, headers, _) = send(
            app.clone(),
            post_json("/api/register", register_body("b@invited.example")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers[LOCATION], "/api/me");
        let (_, headers, _) = send(app, get_request("/api/register")).await;
        assert_eq!(headers[ALLOW], "POST", "the 405 fallback stays");
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
        let (status, _, body) = send(app, get_request("/api/health")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }
}

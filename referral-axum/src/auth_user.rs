//! `AuthUser`: the extractor that puts the engine's bearer-token check on a user's own
//! handlers.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use referral_core::{ApiResponse, Engine, UserRecord};

use crate::request::header_text;
use crate::response::EngineResponse;

/// The signed-in user of a request: extracting it requires `Authorization: Bearer <JWT>`
/// with a valid access token, and rejects with the contract's `401 unauthorized` problem
/// (with `WWW-Authenticate: Bearer`) otherwise.
///
/// It reads the [`Engine`] from the router's state through [`FromRef`], so it works with
/// any state the engine can be taken from.
///
/// ```
/// use axum::{body::Body, http::Request, routing::get, Router};
/// use referral_axum::AuthUser;
/// use referral_core::{Config, Engine};
/// use tower::ServiceExt;
///
/// async fn whoami(AuthUser(user): AuthUser) -> String {
///     user.email.to_string()
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
/// let app: Router = Router::new().route("/whoami", get(whoami)).with_state(engine);
///
/// let anonymous = Request::get("/whoami").body(Body::empty()).unwrap();
/// let response = app.oneshot(anonymous).await.unwrap();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer");
/// # Ok::<(), referral_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserRecord);

/// Why [`AuthUser`] or [`RequirePermission`](crate::RequirePermission) refused a request:
/// the engine's complete `401` (or `403`, or `503`) answer, sent as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection(pub ApiResponse);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        EngineResponse(self.0).into_response()
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Engine: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let engine = Engine::from_ref(state);
        let authorization = header_text(&parts.headers, AUTHORIZATION);
        engine
            .authorize(authorization.as_deref())
            .await
            .map(AuthUser)
            .map_err(AuthRejection)
    }
}

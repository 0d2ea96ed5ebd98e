//! The `AuthUser` request guard for your own routes.

use referral_core::{ApiResponse, Engine, UserRecord};
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::{Ignite, Rocket, Sentinel};

/// The signed-in user, for your own routes: a request guard that checks the
/// `Authorization: Bearer` access token with [`Engine::authorize`].
///
/// Without a valid token the route does not run: the guard fails with the engine's answer
/// (`401 unauthorized` with `WWW-Authenticate: Bearer`, or `503 unavailable` when storage is
/// down). Rocket lets a guard fail with a status only, so the guard keeps the engine's answer
/// in the request-local cache and the adapter's [`catchers`](crate::catchers) send it
/// unchanged: register them at your routes' base. Take `Result<AuthUser, ApiResponse>`
/// instead to handle the failure yourself.
///
/// The [`Engine`] must be managed state; launch is aborted otherwise.
///
/// ```
/// use referral_core::{Config, Engine};
/// use referral_rocket::AuthUser;
/// use rocket::http::{Header, Status};
/// use rocket::local::blocking::Client;
///
/// #[rocket::get("/dashboard")]
/// fn dashboard(user: AuthUser) -> String {
///     format!("hello, {}", user.0.email)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
/// let rocket = rocket::build()
///     .manage(engine)
///     .attach(referral_rocket::stage())
///     .mount("/", rocket::routes![dashboard])
///     .register("/", referral_rocket::catchers());
/// let client = Client::tracked(rocket)?;
///
/// let response = client.get("/dashboard").dispatch();
/// assert_eq!(response.status(), Status::Unauthorized);
/// assert_eq!(response.headers().get_one("WWW-Authenticate"), Some("Bearer"));
///
/// let response = client
///     .get("/dashboard")
///     .header(Header::new("Authorization", "Bearer not-a-token"))
///     .dispatch();
/// assert_eq!(response.status(), Status::Unauthorized);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser(pub UserRecord);

/// The engine's answer to a failed [`AuthUser`] check, kept for the catchers.
struct Rejection(Option<ApiResponse>);

/// The answer an [`AuthUser`] guard failed with on `request`, when its status is `status`.
pub(crate) fn rejection(request: &Request<'_>, status: u16) -> Option<ApiResponse> {
    request
        .local_cache(|| Rejection(None))
        .0
        .as_ref()
        .filter(|response| response.status == status)
        .cloned()
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthUser {
    type Error = ApiResponse;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, ApiResponse> {
        let Some(engine) = request.rocket().state::<Engine>() else {
            return engine_missing("AuthUser");
        };
        match engine
            .authorize(request.headers().get_one("Authorization"))
            .await
        {
            Ok(user) => request::Outcome::Success(AuthUser(user)),
            Err(response) => refuse(request, response),
        }
    }
}

/// A guard's failure without a managed engine: unreachable once launched, since the
/// guards' sentinels abort launch without one.
pub(crate) fn engine_missing<T>(guard: &str) -> request::Outcome<T, ApiResponse> {
    tracing::error!("{guard} needs the referral Engine as managed state");
    request::Outcome::Error((Status::InternalServerError, ApiResponse::for_status(500)))
}

/// A guard's failure with the engine's answer, kept for the catchers to send unchanged.
pub(crate) fn refuse<T>(
    request: &Request<'_>,
    response: ApiResponse,
) -> request::Outcome<T, ApiResponse> {
    let status = Status::new(response.status);
    request.local_cache(|| Rejection(Some(response.clone())));
    request::Outcome::Error((status, response))
}

/// Whether launch must abort because a route uses the guard `guard` without an engine.
pub(crate) fn aborts_without_engine(rocket: &Rocket<Ignite>, guard: &str) -> bool {
    if rocket.state::<Engine>().is_none() {
        tracing::error!(
            "a route uses {guard} but no referral Engine is managed: call `.manage(engine)` \
             or attach `referral_rocket::stage_with(engine)`"
        );
        return true;
    }
    false
}

impl Sentinel for AuthUser {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        aborts_without_engine(rocket, "AuthUser")
    }
}

//! Catchers turning the answers Rocket produces on its own into the contract's problem
//! documents.

use referral_core::{ApiResponse, Engine, Mount};
use rocket::catcher::{self, Catcher};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::Responder;

use crate::auth_user::rejection;
use crate::request::api_request;
use crate::response::EngineResponse;

/// The method handed to the engine for a request whose method Rocket could not parse
/// (`PROPFIND`, any extension method): Rocket keeps no trace of it. The contract serves none
/// of these methods, so the engine answers what it answers any of them: `404` for an unknown
/// path, `405` with `Allow` for a known one.
const UNPARSED_METHOD: &str = "UNPARSED";

/// Answers [`ApiResponse::for_status`], or the engine's own answer when an
/// [`AuthUser`](crate::AuthUser) guard failed with this status.
///
/// A request whose method Rocket cannot parse never reaches a route: Rocket hands it, as a
/// `GET` with the real path, to the `400` catcher. axum routes such a request by path like
/// any other, so the API's catchers do too: the engine answers it (`404`, or `405` with
/// `Allow` on a known path); elsewhere no route serves the method, which is a `404`.
#[derive(Clone)]
struct ProblemCatcher {
    api: Option<Mount>,
}

#[rocket::async_trait]
impl catcher::Handler for ProblemCatcher {
    async fn handle<'r>(&self, status: Status, request: &'r Request<'_>) -> catcher::Result<'r> {
        let engine = request.rocket().state::<Engine>();
        let response = match (&self.api, engine) {
            (Some(mount), Some(engine)) if is_unparsed_request(status, request) => {
                engine
                    .fallback(mount, api_request(request, UNPARSED_METHOD))
                    .await
            }
            (None, _) if is_unparsed_request(status, request) => ApiResponse::for_status(404),
            _ => rejection(request, status.code)
                .unwrap_or_else(|| ApiResponse::for_status(status.code)),
        };
        EngineResponse(response).respond_to(request)
    }
}

/// Whether Rocket refused the request line itself: a `400` with no route ever matched is
/// Rocket 0.5's answer to a method it does not know (or to a request-target with no path,
/// which it salvages as `/`). Every `400` a route or a guard produces has a route.
fn is_unparsed_request(status: Status, request: &Request<'_>) -> bool {
    status == Status::BadRequest && request.route().is_none()
}

fn catcher(code: Option<u16>, api: Option<Mount>) -> Catcher {
    let mut catcher = Catcher::new(code, ProblemCatcher { api });
    catcher.name = Some("referral".into());
    catcher
}

/// The statuses that get a catcher of their own (`None`: the default catcher).
const CAUGHT: [Option<u16>; 8] = [
    Some(400),
    Some(401),
    Some(404),
    Some(405),
    Some(413),
    Some(422),
    Some(500),
    None,
];

/// Problem-document catchers for `400`, `401`, `404`, `405`, `413`, `422`, `500` and every
/// other status (a default catcher), answering what the engine would; the `401` one sends an
/// [`AuthUser`](crate::AuthUser) guard's rejection unchanged.
///
/// Register them where your own routes live (at `/`, say) to make Rocket's errors there —
/// an unknown path, a failed `AuthUser` — problem documents like the API's:
///
/// ```
/// # use referral_core::{Config, Engine};
/// # fn main() -> Result<(), referral_core::Error> {
/// # let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
/// let rocket = rocket::build()
///     .attach(referral_rocket::stage_with(engine))
///     .register("/", referral_rocket::catchers());
/// # let _ = rocket;
/// # Ok(())
/// # }
/// ```
///
/// A request with a method Rocket cannot parse (`PROPFIND`, say) answers `404`, as any
/// method no route serves does; under the API, [`Api::catchers`](crate::Api::catchers)
/// route it by path instead.
pub fn catchers() -> Vec<Catcher> {
    CAUGHT.into_iter().map(|code| catcher(code, None)).collect()
}

/// [`catchers`] for the API under `mount`: requests Rocket could not parse go to the engine.
pub(crate) fn api_catchers(mount: Mount) -> Vec<Catcher> {
    CAUGHT
        .into_iter()
        .map(|code| catcher(code, Some(mount.clone())))
        .collect()
}

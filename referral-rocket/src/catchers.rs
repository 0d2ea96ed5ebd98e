//! Catchers turning the answers Rocket produces on its own into the contract's problem
//! documents, so nothing under the API answers HTML.

use referral_core::ApiResponse;
use rocket::catcher::{self, Catcher};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::Responder;

use crate::auth_user::rejection;
use crate::handler::ApiHandler;
use crate::headers::mark_as_ours;
use crate::response::EngineResponse;

/// Answers [`ApiResponse::for_status`], or the engine's own answer when an
/// [`AuthUser`](crate::AuthUser) guard failed with this status.
///
/// A request whose method Rocket cannot parse (`PROPFIND`, any extension method) never
/// reaches a route: Rocket hands it, as a `GET` with the real path, to the `400` catcher.
/// axum routes such a request by path like any other, so the catchers do too: under the
/// API (`api` set, the catchers the stage registers) the engine answers it (`404`, or `405`
/// with `Allow` on a known path); elsewhere no route serves the method, which is a `404`.
#[derive(Clone)]
struct ProblemCatcher {
    api: Option<ApiHandler>,
}

#[rocket::async_trait]
impl catcher::Handler for ProblemCatcher {
    async fn handle<'r>(&self, status: Status, request: &'r Request<'_>) -> catcher::Result<'r> {
        mark_as_ours(request);
        let response = if is_unparsed_request(status, request) {
            match &self.api {
                Some(api) => api.unparsed_method(request).await,
                None => ApiResponse::for_status(404),
            }
        } else {
            rejection(request, status.code).unwrap_or_else(|| ApiResponse::for_status(status.code))
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

fn catcher(code: Option<u16>, api: Option<ApiHandler>) -> Catcher {
    let mut catcher = Catcher::new(code, ProblemCatcher { api });
    catcher.name = Some("referral".into());
    catcher
}

/// The statuses that get a catcher of their own (`None`: the default catcher).
const CAUGHT: [Option<u16>; 7] = [
    Some(400),
    Some(404),
    Some(405),
    Some(413),
    Some(422),
    Some(500),
    None,
];

/// Problem-document catchers for `400`, `404`, `405`, `413`, `422`, `500` and every other
/// status (a default catcher), answering what the engine would.
///
/// The stage registers them under `{base}/api`. Register them at your app's root too, and
/// every error Rocket produces anywhere (an unknown path, a failed data guard) is a problem
/// document, as the `referral` example server does:
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
/// There is no `401` catcher among them, so they never collide with the one the stage
/// registers at its base; the default catcher answers `401` the same way.
///
/// A request with a method Rocket cannot parse (`PROPFIND`, say) answers `404`, as any
/// method no route serves does; under the API, the engine answers it, as with axum.
pub fn catchers() -> Vec<Catcher> {
    CAUGHT.into_iter().map(|code| catcher(code, None)).collect()
}

/// [`catchers`] for the API itself (the stage registers them under `{base}/api`): requests
/// Rocket could not parse go to the engine through `api`.
pub(crate) fn api_catchers(api: ApiHandler) -> Vec<Catcher> {
    CAUGHT
        .into_iter()
        .map(|code| catcher(code, Some(api.clone())))
        .collect()
}

/// The `401` catcher sending an [`AuthUser`](crate::AuthUser) rejection unchanged.
pub(crate) fn unauthorized_catcher() -> Catcher {
    catcher(Some(401), None)
}

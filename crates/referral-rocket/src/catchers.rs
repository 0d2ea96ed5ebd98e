//! Catchers turning the answers Rocket produces on its own into the contract's problem
//! documents, so nothing under the API answers HTML.

use referral_core::ApiResponse;
use rocket::catcher::{self, Catcher};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::Responder;

use crate::auth_user::rejection;
use crate::headers::mark_as_ours;
use crate::response::EngineResponse;

/// Answers [`ApiResponse::for_status`], or the engine's own answer when an
/// [`AuthUser`](crate::AuthUser) guard failed with this status.
#[derive(Clone)]
struct ProblemCatcher;

#[rocket::async_trait]
impl catcher::Handler for ProblemCatcher {
    async fn handle<'r>(&self, status: Status, request: &'r Request<'_>) -> catcher::Result<'r> {
        mark_as_ours(request);
        let response =
            rejection(request, status.code).unwrap_or_else(|| ApiResponse::for_status(status.code));
        EngineResponse(response).respond_to(request)
    }
}

fn catcher(code: Option<u16>) -> Catcher {
    let mut catcher = Catcher::new(code, ProblemCatcher);
    catcher.name = Some("referral".into());
    catcher
}

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
pub fn catchers() -> Vec<Catcher> {
    [
        Some(400),
        Some(404),
        Some(405),
        Some(413),
        Some(422),
        Some(500),
        None,
    ]
    .into_iter()
    .map(catcher)
    .collect()
}

/// The `401` catcher sending an [`AuthUser`](crate::AuthUser) rejection unchanged.
pub(crate) fn unauthorized_catcher() -> Catcher {
    catcher(Some(401))
}

//! The stage: one fairing that mounts the API, registers its catchers and keeps Rocket's
//! own headers off its answers.

use referral_core::{Engine, API_PREFIX};
use rocket::fairing::AdHoc;
use rocket::http::uri::Origin;

use crate::catchers::{api_catchers, unauthorized_catcher};
use crate::handler::ApiHandler;
use crate::headers::strip_rocket_defaults;

/// The API at the root of the app: every route of the contract at `/api/...`.
///
/// The [`Engine`] must be managed state (`rocket.manage(engine)`, before or after attaching);
/// ignition fails with an error in the log otherwise. [`stage_with`] manages it for you.
pub fn stage() -> AdHoc {
    stage_at("/")
}

/// The API mounted at `base`: every route of the contract at `{base}/api/...`.
///
/// The engine sees paths relative to `base`, so `GET /v1/api/me` with base `/v1` is the
/// contract's `GET /api/me`. Answers that carry a path (`Location: /api/me` after
/// registering) name it as the contract does, without `base`. An invalid base (not an
/// absolute path, or with a query or a dynamic segment) fails ignition with an error in the
/// log.
///
/// What it adds to the app:
/// - a route per method (all but `CONNECT`) at `{base}/api/<path..>` with rank
///   [`ROUTE_RANK`](crate::ROUTE_RANK), handing the request to [`Engine::handle`];
/// - the problem-document [`catchers`](crate::catchers) under `{base}/api` (there, a
///   request whose method Rocket cannot parse goes to the engine, as with axum), and a
///   `401` catcher at `base` sending [`AuthUser`](crate::AuthUser)'s rejection (so a `401`
///   catcher of your own at the same base would collide);
/// - a response fairing removing `Server`, `X-Content-Type-Options`, `X-Frame-Options` and
///   `Permissions-Policy` (Rocket's `ident` and default `Shield` headers) from the
///   adapter's answers only, so they carry the same headers as the axum adapter's.
pub fn stage_at(base: impl Into<String>) -> AdHoc {
    let base = base.into();
    AdHoc::try_on_ignite("referral", move |rocket| async move {
        let Some(engine) = rocket.state::<Engine>().cloned() else {
            tracing::error!(
                "the referral stage needs the Engine as managed state: call `.manage(engine)` \
                 or attach `referral_rocket::stage_with(engine)`"
            );
            return Err(rocket);
        };
        let valid = Origin::parse(&base)
            .is_ok_and(|origin| origin.query().is_none() && !base.contains(['<', '>']));
        if !valid {
            tracing::error!(base = %base, "the referral stage's base must be an absolute path like `/` or `/v1`");
            return Err(rocket);
        }
        let api_base = format!("{}{API_PREFIX}", base.trim_end_matches('/'));
        let api = ApiHandler::new(engine, &base);
        Ok(rocket
            .mount(base.as_str(), api.routes())
            .register(api_base, api_catchers(api))
            .register(base, vec![unauthorized_catcher()])
            .attach(strip_rocket_defaults()))
    })
}

/// [`stage`], managing `engine` as state too: the one line an app needs.
///
/// Rocket manages one value per type: if an [`Engine`] is already managed, ignition fails
/// with an error in the log; attach [`stage`] then.
pub fn stage_with(engine: Engine) -> AdHoc {
    AdHoc::try_on_ignite("referral: engine", move |rocket| async move {
        if rocket.state::<Engine>().is_some() {
            tracing::error!(
                "an Engine is already managed state: attach `referral_rocket::stage()`, \
                 not `stage_with(engine)`"
            );
            return Err(rocket);
        }
        Ok(rocket.manage(engine).attach(stage()))
    })
}

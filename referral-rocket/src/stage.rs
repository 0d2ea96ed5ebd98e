//! The stage: one fairing that mounts the API and registers its catchers under the API's
//! prefix, the share-link route at the app root, and nothing anywhere else.

use referral_core::{Engine, API_PREFIX};
use rocket::fairing::AdHoc;
use rocket::shield::{Frame, NoSniff, Permission, Shield};

use crate::api::Api;

/// The API at `/api`: every endpoint's route and the API's catchers, there only.
///
/// The [`Engine`] must be managed state (`rocket.manage(engine)`, before or after attaching);
/// ignition fails with an error in the log otherwise. [`stage_with`] manages it for you.
pub fn stage() -> AdHoc {
    stage_at(API_PREFIX)
}

/// The API at `prefix` (`/auth`, `/v1/api`, `/` for the root): every endpoint's route and
/// [`Api::catchers`] there, and the share-link route at the app root (under the engine's
/// [`share_path`](referral_core::Config::share_path), `/r` by default), nothing else. `Location` headers and the OpenAPI document name
/// the prefix. For a subset of the endpoints, mount [`Api::routes`] yourself.
///
/// Rocket's own fairings (`Shield` and its headers, say) apply as they do to your routes;
/// register [`catchers`](crate::catchers) at your own routes' base for problem answers there
/// (an [`AuthUser`](crate::AuthUser) guard's `401`, say).
///
/// An invalid prefix (not a plain absolute path) fails ignition with an error in the log.
pub fn stage_at(prefix: impl Into<String>) -> AdHoc {
    let prefix = prefix.into();
    AdHoc::try_on_ignite("referral", move |rocket| async move {
        if rocket.state::<Engine>().is_none() {
            tracing::error!(
                "the referral stage needs the Engine as managed state: call `.manage(engine)` \
                 or attach `referral_rocket::stage_with(engine)`"
            );
            return Err(rocket);
        }
        let share_path = rocket
            .state::<Engine>()
            .map(|engine| engine.config().share_path().to_owned())
            .unwrap_or_default();
        let api = match Api::new()
            .prefix(&prefix)
            .and_then(|api| api.share_path(&share_path))
        {
            Ok(api) => api,
            Err(error) => {
                tracing::error!(%error, "the referral stage's prefix is invalid");
                return Err(rocket);
            }
        };
        let base = match api.mount().prefix() {
            "" => "/".to_owned(),
            prefix => prefix.to_owned(),
        };
        Ok(rocket
            .mount(base.as_str(), api.routes())
            .mount("/", api.root_routes())
            .register(base.as_str(), api.catchers()))
    })
}

/// Rocket's `Shield` for an app serving the API: its defaults but `NoSniff` and `Frame`, whose
/// headers the engine sends on every answer already (Rocket's default `Shield` leaves them and
/// logs four warnings per request that it did), and `Permission`, which the axum adapter does
/// not send either, so answers match it header for header. Attach it in place of Rocket's
/// default; your own routes then need those two headers from you.
///
/// ```
/// let rocket = rocket::build()
///     .attach(referral_rocket::shield())
///     .attach(referral_rocket::stage());
/// # let _ = rocket;
/// ```
pub fn shield() -> Shield {
    Shield::default()
        .disable::<Permission>()
        .disable::<NoSniff>()
        .disable::<Frame>()
}

/// [`stage`], managing `engine` as state too: the one line an app needs.
///
/// Rocket manages one value per type: if an [`Engine`] is already managed, ignition fails
/// with an error in the log; attach [`stage`] then.
pub fn stage_with(engine: Engine) -> AdHoc {
    stage_with_at(engine, API_PREFIX)
}

/// [`stage_at`], managing `engine` as state too.
pub fn stage_with_at(engine: Engine, prefix: impl Into<String>) -> AdHoc {
    let prefix = prefix.into();
    AdHoc::try_on_ignite("referral: engine", move |rocket| async move {
        if rocket.state::<Engine>().is_some() {
            tracing::error!(
                "an Engine is already managed state: attach `referral_rocket::stage()`, \
                 not `stage_with(engine)`"
            );
            return Err(rocket);
        }
        Ok(rocket.manage(engine).attach(stage_at(prefix)))
    })
}

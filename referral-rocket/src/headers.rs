//! Keeps Rocket's own default headers off the adapter's answers, so a client cannot tell
//! Rocket from axum by them.
//!
//! Rocket adds `Server: Rocket` (its `ident` setting) and, through the `Shield` fairing it
//! attaches by default, `X-Content-Type-Options: nosniff`, `X-Frame-Options: SAMEORIGIN`
//! and `Permissions-Policy: interest-cohort=()`. axum adds none of these, and the contract
//! says both frameworks send the same answer. A response fairing removes them from the
//! answers this adapter produced (its routes and its catchers) and from nothing else: your
//! own routes keep whatever Rocket and your fairings give them.

use rocket::fairing::AdHoc;
use rocket::request::Request;

/// Header names Rocket sets on every response unless told otherwise.
const ROCKET_DEFAULT_HEADERS: [&str; 4] = [
    "Server",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Permissions-Policy",
];

/// Whether the adapter answered the request; kept in the request-local cache.
struct Ours(bool);

/// Records that the adapter produces the answer to `request`.
pub(crate) fn mark_as_ours(request: &Request<'_>) {
    request.local_cache(|| Ours(true));
}

/// The response fairing removing Rocket's defaults from the adapter's answers. It must run
/// after `Shield`, so the stage attaches it while igniting, after every fairing attached
/// before launch.
pub(crate) fn strip_rocket_defaults() -> AdHoc {
    AdHoc::on_response(
        "referral: framework-neutral headers",
        |request, response| {
            Box::pin(async move {
                if request.local_cache(|| Ours(false)).0 {
                    for name in ROCKET_DEFAULT_HEADERS {
                        response.remove_header(name);
                    }
                }
            })
        },
    )
}

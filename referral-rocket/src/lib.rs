//! # referral-rocket
//!
//! The Rocket 0.5 adapter of the `referral` engine. It turns the engine's endpoint table into
//! native Rocket routes and translates requests and answers; every decision (validation,
//! authentication, status, headers, bodies, `404`/`405` problems) is the engine's.
//!
//! - [`stage`] / [`stage_with`] / [`stage_at`] / [`stage_with_at`]: a fairing mounting every
//!   endpoint and the API's catchers under `/api` (or another prefix), and nothing else.
//! - [`routes`] / [`Api`]: the routes themselves (named `referral::<endpoint>`), for a subset
//!   or your own mounting; a route of yours at an endpoint's path is tried first, so it
//!   replaces that endpoint.
//! - [`AuthUser`]: a request guard for your own routes that requires a valid access token
//!   and yields the signed-in user; without one, the contract's `401` problem is sent by
//!   [`catchers`].
//! - [`RequirePermission`]: the same, and the user must hold a permission (a role mapped to
//!   it in the engine's config); otherwise `403 forbidden`, sent by [`catchers`].
//! - [`catchers`]: problem-document catchers to register wherever you want Rocket's own
//!   errors (unknown paths, failed guards) to answer like the API.
//! - [`EngineResponse`]: an engine answer as a Rocket responder.
//!
//! ## Attaching the fairing
//!
//! ```
//! use referral_core::{Config, Engine};
//! use referral_rocket::AuthUser;
//! use rocket::http::{ContentType, Status};
//! use rocket::local::blocking::Client;
//!
//! // Your own route, open only to signed-in users.
//! #[rocket::get("/dashboard")]
//! fn dashboard(user: AuthUser) -> String {
//!     format!("hello, {}", user.0.email)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
//! let rocket = rocket::build()
//!     .attach(referral_rocket::stage_with(engine))
//!     .mount("/", rocket::routes![dashboard])
//!     .register("/", referral_rocket::catchers());
//!
//! let client = Client::tracked(rocket)?;
//! let health = client.get("/api/health").dispatch();
//! assert_eq!(health.status(), Status::Ok);
//! assert_eq!(health.content_type(), Some(ContentType::JSON));
//! # Ok(())
//! # }
//! ```
//!
//! ## On the wire
//!
//! Answers are the engine's, byte for byte: status, headers (one `Content-Type`, the
//! engine's) and body; Rocket and hyper add framing (`Content-Length`, `Date`), as axum
//! does, and Rocket's own fairings add what they add to any route (its `Server` ident unless
//! configured away; `Shield`'s headers). The engine sends `X-Content-Type-Options` and
//! `X-Frame-Options` on every answer: Rocket's default `Shield` leaves them in place and logs
//! four warnings per request that it did (at `warn`, so they reach most logs, and cost about
//! a fifth of a cached read's throughput in the load bench). For answers identical to the axum
//! adapter's and a quiet log, set `ident: Ident::none()` and attach [`shield()`], as the
//! example server does (your own routes then need those two headers from you).
//!
//! Request bodies are read straight from Rocket's `Data` up to
//! [`MAX_BODY_BYTES`](referral_core::MAX_BODY_BYTES) (64 KiB), whatever Rocket's configured
//! data limits, within [`Config::request_timeout`](referral_core::Config::request_timeout)
//! (`408 request_timeout` past it). One limit is beyond the adapter: Rocket 0.5 itself reads
//! the first 14 bytes of every request body before any route runs (to look for a form's
//! `_method` field), with no time limit, so a client that stalls within those bytes holds
//! its connection until it hangs up. In production, put a proxy with a body timeout in
//! front (nginx's `client_body_timeout`, say), as Rocket's own deployment guide advises.
//!
//! Rocket 0.5 cannot represent a method it does not know (`PROPFIND`, `PURGE`, any
//! extension method): it routes nothing and calls the `400` catcher. axum routes such a
//! request by path, so the API's catchers do the same: the engine answers it (`405` with
//! `Allow` on a path of the contract, `404` elsewhere), and the root [`catchers`] answer
//! `404`, as for any method no route serves. `tests/differential.rs` at the workspace root
//! checks that both adapters answer alike.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod auth_user;
mod catchers;
mod request;
mod require_permission;
mod response;
mod stage;

pub use api::{routes, Api, ENDPOINT_RANK, ROUTE_RANK};
pub use auth_user::AuthUser;
pub use catchers::catchers;
pub use require_permission::RequirePermission;
pub use response::EngineResponse;
pub use stage::{shield, stage, stage_at, stage_with, stage_with_at};

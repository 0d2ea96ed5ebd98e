//! # referral-rocket
//!
//! The Rocket 0.5 adapter of the `referral` engine. It translates and decides nothing:
//! every request under `/api` goes to [`Engine::handle`](referral_core::Engine::handle),
//! which answers the whole HTTP contract (routing, `404`/`405` problems, body parsing, auth,
//! status codes, headers and bodies), and the answer is written back unchanged.
//!
//! - [`stage`] / [`stage_with`] / [`stage_at`]: the fairing mounting the API, its catchers
//!   and a header filter.
//! - [`AuthUser`]: a request guard for your own routes that requires a valid access token
//!   and yields the signed-in user; without one, the contract's `401` problem is sent.
//! - [`catchers`]: problem-document catchers to register wherever you want Rocket's own
//!   errors (unknown paths, failed data guards) to answer like the API.
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
//!     .mount("/", rocket::routes![dashboard]);
//!
//! let client = Client::tracked(rocket)?;
//! let health = client.get("/api/health").dispatch();
//! assert_eq!(health.status(), Status::Ok);
//! assert_eq!(health.content_type(), Some(ContentType::JSON));
//! # Ok(())
//! # }
//! ```
//!
//! If the [`Engine`](referral_core::Engine) is already managed state (your own routes take
//! `&State<Engine>`), attach [`stage()`] instead. [`stage_at`]`("/v1")` serves the API at
//! `/v1/api/...`.
//!
//! ## On the wire
//!
//! Answers are the engine's, byte for byte: status, headers (one `Content-Type`, the
//! engine's) and body; Rocket and hyper add only framing (`Content-Length`, `Date`), as
//! axum does. Rocket's own defaults that axum does not send (`Server: Rocket`, and
//! `Shield`'s `X-Content-Type-Options`, `X-Frame-Options`, `Permissions-Policy`) are
//! removed from the adapter's answers, and only from those, so a client cannot tell which
//! framework answered while your own routes keep Rocket's defaults.
//!
//! Request bodies are read straight from Rocket's `Data` up to
//! [`MAX_BODY_BYTES`](referral_core::MAX_BODY_BYTES) (64 KiB), whatever Rocket's configured
//! data limits; a longer body is answered `413 payload_too_large` by the engine. As in the
//! axum adapter, the rest of an oversize body is read and dropped up to 8 MiB, so the client
//! finishes sending and reads its `413` instead of a connection reset; a body declared
//! longer than that is not read at all.
//!
//! Rocket 0.5 cannot represent a method it does not know (`PROPFIND`, `PURGE`, any
//! extension method): it routes nothing and calls the `400` catcher. axum routes such a
//! request by path, so the catchers do the same: under `{base}/api` the engine answers it
//! (`405` with `Allow` on a path of the contract, `404` elsewhere), and the root
//! [`catchers`] answer `404`, as for any method no route serves. A `CONNECT` request (its
//! target is `host:port`, not a path) reaches no route on either framework: with the root
//! [`catchers`] registered it answers the same `404` problem as axum's fallback.
//! `tests/differential.rs` at the workspace root checks that both adapters answer alike.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth_user;
mod catchers;
mod handler;
mod headers;
mod response;
mod stage;

pub use auth_user::AuthUser;
pub use catchers::catchers;
pub use handler::ROUTE_RANK;
pub use response::EngineResponse;
pub use stage::{stage, stage_at, stage_with};

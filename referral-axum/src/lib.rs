//! # referral-axum
//!
//! The axum 0.8 adapter of the `referral` engine. It translates and decides nothing: every
//! request under `/api` goes to [`Engine::handle`](referral_core::Engine::handle), which
//! answers the whole HTTP contract (routing, `404`/`405` problems, body parsing, auth, status
//! codes, headers and bodies), and the answer is written back unchanged.
//!
//! - [`router`]: a `Router<S>` serving every route of the contract under `/api`, for any app
//!   state `S` the [`Engine`](referral_core::Engine) can be taken from ([`FromRef`](axum::extract::FromRef)).
//! - [`AuthUser`]: an extractor for your own handlers that requires a valid access token and
//!   yields the signed-in user, or rejects with the contract's `401` problem.
//! - [`EngineResponse`]: an engine answer as an axum response; [`not_found`]: a fallback
//!   answering the contract's `404` problem for paths outside `/api`.
//!
//! ## Mounting
//!
//! Merge the router at the root of your app, so its paths are `/api/...`:
//!
//! ```
//! use axum::{extract::FromRef, routing::get, Router};
//! use referral_axum::AuthUser;
//! use referral_core::{Config, Engine};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     engine: Engine,
//!     greeting: &'static str,
//! }
//!
//! impl FromRef<AppState> for Engine {
//!     fn from_ref(state: &AppState) -> Engine {
//!         state.engine.clone()
//!     }
//! }
//!
//! // Your own route, open only to signed-in users.
//! async fn dashboard(AuthUser(user): AuthUser) -> String {
//!     format!("hello, {}", user.email)
//! }
//!
//! # fn main() -> Result<(), referral_core::Error> {
//! let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
//! let app: Router = Router::new()
//!     .route("/dashboard", get(dashboard))
//!     .merge(referral_axum::router())
//!     .fallback(referral_axum::not_found)
//!     .with_state(AppState { engine, greeting: "hi" });
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! When the [`Engine`](referral_core::Engine) is your whole state,
//! `referral_axum::router().with_state(engine)` is a complete app.
//!
//! The router reads the request's path as axum hands it over, and axum strips a `nest`
//! prefix: nesting under `/v1` serves `/v1/api/...`, but nesting under `/api` would hide
//! the `/api` the engine routes on, so don't. The contract's `Location: /api/me` assumes the
//! router is merged at the root.
//!
//! Request bodies are read up to [`MAX_BODY_BYTES`](referral_core::MAX_BODY_BYTES)
//! (64 KiB); a longer body is answered `413 payload_too_large` by the engine.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth_user;
mod request;
mod response;
mod router;

pub use auth_user::{AuthRejection, AuthUser};
pub use request::api_request;
pub use response::EngineResponse;
pub use router::{not_found, router};

//! # referral-axum
//!
//! The axum 0.8 adapter of the `referral` engine. It turns the engine's endpoint table into
//! native axum routes and translates requests and answers; every decision (validation,
//! authentication, status, headers, bodies, `404`/`405` problems) is the engine's.
//!
//! - [`router`]: the whole contract under `/api`, for any app state `S` the
//!   [`Engine`](referral_core::Engine) can be taken from ([`FromRef`](axum::extract::FromRef)).
//! - [`Api`]: the same router, built your way — another prefix, a subset of the endpoints, a
//!   layer on one endpoint, a handler of your own for one endpoint.
//! - [`AuthUser`]: an extractor for your own handlers that requires a valid access token and
//!   yields the signed-in user, or rejects with the contract's `401` problem.
//! - [`RequirePermission`]: the same, and the user must hold a permission (a role mapped to
//!   it in the engine's config), or the request is refused with `403 forbidden`.
//! - [`EngineRequest`], [`EngineResponse`], [`ApiError`]: the engine's request and answer
//!   types as an axum extractor and responses, for handlers of your own.
//! - [`not_found`]: a fallback answering the contract's `404` problem outside the API.
//!
//! ## Mounting
//!
//! ```
//! use std::net::SocketAddr;
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
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
//! let app: Router = Router::new()
//!     .route("/dashboard", get(dashboard))
//!     .merge(referral_axum::router())
//!     .fallback(referral_axum::not_found)
//!     .with_state(AppState { engine, greeting: "hi" });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Peer addresses feed the per-address limits: serve with connect info.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! When the [`Engine`](referral_core::Engine) is your whole state,
//! `referral_axum::router().with_state(engine)` is a complete app.
//!
//! Request bodies are read up to [`MAX_BODY_BYTES`](referral_core::MAX_BODY_BYTES)
//! (64 KiB) within [`Config::request_timeout`](referral_core::Config::request_timeout);
//! a longer body is answered `413 payload_too_large`, a slower one `408 request_timeout`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod auth_user;
mod request;
mod require_permission;
mod response;

pub use api::{endpoint_route, not_found, router, Api};
pub use auth_user::{AuthRejection, AuthUser};
pub use request::{api_request, EngineRequest};
pub use require_permission::RequirePermission;
pub use response::{ApiError, EngineResponse};

//! # referral
//!
//! Accounts, JWT authentication, password reset by email, and a referral system with
//! rewards, embedded in your own axum or Rocket app, on SQLite or PostgreSQL.
//!
//! This facade re-exports the engine ([`referral_core`], always) and the adapters behind
//! features: `axum` ([`axum`]), `rocket` ([`rocket`]); storage backends `sqlite` and
//! `postgres`; the `smtp` mailer; and `testing` for the contract suites.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use referral_core as core;
pub use referral_core::*;

/// The axum adapter (feature `axum`).
#[cfg(feature = "axum")]
pub use referral_axum as axum;

/// The Rocket adapter (feature `rocket`).
#[cfg(feature = "rocket")]
pub use referral_rocket as rocket;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

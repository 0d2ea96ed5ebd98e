//! The operator's CLI: grant and revoke roles, list the admins, on the service's database.
//!
//! ```text
//! cargo run --example admin -- grant-role EMAIL ROLE
//! cargo run --example admin -- revoke-role EMAIL ROLE
//! cargo run --example admin -- list-admins
//! ```
//!
//! Reads a `.env` file if present, then `DATABASE_URL` (`sqlite://referral.db` by default;
//! `postgres://…` for PostgreSQL), migrating the database if needed. Every change is recorded
//! in the audit log with no actor (the operator), ends the user's sessions, and keeps the
//! last-admin rule: the last enabled admin cannot lose `admin`.

use std::error::Error;
use std::fmt::Write as _;

use referral::{Config, Engine, DEFAULT_DATABASE_URL};

/// How to call it.
pub const USAGE: &str = "usage: admin grant-role EMAIL ROLE | revoke-role EMAIL ROLE | list-admins";

/// Runs one command (`args` without the program name) on the database at `database_url`,
/// and answers what to print.
pub async fn run(args: &[String], database_url: &str) -> Result<String, Box<dyn Error>> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let command = match args.as_slice() {
        ["grant-role", _, _] | ["revoke-role", _, _] | ["list-admins"] => args[0],
        _ => return Err(USAGE.into()),
    };
    let storage = referral::storage::open(database_url).await?;
    // No token is ever issued here: a random key will do.
    let engine = Engine::builder(Config::builder().random_secret().build()?)
        .storage(storage)
        .build()?;
    let roles = |user: &referral::UserRecord| {
        user.roles
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (command, args.as_slice()) {
        ("grant-role", [_, email, role]) => {
            let user = engine.grant_role(email, role).await?;
            Ok(format!("{}: {}\n", user.email, roles(&user)))
        }
        ("revoke-role", [_, email, role]) => {
            let user = engine.revoke_role(email, role).await?;
            Ok(format!("{}: {}\n", user.email, roles(&user)))
        }
        _ => {
            let mut out = String::new();
            for user in engine.users_with_role("admin").await? {
                let state = if user.disabled_at.is_some() {
                    " (disabled)"
                } else {
                    ""
                };
                writeln!(out, "{} {}{state}", user.id, user.email)?;
            }
            Ok(out)
        }
    }
}

#[allow(dead_code)] // the tests include this file for `run`
#[tokio::main]
async fn main() {
    dotenvy::dotenv().ok();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let database_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    match run(&args, &database_url).await {
        Ok(out) => print!("{out}"),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}

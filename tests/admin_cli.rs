//! `cargo run --example admin` (examples/admin.rs) on a SQLite file and on a PostgreSQL
//! scratch database: granting and revoking roles, listing admins, the last-admin rule, and
//! each change in the audit log as the operator's.

#[allow(dead_code)]
#[path = "../examples/admin.rs"]
mod admin;

use referral::testing::{ScratchPostgres, ScratchSqlite};
use referral::{Config, Engine, LogMailer, NewAccount};
use std::sync::Arc;

const PASSWORD: &str = "correct horse battery staple";

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

/// Registers `emails` through an engine on `url`, as the service would.
async fn register(url: &str, emails: &[&str]) -> Engine {
    let storage = referral::storage::open(url)
        .await
        .expect("opening the database");
    let config = Config::builder()
        .random_secret()
        .argon2(referral::Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap();
    let engine = Engine::builder(config)
        .storage(storage)
        .mailer(Arc::new(LogMailer))
        .build()
        .unwrap();
    for email in emails {
        engine
            .register(NewAccount::new(*email, PASSWORD))
            .await
            .expect("registering");
    }
    engine
}

async fn the_cli_grants_revokes_and_lists_roles(url: &str) {
    let engine = register(url, &["ada@example.com", "bob@example.com"]).await;
    let out = admin::run(&args(&["grant-role", "Ada@Example.com", "admin"]), url)
        .await
        .expect("granting admin");
    assert_eq!(out, "ada@example.com: user, admin\n");
    admin::run(&args(&["grant-role", "bob@example.com", "moderator"]), url)
        .await
        .expect("the operator may grant an app's role");
    let listed = admin::run(&args(&["list-admins"]), url).await.unwrap();
    assert!(listed.contains("ada@example.com"), "{listed}");
    assert!(!listed.contains("bob@example.com"), "{listed}");

    let refused = admin::run(&args(&["revoke-role", "ada@example.com", "admin"]), url)
        .await
        .expect_err("the last admin keeps admin");
    assert!(refused.to_string().contains("last admin"), "{refused}");
    admin::run(&args(&["grant-role", "bob@example.com", "admin"]), url)
        .await
        .unwrap();
    let out = admin::run(&args(&["revoke-role", "ada@example.com", "admin"]), url)
        .await
        .expect("revoking while another admin remains");
    assert_eq!(out, "ada@example.com: user\n");
    let listed = admin::run(&args(&["list-admins"]), url).await.unwrap();
    assert_eq!(listed.lines().count(), 1);
    assert!(listed.contains("bob@example.com"), "{listed}");

    for wrong in [
        args(&["grant-role", "nobody@example.com", "admin"]),
        args(&["grant-role", "ada@example.com", "Not A Role"]),
        args(&["grant-role", "ada@example.com"]),
        args(&["promote"]),
    ] {
        assert!(admin::run(&wrong, url).await.is_err(), "{wrong:?}");
    }
    let log = engine.audit_log(100, None).await.unwrap();
    assert_eq!(log.entries.len(), 4, "{log:?}");
    assert!(log.entries.iter().all(|entry| entry.actor_id.is_none()));
    assert!(log
        .entries
        .iter()
        .all(|entry| entry.action == "user.roles_changed"));
}

#[tokio::test]
async fn the_cli_works_on_a_sqlite_file() {
    let file = ScratchSqlite::new().expect("a scratch file");
    the_cli_grants_revokes_and_lists_roles(file.url()).await;
}

#[tokio::test]
async fn the_cli_works_on_postgres() {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    the_cli_grants_revokes_and_lists_roles(scratch.url()).await;
}

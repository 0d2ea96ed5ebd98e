//! The library in a database it shares with a host application, on SQLite and PostgreSQL.
//!
//! The host has sqlx migrations of its own (`tests/fixtures/host_migrations`: its own
//! `users`, an `outbox` and an index `outbox_due`, and a migration numbered like the
//! library's first). Its migrations and ours run in either order, then again at every
//! restart in either order, through `storage::open` or on the host's own pool; afterwards
//! both sides write and read their own `users`.
//!
//! A database the previous version created (`tests/fixtures/legacy`, applied with sqlx's
//! migrator exactly as that version did) is adopted with its data, after which the host's
//! migrations run on it too.

use std::sync::Arc;

use referral_core::storage::{open, PostgresStorage, SqliteStorage};
use referral_core::testing::{fixtures, ScratchPostgres, ScratchSqlite};
use referral_core::{Email, OpaqueToken, RateKey, ReferralCode, Storage, TokenHash, UserRecord};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

static HOST: Migrator = sqlx::migrate!("tests/fixtures/host_migrations");
static PREVIOUS_SQLITE: Migrator = sqlx::migrate!("tests/fixtures/legacy/sqlite");
static PREVIOUS_POSTGRES: Migrator = sqlx::migrate!("tests/fixtures/legacy/postgres");

/// Whose migrations run first at a start.
#[derive(Debug, Clone, Copy)]
enum First {
    Host,
    Library,
}

// ---------------------------------------------------------------------------------------------
// Both sides of one database.

/// The host's own `users`: it adds one and counts them.
async fn host_adds_a_user<DB>(pool: &Pool<DB>, id: i64) -> i64
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    let name = format!("host-user-{id}");
    sqlx::query("INSERT INTO users (id, username, display_name) VALUES ($1, $2, $2)")
        .bind(id)
        .bind(name.as_str())
        .execute(pool)
        .await
        .expect("the host writes its own users table");
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await
        .expect("the host reads its own users table");
    count
}

/// The library's users: it registers one and finds it.
async fn library_adds_a_user(storage: &dyn Storage, tag: &str) -> UserRecord {
    let email = Email::parse(&format!("{tag}@example.com")).unwrap();
    let new = fixtures::registration(fixtures::user_record(
        email.clone(),
        fixtures::unusable_hash(),
        OffsetDateTime::now_utc(),
    ));
    storage
        .create_user(new.clone())
        .await
        .expect("the library writes its users");
    let found = storage.user_by_email(&email).await.unwrap();
    assert_eq!(found.as_ref().map(|u| u.id), Some(new.user.id));
    new.user
}

/// One start of the host application: both migrators in the order given, then both sides
/// at work. `library` migrates the library (through `open`, or on the host's pool).
async fn start<DB, F, Fut>(pool: &Pool<DB>, first: First, round: i64, library: F)
where
    DB: Database,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Storage>>,
{
    let storage = match first {
        First::Host => {
            HOST.run(pool).await.expect("the host's migrations run");
            library().await
        }
        First::Library => {
            let storage = library().await;
            HOST.run(pool).await.expect("the host's migrations run");
            storage
        }
    };
    assert_eq!(host_adds_a_user(pool, round).await, round);
    library_adds_a_user(&*storage, &format!("{first:?}-{round}").to_lowercase()).await;
    let (hosts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .expect("the host's bookkeeping is there");
    assert_eq!(
        hosts, 2,
        "_sqlx_migrations holds the host's migrations only"
    );
}

/// The host's migrations and the library's in the order `first`, then a restart in each
/// order; the host's users so far number `round` before the first. `start` is one start
/// (see [`start`]).
async fn three_starts<S, Fut>(start: S, round: i64, first: First)
where
    S: Fn(First, i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    start(first, round + 1).await;
    start(First::Host, round + 2).await;
    start(First::Library, round + 3).await;
}

/// [`three_starts`] with the library first, then again with the host first.
async fn starts_in_both_orders<S, Fut>(start: S)
where
    S: Fn(First, i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    three_starts(&start, 0, First::Library).await;
    three_starts(&start, 3, First::Host).await;
}

// ---------------------------------------------------------------------------------------------
// SQLite.

fn sqlite_file() -> ScratchSqlite {
    ScratchSqlite::new().expect("a scratch directory")
}

/// The host's pool, built with the settings the library's `connect` uses.
async fn host_sqlite_pool(file: &ScratchSqlite) -> SqlitePool {
    file.pool().await.expect("the host's pool")
}

async fn opened(url: &str) -> Arc<dyn Storage> {
    open(url).await.expect("the library opens and migrates")
}

/// The host and the library each on a pool of their own (the library through `open`).
async fn sqlite_separate_pools(first: First) {
    let file = sqlite_file();
    let pool = host_sqlite_pool(&file).await;
    three_starts(
        |first, round| start(&pool, first, round, || opened(file.url())),
        0,
        first,
    )
    .await;
}

#[tokio::test]
async fn sqlite_host_migrations_first_then_ours_and_restarts_in_either_order() {
    sqlite_separate_pools(First::Host).await;
}

#[tokio::test]
async fn sqlite_our_migrations_first_then_the_hosts_and_restarts_in_either_order() {
    sqlite_separate_pools(First::Library).await;
}

#[tokio::test]
async fn sqlite_on_the_hosts_pool_with_a_prefix_of_its_choosing() {
    let file = sqlite_file();
    let pool = host_sqlite_pool(&file).await;
    let on_host_pool = || async {
        let storage = SqliteStorage::from_pool(pool.clone())
            .with_table_prefix("auth_")
            .expect("a valid prefix");
        assert_eq!(storage.table_prefix(), "auth_");
        storage
            .migrate()
            .await
            .expect("migrating on the host's pool");
        Arc::new(storage) as Arc<dyn Storage>
    };
    starts_in_both_orders(|first, round| start(&pool, first, round, on_host_pool)).await;
    let ours: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE name LIKE 'auth\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let ours: Vec<String> = ours.into_iter().map(|(name,)| name).collect();
    for table in ["auth_users", "auth_outbox", "auth_schema_migrations"] {
        assert!(ours.iter().any(|name| name == table), "{table} in {ours:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

async fn host_postgres_pool(scratch: &ScratchPostgres) -> PgPool {
    PgPool::connect(scratch.url())
        .await
        .expect("the host's pool")
}

/// The host and the library each on a pool of their own (the library through `open`).
async fn postgres_separate_pools(first: First) {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    let pool = host_postgres_pool(&scratch).await;
    three_starts(
        |first, round| start(&pool, first, round, || opened(scratch.url())),
        0,
        first,
    )
    .await;
}

#[tokio::test]
async fn postgres_host_migrations_first_then_ours_and_restarts_in_either_order() {
    postgres_separate_pools(First::Host).await;
}

#[tokio::test]
async fn postgres_our_migrations_first_then_the_hosts_and_restarts_in_either_order() {
    postgres_separate_pools(First::Library).await;
}

#[tokio::test]
async fn postgres_on_the_hosts_pool_in_a_schema_of_its_choosing() {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    let pool = host_postgres_pool(&scratch).await;
    let on_host_pool = || async {
        let storage = PostgresStorage::from_pool(pool.clone())
            .with_schema("auth")
            .expect("a valid schema");
        assert_eq!(storage.schema(), "auth");
        storage
            .migrate()
            .await
            .expect("migrating on the host's pool");
        Arc::new(storage) as Arc<dyn Storage>
    };
    starts_in_both_orders(|first, round| start(&pool, first, round, on_host_pool)).await;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT schemaname::text, tablename::text FROM pg_tables \
         WHERE schemaname IN ('auth', 'public') ORDER BY schemaname, tablename",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let in_schema = |schema: &str| -> Vec<&str> {
        tables
            .iter()
            .filter(|(s, _)| s == schema)
            .map(|(_, t)| t.as_str())
            .collect()
    };
    assert_eq!(
        in_schema("public"),
        ["_sqlx_migrations", "orders", "outbox", "users"],
        "the host's 3 tables and _sqlx_migrations stay in public, alone"
    );
    let ours = in_schema("auth");
    for table in [
        "schema_migrations",
        "users",
        "referrals",
        "refresh_tokens",
        "outbox",
    ] {
        assert!(ours.contains(&table), "{table} is in auth: {ours:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// A database of the previous version.

/// What the previous version had stored, written as it wrote it (the old schema, through
/// sqlx's migrator), and what must read back.
struct PreviousData {
    referrer: UserRecord,
    referee: UserRecord,
    referee_session: TokenHash,
    referrer_reset: TokenHash,
}

impl PreviousData {
    fn new() -> Self {
        let joined = OffsetDateTime::now_utc() - Duration::hours(1);
        let joined = joined.replace_nanosecond(0).unwrap();
        let referrer = fixtures::user_record(
            Email::parse("ada@example.com").unwrap(),
            fixtures::unusable_hash(),
            joined - Duration::days(1),
        );
        let referee = UserRecord {
            referred_by: Some(referrer.id),
            ..fixtures::user_record(
                Email::parse("bob@example.com").unwrap(),
                fixtures::unusable_hash(),
                joined,
            )
        };
        PreviousData {
            referrer,
            referee,
            referee_session: OpaqueToken::generate().hash(),
            referrer_reset: OpaqueToken::generate().hash(),
        }
    }

    /// The rows, as a script; `uuid` and `bytes` write literals the backend reads.
    fn script(&self, uuid: fn(Uuid) -> String, bytes: fn(&[u8]) -> String) -> String {
        let micros = |at: OffsetDateTime| (at.unix_timestamp_nanos() / 1_000) as i64;
        let (a, b) = (&self.referrer, &self.referee);
        let joined = micros(b.created_at);
        let day = joined.div_euclid(86_400_000_000);
        let user = |u: &UserRecord, referred_by: String, count: i64, points: i64| {
            format!(
                "INSERT INTO users (id, email, password_hash, referral_code, referred_by, \
                 token_version, created_at, referral_count, second_tier_count, reward_points) \
                 VALUES ({}, '{}', '{}', '{}', {referred_by}, 0, {}, {count}, 0, {points});\n",
                uuid(u.id),
                u.email.as_str(),
                u.password_hash.as_str(),
                u.referral_code.as_str(),
                micros(u.created_at)
            )
        };
        let mut script = user(a, "NULL".to_owned(), 1, 100);
        script += &user(b, uuid(a.id), 0, 0);
        script += &format!(
            "INSERT INTO referrals (referee_id, referrer_id, joined_at, reward_points) \
             VALUES ({}, {}, {joined}, 100);\n\
             INSERT INTO referral_days (referrer_id, day, joined) VALUES ({}, {day}, 1);\n\
             INSERT INTO reward_ledger (id, referral_id, beneficiary_id, kind, points) \
             VALUES ({}, {}, {}, 'referrer', 100);\n",
            uuid(b.id),
            uuid(a.id),
            uuid(a.id),
            uuid(Uuid::now_v7()),
            uuid(b.id),
            uuid(a.id),
        );
        script += &format!(
            "INSERT INTO refresh_tokens (hash, user_id, family_id, issued_at, expires_at) \
             VALUES ({}, {}, {}, {joined}, {});\n\
             INSERT INTO reset_tokens (hash, user_id, created_at, expires_at) \
             VALUES ({}, {}, {joined}, {});\n\
             INSERT INTO rate_limits (rate_key, hits, started_at) \
             VALUES ('login:ada@example.com', 3, {joined});\n",
            bytes(self.referee_session.as_bytes()),
            uuid(b.id),
            uuid(Uuid::now_v7()),
            micros(b.created_at + Duration::days(30)),
            bytes(self.referrer_reset.as_bytes()),
            uuid(a.id),
            micros(OffsetDateTime::now_utc() + Duration::minutes(30)),
        );
        for sent in ["NULL", "1"] {
            script += &format!(
                "INSERT INTO outbox (id, recipient, subject, body_text, body_html, attempts, \
                 created_at, next_attempt_at, sent_at) VALUES ({}, 'ada@example.com', \
                 'Reset your password', 'https://app.example/reset?token=SECRET', \
                 '<a href=\"https://app.example/reset?token=SECRET\">reset</a>', 0, {joined}, \
                 {joined}, {sent});\n",
                uuid(Uuid::now_v7()),
            );
        }
        script
    }

    /// After restarts the data is still there (the session was rotated by then).
    async fn reads_back_after_restart(&self, storage: &dyn Storage) {
        for user in [&self.referrer, &self.referee] {
            assert_eq!(
                storage.user_by_id(user.id).await.unwrap().as_ref(),
                Some(user)
            );
        }
    }

    /// Everything reads back through the new storage, and the tokens still work.
    async fn reads_back(&self, storage: &dyn Storage) {
        let now = OffsetDateTime::now_utc();
        for user in [&self.referrer, &self.referee] {
            assert_eq!(
                storage.user_by_email(&user.email).await.unwrap().as_ref(),
                Some(user)
            );
        }
        let code = ReferralCode::parse(self.referrer.referral_code.as_str()).unwrap();
        assert_eq!(
            storage.user_by_referral_code(&code).await.unwrap(),
            Some(self.referrer.clone())
        );
        let stats = storage
            .referral_stats(self.referrer.id, now - Duration::days(7))
            .await
            .unwrap();
        assert_eq!((stats.total, stats.since, stats.reward_points), (1, 1, 100));
        let listed = storage
            .list_referrals(self.referrer.id, None, 10)
            .await
            .unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|r| (r.user_id, r.reward_points))
                .collect::<Vec<_>>(),
            vec![(self.referee.id, 100)]
        );
        assert_eq!(
            storage
                .reset_token_user(&self.referrer_reset, now)
                .await
                .unwrap(),
            Some(self.referrer.clone())
        );
        assert_eq!(
            storage.pending_outbox().await.unwrap(),
            0,
            "rendered mails with live tokens are not kept"
        );
        let hit = storage
            .hit_rate_limit(&RateKey::from_bytes([1; 32]), now, Duration::minutes(15))
            .await
            .unwrap();
        assert_eq!(hit.count, 1);
        let rotated = storage
            .rotate_refresh_token(
                &self.referee_session,
                fixtures::refresh_token(Uuid::nil(), now),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            rotated,
            referral_core::storage::Rotation::Rotated(self.referee.clone()),
            "a session of the previous version still refreshes"
        );
    }
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_version_is_adopted_with_its_data() {
    let file = sqlite_file();
    let pool = host_sqlite_pool(&file).await;
    PREVIOUS_SQLITE
        .run(&pool)
        .await
        .expect("the previous version's migrations");
    let data = PreviousData::new();
    let script = data.script(
        |id| format!("X'{}'", id.simple()),
        |bytes| format!("X'{}'", hex(bytes)),
    );
    sqlx::raw_sql(&script)
        .execute(&pool)
        .await
        .expect("the previous version's rows");

    let storage = opened(file.url()).await;
    data.reads_back(&*storage).await;

    let names = |pool: SqlitePool, kind: &'static str| async move {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = $1 AND sql IS NOT NULL ORDER BY name",
        )
        .bind(kind)
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.into_iter().map(|(name,)| name).collect::<Vec<_>>()
    };
    let tables = names(pool.clone(), "table").await;
    assert!(
        tables.iter().all(|t| t.starts_with("referral_")),
        "every table moved under the prefix and _sqlx_migrations went: {tables:?}"
    );
    let fresh_file = sqlite_file();
    opened(fresh_file.url()).await;
    let fresh = host_sqlite_pool(&fresh_file).await;
    assert_eq!(tables, names(fresh.clone(), "table").await);
    assert_eq!(
        names(pool.clone(), "index").await,
        names(fresh, "index").await,
        "indexes as a fresh install names them"
    );
    let (referencing_old,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%REFERENCES users%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(referencing_old, 0, "foreign keys follow the renamed tables");
    let violations: Vec<(String,)> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(violations.is_empty(), "{violations:?}");

    // The host's migrations, numbered like ours were, now run; and every restart is quiet.
    three_starts(
        |first, round| start(&pool, first, round, || opened(file.url())),
        0,
        First::Host,
    )
    .await;
    data.reads_back_after_restart(&*opened(file.url()).await)
        .await;
}

#[tokio::test]
async fn adopting_leaves_other_rows_of_sqlx_migrations_alone() {
    let file = sqlite_file();
    let pool = host_sqlite_pool(&file).await;
    PREVIOUS_SQLITE.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (1, 'someone else''s', TRUE, X'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    opened(file.url()).await;
    let left: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec![(1,)]);
}

#[tokio::test]
async fn a_postgres_database_of_the_previous_version_is_adopted_with_its_data() {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    let pool = host_postgres_pool(&scratch).await;
    PREVIOUS_POSTGRES
        .run(&pool)
        .await
        .expect("the previous version's migrations");
    let data = PreviousData::new();
    let script = data.script(
        |id| format!("'{id}'::uuid"),
        |bytes| format!("'\\x{}'::bytea", hex(bytes)),
    );
    sqlx::raw_sql(&script)
        .execute(&pool)
        .await
        .expect("the previous version's rows");

    let storage = opened(scratch.url()).await;
    data.reads_back(&*storage).await;

    let (in_public,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(in_public, 0, "our tables moved and _sqlx_migrations went");
    let Some(fresh_scratch) = ScratchPostgres::create().await else {
        return;
    };
    opened(fresh_scratch.url()).await;
    let fresh = host_postgres_pool(&fresh_scratch).await;
    let schema = |pool: PgPool| async move {
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'referral' \
             ORDER BY indexname",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let constraints: Vec<(String, String)> = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace = 'referral'::regnamespace ORDER BY conname",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let options: Vec<(String, Option<Vec<String>>)> = sqlx::query_as(
            "SELECT relname::text, reloptions FROM pg_class \
             WHERE relnamespace = 'referral'::regnamespace AND relkind = 'r' ORDER BY relname",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        (indexes, constraints, options)
    };
    assert_eq!(
        schema(pool.clone()).await,
        schema(fresh).await,
        "the adopted schema is a fresh install's: indexes, constraints, storage options"
    );

    three_starts(
        |first, round| start(&pool, first, round, || opened(scratch.url())),
        0,
        First::Host,
    )
    .await;
    data.reads_back_after_restart(&*opened(scratch.url()).await)
        .await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

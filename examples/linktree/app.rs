//! A small Linktree-like app that embeds `referral`: its own migrations and tables (profiles
//! with a handle, their links) keyed to the library's user id, on the library's pool, with the
//! library's contract mounted under `/auth` and its own routes guarded by `AuthUser`. Every
//! sign-up gets its profile row from a `user.registered` event handler ([`CreateProfile`]).
//!
//! Shared by `examples/linktree_app.rs` (the server) and `tests/linktree_app.rs`.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use referral::axum::{AuthUser, EngineRequest};
use referral::storage::{PostgresStorage, SqliteStorage};
use referral::{
    parse_json, Config, Engine, Error, Event, EventHandler, HandlerError, LogMailer, Storage,
};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, SqlitePool};

/// Where the app mounts the library's contract.
pub const AUTH_PREFIX: &str = "/auth";

/// The app's own migrations, applied with sqlx's migrator and its own bookkeeping
/// (`_sqlx_migrations`), which never sees the library's.
pub static APP_MIGRATIONS: Migrator = sqlx::migrate!("./examples/linktree/migrations");

/// The app's database: one pool, shared with the library.
#[derive(Clone, Debug)]
pub enum Db {
    /// A SQLite file.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds: the app's queries are
/// written once and type-checked for both backends.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) with the settings the library
    /// recommends for its own connections.
    pub async fn connect(url: &str) -> Result<Db, Box<dyn std::error::Error>> {
        if url.starts_with("sqlite:") {
            let options = SqliteStorage::connect_options(url)?;
            Ok(Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?,
            ))
        } else {
            Ok(Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(10)
                    .connect(url)
                    .await?,
            ))
        }
    }

    /// Applies the app's own migrations.
    pub async fn migrate_app(&self) -> Result<(), sqlx::migrate::MigrateError> {
        on_pool!(self, pool => APP_MIGRATIONS.run(pool).await)
    }

    /// The library's storage on this same pool, its schema migrated.
    pub async fn referral_storage(&self) -> Result<Arc<dyn Storage>, referral::StorageError> {
        Ok(match self {
            Db::Sqlite(pool) => {
                let storage = SqliteStorage::from_pool(pool.clone());
                storage.migrate().await?;
                Arc::new(storage)
            }
            Db::Postgres(pool) => {
                let storage = PostgresStorage::from_pool(pool.clone());
                storage.migrate().await?;
                Arc::new(storage)
            }
        })
    }
}

/// The app's state: the engine and the database.
#[derive(Clone)]
pub struct AppState {
    /// The referral engine.
    pub engine: Engine,
    /// The app's pool (the library's too).
    pub db: Db,
}

impl FromRef<AppState> for Engine {
    fn from_ref(state: &AppState) -> Engine {
        state.engine.clone()
    }
}

/// Sets up the engine on `db` (both schemas migrated, in the order given) and answers the
/// app's router.
pub async fn app(
    db: Db,
    config: Config,
    app_migrations_first: bool,
) -> Result<(Router, Engine), Box<dyn std::error::Error>> {
    if app_migrations_first {
        db.migrate_app().await?;
    }
    let storage = db.referral_storage().await?;
    if !app_migrations_first {
        db.migrate_app().await?;
    }
    let engine = Engine::builder(config)
        .storage(storage)
        .mailer(Arc::new(LogMailer))
        .event_handler(
            "linktree-profiles",
            Arc::new(CreateProfile { db: db.clone() }),
        )
        .build()?;
    let router = Router::new()
        .route("/profile", put(save_profile))
        .route("/links", post(add_link))
        .route("/@{handle}", get(public_page))
        .merge(referral::axum::Api::new().prefix(AUTH_PREFIX)?.router())
        .fallback(referral::axum::not_found)
        .with_state(AppState {
            engine: engine.clone(),
            db,
        });
    Ok((router, engine))
}

/// Reacts to `user.registered` by creating the new user's profile row, with a handle made
/// from their id (`u_` and its last 16 hex digits) until they choose one with `PUT /profile`.
///
/// Events come at least once: the insert does nothing when the row exists, so a second
/// delivery changes nothing. A database error is transient (retried with backoff).
pub struct CreateProfile {
    /// The app's database.
    pub db: Db,
}

/// The handle a new profile starts with.
pub fn default_handle(user_id: &uuid::Uuid) -> String {
    let hex = user_id.simple().to_string();
    format!("u_{}", &hex[16..])
}

#[async_trait::async_trait]
impl EventHandler for CreateProfile {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        if event.kind != "user.registered" {
            return Ok(());
        }
        let user_id: uuid::Uuid = event.data["user_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| HandlerError::Permanent("user.registered without a user_id".into()))?;
        let created_at = event.occurred_at.to_string();
        on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO profiles (user_id, handle, display_name, created_at) \
             VALUES ($1, $2, '', $3) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.to_string())
        .bind(default_handle(&user_id))
        .bind(&created_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(|error| HandlerError::Transient(format!("creating a profile failed: {error}")))
    }
}

/// `PUT /profile` `{ "handle", "display_name" }`: the signed-in user's page.
#[derive(Debug, Deserialize)]
struct ProfileBody {
    handle: String,
    display_name: String,
}

/// `POST /links` `{ "title", "url" }`.
#[derive(Debug, Deserialize)]
struct LinkBody {
    title: String,
    url: String,
}

/// A public page.
#[derive(Debug, Serialize)]
struct Page {
    handle: String,
    display_name: String,
    links: Vec<Link>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Link {
    title: String,
    url: String,
}

/// The app's errors: the library's problem documents for its own refusals too.
struct AppError(Error);

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError(error)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError(Error::Internal(error.to_string()))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        referral::axum::ApiError(self.0).into_response()
    }
}

fn valid_handle(handle: &str) -> bool {
    (3..=30).contains(&handle.len())
        && handle
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

async fn save_profile(
    State(db): State<AppDb>,
    AuthUser(user): AuthUser,
    EngineRequest(request): EngineRequest,
) -> Result<StatusCode, AppError> {
    let body: ProfileBody = parse_json(&request)?;
    if !valid_handle(&body.handle) {
        return Err(Error::invalid(
            "handle",
            "invalid_handle",
            "A handle is 3 to 30 of a-z, 0-9 and _",
        )
        .into());
    }
    let now = time::OffsetDateTime::now_utc().to_string();
    let user_id = user.id.to_string();
    let saved = on_pool!(&db.0, pool => sqlx::query(
        "INSERT INTO profiles (user_id, handle, display_name, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET handle = $2, display_name = $3",
    )
    .bind(&user_id)
    .bind(&body.handle)
    .bind(&body.display_name)
    .bind(&now)
    .execute(pool)
    .await
    .map(|_| ()));
    match saved {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(Error::invalid("handle", "handle_taken", "That handle is taken").into())
        }
        Err(error) => Err(error.into()),
    }
}

async fn add_link(
    State(db): State<AppDb>,
    AuthUser(user): AuthUser,
    EngineRequest(request): EngineRequest,
) -> Result<StatusCode, AppError> {
    let body: LinkBody = parse_json(&request)?;
    if !(body.url.starts_with("https://") || body.url.starts_with("http://")) {
        return Err(Error::invalid("url", "invalid_url", "A link is an http(s) URL").into());
    }
    let user_id = user.id.to_string();
    let has_profile: Option<(String,)> = on_pool!(&db.0, pool => sqlx::query_as(
        "SELECT user_id FROM profiles WHERE user_id = $1",
    )
    .bind(&user_id)
    .fetch_optional(pool)
    .await)?;
    if has_profile.is_none() {
        return Err(Error::invalid("handle", "no_profile", "Choose a handle first").into());
    }
    let now = time::OffsetDateTime::now_utc().to_string();
    on_pool!(&db.0, pool => sqlx::query(
        "INSERT INTO links (id, user_id, title, url, position, created_at) \
         SELECT $1, $2, $3, $4, COALESCE(MAX(position), 0) + 1, $5 FROM links WHERE user_id = $2",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&user_id)
    .bind(&body.title)
    .bind(&body.url)
    .bind(&now)
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(StatusCode::CREATED)
}

async fn public_page(
    State(db): State<AppDb>,
    Path(handle): Path<String>,
) -> Result<Response, AppError> {
    let profile: Option<(String, String)> = on_pool!(&db.0, pool => sqlx::query_as(
        "SELECT user_id, display_name FROM profiles WHERE handle = $1",
    )
    .bind(&handle)
    .fetch_optional(pool)
    .await)?;
    let Some((user_id, display_name)) = profile else {
        return Err(Error::NotFound.into());
    };
    let links: Vec<Link> = on_pool!(&db.0, pool => sqlx::query_as(
        "SELECT title, url FROM links WHERE user_id = $1 ORDER BY position",
    )
    .bind(&user_id)
    .fetch_all(pool)
    .await)?;
    Ok(Json(Page {
        handle,
        display_name,
        links,
    })
    .into_response())
}

/// The database, as the app's handlers take it from the state.
#[derive(Clone)]
struct AppDb(Db);

impl FromRef<AppState> for AppDb {
    fn from_ref(state: &AppState) -> AppDb {
        AppDb(state.db.clone())
    }
}

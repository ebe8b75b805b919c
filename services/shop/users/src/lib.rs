//! Shop users: `GET /users/:id` → `{"id","name","email"}` from Postgres. The service owns
//! schema `users` (tables and migration history); `migrate` and `seed` are explicit
//! subcommands.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use platform::db::SchemaDatabase;
use platform::http::LookupError;
use platform::{CommonConfig, ConfigError, Env, Readiness, Shutdown, StartupError};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub const DEFAULT_PORT: u16 = 3001;
/// The Postgres schema holding this service's tables and migration history.
pub const SCHEMA: &str = "users";
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database: SchemaDatabase,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT)?,
            database: SchemaDatabase::from_env(env, SCHEMA)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// Applies this service's migrations (in schema `users`).
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    config.database.migrate(&MIGRATOR).await
}

/// The demo users, with fixed ids so that scripts and other services can rely on them.
pub const DEMO_USERS: &[(i64, &str, &str)] = &[
    (1, "Ada Lovelace", "ada@example.com"),
    (2, "Grace Hopper", "grace@example.com"),
    (3, "Alan Turing", "alan@example.com"),
    (4, "Katherine Johnson", "katherine@example.com"),
    (5, "Edsger Dijkstra", "edsger@example.com"),
];

/// Inserts the demo users that are missing and returns how many it inserted; existing rows
/// are left as they are, so a second run changes nothing.
pub async fn seed(config: &Config) -> Result<u64, StartupError> {
    let pool = config.database.ready_pool().await?;
    let mut transaction = pool.begin().await?;
    let mut inserted = 0;
    for (id, name, email) in DEMO_USERS {
        inserted += sqlx::query(
            "INSERT INTO users (id, name, email) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(email)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    }
    // Explicit ids bypass the identity sequence; move it past them so new users never
    // collide. Only when it is behind, so that a second run changes nothing.
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users)) \
         WHERE (SELECT last_value FROM users_id_seq) < (SELECT max(id) FROM users)",
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(inserted)
}

#[derive(Clone)]
struct AppState {
    pool: PgPool,
}

/// The routes with the platform's probes and metrics; `/users/health` and `/users/ready`
/// too, so that one load balancer routing by path prefix can reach this service's probes.
pub fn app(config: &Config) -> Router {
    let pool = config.database.pool();
    let readiness = Readiness::new().with_postgres("postgres", pool.clone());
    let routes = Router::new()
        .route("/users/{id}", get(get_user))
        .with_state(AppState { pool })
        .nest("/users", platform::http::probes_router(readiness.clone()));
    platform::http::with_platform(routes, readiness)
}

/// Serves on `listener` (tests bind port 0) until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let app = app(&config);
    platform::http::serve_service("shop-users", listener, app, shutdown).await
}

/// What `GET /users/{id}` looks up.
const USER: &str = "user";

async fn get_user(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<User>, LookupError> {
    let id = LookupError::id(USER, raw_id)?;
    let user = sqlx::query_as::<_, User>("SELECT id, name, email FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await
        .map_err(LookupError::database(USER))?
        .ok_or(LookupError::not_found(USER, id))?;
    Ok(Json(user))
}

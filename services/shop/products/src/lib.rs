//! Shop products: `GET /products/:id` → `{"id","name","price_cents","stock"}` from Postgres,
//! cached in Redis (cache-aside with a TTL; the orders service deletes the entry when it
//! changes the stock). `X-Cache: hit|miss` tells where the answer came from. Redis is
//! optional: when it is down the service answers from Postgres alone, never with an error.

pub mod cache;

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use platform::cache::{RedisHandle, RedisSettings};
use platform::db::SchemaDatabase;
use platform::http::LookupError;
use platform::{CommonConfig, ConfigError, Env, Readiness, Shutdown, StartupError};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use crate::cache::{cache_key, invalidate};

pub const DEFAULT_PORT: u16 = 3002;
/// The Postgres schema holding this service's tables and migration history. The orders
/// service updates `products.products.stock` inside its order transaction.
pub const SCHEMA: &str = "products";
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database: SchemaDatabase,
    pub redis: redis::Client,
    /// How long a cached product may be served before it is read from Postgres again.
    pub cache_ttl: Duration,
    /// Bound on each cache call: past it the request is served from Postgres.
    pub cache_timeout: Duration,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT)?,
            database: SchemaDatabase::from_env(env, SCHEMA)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            cache_ttl: Duration::from_secs(env.bounded("CACHE_TTL_SECS", 60u64, 1..=86_400)?),
            cache_timeout: Duration::from_millis(env.bounded(
                "CACHE_TIMEOUT_MS",
                250u64,
                10..=10_000,
            )?),
        })
    }

    /// The cache connection; dials on first use, so Redis may be down at start.
    pub fn cache(&self) -> RedisHandle {
        RedisHandle::lazy(
            self.redis.clone(),
            RedisSettings {
                connection_timeout: self.cache_timeout,
                response_timeout: self.cache_timeout,
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub price_cents: i64,
    pub stock: i64,
}

/// Applies this service's migrations (in schema `products`).
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    config.database.migrate(&MIGRATOR).await
}

/// The demo catalogue, with fixed ids. Product 1 has a deep stock so that acceptance runs
/// against a long-lived environment keep finding some.
pub const DEMO_PRODUCTS: &[(i64, &str, i64, i64)] = &[
    (1, "Slipway demo widget", 1_999, 1_000_000),
    (2, "Harbour crane model", 4_999, 250),
    (3, "Mooring rope, 10 m", 1_299, 500),
    (4, "Lighthouse mug", 899, 1_000),
];

/// Inserts the demo products that are missing and returns how many it inserted; existing
/// rows (and their current stock) are left alone, so a second run changes nothing.
pub async fn seed(config: &Config) -> Result<u64, StartupError> {
    let pool = config.database.ready_pool().await?;
    let mut transaction = pool.begin().await?;
    let mut inserted = 0;
    for (id, name, price_cents, stock) in DEMO_PRODUCTS {
        inserted += sqlx::query(
            "INSERT INTO products (id, name, price_cents, stock) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(price_cents)
        .bind(stock)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    }
    // Explicit ids bypass the identity sequence; move it past them, only when behind.
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products)) \
         WHERE (SELECT last_value FROM products_id_seq) < (SELECT max(id) FROM products)",
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(inserted)
}

#[derive(Clone)]
struct AppState {
    pool: PgPool,
    cache: RedisHandle,
    cache_ttl: Duration,
}

/// The routes with the platform's probes and metrics, plus `/products/health` and
/// `/products/ready` for a load balancer routing by path prefix. Redis is reported in
/// readiness but optional: its outage degrades, it does not take the service out.
pub fn app(config: &Config) -> Router {
    let pool = config.database.pool();
    let cache = config.cache();
    let readiness = Readiness::new()
        .with_postgres("postgres", pool.clone())
        .with_optional_redis("redis", cache.clone());
    let state = AppState {
        pool,
        cache,
        cache_ttl: config.cache_ttl,
    };
    let routes = Router::new()
        .route("/products/{id}", get(get_product))
        .with_state(state)
        .nest(
            "/products",
            platform::http::probes_router(readiness.clone()),
        );
    platform::http::with_platform(routes, readiness)
}

/// Serves on `listener` (tests bind port 0) until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let app = app(&config);
    platform::http::serve_service("shop-products", listener, app, shutdown).await
}

/// What `GET /products/{id}` looks up.
const PRODUCT: &str = "product";

fn json_with_cache_header(body: String, outcome: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-cache"), outcome),
        ],
        body,
    )
        .into_response()
}

async fn get_product(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Response, LookupError> {
    let id = LookupError::id(PRODUCT, raw_id)?;
    if let Some(cached) = cache::read(&state.cache, id).await {
        return Ok(json_with_cache_header(cached, "hit"));
    }
    let product = sqlx::query_as::<_, Product>(
        "SELECT id, name, price_cents, stock FROM products WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await
    .map_err(LookupError::database(PRODUCT))?
    .ok_or(LookupError::not_found(PRODUCT, id))?;
    let body = serde_json::to_string(&product).expect("a product serialises to JSON");
    cache::write(&state.cache, id, &body, state.cache_ttl).await;
    Ok(json_with_cache_header(body, "miss"))
}

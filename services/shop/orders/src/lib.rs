//! Shop orders: `POST /orders {"user_id","product_id","quantity"}` checks the user and the
//! product with the users and products services (bounded HTTP calls, concurrently), then in
//! one transaction takes the quantity from `products.products.stock` (only if enough is
//! left) and stores the order, and finally drops the product's cache entry.
//! `GET /orders/:id` reads one back. An `Idempotency-Key` header makes retries safe: see
//! [`idempotency`].

mod dependencies;
pub mod idempotency;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::cache::{RedisHandle, RedisSettings};
use platform::db::SchemaDatabase;
use platform::outbound::ClientSettings;
use platform::{CommonConfig, ConfigError, Env, Readiness, Shutdown, StartupError};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::dependencies::{Dependencies, DependencyError, Service};

pub const DEFAULT_PORT: u16 = 3003;
/// The Postgres schema holding this service's tables and migration history.
pub const SCHEMA: &str = "orders";
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();
/// SQLSTATE for a numeric value out of range (here: price × quantity beyond BIGINT).
const NUMERIC_OUT_OF_RANGE: &str = "22003";

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database: SchemaDatabase,
    pub redis: redis::Client,
    pub users_url: String,
    pub products_url: String,
    /// Bound on each call to the users and products services.
    pub dependency_timeout: Duration,
    /// How long an `Idempotency-Key` protects retries before it is forgotten.
    pub idempotency_retention: Duration,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT)?,
            database: SchemaDatabase::from_env(env, SCHEMA)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            users_url: env.http_url("USERS_URL", "http://shop-users:3001")?,
            products_url: env.http_url("PRODUCTS_URL", "http://shop-products:3002")?,
            dependency_timeout: Duration::from_millis(env.bounded(
                "DEPENDENCY_TIMEOUT_MS",
                2_000u64,
                50..=60_000,
            )?),
            // Stripe keeps keys 24 h: long enough for any client's retries.
            idempotency_retention: Duration::from_secs(
                3600 * env.bounded("IDEMPOTENCY_KEY_RETENTION_HOURS", 24u64, 1..=8760)?,
            ),
        })
    }
}

/// Applies this service's migrations (in schema `orders`).
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    config.database.migrate(&MIGRATOR).await
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub product_id: i64,
    pub quantity: i64,
    pub total_cents: i64,
}

#[derive(Debug, Deserialize)]
struct NewOrder {
    user_id: i64,
    product_id: i64,
    quantity: i64,
}

impl NewOrder {
    fn fingerprint(&self) -> idempotency::Fingerprint {
        idempotency::Fingerprint {
            user_id: self.user_id,
            product_id: self.product_id,
            quantity: self.quantity,
        }
    }
}

#[derive(Clone)]
struct AppState {
    pool: PgPool,
    cache: RedisHandle,
    dependencies: Dependencies,
    idempotency_retention: Duration,
}

/// The routes with the platform's probes and metrics, plus `/orders/health` and
/// `/orders/ready` for a load balancer routing by path prefix. Postgres is required; the
/// users and products services and Redis are reported but optional (orders then answer
/// 503 or skip the cache invalidation, and the service stays in rotation).
pub fn app(config: &Config) -> Result<Router, reqwest::Error> {
    let pool = config.database.pool();
    let cache = RedisHandle::lazy(
        config.redis.clone(),
        RedisSettings {
            connection_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
        },
    );
    let http = platform::outbound::client(
        "shop-orders",
        ClientSettings {
            connect_timeout: config.dependency_timeout,
            request_timeout: config.dependency_timeout,
        },
    )?;
    let dependencies = Dependencies::new(http.clone(), &config.users_url, &config.products_url);
    let readiness = Readiness::new()
        .with_postgres("postgres", pool.clone())
        .with_optional_redis("redis", cache.clone());
    let readiness =
        [Service::Users, Service::Products]
            .into_iter()
            .fold(readiness, |readiness, service| {
                readiness.with_optional_http(
                    service.name(),
                    http.clone(),
                    dependencies.ready_url(service),
                    config.dependency_timeout,
                )
            });
    let state = AppState {
        pool,
        cache,
        dependencies,
        idempotency_retention: config.idempotency_retention,
    };
    let routes = Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .with_state(state)
        .nest("/orders", platform::http::probes_router(readiness.clone()));
    Ok(platform::http::with_platform(routes, readiness))
}

/// Serves on `listener` (tests bind port 0) until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let app = app(&config).map_err(StartupError::http_client("the users/products services"))?;
    tokio::spawn(purge_expired_keys(
        config.database.pool(),
        config.idempotency_retention,
        shutdown.clone(),
    ));
    platform::http::serve_service("shop-orders", listener, app, shutdown).await
}

/// How often expired idempotency keys are deleted (by every replica; the deletes are
/// idempotent and cheap with the index on `created_at`).
const PURGE_EVERY: Duration = Duration::from_secs(600);

async fn purge_expired_keys(pool: PgPool, retention: Duration, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.requested() => return,
        }
        match idempotency::purge_expired(&pool, retention).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired idempotency keys"),
            Err(err) => {
                tracing::warn!(%err, "cannot delete expired idempotency keys; retrying later")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("invalid json: {0}")]
    InvalidJson(String),
    #[error("invalid order: {0}; send {{\"user_id\": 1, \"product_id\": 1, \"quantity\": 1}}")]
    InvalidOrder(String),
    #[error("order id must be a positive integer, got {0:?}")]
    BadId(String),
    #[error("order {0} does not exist")]
    NotFound(i64),
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    #[error("not enough stock: product {product_id} has {available} left, {requested} requested")]
    OutOfStock {
        product_id: i64,
        available: i64,
        requested: i64,
    },
    #[error("{0}; retry shortly")]
    DependencyDown(String),
    #[error("invalid Idempotency-Key: {0}")]
    BadIdempotencyKey(String),
    #[error("Idempotency-Key {key:?} was already used for a different order (user {}, product {}, quantity {}); send a new key for a new order", .stored.user_id, .stored.product_id, .stored.quantity)]
    KeyReused {
        key: String,
        stored: idempotency::Fingerprint,
    },
    #[error("a request with Idempotency-Key {0:?} is still being processed; retry shortly")]
    KeyInFlight(String),
    #[error("the orders database is unavailable ({0}); retry shortly")]
    Database(#[from] sqlx::Error),
}

impl ApiError {
    fn reason(&self) -> &'static str {
        match self {
            Self::InvalidJson(_)
            | Self::InvalidOrder(_)
            | Self::BadId(_)
            | Self::BadIdempotencyKey(_) => "bad_input",
            Self::KeyReused { .. } => "idempotency_key_reused",
            Self::KeyInFlight(_) => "idempotency_key_in_flight",
            Self::NotFound(_) => "not_found",
            Self::UnknownUser(_) => "unknown_user",
            Self::UnknownProduct(_) => "unknown_product",
            Self::OutOfStock { .. } => "out_of_stock",
            Self::DependencyDown(_) => "dependency_down",
            Self::Database(_) => "database_down",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Database(err) = &self {
            // A refused login makes the password refresher re-read its secret.
            platform::db::log_connection_failure(err);
        }
        let status = match self {
            Self::InvalidJson(_) | Self::BadId(_) | Self::BadIdempotencyKey(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::KeyInFlight(_) => StatusCode::CONFLICT,
            Self::KeyReused { .. }
            | Self::InvalidOrder(_)
            | Self::UnknownUser(_)
            | Self::UnknownProduct(_)
            | Self::OutOfStock { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::DependencyDown(_) | Self::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        platform::http::json_error(status, self.to_string())
    }
}

impl From<DependencyError> for ApiError {
    fn from(err: DependencyError) -> Self {
        match err {
            DependencyError::UnknownUser(id) => Self::UnknownUser(id),
            DependencyError::UnknownProduct(id) => Self::UnknownProduct(id),
            DependencyError::Down(reason) => Self::DependencyDown(reason),
        }
    }
}

fn parse_new_order(body: &[u8]) -> Result<NewOrder, ApiError> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| ApiError::InvalidJson(err.to_string()))?;
    let order: NewOrder =
        serde_json::from_value(document).map_err(|err| ApiError::InvalidOrder(err.to_string()))?;
    if order.user_id < 1 || order.product_id < 1 {
        return Err(ApiError::InvalidOrder(
            "user_id and product_id must be positive integers".into(),
        ));
    }
    if order.quantity < 1 {
        return Err(ApiError::InvalidOrder(format!(
            "quantity must be at least 1, got {}",
            order.quantity
        )));
    }
    Ok(order)
}

/// An order as answered: created now, or the one an earlier request with the same
/// `Idempotency-Key` created.
struct Placed {
    order: Order,
    replayed: bool,
}

async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let outcome = place_order(&state, &headers, &body).await;
    match &outcome {
        Ok(Placed { replayed: true, .. }) => {
            metrics::counter!("orders_replayed_total").increment(1)
        }
        Ok(_) => metrics::counter!(platform::metrics::names::ORDERS_CREATED).increment(1),
        Err(err) => {
            metrics::counter!(platform::metrics::names::ORDERS_REJECTED, "reason" => err.reason())
                .increment(1)
        }
    }
    let placed = outcome?;
    // A replay answers exactly what the first request answered: 201 and the order.
    let mut response = (StatusCode::CREATED, Json(placed.order)).into_response();
    if placed.replayed {
        response.headers_mut().insert(
            idempotency::REPLAYED_HEADER,
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// The stored order for `key`, or the 422 for a key used with another order.
async fn replay(state: &AppState, key: &str, new: &NewOrder) -> Result<Option<Placed>, ApiError> {
    let stored = idempotency::lookup(
        &state.pool,
        key,
        new.fingerprint(),
        state.idempotency_retention,
    )
    .await?;
    match stored {
        None => Ok(None),
        Some(idempotency::Stored::Replay(order)) => Ok(Some(Placed {
            order,
            replayed: true,
        })),
        Some(idempotency::Stored::Mismatch(stored)) => Err(ApiError::KeyReused {
            key: key.to_owned(),
            stored,
        }),
    }
}

async fn place_order(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Placed, ApiError> {
    let new = parse_new_order(body)?;
    let key = idempotency::key_from(headers).map_err(ApiError::BadIdempotencyKey)?;
    // A retry of a committed order is answered from Postgres alone: it needs neither
    // the users nor the products service.
    if let Some(key) = &key {
        if let Some(placed) = replay(state, key, &new).await? {
            return Ok(placed);
        }
    }
    let (user, product) = tokio::join!(
        state.dependencies.check_user(new.user_id),
        state.dependencies.check_product(new.product_id),
    );
    user?;
    product?;

    let order = match &key {
        None => take_stock_and_insert(&state.pool, &new).await?,
        Some(key) => match place_keyed(state, key, &new).await? {
            Keyed::Committed(order) => Some(order),
            Keyed::NothingTaken => None,
            Keyed::Replayed(placed) => return Ok(placed),
        },
    };
    let Some(order) = order else {
        let available: Option<i64> =
            sqlx::query_scalar("SELECT stock FROM products.products WHERE id = $1")
                .bind(new.product_id)
                .fetch_optional(&state.pool)
                .await?;
        return Err(match available {
            None => ApiError::UnknownProduct(new.product_id),
            Some(available) => ApiError::OutOfStock {
                product_id: new.product_id,
                available,
                requested: new.quantity,
            },
        });
    };

    invalidate_product_cache(&state.cache, new.product_id).await;
    Ok(Placed {
        order,
        replayed: false,
    })
}

/// One statement, hence one round trip (and, outside a transaction, one transaction):
/// the conditional update is the stock check (concurrent orders queue on the row lock and
/// each sees the stock the previous one left, so stock never goes below zero) and the
/// order is inserted only from its returned row. `None` when nothing was taken (unknown
/// product or not enough stock).
async fn take_stock_and_insert<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    new: &NewOrder,
) -> Result<Option<Order>, ApiError> {
    sqlx::query_as::<_, Order>(
        "WITH taken AS ( \
             UPDATE products.products SET stock = stock - $3, updated_at = now() \
             WHERE id = $2 AND stock >= $3 RETURNING price_cents \
         ) \
         INSERT INTO orders (user_id, product_id, quantity, total_cents) \
         SELECT $1, $2, $3, price_cents * $3 FROM taken \
         RETURNING id, user_id, product_id, quantity, total_cents",
    )
    .bind(new.user_id)
    .bind(new.product_id)
    .bind(new.quantity)
    .fetch_optional(executor)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(NUMERIC_OUT_OF_RANGE) => {
            ApiError::InvalidOrder("the order total is too large".into())
        }
        _ => ApiError::Database(err),
    })
}

/// What an order with an `Idempotency-Key` came to.
enum Keyed {
    /// Created now; its key is committed with it.
    Committed(Order),
    /// Nothing taken (out of stock, unknown product); the key's claim was rolled back.
    NothingTaken,
    /// An earlier request with the key created the order.
    Replayed(Placed),
}

/// The keyed path: key, stock and order in one transaction (the unkeyed path stays one
/// statement). Holding the product's row lock until the commit costs one more round trip.
async fn place_keyed(state: &AppState, key: &str, new: &NewOrder) -> Result<Keyed, ApiError> {
    let mut tx = state.pool.begin().await?;
    let claimed =
        idempotency::claim(&mut tx, key, new.fingerprint(), state.idempotency_retention).await?;
    if !claimed {
        // A concurrent request with this key committed while this one was checking the
        // user and product.
        drop(tx);
        return replay(state, key, new)
            .await?
            .map(Keyed::Replayed)
            .ok_or_else(|| ApiError::KeyInFlight(key.to_owned()));
    }
    // Without an order the transaction is dropped, which rolls the claim back.
    let Some(order) = take_stock_and_insert(&mut *tx, new).await? else {
        return Ok(Keyed::NothingTaken);
    };
    idempotency::record(&mut tx, key, order.id).await?;
    tx.commit().await?;
    Ok(Keyed::Committed(order))
}

/// How long after an order its product's cache entry is deleted a second time.
pub const CACHE_REINVALIDATE_DELAY: Duration = Duration::from_millis(250);

/// Deletes the product's cache entry after the commit (so no reader re-caches the stock of
/// an unfinished transaction), and once more a moment later: a products read that fetched
/// the old row just before the commit and writes it to the cache just after the first
/// delete would otherwise serve the old stock until the TTL. Failures are logged; the TTL
/// bounds how long an old stock can show.
async fn invalidate_product_cache(cache: &RedisHandle, product_id: i64) {
    if let Err(err) = shop_products::invalidate(cache, product_id).await {
        tracing::warn!(%err, product_id, "cannot invalidate the product cache; it expires with its TTL");
    }
    let cache = cache.clone();
    tokio::spawn(async move {
        tokio::time::sleep(CACHE_REINVALIDATE_DELAY).await;
        if let Err(err) = shop_products::invalidate(&cache, product_id).await {
            tracing::warn!(%err, product_id, "cannot invalidate the product cache again; it expires with its TTL");
        }
    });
}

async fn get_order(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id = platform::http::parse_positive_id(&raw_id).ok_or(ApiError::BadId(raw_id))?;
    let order = sqlx::query_as::<_, Order>(
        "SELECT id, user_id, product_id, quantity, total_cents FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::NotFound(id))?;
    Ok(Json(order))
}

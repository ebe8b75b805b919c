//! Sums API (private): `POST /sum {"n": N}` answers `{"sum": 1+…+N}` computed by iterating,
//! and remembers it in Redis key `sum`; `GET /` answers `{"last_sum": S}`. Wire-compatible
//! with the original Ruby API, including its error bodies and the `n = 13` crash used for
//! recovery drills.

pub mod compute;
pub mod input;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::cache::{RedisHandle, RedisSettings};
use platform::telemetry::LogFormat;
use platform::{ConfigError, Env, Readiness, Shutdown, StartupError};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::input::InputError;

pub const DEFAULT_PORT: u16 = 4567;
/// The Redis key holding the last sum, as in the original.
pub const LAST_SUM_KEY: &str = "sum";
pub const DEFAULT_CRASH_ON_N: u64 = 13;

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub log_format: LogFormat,
    pub redis: redis::Client,
    /// `n` that makes the process exit abnormally (game-day fault injection); `None` disables.
    pub crash_on_n: Option<u64>,
    /// How many sums may run at once; more wait their turn without holding a thread.
    pub sum_workers: usize,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let crash_on_n = match env.raw("CRASH_ON_N") {
            None => Some(DEFAULT_CRASH_ON_N),
            Some(value) if value.trim().is_empty() => None,
            Some(_) => Some(env.parse(
                "CRASH_ON_N",
                DEFAULT_CRASH_ON_N,
                "a positive integer, or empty to disable the crash",
            )?),
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            port: env.port(DEFAULT_PORT)?,
            log_format: env.log_format()?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            crash_on_n,
            sum_workers: env.bounded("SUM_WORKERS", cores, 1..=256)?,
        })
    }
}

#[derive(Clone)]
struct AppState {
    redis: RedisHandle,
    crash_on_n: Option<u64>,
    sum_slots: Arc<Semaphore>,
}

/// The service's routes with the platform's probes and metrics; dials Redis on first use,
/// so it serves (and reports unready) while Redis is down.
pub fn app(config: &Config) -> Router {
    let redis = RedisHandle::lazy(config.redis.clone(), RedisSettings::default());
    let readiness = Readiness::new().with_redis("redis", redis.clone());
    let state = AppState {
        redis,
        crash_on_n: config.crash_on_n,
        sum_slots: Arc::new(Semaphore::new(config.sum_workers)),
    };
    platform::http::with_platform(router(state), readiness)
}

/// Serves on `listener` (tests bind port 0) until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let app = app(&config);
    platform::http::serve_service("sums-api", listener, app, shutdown).await
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(last_sum))
        .route("/sum", post(sum))
        .route("/healthcheck", get(|| async { "OK" }))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(
        "Redis is unavailable ({0}); the sum cannot be stored or read right now, retry shortly"
    )]
    Redis(String),
    #[error("the stored last sum {0:?} is not a number; delete Redis key `sum` to reset it")]
    CorruptLastSum(String),
    #[error("the sum could not be computed: {0}")]
    Worker(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Input(err) if err.is_malformed() => StatusCode::BAD_REQUEST,
            Self::Input(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Redis(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::CorruptLastSum(_) | Self::Worker(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        platform::http::json_error(status, self.to_string())
    }
}

/// Runs one Redis command (bounded by the handle's timeouts); failures become 503.
async fn redis_query<T: redis::FromRedisValue>(
    state: &AppState,
    command: &redis::Cmd,
) -> Result<T, ApiError> {
    state
        .redis
        .query(command)
        .await
        .map_err(|err| ApiError::Redis(err.to_string()))
}

async fn last_sum(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let stored: Option<String> = redis_query(&state, redis::cmd("GET").arg(LAST_SUM_KEY)).await?;
    let last_sum = match stored {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::CorruptLastSum(text))?,
    };
    Ok(Json(json!({"last_sum": last_sum})))
}

async fn sum(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = input::parse_n(&body)?;
    if state.crash_on_n == Some(n) {
        crash(n);
    }
    let total = compute_off_runtime(&state, n).await?;
    redis_query::<()>(&state, redis::cmd("SET").arg(LAST_SUM_KEY).arg(total)).await?;
    Ok(Json(json!({"sum": total})))
}

/// Runs the sum off the async runtime at low priority (so probes keep answering), at most
/// `sum_workers` at a time.
async fn compute_off_runtime(state: &AppState, n: u64) -> Result<u64, ApiError> {
    let _slot = state
        .sum_slots
        .acquire()
        .await
        .map_err(|err| ApiError::Worker(err.to_string()))?;
    let started = Instant::now();
    let total = compute::sum_on_low_priority_thread(n)
        .await
        .map_err(ApiError::Worker)?;
    metrics::histogram!("sums_compute_duration_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("sums_computed_total").increment(1);
    Ok(total)
}

/// The original's deliberate fault: the process dies so that whatever supervises it
/// (compose, ECS) has to bring it back.
fn crash(n: u64) -> ! {
    tracing::error!(
        n,
        "CRASH_ON_N matched: exiting abnormally on purpose (fault injection)"
    );
    std::process::exit(1)
}

//! Sums API (private): `POST /sum {"n": N}` answers `{"sum": 1+…+N}` computed by iterating,
//! and remembers it in Redis key `sum`; `GET /` answers `{"last_sum": S}`. Wire-compatible
//! with the original Ruby API, including its error bodies; the original's `n = 13` crash
//! for recovery drills happens only when `CRASH_ON_N` enables it.
//!
//! The work is bounded so that requests from the internet (through the public client)
//! can neither kill the process nor take the CPU for good: at most `SUM_WORKERS` sums run
//! and `SUM_QUEUE` wait; beyond that the answer is 503 with `Retry-After`. Every sum has a
//! deadline (`SUM_DEADLINE_MS`, counted from arrival, waiting included): past it the sum
//! thread stops and the answer is 504.

pub mod compute;
pub mod input;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::cache::{RedisHandle, RedisSettings};
use platform::{CommonConfig, ConfigError, Env, Readiness, Shutdown, StartupError};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::compute::SumError;
use crate::input::InputError;

pub const DEFAULT_PORT: u16 = 4567;
/// The Redis key holding the last sum, as in the original.
pub const LAST_SUM_KEY: &str = "sum";
/// Seconds a client is told to wait (`Retry-After`) when every sum slot and queue place is
/// taken: sums of ordinary size finish well within that.
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub redis: redis::Client,
    /// `n` that makes the process exit abnormally (game-day fault injection). Off unless
    /// `CRASH_ON_N` is set: the API sits behind a public client that forwards any `n`.
    pub crash_on_n: Option<u64>,
    /// How many sums may run at once; more wait their turn without holding a thread.
    pub sum_workers: usize,
    /// How many sums may wait for a worker; more are refused at once with 503.
    pub sum_queue: usize,
    /// The longest one sum may take from arrival (waiting included) before it is stopped.
    pub sum_deadline: Duration,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let crash_on_n = match env.raw("CRASH_ON_N") {
            None => None,
            Some(value) if value.trim().is_empty() => None,
            Some(_) => Some(env.parse(
                "CRASH_ON_N",
                0u64,
                "a positive integer (the n that crashes the API for a drill), or unset to disable the crash",
            )?),
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let sum_workers = env.bounded("SUM_WORKERS", cores, 1..=256)?;
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            crash_on_n,
            sum_workers,
            sum_queue: env.bounded("SUM_QUEUE", 4 * sum_workers, 0..=10_000)?,
            // Above the ~6 s the largest n takes on an idle core, below the client's 30 s.
            sum_deadline: Duration::from_millis(env.bounded(
                "SUM_DEADLINE_MS",
                10_000u64,
                10..=600_000,
            )?),
        })
    }
}

#[derive(Clone)]
struct AppState {
    redis: RedisHandle,
    crash_on_n: Option<u64>,
    /// Sums admitted (running or waiting): `sum_workers + sum_queue` permits.
    admitted: Arc<Semaphore>,
    /// Sums running: `sum_workers` permits.
    sum_slots: Arc<Semaphore>,
    sum_deadline: Duration,
}

/// The service's routes with the platform's probes and metrics; dials Redis on first use,
/// so it serves (and reports unready) while Redis is down.
pub fn app(config: &Config) -> Router {
    let redis = RedisHandle::lazy(config.redis.clone(), RedisSettings::default());
    let readiness = Readiness::new().with_redis("redis", redis.clone());
    let state = AppState {
        redis,
        crash_on_n: config.crash_on_n,
        admitted: Arc::new(Semaphore::new(config.sum_workers + config.sum_queue)),
        sum_slots: Arc::new(Semaphore::new(config.sum_workers)),
        sum_deadline: config.sum_deadline,
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
    #[error("too many sums in progress; retry in {RETRY_AFTER_SECS} s")]
    Busy,
    #[error("the sum did not finish within the {0} ms deadline and was stopped; retry later or with a smaller n")]
    DeadlineExceeded(u128),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Input(err) if err.is_malformed() => StatusCode::BAD_REQUEST,
            Self::Input(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Redis(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::CorruptLastSum(_) | Self::Worker(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        };
        let busy = matches!(self, Self::Busy);
        let mut response = platform::http::json_error(status, self.to_string());
        if busy {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
        }
        response
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
/// `sum_workers` at a time with at most `sum_queue` waiting, within the deadline.
async fn compute_off_runtime(state: &AppState, n: u64) -> Result<u64, ApiError> {
    let deadline = Instant::now() + state.sum_deadline;
    let deadline_exceeded = || {
        metrics::counter!("sums_rejected_total", "reason" => "deadline").increment(1);
        ApiError::DeadlineExceeded(state.sum_deadline.as_millis())
    };
    let Ok(_admitted) = state.admitted.try_acquire() else {
        metrics::counter!("sums_rejected_total", "reason" => "busy").increment(1);
        return Err(ApiError::Busy);
    };
    let waiting = InFlight::count(WAITING_GAUGE);
    let _slot = tokio::time::timeout_at(deadline.into(), state.sum_slots.acquire())
        .await
        .map_err(|_| deadline_exceeded())?
        .map_err(|err| ApiError::Worker(err.to_string()))?;
    drop(waiting);
    let _running = InFlight::count(RUNNING_GAUGE);
    let started = Instant::now();
    let total = compute::sum_on_low_priority_thread(n, deadline)
        .await
        .map_err(|err| match err {
            SumError::DeadlineExceeded => deadline_exceeded(),
            SumError::Thread(reason) => ApiError::Worker(reason),
        })?;
    metrics::histogram!(platform::metrics::names::SUMS_COMPUTE_DURATION)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(platform::metrics::names::SUMS_COMPUTED).increment(1);
    Ok(total)
}

/// Gauge: sums admitted and waiting for a slot (the queue's length).
pub const WAITING_GAUGE: &str = "sums_waiting";
/// Gauge: sums computing now (at most `sum_workers`).
pub const RUNNING_GAUGE: &str = "sums_running";

/// Counts one sum in a gauge for as long as it lives, whichever way the sum ends
/// (finished, deadline, client gone and the request future dropped).
struct InFlight(&'static str);

impl InFlight {
    fn count(gauge: &'static str) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
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

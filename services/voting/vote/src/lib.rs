//! vote: the public voting page. A vote is a JSON message `{"voter_id","vote"}` pushed
//! onto the Redis list `votes` (the original app's payload, so the original worker could
//! consume it too); the worker moves it into Postgres.

mod config;
mod errors;
mod page;
mod queue;
mod routes;

use std::time::Duration;

pub use config::Config;
use platform::{Readiness, Shutdown, StartupError};
pub use queue::Replication;
pub use routes::router;
use tokio::net::TcpListener;

pub const DEFAULT_PORT: u16 = 8080;

/// Shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub queue: queue::VoteQueue,
    pub option_a: String,
    pub option_b: String,
    pub hostname: String,
}

/// Connects to Redis (retrying for the configured budget) and serves until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let connection = platform::cache::connect_with_retry(
        &config.redis,
        platform::cache::RedisSettings {
            connection_timeout: config.queue_timeout,
            response_timeout: config.queue_timeout,
        },
        platform::retry::Backoff::startup(config.startup_timeout),
    )
    .await?;
    let readiness = Readiness::new().with_redis("redis", connection.clone());
    let state = AppState {
        queue: queue::VoteQueue::new(connection, config.queue_timeout, config.replication),
        option_a: config.option_a,
        option_b: config.option_b,
        hostname: platform::hostname(),
    };
    let app = platform::http::with_platform(router(state), readiness);
    platform::http::serve_service("vote", listener, app, shutdown).await
}

/// How long a request may wait on Redis before the voter gets a 503.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

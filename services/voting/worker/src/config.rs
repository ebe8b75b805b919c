use std::time::Duration;

use platform::{CommonConfig, ConfigError, Env};
use sqlx::postgres::PgConnectOptions;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub redis: redis::Client,
    pub database: PgConnectOptions,
    /// Most votes taken from the queue per round trip (and written per transaction).
    pub batch_size: usize,
    /// How long an in-flight batch stays claimed before another worker may recover it.
    pub lease: Duration,
    /// Pause between polls while the queue is empty.
    pub idle_poll: Duration,
    /// Identifies this worker's claims; a restarted worker with the same id recovers
    /// its own unfinished batch at once instead of waiting for the lease to expire.
    pub worker_id: String,
    /// Queue depth and oldest-vote age as CloudWatch EMF log lines (see [`crate::emf`]).
    pub queue_metrics: Option<crate::emf::Settings>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            database: env
                .database_url("DATABASE_URL", "postgres://postgres:postgres@db/postgres")?,
            // Capped: a claimed batch is moved with one Lua call whose argument count is
            // limited, and one transaction should stay short.
            batch_size: env.bounded("BATCH_SIZE", 1000usize, 1..=5000)?,
            lease: Duration::from_secs(env.bounded("LEASE_SECS", 30u64, 1..=3600)?),
            idle_poll: Duration::from_millis(env.bounded("IDLE_POLL_MS", 10u64, 1..=5000)?),
            worker_id: env.string("WORKER_ID", &platform::hostname()),
            queue_metrics: crate::emf::Settings::from_env(env)?,
        })
    }
}

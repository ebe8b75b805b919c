use std::time::Duration;

use platform::db::DatabaseConfig;
use platform::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub redis: redis::Client,
    /// `DATABASE_URL`, or host/user settings with the password from a secret.
    pub database: DatabaseConfig,
    /// Most votes taken from the queue per round trip (and written per transaction).
    pub batch_size: usize,
    /// How long an in-flight batch stays claimed before another worker may recover it.
    pub lease: Duration,
    /// Pause between polls while the queue is empty.
    pub idle_poll: Duration,
    /// Identifies this worker's claims; a restarted worker with the same id recovers
    /// its own unfinished batch at once instead of waiting for the lease to expire.
    pub worker_id: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            database: DatabaseConfig::from_env(env)?,
            // Capped: a claimed batch is moved with one Lua call whose argument count is
            // limited, and one transaction should stay short.
            batch_size: env.bounded("BATCH_SIZE", 1000usize, 1..=5000)?,
            lease: Duration::from_secs(env.bounded("LEASE_SECS", 30u64, 1..=3600)?),
            idle_poll: Duration::from_millis(env.bounded("IDLE_POLL_MS", 10u64, 1..=5000)?),
            worker_id: env.string("WORKER_ID", &platform::hostname()),
        })
    }
}

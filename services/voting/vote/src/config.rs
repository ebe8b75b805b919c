use std::time::Duration;

use platform::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub redis: redis::Client,
    pub option_a: String,
    pub option_b: String,
    /// Bound on each Redis round trip made for a voter.
    pub queue_timeout: Duration,
    /// How long start-up keeps retrying an unreachable Redis before giving up.
    pub startup_timeout: Duration,
    /// `REDIS_REPLICAS` > 0 (the provisioner sets it where the replication group has
    /// replicas): acknowledge a vote only after one replica has it, waiting at most
    /// `REDIS_WAIT_TIMEOUT_MS` (default 500, below `QUEUE_TIMEOUT_MS`).
    pub replication: Option<crate::queue::Replication>,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let queue_timeout = Duration::from_millis(env.bounded(
            "QUEUE_TIMEOUT_MS",
            crate::DEFAULT_QUEUE_TIMEOUT.as_millis() as u64,
            50..=30_000,
        )?);
        let replicas: u8 = env.bounded("REDIS_REPLICAS", 0u8, 0..=5)?;
        // WAIT must leave room for the RPUSH within the voter's queue timeout.
        let wait_limit = (queue_timeout.as_millis() as u64 / 2).max(1);
        let wait = Duration::from_millis(env.bounded(
            "REDIS_WAIT_TIMEOUT_MS",
            500u64.min(wait_limit),
            1..=wait_limit,
        )?);
        Ok(Self {
            replication: (replicas > 0).then_some(crate::queue::Replication { wait }),
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            option_a: env.string("OPTION_A", "Cats"),
            option_b: env.string("OPTION_B", "Dogs"),
            queue_timeout,
            startup_timeout: Duration::from_secs(env.bounded(
                "STARTUP_TIMEOUT_SECS",
                60,
                0..=3600,
            )?),
        })
    }
}

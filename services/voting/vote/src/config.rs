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
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            option_a: env.string("OPTION_A", "Cats"),
            option_b: env.string("OPTION_B", "Dogs"),
            queue_timeout: Duration::from_millis(env.bounded(
                "QUEUE_TIMEOUT_MS",
                crate::DEFAULT_QUEUE_TIMEOUT.as_millis() as u64,
                50..=30_000,
            )?),
            startup_timeout: Duration::from_secs(env.bounded(
                "STARTUP_TIMEOUT_SECS",
                60,
                0..=3600,
            )?),
        })
    }
}

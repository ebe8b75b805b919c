use std::time::Duration;

use platform::db::DatabaseConfig;
use platform::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`, or host/user settings with the password from a secret.
    pub database: DatabaseConfig,
    pub option_a: String,
    pub option_b: String,
    /// Safety net besides LISTEN: re-read the totals this often.
    pub fallback_poll: Duration,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            database: DatabaseConfig::from_env(env)?,
            option_a: env.string("OPTION_A", "Cats"),
            option_b: env.string("OPTION_B", "Dogs"),
            fallback_poll: Duration::from_millis(env.bounded(
                "FALLBACK_POLL_MS",
                5000u64,
                100..=600_000,
            )?),
        })
    }
}

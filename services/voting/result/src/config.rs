use std::time::Duration;

use platform::{CommonConfig, ConfigError, Env};
use sqlx::postgres::PgConnectOptions;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database: PgConnectOptions,
    pub option_a: String,
    pub option_b: String,
    /// Safety net besides LISTEN: re-read the totals this often.
    pub fallback_poll: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            database: env
                .database_url("DATABASE_URL", "postgres://postgres:postgres@db/postgres")?,
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

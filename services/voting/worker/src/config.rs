use std::time::Duration;

use platform::db::DatabaseConfig;
use platform::{CommonConfig, ConfigError, Env};
use sqlx::postgres::PgConnectOptions;

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
    /// Times a single vote that Postgres rejects as invalid (SQLSTATE class 22, 23 or 54)
    /// is tried before it goes to the dead-letter list.
    pub rejected_attempts: u32,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, crate::DEFAULT_PORT)?,
            redis: env.redis_url("REDIS_URL", "redis://redis:6379/0")?,
            database: {
                // The password may come from a secret and be swapped on rotation; the
                // session timeouts stay part of every connect option set.
                let mut database = DatabaseConfig::from_env(env)?;
                database.options = with_session_timeouts(database.options, env)?;
                database
            },
            // Capped: a claimed batch is moved with one Lua call whose argument count is
            // limited, and one transaction should stay short.
            batch_size: env.bounded("BATCH_SIZE", 1000usize, 1..=5000)?,
            lease: Duration::from_secs(env.bounded("LEASE_SECS", 30u64, 1..=3600)?),
            idle_poll: Duration::from_millis(env.bounded("IDLE_POLL_MS", 10u64, 1..=5000)?),
            worker_id: env.string("WORKER_ID", &platform::hostname()),
            rejected_attempts: env.bounded("REJECTED_VOTE_ATTEMPTS", 3u32, 1..=100)?,
        })
    }
}

/// Session settings that keep one stuck transaction from stalling every worker: without
/// them a session holding the writers' advisory lock or a `vote_counts` row lock (a hung
/// worker, an operator's open `psql` transaction) makes all workers wait forever. A
/// statement that times out fails like any transient error: the batch is retried with
/// backoff, keeps its claim, and nothing is lost. `idle_in_transaction_session_timeout`
/// has Postgres end a worker session that stopped mid-transaction (e.g. a frozen
/// process), which releases the locks it held.
fn with_session_timeouts(
    options: PgConnectOptions,
    env: &Env,
) -> Result<PgConnectOptions, ConfigError> {
    let statement = env.bounded("DB_STATEMENT_TIMEOUT_MS", 30_000u64, 100..=3_600_000)?;
    let lock = env.bounded("DB_LOCK_TIMEOUT_MS", 5_000u64, 10..=3_600_000)?;
    let idle = env.bounded(
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        60_000u64,
        100..=3_600_000,
    )?;
    // Plain numbers are milliseconds for these three settings.
    Ok(options.options([
        ("statement_timeout", statement.to_string()),
        ("lock_timeout", lock.to_string()),
        ("idle_in_transaction_session_timeout", idle.to_string()),
    ]))
}

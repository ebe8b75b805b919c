//! Postgres pools. TLS follows the URL's `sslmode` (`require` for RDS, which enforces
//! TLS from Postgres 15); every acquire is bounded so a dead database surfaces as an
//! error, never a hang.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::retry::Backoff;

#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

fn pool_options(settings: PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // Validate pooled connections so that a restarted server's dead sockets are
        // replaced instead of failing the next query.
        .test_before_acquire(true)
}

/// A pool that connects on first use: for services that must serve even while the
/// database is down (readiness reports it).
pub fn lazy_pool(options: PgConnectOptions, settings: PoolSettings) -> PgPool {
    pool_options(settings).connect_lazy_with(options)
}

/// A pool whose first connection succeeded, retrying with backoff for the given budget.
pub async fn connect_with_retry(
    options: PgConnectOptions,
    settings: PoolSettings,
    backoff: Backoff,
) -> Result<PgPool, sqlx::Error> {
    let pool = lazy_pool(options, settings);
    backoff
        .retry("connecting to Postgres", || ping(&pool))
        .await?;
    Ok(pool)
}

pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

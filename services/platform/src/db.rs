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

/// Options whose sessions work in `schema` (via `search_path`). Services that share one
/// database each keep their tables, and their own `_sqlx_migrations` history, in their own
/// schema: sqlx's history table is unqualified, so without this the services' migration
/// versions would collide in one shared table.
pub fn in_schema(options: PgConnectOptions, schema: &str) -> PgConnectOptions {
    options.options([("search_path", schema)])
}

/// Creates `schema` when missing and applies `migrator` inside it. `pool` must come from
/// [`in_schema`] options for the same schema. Safe to run from several replicas at once:
/// sqlx serialises migrators on an advisory lock, and a concurrent `CREATE SCHEMA` race is
/// tolerated.
pub async fn migrate_schema(
    pool: &PgPool,
    schema: &str,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        schema.replace('"', "\"\"")
    );
    if let Err(err) = sqlx::query(&create).execute(pool).await {
        // Two replicas creating the schema at the same instant: one loses with a unique
        // violation although the schema now exists.
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(pool)
                .await?;
        if !exists {
            return Err(err.into());
        }
    }
    migrator.run(pool).await
}

/// A service's own schema in a database it may share with other services: the
/// `DATABASE_URL` and `DATABASE_POOL_SIZE` settings plus the schema it works in.
#[derive(Debug, Clone)]
pub struct SchemaDatabase {
    pub options: PgConnectOptions,
    pub settings: PoolSettings,
    pub schema: &'static str,
}

impl SchemaDatabase {
    pub fn from_env(env: &crate::Env, schema: &'static str) -> Result<Self, crate::ConfigError> {
        Ok(Self {
            options: env
                .database_url("DATABASE_URL", "postgres://postgres:postgres@db/postgres")?,
            settings: PoolSettings {
                max_connections: env.bounded("DATABASE_POOL_SIZE", 10u32, 1..=200)?,
                ..PoolSettings::default()
            },
            schema,
        })
    }

    /// A pool working in the schema; connects on first use.
    pub fn pool(&self) -> PgPool {
        lazy_pool(in_schema(self.options.clone(), self.schema), self.settings)
    }

    /// Creates the schema when missing and applies `migrator` in it.
    pub async fn migrate(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<(), sqlx::migrate::MigrateError> {
        migrate_schema(&self.pool(), self.schema, migrator).await?;
        tracing::info!(schema = self.schema, "migrations applied");
        Ok(())
    }
}

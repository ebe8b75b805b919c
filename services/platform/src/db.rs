//! Postgres pools. TLS follows `sslmode` (`require` for RDS, which enforces TLS from
//! Postgres 15); every acquire is bounded so a dead database surfaces as an error, never a
//! hang. Where the password comes from, and how it follows a rotation, is
//! [`DatabaseConfig`]'s business (see [`credentials`]); the roles services log in as are
//! made by [`roles`].

pub mod credentials;
pub mod roles;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
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

/// The `event` field of the log line written for every failed Postgres connection. The
/// provisioner's CloudWatch metric filter `{ $.event = "db_connection_failed" }` counts
/// these lines (JSON logs flatten fields into the top level) for its connection alarm:
/// keep the two in step.
pub const CONNECTION_FAILED_EVENT: &str = "db_connection_failed";

/// Whether `err` means no usable connection could be had (network, TLS, authentication,
/// pool exhausted or closed), as opposed to a query that failed on a live connection.
pub fn is_connection_failure(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        // Class 08 (connection exception), 28 (invalid authorization), 57P03 (cannot
        // connect now: starting up or shutting down), 3D000 (no such database).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("28") || c == "57P03" || c == "3D000"
        }),
        _ => false,
    }
}

/// Logs a connection failure with the stable `event` marker; other errors are the
/// caller's to report. A refused login also asks the password refreshers to re-read their
/// secret ([`credentials::note_auth_failure`]): the password may just have been rotated.
pub fn log_connection_failure(err: &sqlx::Error) {
    credentials::note_auth_failure(err);
    if is_connection_failure(err) {
        tracing::warn!(event = CONNECTION_FAILED_EVENT, error = %err, "Postgres connection failed");
    }
}

/// Checks the database answers. Readiness probes and the start-up retry both go through
/// here, so every failed connection attempt is logged once with the marker.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    let result = sqlx::query("SELECT 1").execute(pool).await.map(|_| ());
    if let Err(err) = &result {
        log_connection_failure(err);
    }
    result
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

/// The URL services use when nothing is configured: the Compose stacks' Postgres.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@db/postgres";

/// Where a service's database is and how it logs in, from the environment:
///
/// - `DATABASE_URL` (Compose, tests, running natively): everything in one URL, the
///   password static.
/// - otherwise `DATABASE_HOST`, `DATABASE_PORT` (5432), `DATABASE_NAME`, `DATABASE_USER`,
///   `DATABASE_SSLMODE` (`require`) as plain settings, and the password either from
///   `DATABASE_PASSWORD_SECRET` — a Secrets Manager secret read at run time and re-read
///   when it may have rotated ([`credentials`]; what `provision` gives services) — or from
///   `DATABASE_PASSWORD` (static; a plain string or the JSON of an RDS secret, which ECS
///   injects fresh when a one-off task starts).
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Everything but a password read from a secret.
    pub options: PgConnectOptions,
    /// The secret holding the password, when it is read at run time.
    pub password_secret: Option<String>,
    /// How often that secret is re-read without a failed login asking.
    pub refresh: Duration,
}

impl DatabaseConfig {
    pub fn from_env(env: &crate::Env) -> Result<Self, crate::ConfigError> {
        let refresh = Duration::from_secs(env.bounded(
            "DATABASE_PASSWORD_REFRESH_SECONDS",
            credentials::DEFAULT_REFRESH.as_secs(),
            5..=86_400,
        )?);
        let host = env.raw("DATABASE_HOST").filter(|h| !h.trim().is_empty());
        let (Some(host), None) = (host, env.raw("DATABASE_URL")) else {
            return Ok(Self {
                options: env.database_url("DATABASE_URL", DEFAULT_DATABASE_URL)?,
                password_secret: None,
                refresh,
            });
        };
        let sslmode: PgSslMode = env.parse(
            "DATABASE_SSLMODE",
            PgSslMode::Require,
            "disable, allow, prefer, require, verify-ca or verify-full",
        )?;
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(host.trim())
            .port(env.port_named("DATABASE_PORT", 5432)?)
            .database(&env.required("DATABASE_NAME", "the database name, e.g. votes")?)
            .username(&env.required("DATABASE_USER", "the role to log in as, e.g. result")?)
            .ssl_mode(sslmode);
        let password_secret = env
            .raw("DATABASE_PASSWORD_SECRET")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if password_secret.is_none() {
            let value = env.required(
                "DATABASE_PASSWORD",
                "the password, or set DATABASE_PASSWORD_SECRET to the ARN of a secret holding it",
            )?;
            let password =
                credentials::password_from_secret("DATABASE_PASSWORD", &value).map_err(|err| {
                    crate::ConfigError::Invalid {
                        name: "DATABASE_PASSWORD".into(),
                        value: "***".into(),
                        expected: "a password or JSON with a \"password\" field".into(),
                        detail: format!(" ({err})"),
                    }
                })?;
            options = options.password(&password);
        }
        Ok(Self {
            options,
            password_secret,
            refresh,
        })
    }

    /// A pool that connects on first use, working with `options` (e.g. [`in_schema`]
    /// applied to [`Self::options`]). With a password secret, a background task reads it
    /// and keeps the pool's password current until the pool is closed; connections tried
    /// before the first read fail like any refused login (readiness reports it).
    pub fn lazy_pool_with(&self, options: PgConnectOptions, settings: PoolSettings) -> PgPool {
        let pool = lazy_pool(options.clone(), settings);
        if let Some(secret) = &self.password_secret {
            let (pool, secret, every) = (pool.clone(), secret.clone(), self.refresh);
            tokio::spawn(async move {
                let source = credentials::SecretsManager::from_env().await;
                credentials::keep_fresh(source, secret, pool, options, every).await;
            });
        }
        pool
    }

    /// [`Self::lazy_pool_with`] the configured options.
    pub fn lazy_pool(&self, settings: PoolSettings) -> PgPool {
        self.lazy_pool_with(self.options.clone(), settings)
    }

    /// `options` with the password read now, when it comes from a secret.
    pub async fn with_current_password(
        &self,
        options: PgConnectOptions,
    ) -> Result<PgConnectOptions, credentials::CredentialsError> {
        match &self.password_secret {
            None => Ok(options),
            Some(secret) => {
                let value = credentials::SecretsManager::from_env()
                    .await
                    .fetch(secret)
                    .await?;
                let password = credentials::password_from_secret(secret, &value)?;
                Ok(options.password(&password))
            }
        }
    }

    /// The configured options with the password read now (one-off tasks).
    pub async fn current_options(&self) -> Result<PgConnectOptions, credentials::CredentialsError> {
        self.with_current_password(self.options.clone()).await
    }

    /// Like [`Self::lazy_pool_with`], but the password is read before the pool is made, so
    /// its first connection already logs in: for one-off commands (migrate, seed) that
    /// would otherwise race the background read and fail at once.
    pub async fn ready_pool_with(
        &self,
        options: PgConnectOptions,
        settings: PoolSettings,
    ) -> Result<PgPool, credentials::CredentialsError> {
        let options = self.with_current_password(options).await?;
        Ok(self.lazy_pool_with(options, settings))
    }
}

/// A service's own schema in a database it may share with other services: the
/// [`DatabaseConfig`] and `DATABASE_POOL_SIZE` settings plus the schema it works in.
#[derive(Debug, Clone)]
pub struct SchemaDatabase {
    pub database: DatabaseConfig,
    pub settings: PoolSettings,
    pub schema: &'static str,
}

impl SchemaDatabase {
    pub fn from_env(env: &crate::Env, schema: &'static str) -> Result<Self, crate::ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            settings: PoolSettings {
                max_connections: env.bounded("DATABASE_POOL_SIZE", 10u32, 1..=200)?,
                ..PoolSettings::default()
            },
            schema,
        })
    }

    /// A pool working in the schema; connects on first use.
    pub fn pool(&self) -> PgPool {
        self.database.lazy_pool_with(
            in_schema(self.database.options.clone(), self.schema),
            self.settings,
        )
    }

    /// A pool working in the schema whose password was read first (one-off commands).
    pub async fn ready_pool(&self) -> Result<PgPool, credentials::CredentialsError> {
        self.database
            .ready_pool_with(
                in_schema(self.database.options.clone(), self.schema),
                self.settings,
            )
            .await
    }

    /// Creates the schema when missing and applies `migrator` in it.
    pub async fn migrate(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<(), crate::StartupError> {
        migrate_schema(&self.ready_pool().await?, self.schema, migrator).await?;
        tracing::info!(schema = self.schema, "migrations applied");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failed_connection_logs_the_marker_the_metric_filter_matches() {
        let captured = Captured::default();
        let sink = captured.clone();
        // The JSON layout of `telemetry::init(LogFormat::Json)`.
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(move || sink.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // Nothing listens on port 1 of loopback: the connection is refused.
        let options: PgConnectOptions = "postgres://nobody@127.0.0.1:1/none".parse().unwrap();
        let pool = lazy_pool(
            options,
            PoolSettings {
                max_connections: 1,
                acquire_timeout: Duration::from_secs(2),
            },
        );
        let err = ping(&pool).await.unwrap_err();
        assert!(is_connection_failure(&err), "{err:?}");
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .filter(|line: &serde_json::Value| line["event"] == CONNECTION_FAILED_EVENT)
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["event"], "db_connection_failed");
    }

    #[test]
    fn query_errors_on_a_live_connection_are_not_connection_failures() {
        assert!(!is_connection_failure(&sqlx::Error::RowNotFound));
        assert!(is_connection_failure(&sqlx::Error::PoolTimedOut));
    }
}

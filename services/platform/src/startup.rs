//! Starting a service binary: what can stop it, with the next step for the operator, and
//! the steps every `main` takes (`--probe`, configuration, telemetry, binding `PORT`,
//! serving until SIGTERM), written once.
//!
//! ```no_run
//! use platform::{CommonConfig, ConfigError, Env, Shutdown, StartupError};
//! use tokio::net::TcpListener;
//!
//! const DEFAULT_PORT: u16 = 8080;
//!
//! struct Config {
//!     common: CommonConfig,
//! }
//!
//! impl Config {
//!     fn from_env(env: &Env) -> Result<Self, ConfigError> {
//!         Ok(Self { common: CommonConfig::from_env(env, DEFAULT_PORT)? })
//!     }
//! }
//!
//! platform::common_config!(Config);
//!
//! async fn run(config: Config, listener: TcpListener, shutdown: Shutdown) -> Result<(), StartupError> {
//!     let app = platform::http::with_platform(axum::Router::new(), platform::Readiness::new());
//!     platform::http::serve_service("example", listener, app, shutdown).await
//! }
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     Ok(platform::startup::main("example", DEFAULT_PORT, Config::from_env, run).await?)
//! }
//! ```

use tokio::net::TcpListener;

use crate::{CommonConfig, ConfigError, Env, Shutdown};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Not a `source`: the message already carries it, so `main`'s report says it once.
    #[error("invalid configuration: {0}")]
    Config(crate::ConfigError),
    #[error("cannot reach Redis: {0} — check REDIS_URL and that Redis is running and reachable")]
    Redis(#[from] redis::RedisError),
    #[error("cannot reach Postgres: {0} — check DATABASE_URL and that Postgres is running and reachable")]
    Postgres(#[from] sqlx::Error),
    #[error("cannot apply database migrations: {0} — check that the DATABASE_URL user may create tables")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Credentials(#[from] crate::db::credentials::CredentialsError),
    #[error("cannot listen on port {port}: {source} — set PORT to a free port")]
    Bind { port: u16, source: std::io::Error },
    /// The outbound HTTP client for `dependency` could not be built (its TLS setup).
    #[error("cannot set up the HTTP client for {dependency}: {source}")]
    HttpClient {
        dependency: &'static str,
        source: reqwest::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

impl From<ConfigError> for StartupError {
    fn from(err: ConfigError) -> Self {
        Self::Config(err)
    }
}

impl StartupError {
    /// For `map_err` on building the HTTP client that calls `dependency`.
    pub fn http_client(dependency: &'static str) -> impl FnOnce(reqwest::Error) -> Self {
        move |source| Self::HttpClient { dependency, source }
    }
}

/// Implements `AsRef<CommonConfig>` (port and log format, what [`load`] and [`serve`]
/// need) for a configuration type with a `common: CommonConfig` field.
#[macro_export]
macro_rules! common_config {
    ($config:ty) => {
        impl AsRef<$crate::CommonConfig> for $config {
            fn as_ref(&self) -> &$crate::CommonConfig {
                &self.common
            }
        }
    };
}

/// The configuration from the process environment (`from_env` is the service's
/// `Config::from_env`), with telemetry started in the log format it names.
pub fn load<C: AsRef<CommonConfig>>(
    from_env: impl FnOnce(&Env) -> Result<C, ConfigError>,
) -> Result<C, StartupError> {
    let config = from_env(&Env::from_process())?;
    crate::telemetry::init(config.as_ref().log_format);
    Ok(config)
}

/// Binds `PORT` on all interfaces and runs `run` on it until SIGTERM or SIGINT, then drains
/// for [`crate::shutdown::DEFAULT_DRAIN`]. With `METRICS_NAMESPACE` set, the service's
/// metrics also go to CloudWatch as EMF lines on stdout ([`crate::emf`]), under the
/// `Service` dimension `service` unless `METRICS_SERVICE` names another.
pub async fn serve<C: AsRef<CommonConfig>>(
    service: &str,
    config: C,
    run: impl AsyncFnOnce(C, TcpListener, Shutdown) -> Result<(), StartupError>,
) -> Result<(), StartupError> {
    // The recorder first: a metric recorded before it exists is dropped, and `run` may
    // start background work (result's first read of the totals) before its router
    // reaches `http::with_platform`.
    crate::metrics::handle();
    let shutdown = Shutdown::on_signals(crate::shutdown::DEFAULT_DRAIN);
    crate::emf::start(&Env::from_process(), service, &shutdown)?;
    let listener = crate::http::listen(config.as_ref().port).await?;
    run(config, listener, shutdown).await
}

/// The whole `main` of service `service` (its name in logs and metrics) without
/// subcommands: `--probe` (runs the container health check against `default_port` unless
/// `PORT` says otherwise, and exits), then [`load`] and [`serve`].
pub async fn main<C: AsRef<CommonConfig>>(
    service: &str,
    default_port: u16,
    from_env: impl FnOnce(&Env) -> Result<C, ConfigError>,
    run: impl AsyncFnOnce(C, TcpListener, Shutdown) -> Result<(), StartupError>,
) -> Result<(), StartupError> {
    crate::probe::exit_if_requested(default_port);
    let config = load(from_env)?;
    serve(service, config, run).await
}

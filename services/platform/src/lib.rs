//! Shared plumbing for every Slipway service: configuration from the environment,
//! telemetry, liveness/readiness/metrics endpoints, graceful shutdown, the container
//! `--probe` and resilient Postgres/Redis connections. Services compose these pieces;
//! none of them re-implements one.

pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod emf;
pub mod health;
pub mod http;
pub mod metrics;
pub mod outbound;
pub mod probe;
pub mod retry;
pub mod shutdown;
pub mod startup;
pub mod telemetry;

pub use config::{CommonConfig, ConfigError, Env};
pub use health::Readiness;
pub use shutdown::Shutdown;
pub use startup::StartupError;

/// The name this process runs under, shown on pages as the "container ID".
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

//! What can stop a service from starting, with the next step for the operator.

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
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
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

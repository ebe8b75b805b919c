//! What the worker's binary tests share.

use std::process::Command;

use testkit::{TestPostgres, TestRedis};

/// The worker binary serving its probes on `port`, draining `redis` into `postgres` as
/// `worker_id`, logging JSON; the caller adds its own settings and output handling.
pub fn worker_command(
    redis: &TestRedis,
    postgres: &TestPostgres,
    port: u16,
    worker_id: &str,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis.url())
        .env("DATABASE_URL", postgres.url())
        .env("LOG_FORMAT", "json")
        .env("WORKER_ID", worker_id);
    command
}

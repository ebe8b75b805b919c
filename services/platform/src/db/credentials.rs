//! Database passwords that survive rotation.
//!
//! On AWS a service gets `DATABASE_HOST`/`PORT`/`NAME`/`USER` as plain settings and
//! `DATABASE_PASSWORD_SECRET`, the ARN of a Secrets Manager secret holding its password.
//! The password is never copied into the task definition: the service reads the secret
//! itself (its ECS task role may `GetSecretValue` on exactly that secret) when its pool
//! is made, every [`DEFAULT_REFRESH`] after, and at once when Postgres refuses a login
//! (SQLSTATE class 28, see [`note_auth_failure`]). Each read swaps the pool's connect
//! options (`Pool::set_connect_options`): connections already open stay (Postgres does not
//! drop sessions when a password changes), new ones log in with the new password. So a
//! rotation — RDS rotating a managed secret, or an operator changing a role's password —
//! needs no redeploy and no restart; at worst a connection attempt fails, which triggers
//! the re-read, and the next attempt succeeds.
//!
//! Why not RDS IAM authentication: it would need a signed token per connection (SigV4
//! presigning in every service), `rds_iam` granted per role and `rds-db:connect` per
//! role in IAM, and it is capped at 200 new connections per second per instance; reading
//! one secret keeps the services on plain password authentication that works the same
//! against the local Postgres of Compose and the tests.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::sync::Notify;

/// How often a pool re-reads its password secret without being asked.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// The fewest seconds between two reads triggered by failed logins: a burst of refused
/// connections costs one `GetSecretValue`, not one each.
pub const MIN_REREAD: Duration = Duration::from_secs(2);

/// Why the password could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read secret {secret}: {message} — check that the task role may secretsmanager:GetSecretValue on it and that it exists")]
    Read { secret: String, message: String },
    #[error(
        "secret {secret} holds no password: store a plain string or JSON with a \"password\" field"
    )]
    NoPassword { secret: String },
}

/// Secrets Manager through the AWS SDK's default chain: on ECS the task role's container
/// credentials and the task's region; `AWS_ENDPOINT_URL` points it elsewhere (tests use a
/// local moto server).
#[derive(Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub async fn from_env() -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await;
        Self {
            client: aws_sdk_secretsmanager::Client::new(&config),
        }
    }
}

impl SecretsManager {
    /// The secret's current value (`AWSCURRENT`).
    pub async fn fetch(&self, secret: &str) -> Result<String, CredentialsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .map_err(|err| CredentialsError::Read {
                secret: secret.to_owned(),
                message: aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
            })?;
        out.secret_string()
            .map(str::to_owned)
            .ok_or_else(|| CredentialsError::NoPassword {
                secret: secret.to_owned(),
            })
    }
}

/// The password in a secret's value: the `password` field of a JSON object (the shape of
/// RDS-managed master secrets and of the per-service secrets `provision` creates), else
/// the whole string.
pub fn password_from_secret(secret: &str, value: &str) -> Result<String, CredentialsError> {
    let password = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(fields)) => fields
            .get("password")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        _ => Some(value.to_owned()),
    };
    password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| CredentialsError::NoPassword {
            secret: secret.to_owned(),
        })
}

/// Rung by [`note_auth_failure`]; every refresher of the process listens. One signal for
/// the process is enough: a service has one database, and a needless re-read is cheap.
fn auth_failures() -> &'static Notify {
    static SIGNAL: OnceLock<Notify> = OnceLock::new();
    SIGNAL.get_or_init(Notify::new)
}

/// Whether Postgres refused the login (class 28: invalid authorization, e.g. 28P01 wrong
/// password, 28000 no such role or no pg_hba entry).
pub fn is_auth_failure(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("28")))
}

/// Asks every password refresher to re-read its secret now when `err` is a refused login.
/// [`super::log_connection_failure`] calls it, so readiness probes and the services'
/// error paths all report.
pub fn note_auth_failure(err: &sqlx::Error) {
    if is_auth_failure(err) {
        auth_failures().notify_waiters();
    }
}

/// Keeps `pool`'s password in step with `secret` until the pool is closed: reads it now,
/// then every `every` and after each refused login (at most once per [`MIN_REREAD`]).
/// `base` carries everything but the password. A read that fails keeps the last password
/// and is retried on the next occasion.
pub async fn keep_fresh(
    source: SecretsManager,
    secret: String,
    pool: PgPool,
    base: PgConnectOptions,
    every: Duration,
) {
    let mut current: Option<String> = None;
    let mut last_read: Option<Instant> = None;
    // Failed reads back off (2 s doubling to a minute): a missing permission must not
    // turn into a GetSecretValue storm.
    let backoff = crate::retry::Backoff {
        initial: MIN_REREAD,
        max_delay: Duration::from_secs(60),
        max_elapsed: None,
    };
    let mut failures = 0u32;
    loop {
        if pool.is_closed() {
            return;
        }
        if let Some(at) = last_read {
            // Never re-read faster than MIN_REREAD, whatever asks.
            tokio::time::sleep(MIN_REREAD.saturating_sub(at.elapsed())).await;
        }
        last_read = Some(Instant::now());
        match source
            .fetch(&secret)
            .await
            .and_then(|value| password_from_secret(&secret, &value))
        {
            Ok(password) => {
                failures = 0;
                if current.as_ref() != Some(&password) {
                    pool.set_connect_options(base.clone().password(&password));
                    if current.is_some() {
                        tracing::info!(secret = %secret, "database password changed: new connections use the new one");
                    }
                    current = Some(password);
                }
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(error = %err, "cannot refresh the database password");
            }
        }
        // After a failed read (or before the first success) retry sooner than `every`.
        let wait = if failures > 0 || current.is_none() {
            backoff.delay(failures.max(1)).min(every)
        } else {
            every
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = auth_failures().notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_json_or_the_whole_value() {
        let json = r#"{"username":"result","password":"s3cr:et@/x"}"#;
        assert_eq!(password_from_secret("s", json).unwrap(), "s3cr:et@/x");
        assert_eq!(password_from_secret("s", "plain").unwrap(), "plain");
        let err = password_from_secret("arn:s", r#"{"username":"u"}"#).unwrap_err();
        assert!(err.to_string().contains("arn:s"), "{err}");
        assert!(password_from_secret("s", "").is_err());
    }
}

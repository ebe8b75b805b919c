//! Configuration from environment variables, validated once at start.
//!
//! Every accessor names the variable and what it expects, so a bad deployment fails
//! with a message an operator can act on instead of a panic deep inside a handler.

use std::collections::HashMap;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::telemetry::LogFormat;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is required: set it to {expected}")]
    Missing { name: String, expected: String },
    #[error("environment variable {name}={value:?} is invalid: expected {expected}{detail}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
        detail: String,
    },
}

impl ConfigError {
    fn invalid(name: &str, value: &str, expected: &str, detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        Self::Invalid {
            name: name.to_owned(),
            value: value.to_owned(),
            expected: expected.to_owned(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
        }
    }
}

/// A snapshot of the environment. Services read it once; tests build one from pairs.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The raw value, `None` when unset. An empty value is returned as `Some("")` so that
    /// variables where "empty" has a meaning (e.g. `CRASH_ON_N=` disables) can tell.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A non-empty string, or the default when unset or empty.
    pub fn string(&self, name: &str, default: &str) -> String {
        match self.raw(name) {
            Some(value) if !value.trim().is_empty() => value.to_owned(),
            _ => default.to_owned(),
        }
    }

    pub fn required(&self, name: &str, expected: &str) -> Result<String, ConfigError> {
        match self.raw(name) {
            Some(value) if !value.trim().is_empty() => Ok(value.to_owned()),
            _ => Err(ConfigError::Missing {
                name: name.to_owned(),
                expected: expected.to_owned(),
            }),
        }
    }

    /// A value parsed with `FromStr`, or `default` when unset or empty.
    pub fn parse<T>(&self, name: &str, default: T, expected: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.raw(name) {
            Some(value) if !value.trim().is_empty() => value
                .trim()
                .parse()
                .map_err(|err| ConfigError::invalid(name, value, expected, err)),
            _ => Ok(default),
        }
    }

    /// An integer within `range`, or `default` when unset.
    pub fn bounded<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let value = self.parse(name, default, &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::invalid(
                name,
                &value.to_string(),
                &expected,
                "",
            ))
        }
    }

    /// The HTTP listener port (`PORT`).
    pub fn port(&self, default: u16) -> Result<u16, ConfigError> {
        self.port_named("PORT", default)
    }

    /// A TCP port number in variable `name`.
    pub fn port_named(&self, name: &str, default: u16) -> Result<u16, ConfigError> {
        self.parse(name, default, "a TCP port number from 0 to 65535")
    }

    /// A Postgres URL (`postgres://user:pass@host:port/db?sslmode=require`).
    pub fn database_url(&self, name: &str, default: &str) -> Result<PgConnectOptions, ConfigError> {
        let value = self.string(name, default);
        let expected =
            "a URL like postgres://user:password@host:5432/dbname (sslmode=require for TLS)";
        if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
            return Err(ConfigError::invalid(name, &redact(&value), expected, ""));
        }
        PgConnectOptions::from_str(&value)
            .map_err(|err| ConfigError::invalid(name, &redact(&value), expected, err))
    }

    /// A Redis URL (`redis://` or, for TLS such as ElastiCache in-transit encryption,
    /// `rediss://`), with an optional `:password@` or `user:password@` AUTH token.
    pub fn redis_url(&self, name: &str, default: &str) -> Result<redis::Client, ConfigError> {
        let value = self.string(name, default);
        let expected = "a URL like redis://host:6379/0 or rediss://:token@host:6379/0";
        if !(value.starts_with("redis://") || value.starts_with("rediss://")) {
            return Err(ConfigError::invalid(name, &redact(&value), expected, ""));
        }
        redis::Client::open(value.as_str())
            .map_err(|err| ConfigError::invalid(name, &redact(&value), expected, err))
    }

    /// An absolute http(s) base URL without a trailing slash.
    pub fn http_url(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let value = self.string(name, default);
        let rest = value
            .strip_prefix("http://")
            .or_else(|| value.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') => {
                Ok(value.trim_end_matches('/').to_owned())
            }
            _ => Err(ConfigError::invalid(
                name,
                &value,
                "an absolute URL like http://host:port",
                "",
            )),
        }
    }

    pub fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.raw("LOG_FORMAT").map(str::trim) {
            None | Some("") => Ok(LogFormat::default_for_terminal()),
            Some(value) => value
                .parse()
                .map_err(|()| ConfigError::invalid("LOG_FORMAT", value, "json or text", "")),
        }
    }
}

/// Hides the password of a URL so that config errors can be logged safely.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://***@{host}"),
        },
        None => url.to_owned(),
    }
}

/// The settings every service shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub port: u16,
    pub log_format: LogFormat,
}

impl CommonConfig {
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        Ok(Self {
            port: env.port(default_port)?,
            log_format: env.log_format()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_defaults_and_rejects_garbage_naming_the_variable() {
        assert_eq!(Env::default().port(8080), Ok(8080));
        assert_eq!(Env::from_pairs([("PORT", "9000")]).port(8080), Ok(9000));
        let err = Env::from_pairs([("PORT", "eighty")])
            .port(8080)
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("PORT"), "{message}");
        assert!(message.contains("TCP port"), "{message}");
        assert!(Env::from_pairs([("PORT", "70000")]).port(8080).is_err());
    }

    #[test]
    fn bounded_rejects_out_of_range() {
        let env = Env::from_pairs([("BATCH_SIZE", "0")]);
        let err = env.bounded("BATCH_SIZE", 100u32, 1..=5000).unwrap_err();
        assert!(err.to_string().contains("from 1 to 5000"), "{err}");
        assert_eq!(
            Env::default().bounded("BATCH_SIZE", 100u32, 1..=5000),
            Ok(100)
        );
    }

    #[test]
    fn urls_are_validated_and_passwords_redacted() {
        let env = Env::from_pairs([
            ("REDIS_URL", "http://nope"),
            ("DATABASE_URL", "mysql://root:secret@db/x"),
        ]);
        let err = env
            .redis_url("REDIS_URL", "redis://redis:6379/0")
            .unwrap_err();
        assert!(err.to_string().contains("rediss://"), "{err}");
        let err = env
            .database_url("DATABASE_URL", "postgres://db/postgres")
            .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");

        let env = Env::from_pairs([("REDIS_URL", "rediss://:token@cache.example:6379/0")]);
        assert!(env.redis_url("REDIS_URL", "").is_ok());
        let env = Env::from_pairs([(
            "DATABASE_URL",
            "postgres://app:pw@db.example:5432/app?sslmode=require",
        )]);
        assert!(env.database_url("DATABASE_URL", "").is_ok());
    }

    #[test]
    fn http_url_requires_scheme_and_host() {
        let env = Env::from_pairs([("SERVER_URL", "api:4567")]);
        assert!(env.http_url("SERVER_URL", "").is_err());
        let env = Env::from_pairs([("SERVER_URL", "http://api:4567/")]);
        assert_eq!(env.http_url("SERVER_URL", "").unwrap(), "http://api:4567");
    }

    #[test]
    fn log_format_parses() {
        let env = Env::from_pairs([("LOG_FORMAT", "xml")]);
        assert!(env.log_format().is_err());
        let env = Env::from_pairs([("LOG_FORMAT", "text")]);
        assert_eq!(env.log_format(), Ok(LogFormat::Text));
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(redact("postgres://u:p@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("rediss://:tok@h:6379"), "rediss://:***@h:6379");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }
}

//! The environment that `docker-compose.yml` declares for a service, so that end-to-end
//! and acceptance tests start the native binaries with exactly the variables the
//! containers get: a variable renamed in a service but not in the compose file (or the
//! other way round) fails a test instead of a deployment.
//!
//! ```no_run
//! use testkit::compose::{service_environment, Loopback};
//! # let (redis, postgres) = (testkit::TestRedis::start(), testkit::TestPostgres::start());
//! let loopback = Loopback::new()
//!     .port("redis", redis.port())
//!     .url("db", postgres.url());
//! let mut env = loopback.environment_of("worker");
//! // env["REDIS_URL"] == "redis://127.0.0.1:<port>/0"; the port is the test's choice:
//! env.insert("PORT".into(), testkit::free_port().to_string());
//! # let _ = service_environment("vote");
//! ```
//!
//! Interpolation follows Compose for the forms the file uses: `${VAR:-default}`,
//! `${VAR}`, `$VAR` and `$$` (a literal `$`). Values come from `.env.example` (what a
//! developer gets after `cp .env.example .env`), falling back to the inline defaults;
//! the process environment is ignored so that tests do not depend on the caller's shell.
//! A variable that is neither set nor defaulted is an error, not an empty string.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// What went wrong reading the compose file or rewriting a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeError(String);

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ComposeError {}

fn error(message: impl Into<String>) -> ComposeError {
    ComposeError(message.into())
}

/// The workspace root (where `docker-compose.yml` and `.env.example` live).
pub fn workspace_root() -> PathBuf {
    // services/testkit → the workspace root, two levels up.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives two levels below the workspace root")
        .to_path_buf()
}

/// A parsed compose file: YAML anchors and `<<` merge keys resolved, interpolation
/// variables loaded.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    document: Value,
    variables: BTreeMap<String, String>,
}

impl ComposeFile {
    /// `docker-compose.yml` of this workspace, interpolated from `.env.example`.
    pub fn workspace() -> Result<Self, ComposeError> {
        let root = workspace_root();
        let read = |name: &str| {
            std::fs::read_to_string(root.join(name))
                .map_err(|err| error(format!("cannot read {}: {err}", root.join(name).display())))
        };
        Self::parse(&read("docker-compose.yml")?, &read(".env.example")?)
    }

    /// A compose document and the text of a `.env`-style file with its variables.
    pub fn parse(compose_yaml: &str, dotenv: &str) -> Result<Self, ComposeError> {
        let mut document: Value = serde_norway::from_str(compose_yaml)
            .map_err(|err| error(format!("docker-compose.yml is not valid YAML: {err}")))?;
        document
            .apply_merge()
            .map_err(|err| error(format!("docker-compose.yml has a bad `<<` merge: {err}")))?;
        let variables = dotenvy::from_read_iter(dotenv.as_bytes())
            .map(|item| item.map_err(|err| error(format!(".env.example: {err}"))))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            document,
            variables,
        })
    }

    /// The whole document, merge keys applied, not interpolated.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The interpolation variables (from `.env.example`).
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }

    /// The names under `services:`.
    pub fn service_names(&self) -> Vec<String> {
        self.document["services"]
            .as_mapping()
            .map(|services| {
                services
                    .keys()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One service's definition, or an error naming the services that exist.
    pub fn service(&self, name: &str) -> Result<&Value, ComposeError> {
        self.document["services"].get(name).ok_or_else(|| {
            error(format!(
                "docker-compose.yml has no service {name:?}; it has: {}",
                self.service_names().join(", ")
            ))
        })
    }

    /// Compose variable interpolation of one string.
    pub fn interpolate(&self, text: &str) -> Result<String, ComposeError> {
        let lookup = |name: &str| -> Result<Option<String>, String> {
            let valid = name
                .chars()
                .next()
                .is_some_and(|first| !first.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "unsupported interpolation `${{{name}}}` (use ${{VAR}} or ${{VAR:-default}})"
                ));
            }
            match self.variables.get(name) {
                // As in Compose, `:-` treats an empty value like an unset one.
                Some(value) if !value.is_empty() => Ok(Some(value.clone())),
                _ => Err(format!(
                    "variable {name} is not set in .env.example and has no :-default"
                )),
            }
        };
        // `$$` is Compose's escape for a literal `$`.
        text.split("$$")
            .map(|part| {
                shellexpand::env_with_context(part, lookup)
                    .map(|expanded| expanded.into_owned())
                    .map_err(|err| error(format!("in {text:?}: {}", err.cause)))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.join("$"))
    }

    /// The interpolated `environment:` of a service (map or `KEY=value` list form).
    pub fn environment(&self, service: &str) -> Result<BTreeMap<String, String>, ComposeError> {
        let declared = &self.service(service)?["environment"];
        let mut environment = BTreeMap::new();
        match declared {
            Value::Null => {}
            Value::Mapping(pairs) => {
                for (key, value) in pairs {
                    let key = key
                        .as_str()
                        .ok_or_else(|| error(format!("{service}: non-string environment key")))?;
                    let raw = scalar_text(value).ok_or_else(|| {
                        error(format!("{service}: environment {key} is not a scalar"))
                    })?;
                    environment.insert(key.to_owned(), self.interpolate(&raw)?);
                }
            }
            Value::Sequence(items) => {
                for item in items {
                    let entry = item
                        .as_str()
                        .ok_or_else(|| error(format!("{service}: environment entry {item:?}")))?;
                    let (key, raw) = entry.split_once('=').ok_or_else(|| {
                        error(format!(
                            "{service}: environment entry {entry:?} has no value; tests need one"
                        ))
                    })?;
                    environment.insert(key.to_owned(), self.interpolate(raw)?);
                }
            }
            other => {
                return Err(error(format!(
                    "{service}: environment must be a map or a list, not {other:?}"
                )))
            }
        }
        Ok(environment)
    }
}

/// A YAML scalar as Compose reads it (numbers and booleans become their text).
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// The interpolated environment of `service` in this workspace's docker-compose.yml.
/// Panics with the reason, as test helpers do.
pub fn service_environment(service: &str) -> BTreeMap<String, String> {
    ComposeFile::workspace()
        .and_then(|compose| compose.environment(service))
        .unwrap_or_else(|err| panic!("environment of compose service {service}: {err}"))
}

#[derive(Debug, Clone)]
enum Target {
    /// Keep scheme, credentials, path and query; connect to 127.0.0.1:port.
    Port(u16),
    /// Replace the whole value (e.g. a test server's own database URL).
    Url(String),
}

/// Maps compose hostnames (`redis`, `db`, `sums-api`, …) to loopback endpoints so that a
/// service's compose environment can drive a native test run.
#[derive(Debug, Clone, Default)]
pub struct Loopback {
    hosts: BTreeMap<String, Target>,
}

impl Loopback {
    pub fn new() -> Self {
        Self::default()
    }

    /// URLs naming `host` connect to `127.0.0.1:port` instead, everything else kept:
    /// `redis://redis:6379/0` → `redis://127.0.0.1:<port>/0`.
    pub fn port(mut self, host: &str, port: u16) -> Self {
        self.hosts.insert(host.to_owned(), Target::Port(port));
        self
    }

    /// URLs naming `host` are replaced by `url` as a whole:
    /// `postgres://postgres:postgres@db/postgres` → the test server's URL.
    pub fn url(mut self, host: &str, url: impl Into<String>) -> Self {
        self.hosts.insert(host.to_owned(), Target::Url(url.into()));
        self
    }

    /// The compose environment of `service` in this workspace, rewritten for a native
    /// run; panics with the reason, as test helpers do. Set `PORT` yourself (the compose
    /// value is the container's fixed port).
    pub fn environment_of(&self, service: &str) -> BTreeMap<String, String> {
        self.rewrite(&service_environment(service))
            .unwrap_or_else(|err| panic!("environment of compose service {service}: {err}"))
    }

    /// Rewrites every URL-valued variable. A URL whose host is neither mapped nor
    /// loopback is an error: the test forgot a dependency, and tests may only reach
    /// loopback addresses.
    pub fn rewrite(
        &self,
        environment: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ComposeError> {
        environment
            .iter()
            .map(|(key, value)| Ok((key.clone(), self.rewrite_value(key, value)?)))
            .collect()
    }

    fn rewrite_value(&self, key: &str, value: &str) -> Result<String, ComposeError> {
        // Only absolute URLs with an authority (`scheme://host…`) name a host.
        if !value.contains("://") {
            return Ok(value.to_owned());
        }
        let Ok(mut url) = url::Url::parse(value) else {
            return Ok(value.to_owned());
        };
        let Some(host) = url.host_str().map(str::to_owned) else {
            return Ok(value.to_owned());
        };
        match self.hosts.get(&host) {
            Some(Target::Url(replacement)) => Ok(replacement.clone()),
            Some(Target::Port(port)) => {
                url.set_host(Some("127.0.0.1"))
                    .and_then(|()| {
                        url.set_port(Some(*port))
                            .map_err(|()| url::ParseError::InvalidPort)
                    })
                    .map_err(|err| error(format!("{key}: cannot rewrite {value:?}: {err}")))?;
                Ok(strip_root_path(value, url.as_str()))
            }
            None if is_loopback(&host) => Ok(value.to_owned()),
            None => Err(error(format!(
                "{key}={value:?} names host {host:?}, which this test does not map to a \
                 loopback address: add .port({host:?}, …) or .url({host:?}, …)"
            ))),
        }
    }
}

/// `url` serialises `http://api:4567` as `http://127.0.0.1:1234/`; keep the original's
/// lack of a trailing slash so base URLs stay joinable the same way.
fn strip_root_path(original: &str, rewritten: &str) -> String {
    if !original.ends_with('/') && rewritten.ends_with('/') && !original.contains('?') {
        let after_scheme = &original[original.find("://").map_or(0, |index| index + 3)..];
        if !after_scheme.contains('/') {
            return rewritten.trim_end_matches('/').to_owned();
        }
    }
    rewritten.to_owned()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = r#"
x-common-env: &common-env
  LOG_FORMAT: ${LOG_FORMAT:-json}
services:
  vote:
    environment:
      <<: *common-env
      PORT: 8080
      REDIS_URL: redis://redis:6379/0
      OPTION_A: ${OPTION_A:-Cats}
      OPTION_B: ${OPTION_B:-Dogs}
      PRICE: "$$5 ${CURRENCY:-EUR}"
  worker:
    environment:
      - DATABASE_URL=postgres://postgres:${POSTGRES_PASSWORD:-postgres}@db/postgres
      - REDIS_URL=redis://redis:6379/0
      - DEBUG=false
  client:
    environment:
      SERVER_URL: http://api:4567
  broken:
    environment:
      SECRET: ${UNSET_WITHOUT_DEFAULT}
"#;

    fn compose(dotenv: &str) -> ComposeFile {
        ComposeFile::parse(COMPOSE, dotenv).unwrap()
    }

    #[test]
    fn environment_resolves_defaults_merges_and_escapes() {
        let env = compose("").environment("vote").unwrap();
        assert_eq!(env["PORT"], "8080");
        assert_eq!(env["OPTION_A"], "Cats");
        assert_eq!(env["OPTION_B"], "Dogs");
        assert_eq!(env["LOG_FORMAT"], "json", "merged from the anchor");
        assert_eq!(env["PRICE"], "$5 EUR");
        assert_eq!(env.len(), 6);
    }

    #[test]
    fn dotenv_values_win_over_inline_defaults_and_empty_means_unset() {
        let env = compose("OPTION_A=Tea\n# comment\nOPTION_B=\"Coffee\"\nLOG_FORMAT=\n")
            .environment("vote")
            .unwrap();
        assert_eq!(env["OPTION_A"], "Tea");
        assert_eq!(env["OPTION_B"], "Coffee");
        assert_eq!(env["LOG_FORMAT"], "json");
    }

    #[test]
    fn list_form_is_read() {
        let env = compose("POSTGRES_PASSWORD=s3cret")
            .environment("worker")
            .unwrap();
        assert_eq!(
            env["DATABASE_URL"],
            "postgres://postgres:s3cret@db/postgres"
        );
        assert_eq!(env["DEBUG"], "false");
    }

    #[test]
    fn unset_variable_without_default_and_unknown_service_are_errors() {
        let err = compose("").environment("broken").unwrap_err();
        assert!(err.to_string().contains("UNSET_WITHOUT_DEFAULT"), "{err}");
        let err = compose("").environment("nope").unwrap_err();
        assert!(err.to_string().contains("vote, worker"), "{err}");
        let err = compose("").interpolate("${A:?required}").unwrap_err();
        assert!(err.to_string().contains("unsupported"), "{err}");
    }

    #[test]
    fn loopback_rewrites_hosts_keeping_the_rest() {
        let compose = compose("");
        let loopback = Loopback::new()
            .port("redis", 16379)
            .url("db", "postgres://postgres@127.0.0.1:15432/test_db")
            .port("api", 14567);

        let worker = loopback
            .rewrite(&compose.environment("worker").unwrap())
            .unwrap();
        assert_eq!(worker["REDIS_URL"], "redis://127.0.0.1:16379/0");
        assert_eq!(
            worker["DATABASE_URL"],
            "postgres://postgres@127.0.0.1:15432/test_db"
        );
        assert_eq!(worker["DEBUG"], "false", "non-URLs untouched");

        let client = loopback
            .rewrite(&compose.environment("client").unwrap())
            .unwrap();
        assert_eq!(client["SERVER_URL"], "http://127.0.0.1:14567");
    }

    #[test]
    fn port_rewrite_keeps_credentials_path_and_query() {
        let loopback = Loopback::new().port("db", 5555);
        let env = BTreeMap::from([(
            "DATABASE_URL".to_owned(),
            "postgres://app:pw@db:5432/app?sslmode=disable".to_owned(),
        )]);
        assert_eq!(
            loopback.rewrite(&env).unwrap()["DATABASE_URL"],
            "postgres://app:pw@127.0.0.1:5555/app?sslmode=disable"
        );
    }

    #[test]
    fn unmapped_hosts_fail_and_loopback_hosts_pass() {
        let env = BTreeMap::from([("REDIS_URL".to_owned(), "redis://redis:6379/0".to_owned())]);
        let err = Loopback::new().rewrite(&env).unwrap_err();
        assert!(err.to_string().contains(".port(\"redis\""), "{err}");

        let env = BTreeMap::from([
            ("A".to_owned(), "http://127.0.0.1:1/x".to_owned()),
            ("B".to_owned(), "http://localhost:2".to_owned()),
            ("C".to_owned(), "http://[::1]:3/".to_owned()),
        ]);
        assert_eq!(Loopback::new().rewrite(&env).unwrap(), env);
    }

    #[test]
    fn environment_of_reads_the_workspace_file_and_rewrites_it() {
        let env = Loopback::new()
            .port("redis", 16379)
            .url("db", "postgres://postgres@127.0.0.1:15432/postgres")
            .environment_of("worker");
        assert_eq!(env["REDIS_URL"], "redis://127.0.0.1:16379/0");
        assert_eq!(
            env["DATABASE_URL"],
            "postgres://postgres@127.0.0.1:15432/postgres"
        );
    }

    #[test]
    fn the_workspace_compose_file_declares_the_voting_environment() {
        let vote = service_environment("vote");
        assert!(vote["REDIS_URL"].starts_with("redis://redis:"), "{vote:?}");
        let worker = service_environment("worker");
        for key in ["REDIS_URL", "DATABASE_URL", "PORT"] {
            assert!(worker.contains_key(key), "worker lacks {key}: {worker:?}");
        }
    }
}

//! Liveness and readiness. `/health` only says the process serves; `/ready` asks every
//! dependency now (concurrently, each bounded) and names each one with its state. Each
//! evaluation also records, per dependency, `dependency_up` (1/0) and counts failed
//! checks in `dependency_check_failures_total` ([`crate::metrics::names`]): how a
//! dependency outage shows in Prometheus and CloudWatch.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::{join_all, BoxFuture};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use crate::metrics::names;

/// How long one dependency may take to answer before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// The readiness the process serves at `/ready` (the last one given to
/// [`crate::http::with_platform`]), which the EMF reporter evaluates before each report.
static WATCHED: Mutex<Option<Readiness>> = Mutex::new(None);

/// Makes `readiness` the one [`watched`] returns.
pub fn watch(readiness: &Readiness) {
    *WATCHED.lock().unwrap_or_else(PoisonError::into_inner) = Some(readiness.clone());
}

/// The readiness last passed to [`watch`].
pub fn watched() -> Option<Readiness> {
    WATCHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Clone)]
struct Check {
    name: String,
    probe: Probe,
    /// An optional dependency's outage is reported but keeps the service ready: it
    /// degrades (e.g. a cache) instead of failing.
    required: bool,
}

#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Check>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|check| &check.name).collect();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

/// The outcome of one readiness evaluation.
#[derive(Debug, Clone)]
pub struct Report {
    pub ready: bool,
    pub body: Value,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a named dependency; `probe` resolves to `Err(reason)` when it is unusable.
    pub fn with_check<F, Fut>(self, name: &str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.push(name, probe, true)
    }

    /// Adds a dependency the service can do without for a while: its state is reported
    /// (`"required": false`) and an outage makes the status `degraded`, still 200.
    pub fn with_optional_check<F, Fut>(self, name: &str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.push(name, probe, false)
    }

    fn push<F, Fut>(mut self, name: &str, probe: F, required: bool) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe: Probe = Arc::new(move || Box::pin(probe()));
        self.checks.push(Check {
            name: name.to_owned(),
            probe,
            required,
        });
        self
    }

    /// Postgres, required: `SELECT 1` on the pool.
    pub fn with_postgres(self, name: &str, pool: PgPool) -> Self {
        self.with_check(name, postgres_probe(pool))
    }

    /// Postgres the service can do without for a while: `SELECT 1`, reported, never
    /// required.
    pub fn with_optional_postgres(self, name: &str, pool: PgPool) -> Self {
        self.with_optional_check(name, postgres_probe(pool))
    }

    /// A required state of the service itself (migrations applied, first data loaded):
    /// up while `is_met` says so, otherwise down with `unmet` as the reason.
    pub fn with_condition<F>(self, name: &str, is_met: F, unmet: &'static str) -> Self
    where
        F: Fn() -> bool + Send + Sync + 'static,
    {
        self.with_check(name, move || {
            let met = is_met();
            async move {
                if met {
                    Ok(())
                } else {
                    Err(unmet.to_owned())
                }
            }
        })
    }

    /// Redis, required: `PING` through the handle.
    pub fn with_redis(self, name: &str, redis: crate::cache::RedisHandle) -> Self {
        self.with_check(name, redis_probe(redis))
    }

    /// Redis the service can do without (a cache): `PING`, reported, never required.
    pub fn with_optional_redis(self, name: &str, redis: crate::cache::RedisHandle) -> Self {
        self.with_optional_check(name, redis_probe(redis))
    }

    /// Another HTTP service the service can do without: `GET url` must answer 2xx within
    /// `timeout` (see [`http_ok`]); reported, never required.
    pub fn with_optional_http(
        self,
        name: &str,
        client: reqwest::Client,
        url: String,
        timeout: Duration,
    ) -> Self {
        self.with_optional_check(name, move || {
            let client = client.clone();
            let url = url.clone();
            async move { http_ok(&client, &url, timeout).await }
        })
    }

    pub async fn evaluate(&self) -> Report {
        let outcomes = join_all(self.checks.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, (check.probe)()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(reason),
                Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
            };
            (check, outcome)
        }))
        .await;
        for (check, outcome) in &outcomes {
            let labels = [(names::DEPENDENCY_LABEL, check.name.clone())];
            metrics::gauge!(names::DEPENDENCY_UP, &labels).set(if outcome.is_ok() {
                1.0
            } else {
                0.0
            });
            if outcome.is_err() {
                metrics::counter!(names::DEPENDENCY_FAILURES, &labels).increment(1);
            }
        }
        let ready = outcomes
            .iter()
            .all(|(check, outcome)| outcome.is_ok() || !check.required);
        let degraded = outcomes.iter().any(|(_, outcome)| outcome.is_err());
        let dependencies: Map<String, Value> = outcomes
            .into_iter()
            .map(|(check, outcome)| {
                let mut state = match outcome {
                    Ok(()) => json!({"status": "up"}),
                    Err(reason) => json!({"status": "down", "error": reason}),
                };
                if !check.required {
                    state["required"] = Value::Bool(false);
                }
                (check.name.clone(), state)
            })
            .collect();
        let status = match (ready, degraded) {
            (false, _) => "not ready",
            (true, true) => "degraded",
            (true, false) => "ready",
        };
        Report {
            ready,
            body: json!({
                "status": status,
                "dependencies": dependencies,
            }),
        }
    }
}

fn postgres_probe(
    pool: PgPool,
) -> impl Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
    move || {
        let pool = pool.clone();
        Box::pin(async move { crate::db::ping(&pool).await.map_err(|err| err.to_string()) })
    }
}

fn redis_probe(
    redis: crate::cache::RedisHandle,
) -> impl Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
    move || {
        let redis = redis.clone();
        Box::pin(async move {
            crate::cache::ping(&redis)
                .await
                .map_err(|err| err.to_string())
        })
    }
}

/// `GET url` answered 2xx within `timeout`; otherwise the URL with the error or status.
pub async fn http_ok(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    let response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|err| format!("{url}: {err}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn optional_outage_degrades_but_stays_ready_and_required_outage_fails() {
        let degraded = Readiness::new()
            .with_check("db", || async { Ok(()) })
            .with_optional_check("cache", || async { Err("refused".to_owned()) })
            .evaluate()
            .await;
        assert!(degraded.ready);
        assert_eq!(degraded.body["status"], "degraded");
        assert_eq!(degraded.body["dependencies"]["cache"]["required"], false);
        assert_eq!(degraded.body["dependencies"]["cache"]["error"], "refused");

        let down = Readiness::new()
            .with_check("db", || async { Err("refused".to_owned()) })
            .with_optional_check("cache", || async { Ok(()) })
            .evaluate()
            .await;
        assert!(!down.ready);
        assert_eq!(down.body["status"], "not ready");
    }
}

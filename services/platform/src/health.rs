//! Liveness and readiness. `/health` only says the process serves; `/ready` asks every
//! dependency now (concurrently, each bounded) and names each one with its state.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{join_all, BoxFuture};
use redis::aio::ConnectionManager;
use serde_json::{json, Map, Value};
use sqlx::PgPool;

/// How long one dependency may take to answer before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Probe)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|(name, _)| name).collect();
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
    pub fn with_check<F, Fut>(mut self, name: &str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe: Probe = Arc::new(move || Box::pin(probe()));
        self.checks.push((name.to_owned(), probe));
        self
    }

    pub fn with_postgres(self, name: &str, pool: PgPool) -> Self {
        self.with_check(name, move || {
            let pool = pool.clone();
            async move { crate::db::ping(&pool).await.map_err(|err| err.to_string()) }
        })
    }

    pub fn with_redis(self, name: &str, connection: ConnectionManager) -> Self {
        self.with_check(name, move || {
            let mut connection = connection.clone();
            async move {
                crate::cache::ping(&mut connection)
                    .await
                    .map_err(|err| err.to_string())
            }
        })
    }

    pub async fn evaluate(&self) -> Report {
        let outcomes = join_all(self.checks.iter().map(|(name, probe)| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, probe()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(reason),
                Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
            };
            (name.clone(), outcome)
        }))
        .await;
        let ready = outcomes.iter().all(|(_, outcome)| outcome.is_ok());
        let dependencies: Map<String, Value> = outcomes
            .into_iter()
            .map(|(name, outcome)| {
                let state = match outcome {
                    Ok(()) => json!({"status": "up"}),
                    Err(reason) => json!({"status": "down", "error": reason}),
                };
                (name, state)
            })
            .collect();
        Report {
            ready,
            body: json!({
                "status": if ready { "ready" } else { "not ready" },
                "dependencies": dependencies,
            }),
        }
    }
}

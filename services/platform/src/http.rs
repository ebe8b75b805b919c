//! The operational HTTP surface every service shares, and serving with graceful shutdown.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::health::Readiness;
use crate::shutdown::Shutdown;

/// `/health`, `/ready` and `/metrics`.
pub fn ops_router(readiness: Readiness) -> Router {
    probes_router(readiness).route("/metrics", get(render_metrics))
}

/// `/health` and `/ready` only, for nesting under a service's public path prefix (e.g.
/// `/users/ready` behind a path-routing load balancer) without exposing `/metrics` there.
pub fn probes_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(readiness)
}

/// Adds the ops endpoints, request metrics and request tracing to a service's router.
pub fn with_platform(app: Router, readiness: Readiness) -> Router {
    // Install the recorder now, not at the first scrape, so requests before it are counted.
    crate::metrics::handle();
    crate::health::watch(&readiness);
    app.merge(ops_router(readiness))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(TraceLayer::new_for_http())
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn ready(State(readiness): State<Readiness>) -> Response {
    let report = readiness.evaluate().await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report.body)).into_response()
}

async fn render_metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::handle().render() + &crate::metrics::process::render(),
    )
}

/// Binds `0.0.0.0:port` (all interfaces: containers are reached through their network).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", port)).await
}

/// Serves until shutdown is requested, then stops accepting and lets in-flight requests
/// finish for at most the shutdown's drain period.
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> std::io::Result<()> {
    let graceful = shutdown.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { graceful.requested().await });
    tokio::select! {
        outcome = server => outcome,
        () = shutdown.drain_deadline() => {
            tracing::warn!(
                drain_ms = shutdown.drain().as_millis() as u64,
                "in-flight requests did not finish within the drain period; closing them"
            );
            Ok(())
        }
    }
}

/// [`bind`], with the error an operator can act on.
pub async fn listen(port: u16) -> Result<TcpListener, crate::StartupError> {
    bind(port)
        .await
        .map_err(|source| crate::StartupError::Bind { port, source })
}

/// Logs where `service` listens, then [`serve`]s until shutdown.
pub async fn serve_service(
    service: &str,
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
) -> Result<(), crate::StartupError> {
    let address = listener.local_addr().map_err(crate::StartupError::Serve)?;
    tracing::info!(%address, service, "listening");
    serve(listener, app, shutdown)
        .await
        .map_err(crate::StartupError::Serve)
}

/// The JSON error answer `{"error": message}` with `status`; server errors are logged,
/// since they are the ones an operator has to act on.
pub fn json_error(status: StatusCode, message: String) -> Response {
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), error = %message, "request failed");
    }
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Why `GET /<resources>/{id}` has no resource to answer with: a bad id (400), no such
/// resource (404) or its database unavailable (503, the connection failure logged so that
/// the password refresher re-reads its secret). `what` names the resource (`"user"`).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{what} id must be a positive integer, got {raw:?}")]
    BadId { what: &'static str, raw: String },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: i64 },
    #[error("the {what}s database is unavailable ({source}); retry shortly")]
    Database {
        what: &'static str,
        source: sqlx::Error,
    },
}

impl LookupError {
    /// The id in `raw` ([`parse_positive_id`]), or [`LookupError::BadId`].
    pub fn id(what: &'static str, raw: String) -> Result<i64, Self> {
        parse_positive_id(&raw).ok_or(Self::BadId { what, raw })
    }

    /// For `map_err` on the lookup's query.
    pub fn database(what: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database { what, source }
    }

    /// For `ok_or` on the lookup's row.
    pub fn not_found(what: &'static str, id: i64) -> Self {
        Self::NotFound { what, id }
    }
}

impl IntoResponse for LookupError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadId { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Database { source, .. } => {
                crate::db::log_connection_failure(source);
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        json_error(status, self.to_string())
    }
}

/// A resource id from a path segment: ASCII digits only, positive, within Postgres BIGINT.
pub fn parse_positive_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod id_tests {
    use super::parse_positive_id;

    #[test]
    fn only_positive_bigint_digits_are_ids() {
        assert_eq!(parse_positive_id("42"), Some(42));
        assert_eq!(parse_positive_id("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.5",
            "abc",
            " 1",
            "9223372036854775808",
        ] {
            assert_eq!(parse_positive_id(bad), None, "{bad:?}");
        }
    }
}

//! result: the live results page. Totals come from Postgres (see [`scores`]) and are
//! pushed over socket.io as event `scores` with the JSON string `{"a":N,"b":M}` — the
//! original Node app's wire format, so its page and any socket.io v4 client work
//! unchanged. Replicas share no state; each follows Postgres itself.

mod config;
mod page;
pub mod scores;

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use platform::{Readiness, Shutdown, StartupError};
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use tokio::net::TcpListener;

pub use config::Config;
use scores::{scores_payload, Scores};

pub const DEFAULT_PORT: u16 = 8081;

#[derive(Clone)]
struct AppState {
    scores: Scores,
    option_a: String,
    option_b: String,
}

/// Serves the page, the API and the socket.io feed until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    // Lazy: the page must load (with stale totals) even while Postgres is down.
    let pool = config.database.lazy_pool(platform::db::PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(2),
    });
    let (socket_layer, io) = SocketIo::new_layer();
    let scores = Scores::new(io.clone());
    let greeting = scores.clone();
    io.ns("/", async move |socket: SocketRef| {
        metrics::gauge!(platform::metrics::names::RESULT_SOCKET_CLIENTS).increment(1.0);
        socket.on_disconnect(async || {
            metrics::gauge!(platform::metrics::names::RESULT_SOCKET_CLIENTS).decrement(1.0)
        });
        let snapshot = greeting.snapshot();
        if snapshot.loaded {
            let _ = socket.emit("scores", &scores_payload(snapshot.counts));
        }
        let _ = socket.emit("status", &serde_json::json!({"stale": snapshot.stale}));
    });
    tokio::spawn(
        scores
            .clone()
            .follow(pool.clone(), config.fallback_poll, shutdown.clone()),
    );

    let state = AppState {
        scores,
        option_a: config.option_a,
        option_b: config.option_b,
    };
    let readiness = readiness(state.scores.clone(), pool);
    let app = platform::http::with_platform(router(state), readiness).layer(socket_layer);
    platform::http::serve_service("result", listener, app, shutdown).await
}

/// result is ready once it has totals to show. Postgres is reported but optional after
/// that: while it is away the page serves the last counts marked stale (status
/// `degraded`, still 200), so a database failover neither takes result out of the load
/// balancer nor makes ECS replace its tasks (which would lose those counts).
fn readiness(scores: Scores, pool: sqlx::PgPool) -> Readiness {
    Readiness::new()
        .with_condition(
            "counts",
            move || scores.snapshot().loaded,
            "no totals loaded from Postgres yet",
        )
        .with_optional_postgres("postgres", pool)
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(show_page))
        .route("/api/results", get(results))
        .route("/static/stylesheets/style.css", get(stylesheet))
        .route("/static/socket.io.min.js", get(socket_io_client))
        .route("/static/app.js", get(app_script))
        .with_state(state)
}

async fn show_page(State(state): State<AppState>) -> Response {
    let snapshot = state.scores.snapshot();
    match page::render(&state.option_a, &state.option_b, snapshot) {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(%err, "cannot render the results page");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

async fn results(State(state): State<AppState>) -> Json<serde_json::Value> {
    let counts = state.scores.snapshot().counts;
    Json(serde_json::json!({"a": counts.a, "b": counts.b, "total": counts.total()}))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", page::STYLESHEET)
}

async fn socket_io_client() -> Response {
    asset(
        "application/javascript; charset=utf-8",
        page::SOCKET_IO_CLIENT,
    )
}

async fn app_script() -> Response {
    asset("application/javascript; charset=utf-8", page::APP_SCRIPT)
}

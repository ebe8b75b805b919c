//! Sums client (public): `GET /?n=N` → `Your sum was S`, `GET /` → `Last sum was S`, by
//! calling the private sums API at `SERVER_URL`. The API's answer, its validation error,
//! its 503 (busy, with the API's `Retry-After` passed on) or 504 (sum stopped at the API's
//! deadline), or a 502 naming what went wrong: never a hang (every call is bounded).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use platform::outbound::ClientSettings;
use platform::{CommonConfig, ConfigError, Env, Readiness, Shutdown, StartupError};
use serde::Deserialize;
use tokio::net::TcpListener;

pub const DEFAULT_PORT: u16 = 4567;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// Base URL of the sums API, without a trailing slash.
    pub server_url: String,
    /// Bound on one API call. Big sums take seconds (n = 999,999,999 ≈ 1 s), so the
    /// default leaves room for them while still failing long before a proxy would.
    pub server_timeout: Duration,
}

platform::common_config!(Config);

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let timeout_secs = env.bounded("SERVER_TIMEOUT_SECS", 30u64, 1..=600)?;
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT)?,
            server_url: env.http_url("SERVER_URL", "http://api:4567")?,
            server_timeout: Duration::from_secs(timeout_secs),
        })
    }
}

#[derive(Clone)]
struct AppState {
    http: reqwest::Client,
    server_url: String,
    server_timeout: Duration,
}

/// The service's routes with the platform's probes and metrics (readiness asks the API).
pub fn app(config: &Config) -> Result<Router, reqwest::Error> {
    let http = platform::outbound::client(
        "sums-client",
        ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: config.server_timeout,
        },
    )?;
    let state = AppState {
        http: http.clone(),
        server_url: config.server_url.clone(),
        server_timeout: config.server_timeout,
    };
    // Optional: when the API is down the client still answers (502s that say so), and
    // replacing it would not bring the API back; readiness reports `degraded`.
    let readiness = Readiness::new().with_optional_http(
        "sums_api",
        http,
        format!("{}/healthcheck", config.server_url),
        Duration::from_secs(1),
    );
    Ok(platform::http::with_platform(router(state), readiness))
}

/// Serves on `listener` (tests bind port 0) until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let app = app(&config).map_err(StartupError::http_client("the sums API"))?;
    platform::http::serve_service("sums-client", listener, app, shutdown).await
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthcheck", get(|| async { "OK" }))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
enum ClientError {
    /// The API rejected the input: shown to the user with the API's status and message.
    #[error("Cannot compute the sum: {message}")]
    Rejected { status: StatusCode, message: String },
    #[error("The sums API did not answer within {0} s; try again later")]
    Timeout(u64),
    #[error("The sums API is unreachable ({0}); try again later")]
    Unreachable(String),
    /// The API is overloaded or missing a dependency (503): retrying later helps.
    #[error("The sums API is busy or unavailable ({message}); try again later")]
    Unavailable {
        retry_after: Option<HeaderValue>,
        message: String,
    },
    /// The API stopped the sum at its deadline (504).
    #[error("The sums API stopped this sum: {0}")]
    Stopped(String),
    #[error("The sums API failed: {0}")]
    BadGateway(String),
}

impl IntoResponse for ClientError {
    fn into_response(self) -> Response {
        let (status, retry_after) = match &self {
            Self::Rejected { status, .. } => (*status, None),
            Self::Unavailable { retry_after, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, retry_after.clone())
            }
            Self::Stopped(_) => (StatusCode::GATEWAY_TIMEOUT, None),
            _ => (StatusCode::BAD_GATEWAY, None),
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "sums API call failed");
        }
        let mut response = (status, self.to_string()).into_response();
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

#[derive(Deserialize)]
struct SumAnswer {
    sum: u64,
}

#[derive(Deserialize)]
struct LastSumAnswer {
    last_sum: u64,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

async fn index(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<String, ClientError> {
    match params.get("n") {
        Some(n) => {
            let answer: SumAnswer = call(&state, sum_request(&state, n)).await?;
            Ok(format!("Your sum was {}", answer.sum))
        }
        None => {
            let answer: LastSumAnswer = call(&state, state.http.get(&state.server_url)).await?;
            Ok(format!("Last sum was {}", answer.last_sum))
        }
    }
}

/// `POST /sum` with `n` as the user typed it: an integer literal goes as a JSON number
/// (any size: the API decides what is too large), anything else as a string, so the
/// API's own validation produces the message.
fn sum_request(state: &AppState, n: &str) -> reqwest::RequestBuilder {
    let n = n.trim();
    let digits = n.strip_prefix('-').unwrap_or(n);
    let body = if n.is_empty() {
        "{}".to_owned()
    } else if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        format!(r#"{{"n":{n}}}"#)
    } else {
        serde_json::json!({ "n": n }).to_string()
    };
    state
        .http
        .post(format!("{}/sum", state.server_url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
}

async fn call<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: reqwest::RequestBuilder,
) -> Result<T, ClientError> {
    let response = request
        .send()
        .await
        .map_err(|err| transport_error(state, &err))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .filter(|value| is_delay_seconds(value))
        .cloned();
    let body = response
        .bytes()
        .await
        .map_err(|err| transport_error(state, &err))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|err| {
            ClientError::BadGateway(format!("unexpected answer ({err}): {}", snippet(&body)))
        });
    }
    let message = serde_json::from_slice::<ErrorAnswer>(&body)
        .map(|answer| answer.error)
        .unwrap_or_else(|_| snippet(&body));
    Err(match status {
        _ if status.is_client_error() => ClientError::Rejected { status, message },
        StatusCode::SERVICE_UNAVAILABLE => ClientError::Unavailable {
            retry_after,
            message,
        },
        StatusCode::GATEWAY_TIMEOUT => ClientError::Stopped(message),
        _ => ClientError::BadGateway(format!("{status}: {message}")),
    })
}

/// Only a plain number of seconds is passed on to the user (RFC 9110 §10.2.3 also allows
/// a date, which the API never sends): a garbled header is dropped, not relayed.
fn is_delay_seconds(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 6 && bytes.iter().all(u8::is_ascii_digit)
}

fn transport_error(state: &AppState, err: &reqwest::Error) -> ClientError {
    if err.is_timeout() {
        ClientError::Timeout(state.server_timeout.as_secs())
    } else if err.is_connect() {
        ClientError::Unreachable(format!("cannot connect to {}", state.server_url))
    } else {
        ClientError::Unreachable(err.to_string())
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

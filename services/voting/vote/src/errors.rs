//! Client-facing errors: a status and a message that says what to fix. The JSON API
//! answers `{"error": …}`; the form answers plain text a person can read.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::queue::QueueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Json,
    Text,
}

#[derive(Debug)]
pub struct VoteError {
    pub status: StatusCode,
    pub message: String,
    pub flavor: Flavor,
}

impl VoteError {
    pub fn new(status: StatusCode, message: impl Into<String>, flavor: Flavor) -> Self {
        Self {
            status,
            message: message.into(),
            flavor,
        }
    }

    pub fn from_queue(err: QueueError, flavor: Flavor) -> Self {
        tracing::error!(%err, "cannot queue a vote");
        if matches!(err, QueueError::NotReplicated(_)) {
            // Voting again is harmless: a voter's latest vote replaces the earlier one.
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the vote was received but not yet safely stored (no replica confirmed it); please vote again",
                flavor,
            );
        }
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the vote could not be recorded right now (vote queue unavailable); please try again",
            flavor,
        )
    }
}

impl IntoResponse for VoteError {
    fn into_response(self) -> Response {
        match self.flavor {
            Flavor::Json => (
                self.status,
                Json(serde_json::json!({"error": self.message})),
            )
                .into_response(),
            Flavor::Text => (self.status, self.message).into_response(),
        }
    }
}

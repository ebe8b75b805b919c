use askama::Template;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use crate::errors::{Flavor, VoteError};
use crate::page::{VotePage, STYLESHEET};
use crate::queue::QueuedVote;
use crate::AppState;

/// A vote is a few bytes; anything much larger is not a vote.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
pub const VOTER_COOKIE: &str = "voter_id";
pub const VOTER_HEADER: &str = "x-voter-id";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(show_page).post(vote_from_form))
        .route("/api/vote", post(vote_from_api))
        .route("/static/stylesheets/style.css", get(stylesheet))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct VoteInput {
    vote: Option<String>,
}

/// `a` or `b`, or a message saying what was wrong.
fn validate_choice(input: &VoteInput) -> Result<&'static str, String> {
    match input.vote.as_deref().map(str::trim) {
        Some("a") => Ok("a"),
        Some("b") => Ok("b"),
        None | Some("") => Err("missing vote: send vote=a or vote=b".to_owned()),
        Some(other) => Err(format!(
            "unknown vote {other:?}: the choices are \"a\" and \"b\""
        )),
    }
}

/// Voter ids are opaque tokens; anything else in a cookie or header is rejected or
/// replaced rather than queued.
fn is_valid_voter_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn new_voter_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn voter_cookie(id: String) -> Cookie<'static> {
    Cookie::build((VOTER_COOKIE, id))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

fn render(state: &AppState, vote: Option<&str>) -> Result<Html<String>, VoteError> {
    VotePage {
        option_a: &state.option_a,
        option_b: &state.option_b,
        hostname: &state.hostname,
        vote,
    }
    .render()
    .map(Html)
    .map_err(|err| {
        tracing::error!(%err, "cannot render the vote page");
        VoteError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be rendered",
            Flavor::Text,
        )
    })
}

async fn show_page(State(state): State<AppState>) -> Result<Html<String>, VoteError> {
    render(&state, None)
}

async fn vote_from_form(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<Form<VoteInput>, FormRejection>,
) -> Result<Response, VoteError> {
    let Form(input) = form.map_err(|rejection| {
        VoteError::new(
            rejection.status(),
            format!(
                "cannot read the vote form ({}): post application/x-www-form-urlencoded vote=a or vote=b",
                rejection.body_text()
            ),
            Flavor::Text,
        )
    })?;
    let vote = validate_choice(&input).map_err(|message| {
        VoteError::new(StatusCode::UNPROCESSABLE_ENTITY, message, Flavor::Text)
    })?;
    let (voter_id, jar) = match jar.get(VOTER_COOKIE).map(Cookie::value) {
        Some(id) if is_valid_voter_id(id) => (id.to_owned(), jar),
        _ => {
            let id = new_voter_id();
            (id.clone(), jar.add(voter_cookie(id)))
        }
    };
    state
        .queue
        .push(&QueuedVote {
            voter_id: &voter_id,
            vote,
        })
        .await
        .map_err(|err| VoteError::from_queue(err, Flavor::Text))?;
    metrics::counter!(platform::metrics::names::VOTES_QUEUED, "vote" => vote).increment(1);
    Ok((jar, render(&state, Some(vote))?).into_response())
}

async fn vote_from_api(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Result<Json<VoteInput>, JsonRejection>,
) -> Result<Response, VoteError> {
    let Json(input) = body.map_err(|rejection| {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
            _ => rejection.status(),
        };
        VoteError::new(
            status,
            format!(
                "cannot read the vote ({}): send Content-Type: application/json with {{\"vote\":\"a\"}} or {{\"vote\":\"b\"}}",
                rejection.body_text()
            ),
            Flavor::Json,
        )
    })?;
    let vote = validate_choice(&input).map_err(|message| {
        VoteError::new(StatusCode::UNPROCESSABLE_ENTITY, message, Flavor::Json)
    })?;
    let header_id = headers
        .get(VOTER_HEADER)
        .map(|value| value.to_str().unwrap_or_default().trim().to_owned());
    let (voter_id, jar) = match (header_id, jar.get(VOTER_COOKIE).map(Cookie::value)) {
        (Some(id), _) if is_valid_voter_id(&id) => (id, jar),
        (Some(_), _) => {
            return Err(VoteError::new(
                StatusCode::BAD_REQUEST,
                "invalid X-Voter-Id: use 1 to 64 letters, digits, '-' or '_'",
                Flavor::Json,
            ))
        }
        (None, Some(id)) if is_valid_voter_id(id) => (id.to_owned(), jar),
        (None, _) => {
            let id = new_voter_id();
            (id.clone(), jar.add(voter_cookie(id)))
        }
    };
    state
        .queue
        .push(&QueuedVote {
            voter_id: &voter_id,
            vote,
        })
        .await
        .map_err(|err| VoteError::from_queue(err, Flavor::Json))?;
    metrics::counter!(platform::metrics::names::VOTES_QUEUED, "vote" => vote).increment(1);
    Ok((
        StatusCode::ACCEPTED,
        jar,
        Json(serde_json::json!({ "voter_id": voter_id })),
    )
        .into_response())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_validated() {
        let input = |v: Option<&str>| VoteInput {
            vote: v.map(str::to_owned),
        };
        assert_eq!(validate_choice(&input(Some("a"))), Ok("a"));
        assert_eq!(validate_choice(&input(Some("b"))), Ok("b"));
        assert!(validate_choice(&input(None))
            .unwrap_err()
            .contains("missing"));
        assert!(validate_choice(&input(Some("c")))
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn voter_ids_are_opaque_tokens() {
        assert!(is_valid_voter_id(&new_voter_id()));
        assert_eq!(new_voter_id().len(), 16);
        assert!(!is_valid_voter_id(""));
        assert!(!is_valid_voter_id("a b"));
        assert!(!is_valid_voter_id(&"x".repeat(65)));
    }
}

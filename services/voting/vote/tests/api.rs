//! vote against a real, throwaway Redis: page, form and JSON voting, bad input, Redis
//! outages, probes and graceful shutdown.

use std::time::{Duration, Instant};

use platform::{Env, Shutdown};
use reqwest::StatusCode;
use testkit::{AppBuilder, TestApp, TestRedis};

/// vote with its own Redis.
type VoteApp = TestApp<TestRedis>;

async fn spawn_app() -> VoteApp {
    let redis = TestRedis::start();
    let env = Env::from_pairs([
        ("REDIS_URL", redis.url()),
        ("OPTION_A", "Tabs".to_owned()),
        ("OPTION_B", "Spaces".to_owned()),
        ("QUEUE_TIMEOUT_MS", "500".to_owned()),
    ]);
    let config = vote::Config::from_env(&env).expect("valid test config");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let app = AppBuilder::new()
        .drain(Duration::from_secs(2))
        .client(client)
        .deps(redis)
        .spawn(|listener, shutdown| vote::run(config, listener, shutdown))
        .await;
    // run() connects to Redis before it serves; wait until it does.
    app.wait_serving().await;
    app
}

/// What the tests read and send beyond plain requests.
trait VoteTests {
    fn queued(&self) -> Vec<serde_json::Value>;
    async fn post_form(&self, body: &str) -> reqwest::Response;
}

impl VoteTests for VoteApp {
    fn queued(&self) -> Vec<serde_json::Value> {
        let raw = self.deps.cli(&["LRANGE", "votes", "0", "-1"]);
        raw.lines()
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_str(line).expect("queued votes are JSON"))
            .collect()
    }

    async fn post_form(&self, body: &str) -> reqwest::Response {
        self.client
            .post(&self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

fn voter_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|cookie| cookie.starts_with("voter_id="))
}

#[tokio::test]
async fn page_shows_both_options_and_the_container() {
    let app = spawn_app().await;
    let response = app.client.get(&app.base).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("<title>Tabs vs Spaces!</title>"), "{page}");
    assert!(page.contains(r#"id="a""#) && page.contains(r#"id="b""#));
    assert!(page.contains(r#"name="vote""#));
    assert!(page.contains(&format!(
        "Processed by container ID {}",
        platform::hostname()
    )));
    assert!(!page.contains("chosen"), "nothing is chosen before voting");

    let css = app.get("/static/stylesheets/style.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn form_vote_sets_cookie_queues_original_payload_and_marks_choice() {
    let app = spawn_app().await;
    let response = app.post_form("vote=a").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = voter_cookie(&response).expect("a voter_id cookie is assigned");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let voter_id = cookie
        .trim_start_matches("voter_id=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(voter_id.len(), 16);
    assert!(voter_id.chars().all(|c| c.is_ascii_hexdigit()));
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"class="a chosen""#), "{page}");

    // The same voter changes their mind: same id, latest vote queued last.
    let again = app
        .client
        .post(&app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("voter_id={voter_id}"))
        .body("vote=b")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        voter_cookie(&again).is_none(),
        "an existing voter keeps their id"
    );

    let queued = app.queued();
    assert_eq!(
        queued,
        vec![
            serde_json::json!({"voter_id": voter_id, "vote": "a"}),
            serde_json::json!({"voter_id": voter_id, "vote": "b"}),
        ]
    );
    // Byte-for-byte the original payload shape.
    let raw = app.deps.cli(&["LINDEX", "votes", "0"]);
    assert_eq!(raw, format!(r#"{{"voter_id":"{voter_id}","vote":"a"}}"#));
}

#[tokio::test]
async fn json_api_accepts_votes_with_header_cookie_or_new_id() {
    let app = spawn_app().await;
    let url = format!("{}/api/vote", app.base);

    let fresh = app
        .client
        .post(&url)
        .json(&serde_json::json!({"vote": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::ACCEPTED);
    assert!(voter_cookie(&fresh).is_some());
    let body: serde_json::Value = fresh.json().await.unwrap();
    let fresh_id = body["voter_id"].as_str().unwrap().to_owned();

    let with_header = app
        .client
        .post(&url)
        .header("x-voter-id", "voter-42")
        .json(&serde_json::json!({"vote": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = with_header.json().await.unwrap();
    assert_eq!(body["voter_id"], "voter-42");

    let with_cookie = app
        .client
        .post(&url)
        .header("cookie", "voter_id=cookie-7")
        .json(&serde_json::json!({"vote": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::ACCEPTED);

    assert_eq!(
        app.queued(),
        vec![
            serde_json::json!({"voter_id": fresh_id, "vote": "a"}),
            serde_json::json!({"voter_id": "voter-42", "vote": "b"}),
            serde_json::json!({"voter_id": "cookie-7", "vote": "a"}),
        ]
    );
}

#[tokio::test]
async fn bad_input_is_rejected_with_a_clear_message_and_nothing_is_queued() {
    let app = spawn_app().await;
    let api = format!("{}/api/vote", app.base);
    let oversized = format!("vote=a&padding={}", "x".repeat(10_000));
    let form_cases: Vec<(&str, &str, StatusCode, &str)> = vec![
        (
            "application/x-www-form-urlencoded",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing vote",
        ),
        (
            "application/x-www-form-urlencoded",
            "vote=c",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown vote",
        ),
        (
            "application/json",
            r#"{"vote":"a"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "x-www-form-urlencoded",
        ),
        (
            "application/x-www-form-urlencoded",
            &oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
            "vote=a",
        ),
    ];
    for (content_type, body, status, hint) in form_cases {
        let response = app
            .client
            .post(&app.base)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "form {content_type} {body:.40}");
        let text = response.text().await.unwrap();
        assert!(text.contains(hint), "{text}");
    }

    let big_json = format!(r#"{{"vote":"a","padding":"{}"}}"#, "x".repeat(10_000));
    let api_cases: Vec<(&str, &str, StatusCode)> = vec![
        (
            "application/json",
            r#"{"vote":"a""#,
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", "{}", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "application/json",
            r#"{"vote":"dogs"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "application/json",
            r#"{"vote":7}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "text/plain",
            r#"{"vote":"a"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("application/json", &big_json, StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (content_type, body, status) in api_cases {
        let response = app
            .client
            .post(&api)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "api {content_type} {body:.40}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(
            json["error"].as_str().is_some_and(|m| m.len() > 10),
            "{json}"
        );
    }

    let bad_header = app
        .client
        .post(&api)
        .header("x-voter-id", "not a token!")
        .json(&serde_json::json!({"vote": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), StatusCode::BAD_REQUEST);

    let wrong_method = app.client.delete(&api).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);

    assert!(
        app.queued().is_empty(),
        "nothing may be queued: {:?}",
        app.queued()
    );
}

#[tokio::test]
async fn redis_outage_gives_503_quickly_and_readiness_names_redis() {
    let mut app = spawn_app().await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["dependencies"]["redis"]["status"], "up");

    app.deps.stop();
    for attempt in 0..3 {
        let started = Instant::now();
        let response = app
            .client
            .post(format!("{}/api/vote", app.base))
            .json(&serde_json::json!({"vote": "a"}))
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}"
        );
        assert!(took < Duration::from_secs(3), "503 took {took:?}");
    }
    let form = app.post_form("vote=b").await;
    assert_eq!(form.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(form.text().await.unwrap().contains("try again"));

    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["dependencies"]["redis"]["status"], "down");
    let health = app.get("/health").await;
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "liveness does not depend on Redis"
    );

    // Redis comes back: votes flow again without a restart of vote.
    app.deps.start_again();
    let mut recovered = false;
    for _ in 0..50 {
        let response = app
            .client
            .post(format!("{}/api/vote", app.base))
            .json(&serde_json::json!({"vote": "a"}))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::ACCEPTED {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "vote recovers once Redis is back");
    assert_eq!(app.queued().len(), 1);
}

#[tokio::test]
async fn metrics_count_requests_and_votes() {
    let app = spawn_app().await;
    app.post_form("vote=a").await;
    let metrics = app.text("/metrics").await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains(r#"route="/""#), "{metrics}");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"votes_queued_total{vote="a"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn shutdown_stops_serving_and_returns_ok() {
    let app = spawn_app().await;
    app.shutdown.trigger();
    let outcome = tokio::time::timeout(Duration::from_secs(5), app.server)
        .await
        .expect("server stops within the drain period")
        .unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(app.client.get(&app.base).send().await.is_err());
}

#[tokio::test]
async fn unreachable_redis_at_start_is_a_clear_error() {
    let port = testkit::free_port();
    let env = Env::from_pairs([
        ("REDIS_URL", format!("redis://127.0.0.1:{port}/0")),
        ("STARTUP_TIMEOUT_SECS", "1".to_owned()),
    ]);
    let config = vote::Config::from_env(&env).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = vote::run(config, listener, Shutdown::manual(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("REDIS_URL"), "{err}");
}

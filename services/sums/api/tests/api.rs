//! The API's endpoints against a real Redis, app spawned in-process on port 0.

use std::time::Duration;

mod common;

use common::{full_queue, spawn_app, SumsApi};
use platform::Env;
use serde_json::{json, Value};
use testkit::{AppBuilder, TestRedis};

#[tokio::test]
async fn sum_is_returned_and_remembered_as_last_sum() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis, &[]).await;

    assert_eq!(app.last_sum().await, (200, json!({"last_sum": 0})));
    assert_eq!(
        app.post_raw(r#"{"n": 100}"#).await,
        (200, json!({"sum": 5050}))
    );
    assert_eq!(app.last_sum().await, (200, json!({"last_sum": 5050})));
    assert_eq!(redis.cli(&["GET", "sum"]), "5050");
    assert_eq!(
        app.post_raw(r#"{"n": 1000000}"#).await,
        (200, json!({"sum": 500000500000u64}))
    );
    assert_eq!(
        app.last_sum().await,
        (200, json!({"last_sum": 500000500000u64}))
    );
}

#[tokio::test]
async fn bad_input_gets_the_original_error_bodies_and_changes_nothing() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis, &[]).await;
    app.post_raw(r#"{"n": 3}"#).await;

    let cases = [
        ("{not json", 400, "invalid json"),
        ("", 400, "invalid json"),
        ("{}", 422, "n needs to be set"),
        (r#"{"m": 4}"#, 422, "n needs to be set"),
        (r#"{"n": "4"}"#, 422, "n needs to be an integer"),
        (r#"{"n": 4.5}"#, 422, "n needs to be an integer"),
        (r#"{"n": 0}"#, 422, "n needs to be greater 0"),
        (r#"{"n": -7}"#, 422, "n needs to be greater 0"),
    ];
    for (body, status, message) in cases {
        assert_eq!(
            app.post_raw(body).await,
            (status, json!({"error": message})),
            "body {body:?}"
        );
    }
    let (status, body) = app.post_raw(r#"{"n": 100000000000000000000}"#).await;
    assert_eq!(status, 422);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("too large") && message.contains("6074000999"),
        "{message}"
    );

    assert_eq!(app.last_sum().await, (200, json!({"last_sum": 6})));
}

#[tokio::test]
async fn n_13_is_an_ordinary_sum_unless_the_crash_drill_is_enabled() {
    let redis = TestRedis::start();
    // In-process: a crash here would end the whole test binary.
    let app = spawn_app(&redis, &[]).await;
    assert_eq!(
        app.post_raw(r#"{"n": 13}"#).await,
        (200, json!({"sum": 91}))
    );
    assert_eq!(app.last_sum().await, (200, json!({"last_sum": 91})));
}

/// Sum threads of this test process still running for `n` (thread names are `sum-<n>`).
fn sum_threads(n: u64) -> usize {
    let name = format!("sum-{n}");
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .count()
}

#[tokio::test]
async fn a_huge_n_hits_the_deadline_with_504_and_its_thread_stops() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis, &[("SUM_DEADLINE_MS", "700")]).await;
    let started = std::time::Instant::now();
    let body = format!(r#"{{"n": {}}}"#, sums_api::input::MAX_N);
    let (status, answer) = app.post_raw(&body).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("700 ms deadline"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    // The CPU is given back: the sum thread ends right after the deadline.
    let mut waited = Duration::ZERO;
    while sum_threads(sums_api::input::MAX_N) > 0 {
        assert!(
            waited < Duration::from_secs(2),
            "the sum thread keeps running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    // Ordinary sums are unaffected, and the last sum was not overwritten.
    assert_eq!(
        app.post_raw(r#"{"n": 10}"#).await,
        (200, json!({"sum": 55}))
    );
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_at_once() {
    let redis = TestRedis::start();
    let (app, running, waiting) = full_queue(&redis).await;

    let started = std::time::Instant::now();
    let response = app
        .client
        .post(format!("{}/sum", app.base))
        .header("content-type", "application/json")
        .body(r#"{"n": 5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once"
    );
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("too many sums"),
        "{answer}"
    );
    assert_eq!(running.await.unwrap(), 504);
    assert_eq!(
        waiting.await.unwrap(),
        504,
        "the wait counts toward the deadline"
    );
    assert_eq!(app.post_raw(r#"{"n": 5}"#).await, (200, json!({"sum": 15})));
}

#[tokio::test]
async fn original_healthcheck_and_platform_probes_answer() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis, &[]).await;
    let text = app.text("/healthcheck").await;
    assert_eq!(text, "OK");
    let metrics = app.text("/metrics").await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn redis_outage_gives_503_and_unready_then_recovers() {
    let mut redis = TestRedis::start();
    let app = spawn_app(&redis, &[]).await;
    redis.stop();

    let (status, body) = app.post_raw(r#"{"n": 5}"#).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Redis"), "{body}");
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);

    redis.start_again();
    let mut recovered = false;
    for _ in 0..100 {
        if app.post_raw(r#"{"n": 5}"#).await == (200, json!({"sum": 15})) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the API did not recover after Redis came back");
}

#[tokio::test]
async fn api_starts_and_serves_health_while_redis_is_down_at_start() {
    let mut redis = TestRedis::start();
    redis.stop();
    let config = sums_api::Config::from_env(&Env::from_pairs([
        ("PORT", "0".to_owned()),
        ("REDIS_URL", redis.url()),
    ]))
    .unwrap();
    let app = AppBuilder::new()
        .client(reqwest::Client::new())
        .spawn(|listener, shutdown| sums_api::run(config, listener, shutdown))
        .await;
    let (base, client) = (&app.base, &app.client);
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    redis.start_again();
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the API never connected to Redis after it came up");
}

#[test]
fn crash_on_n_is_off_by_default_and_configurable() {
    let redis_url = ("REDIS_URL", "redis://127.0.0.1:1/0");
    let default = sums_api::Config::from_env(&Env::from_pairs([redis_url])).unwrap();
    assert_eq!(default.crash_on_n, None);
    let drill =
        sums_api::Config::from_env(&Env::from_pairs([redis_url, ("CRASH_ON_N", "13")])).unwrap();
    assert_eq!(drill.crash_on_n, Some(13));
    let disabled =
        sums_api::Config::from_env(&Env::from_pairs([redis_url, ("CRASH_ON_N", "")])).unwrap();
    assert_eq!(disabled.crash_on_n, None);
    let custom =
        sums_api::Config::from_env(&Env::from_pairs([redis_url, ("CRASH_ON_N", "7")])).unwrap();
    assert_eq!(custom.crash_on_n, Some(7));
    let err =
        sums_api::Config::from_env(&Env::from_pairs([redis_url, ("CRASH_ON_N", "x")])).unwrap_err();
    assert!(err.to_string().contains("CRASH_ON_N"), "{err}");
}

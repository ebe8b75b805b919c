//! The client against the real sums API (in-process, real Redis), an unreachable API and
//! an API that never answers.

use std::time::{Duration, Instant};

use platform::Env;
use testkit::{free_port, TestApp, TestRedis};

async fn spawn_api(redis: &TestRedis, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs = vec![("PORT", "0".to_owned()), ("REDIS_URL", redis.url())];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = sums_api::Config::from_env(&Env::from_pairs(pairs)).unwrap();
    testkit::spawn_app(|listener, shutdown| sums_api::run(config, listener, shutdown)).await
}

async fn spawn_client(server_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs = vec![
        ("PORT", "0".to_owned()),
        ("SERVER_URL", server_url.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = sums_client::Config::from_env(&Env::from_pairs(pairs)).unwrap();
    testkit::spawn_app(|listener, shutdown| sums_client::run(config, listener, shutdown)).await
}

async fn get(url: &str) -> (u16, String) {
    let (status, _, text) = get_with_retry_after(url).await;
    (status, text)
}

/// Status, `Retry-After` header (if any) and body text.
async fn get_with_retry_after(url: &str) -> (u16, Option<String>, String) {
    let response = testkit::http_get(url, Duration::from_secs(30)).await;
    let retry_after = testkit::header(&response, "retry-after");
    (
        response.status().as_u16(),
        retry_after,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn sums_and_last_sum_through_the_api() {
    let redis = TestRedis::start();
    let api = spawn_api(&redis, &[]).await;
    let client = spawn_client(&api.base, &[]).await;

    assert_eq!(
        get(&format!("{client}/")).await,
        (200, "Last sum was 0".into())
    );
    assert_eq!(
        get(&format!("{client}/?n=10")).await,
        (200, "Your sum was 55".into())
    );
    assert_eq!(
        get(&format!("{client}/")).await,
        (200, "Last sum was 55".into())
    );
    assert_eq!(
        get(&format!("{client}/?n=100000")).await,
        (200, "Your sum was 5000050000".into())
    );
    assert_eq!(
        get(&format!("{client}/healthcheck")).await,
        (200, "OK".into())
    );
    let (status, body) = get(&format!("{client}/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"ready""#), "{body}");
}

#[tokio::test]
async fn bad_n_shows_the_api_message_and_keeps_the_last_sum() {
    let redis = TestRedis::start();
    let api = spawn_api(&redis, &[]).await;
    let client = spawn_client(&api.base, &[]).await;
    get(&format!("{client}/?n=3")).await;

    let cases = [
        ("abc", "n needs to be an integer"),
        ("2.5", "n needs to be an integer"),
        ("0", "n needs to be greater 0"),
        ("-4", "n needs to be greater 0"),
        ("", "n needs to be set"),
    ];
    for (n, message) in cases {
        assert_eq!(
            get(&format!("{client}/?n={n}")).await,
            (422, format!("Cannot compute the sum: {message}")),
            "n={n:?}"
        );
    }
    let (status, text) = get(&format!("{client}/?n=99999999999999999999")).await;
    assert_eq!(status, 422);
    assert!(text.contains("too large"), "{text}");
    assert_eq!(
        get(&format!("{client}/")).await,
        (200, "Last sum was 6".into())
    );
}

#[tokio::test]
async fn a_busy_api_gives_503_with_retry_after_and_a_stopped_sum_504() {
    let redis = TestRedis::start();
    let settings = [
        ("SUM_WORKERS", "1"),
        ("SUM_QUEUE", "0"),
        ("SUM_DEADLINE_MS", "1500"),
    ];
    let api = spawn_api(&redis, &settings).await;
    let client = spawn_client(&api.base, &[]).await;
    let huge_url = format!("{client}/?n={}", sums_api::input::MAX_N);
    let huge = tokio::spawn(async move { get_with_retry_after(&huge_url).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, retry_after, text) = get_with_retry_after(&format!("{client}/?n=5")).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(text.contains("too many sums"), "{text}");

    let (status, _, text) = huge.await.unwrap();
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("deadline"), "{text}");
    assert_eq!(
        get(&format!("{client}/?n=5")).await,
        (200, "Your sum was 15".into())
    );
}

#[tokio::test]
async fn unreachable_api_gives_502_promptly_and_degraded_readiness() {
    let nothing_there = format!("http://127.0.0.1:{}", free_port());
    let client = spawn_client(&nothing_there, &[]).await;
    let started = Instant::now();
    let (status, text) = get(&format!("{client}/?n=5")).await;
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("unreachable"), "{text}");
    let (status, _) = get(&format!("{client}/")).await;
    assert_eq!(status, 502);
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, body) = get(&format!("{client}/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"degraded""#), "{body}");
    assert_eq!(get(&format!("{client}/health")).await.0, 200);
}

#[tokio::test]
async fn api_that_never_answers_gives_502_after_the_timeout() {
    // Accepts connections and reads, but never replies.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let client = spawn_client(&silent_url, &[("SERVER_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let (status, text) = get(&format!("{client}/?n=5")).await;
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("did not answer within 1 s"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn server_url_must_be_an_absolute_url() {
    let err =
        sums_client::Config::from_env(&Env::from_pairs([("SERVER_URL", "api:4567")])).unwrap_err();
    assert!(err.to_string().contains("SERVER_URL"), "{err}");
    let config = sums_client::Config::from_env(&Env::default()).unwrap();
    assert_eq!(config.server_url, "http://api:4567");
    assert_eq!(config.common.port, 4567);
}

//! The sums API spawned in-process on port 0 against a real Redis (testkit's `TestApp`),
//! for the test binaries.

use std::time::Duration;

use platform::Env;
use serde_json::Value;
use testkit::{AppBuilder, TestApp, TestRedis};

pub async fn spawn_app(redis: &TestRedis, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs = vec![("PORT", "0".to_owned()), ("REDIS_URL", redis.url())];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = sums_api::Config::from_env(&Env::from_pairs(pairs)).expect("valid config");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let app = AppBuilder::new()
        .client(client)
        .spawn(|listener, shutdown| sums_api::run(config, listener, shutdown))
        .await;
    app.wait_ready().await;
    app
}

/// The API's endpoints, as the tests call them.
pub trait SumsApi {
    async fn post_raw(&self, body: &str) -> (u16, Value);
    fn spawn_post(&self, body: String) -> tokio::task::JoinHandle<u16>;
    async fn last_sum(&self) -> (u16, Value);
}

impl SumsApi for TestApp {
    async fn post_raw(&self, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/sum", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST /sum answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// `POST /sum` in the background; the task yields the status.
    fn spawn_post(&self, body: String) -> tokio::task::JoinHandle<u16> {
        let request = self
            .client
            .post(format!("{}/sum", self.base))
            .header("content-type", "application/json")
            .body(body);
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    }

    async fn last_sum(&self) -> (u16, Value) {
        let response = self
            .client
            .get(&self.base)
            .send()
            .await
            .expect("GET / answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }
}

/// An API with one sum slot and one queue place, both taken by sums of the largest n,
/// each stopped by the 1.5 s deadline (504): the app and the two requests' statuses.
pub async fn full_queue(
    redis: &TestRedis,
) -> (
    TestApp,
    tokio::task::JoinHandle<u16>,
    tokio::task::JoinHandle<u16>,
) {
    let app = spawn_app(
        redis,
        &[
            ("SUM_WORKERS", "1"),
            ("SUM_QUEUE", "1"),
            ("SUM_DEADLINE_MS", "1500"),
        ],
    )
    .await;
    let huge = format!(r#"{{"n": {}}}"#, sums_api::input::MAX_N);
    let running = app.spawn_post(huge.clone());
    let waiting = app.spawn_post(huge);
    tokio::time::sleep(Duration::from_millis(300)).await;
    (app, running, waiting)
}

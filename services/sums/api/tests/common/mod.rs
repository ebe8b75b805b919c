//! The sums API spawned in-process on port 0 against a real Redis, for the test binaries.

use std::time::Duration;

use platform::{Env, Shutdown};
use serde_json::Value;
use testkit::TestRedis;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    _shutdown: ShutdownOnDrop,
}

pub struct ShutdownOnDrop(pub Shutdown);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

pub async fn spawn_app(redis: &TestRedis, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs = vec![("PORT", "0".to_owned()), ("REDIS_URL", redis.url())];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = sums_api::Config::from_env(&Env::from_pairs(pairs)).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = Shutdown::manual(Duration::from_secs(1));
    tokio::spawn(sums_api::run(config, listener, shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let app = TestApp {
        base,
        client,
        _shutdown: ShutdownOnDrop(shutdown),
    };
    app.wait_ready().await;
    app
}

impl TestApp {
    pub async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(response) = self.client.get(format!("{}/ready", self.base)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sums api never became ready");
    }

    pub async fn post_raw(&self, body: &str) -> (u16, Value) {
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
    pub fn spawn_post(&self, body: String) -> tokio::task::JoinHandle<u16> {
        let request = self
            .client
            .post(format!("{}/sum", self.base))
            .header("content-type", "application/json")
            .body(body);
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    }

    pub async fn last_sum(&self) -> (u16, Value) {
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

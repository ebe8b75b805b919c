//! Game-day drill on the real binary: `n = 13` kills the process, a supervisor (standing in
//! for compose's restart policy or ECS) brings it back, and the last sum survives because
//! Redis persisted it.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::{free_port, workspace_binary, ChildGuard, TestRedis};

/// Restarts the API whenever it exits, until dropped.
struct Supervisor {
    restarts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    fn start(port: u16, redis_url: String) -> Self {
        let restarts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let restarts = restarts.clone();
            let stop = stop.clone();
            move || {
                let binary = workspace_binary("sums-api");
                while !stop.load(Ordering::SeqCst) {
                    let mut command = Command::new(&binary);
                    command
                        .env("PORT", port.to_string())
                        .env("REDIS_URL", &redis_url)
                        // The drill is off unless asked for, as in compose's drill setting.
                        .env("CRASH_ON_N", "13")
                        .env("LOG_FORMAT", "json")
                        .stdout(Stdio::null());
                    let mut child = ChildGuard::spawn("sums-api", &mut command);
                    while !stop.load(Ordering::SeqCst) && child.try_exit_code().is_none() {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if !stop.load(Ordering::SeqCst) {
                        restarts.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        Self {
            restarts,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(response) = client.get(format!("{base}/ready")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sums api at {base} not ready within 15 s");
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn crash_on_13_is_recovered_by_a_supervisor_and_the_last_sum_survives() {
    let mut redis = TestRedis::start_persistent();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let supervisor = Supervisor::start(port, redis.url());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;

    let sum: Value = client
        .post(format!("{base}/sum"))
        .json(&json!({"n": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 55}));

    let crashed = client
        .post(format!("{base}/sum"))
        .json(&json!({"n": 13}))
        .send()
        .await;
    assert!(
        crashed.is_err(),
        "n=13 must kill the process, got {crashed:?}"
    );

    let started = Instant::now();
    while supervisor.restarts.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no restart seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_ready(&client, &base).await;
    assert_eq!(
        get_json(&client, base.clone()).await,
        json!({"last_sum": 55})
    );

    // The sum lives in Redis, not in the process: it also survives a Redis restart (AOF).
    redis.restart();
    wait_ready(&client, &base).await;
    assert_eq!(
        get_json(&client, base.clone()).await,
        json!({"last_sum": 55})
    );
    assert_eq!(supervisor.restarts.load(Ordering::SeqCst), 1);
}

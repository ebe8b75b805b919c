//! Where Redis has a replica (`REDIS_REPLICAS` > 0, set by the provisioner), a vote is
//! acknowledged only once the replica has it: a 202 means the replica already holds the
//! vote, and with the replica gone (SIGKILL) the voter gets a 503 asking to vote again
//! instead of a 202 for a vote only one node has. Without the setting (dev: no replica)
//! vote answers after the primary alone, as the runbook says.

use std::time::{Duration, Instant};

use platform::Env;
use reqwest::StatusCode;
use testkit::{AppBuilder, TestApp, TestRedis};

/// A primary and a replica of it (`REPLICAOF`), in sync.
fn primary_and_replica() -> (TestRedis, TestRedis) {
    let primary = TestRedis::start();
    let replica = TestRedis::start();
    replica.cli(&["REPLICAOF", "127.0.0.1", &primary.port().to_string()]);
    let started = Instant::now();
    while !replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "replica never synced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (primary, replica)
}

async fn serve(primary: &TestRedis, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs = vec![
        ("REDIS_URL".to_owned(), primary.url()),
        ("QUEUE_TIMEOUT_MS".to_owned(), "1000".to_owned()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let config = vote::Config::from_env(&Env::from_pairs(pairs)).expect("valid test config");
    let app = AppBuilder::new()
        .drain(Duration::from_secs(2))
        .spawn(|listener, shutdown| vote::run(config, listener, shutdown))
        .await;
    app.wait_serving().await;
    app
}

async fn cast(base: &str, voter: &str) -> (StatusCode, String, Duration) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/vote"))
        .header("x-voter-id", voter)
        .json(&serde_json::json!({"vote": "a"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_replica_a_vote_is_acknowledged_only_once_the_replica_has_it() {
    let (primary, mut replica) = primary_and_replica();
    let app = serve(
        &primary,
        &[("REDIS_REPLICAS", "1"), ("REDIS_WAIT_TIMEOUT_MS", "300")],
    )
    .await;
    for n in 0..20 {
        let (status, body, _) = cast(&app.base, &format!("voter-{n}")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        // Read at once, no polling: the acknowledgement came after the replica had it.
        assert_eq!(
            replica.cli(&["LLEN", "votes"]),
            (n + 1).to_string(),
            "vote {n} acknowledged before the replica had it"
        );
    }

    replica.stop();
    let (status, body, took) = cast(&app.base, "after-replica-loss").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("please vote again"), "{body}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
    app.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replicas_configured_the_primary_alone_acknowledges() {
    let (primary, mut replica) = primary_and_replica();
    replica.stop();
    let app = serve(&primary, &[]).await;
    let (status, body, _) = cast(&app.base, "dev-voter").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(primary.cli(&["LLEN", "votes"]), "1");
    app.shutdown.trigger();
}

#[test]
fn the_wait_must_fit_in_the_queue_timeout() {
    let env =
        |pairs: &[(&str, &str)]| vote::Config::from_env(&Env::from_pairs(pairs.iter().copied()));
    let config = env(&[("REDIS_REPLICAS", "1")]).unwrap();
    assert_eq!(config.replication.unwrap().wait, Duration::from_millis(500));
    assert!(env(&[]).unwrap().replication.is_none());
    let err = env(&[
        ("REDIS_REPLICAS", "1"),
        ("QUEUE_TIMEOUT_MS", "400"),
        ("REDIS_WAIT_TIMEOUT_MS", "300"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("REDIS_WAIT_TIMEOUT_MS"), "{err}");
}

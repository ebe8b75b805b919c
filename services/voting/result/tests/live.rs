//! result against a real Postgres: totals follow the worker's notifications with no
//! query per change, the socket.io feed is what the original client expects, and a
//! Postgres outage leaves the page up with a stale marker.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use platform::Env;
use reqwest::StatusCode;
use testkit::{AppBuilder, ChildGuard, TestApp, TestPostgres};
use voting_store::{apply_batch, Ballot};

/// What a result app's test keeps: its Postgres and a pool on it.
struct Store {
    postgres: TestPostgres,
    pool: sqlx::PgPool,
}

async fn store() -> Store {
    let postgres = TestPostgres::start();
    let pool = sqlx::PgPool::connect(&postgres.url()).await.unwrap();
    voting_store::migrate(&pool).await.unwrap();
    Store { postgres, pool }
}

async fn spawn_app() -> TestApp<Store> {
    let store = store().await;
    let env = Env::from_pairs([
        ("DATABASE_URL", store.postgres.url()),
        ("OPTION_A", "Tea".to_owned()),
        ("OPTION_B", "Coffee".to_owned()),
        ("FALLBACK_POLL_MS", "60000".to_owned()),
    ]);
    let config = result::Config::from_env(&env).unwrap();
    let app = AppBuilder::new()
        .deps(store)
        .spawn(|listener, shutdown| result::run(config, listener, shutdown))
        .await;
    app.wait_until_loaded().await;
    app
}

fn ballots(voters: std::ops::Range<u32>, vote: &str) -> Vec<Ballot> {
    voters
        .map(|n| Ballot {
            voter_id: format!("voter-{n}"),
            vote: vote.to_owned(),
        })
        .collect()
}

/// The page, the API and the metrics, as the tests read them.
trait ResultTests {
    async fn results(&self) -> serde_json::Value;
    async fn wait_for_total(&self, total: i64);
    async fn wait_until_loaded(&self);
    async fn page(&self) -> String;
    async fn metric(&self, name: &str) -> f64;
}

impl<O> ResultTests for TestApp<Store, O> {
    async fn results(&self) -> serde_json::Value {
        self.get("/api/results").await.json().await.unwrap()
    }

    async fn wait_for_total(&self, total: i64) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(response) = self
                .client
                .get(format!("{}/api/results", self.base))
                .send()
                .await
            {
                if let Ok(json) = response.json::<serde_json::Value>().await {
                    if json["total"] == total {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("total never reached {total}: {}", self.results().await);
    }

    /// Until the first totals were read (the page is not marked stale any more).
    async fn wait_until_loaded(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(response) = self.client.get(&self.base).send().await {
                if response
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains(r#"<span id="stale" hidden>"#)
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("result never loaded the totals");
    }

    async fn page(&self) -> String {
        self.client
            .get(&self.base)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self.text("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .map(|value| value.trim().parse().unwrap())
            .unwrap_or(0.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_and_api_follow_committed_batches() {
    let app = spawn_app().await;
    let page = app.page().await;
    assert!(
        page.contains("<title>Tea vs Coffee -- Result</title>"),
        "{page}"
    );
    assert!(page.contains("No votes yet"), "{page}");
    assert!(
        page.contains(r#"<span id="stale" hidden>"#),
        "not stale: {page}"
    );
    assert!(page.contains("/static/socket.io.min.js"));

    apply_batch(&app.deps.pool, &ballots(0..1, "a"), 1)
        .await
        .unwrap();
    app.wait_for_total(1).await;
    assert!(app.page().await.contains("1 vote"));
    assert!(app.page().await.contains("100%"));

    apply_batch(&app.deps.pool, &ballots(1..3, "b"), 2)
        .await
        .unwrap();
    app.wait_for_total(3).await;
    assert_eq!(
        app.results().await,
        serde_json::json!({"a": 1, "b": 2, "total": 3})
    );
    let page = app.page().await;
    assert!(page.contains("3 votes"), "{page}");
    assert!(page.contains("33%") && page.contains("67%"), "{page}");

    for asset in [
        "/static/socket.io.min.js",
        "/static/app.js",
        "/static/stylesheets/style.css",
    ] {
        let response = app
            .client
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_cost_no_query_per_change_or_per_client() {
    // The binary, so that its metrics are not mixed with other tests' in this process.
    let store = store().await;
    let port = testkit::free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_result"));
    command
        .env("PORT", port.to_string())
        .env("DATABASE_URL", store.postgres.url())
        .env("FALLBACK_POLL_MS", "60000")
        .stdout(Stdio::null());
    let _server = ChildGuard::spawn("result", &mut command);
    let app = AppBuilder::new()
        .client(reqwest::Client::new())
        .deps(store)
        .attach(format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    while app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "result never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.wait_until_loaded().await;
    let queries_before = app.metric("result_db_queries_total").await;
    assert!(queries_before >= 1.0, "the initial read is counted");
    for batch in 0..40u32 {
        apply_batch(
            &app.deps.pool,
            &ballots(batch * 10..batch * 10 + 10, "a"),
            i64::from(batch) + 1,
        )
        .await
        .unwrap();
    }
    app.wait_for_total(400).await;
    let queries_after = app.metric("result_db_queries_total").await;
    assert_eq!(
        queries_after, queries_before,
        "40 notifications must not cost a query each (the payload carries the totals)"
    );
    assert!(app.metric("result_broadcasts_total").await >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_socket_io_client_receives_scores_as_a_json_string() {
    let app = spawn_app().await;
    apply_batch(&app.deps.pool, &ballots(0..2, "a"), 1)
        .await
        .unwrap();
    app.wait_for_total(2).await;

    let mut command = testkit::node_script("scores-listener.mjs");
    command
        .arg(&app.base)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut listener = ChildGuard::spawn_with_stdout("socket.io client", &mut command);
    let stdout = listener.take_stdout();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let next_scores = |lines: &mpsc::Receiver<String>| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(15))
            .expect("a scores event within 15 s");
        if let Some(rest) = line.strip_prefix("scores ") {
            return rest.to_owned();
        }
    };
    // Right after connecting: the current totals, as a JSON *string*.
    assert_eq!(next_scores(&lines), r#"string {"a":2,"b":0}"#);
    // And on every change, without asking.
    apply_batch(&app.deps.pool, &ballots(10..11, "b"), 2)
        .await
        .unwrap();
    assert_eq!(next_scores(&lines), r#"string {"a":2,"b":1}"#);
    listener.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_keeps_the_page_up_with_a_stale_marker() {
    let mut app = spawn_app().await;
    apply_batch(&app.deps.pool, &ballots(0..5, "b"), 1)
        .await
        .unwrap();
    app.wait_for_total(5).await;

    app.deps.postgres.stop();
    let started = Instant::now();
    let mut stale_page = None;
    while started.elapsed() < Duration::from_secs(15) {
        let page = app.page().await;
        if !page.contains(r#"<span id="stale" hidden>"#) {
            stale_page = Some(page);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = stale_page.expect("the page shows a stale marker while Postgres is down");
    assert!(page.contains("5 votes"), "last known counts stay: {page}");
    assert!(page.contains("stale"), "{page}");
    assert_eq!(app.results().await["total"], 5);
    let ready = app.get("/ready").await;
    // Serving the last counts is what result is for while Postgres is away: readiness
    // reports the outage but stays 200 (degraded), so neither the load balancer nor ECS
    // takes the task away (see `readiness` in src/lib.rs).
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["dependencies"]["postgres"]["status"], "down");
    assert_eq!(body["dependencies"]["postgres"]["required"], false);
    assert_eq!(body["dependencies"]["counts"]["status"], "up");

    app.deps.postgres.start_again();
    let pool = sqlx::PgPool::connect(&app.deps.postgres.url())
        .await
        .unwrap();
    apply_batch(&pool, &ballots(5..6, "a"), 2).await.unwrap();
    app.wait_for_total(6).await;
    let started = Instant::now();
    while app.page().await.contains("(stale")
        && !app.page().await.contains(r#"<span id="stale" hidden>"#)
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "stale marker never cleared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_no_state_and_each_follow_postgres() {
    let first = spawn_app().await;
    // A second replica on the same database, as behind a load balancer.
    let env = Env::from_pairs([("DATABASE_URL", first.deps.postgres.url())]);
    let config = result::Config::from_env(&env).unwrap();
    let replica =
        testkit::spawn_app(|listener, shutdown| result::run(config, listener, shutdown)).await;
    let second_base = &replica.base;

    apply_batch(&first.deps.pool, &ballots(0..4, "a"), 1)
        .await
        .unwrap();
    first.wait_for_total(4).await;
    let started = Instant::now();
    loop {
        let second: serde_json::Value = match first
            .client
            .get(format!("{second_base}/api/results"))
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        if second["total"] == 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the second replica never saw the batch: {second}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    replica.shutdown.trigger();
}

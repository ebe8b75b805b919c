//! The worker's CloudWatch Embedded Metric Format lines, from the real binary against
//! throwaway Redis and Postgres: every line is a valid EMF event (checked against the
//! specification's JSON schema and rules), the queue's directive leads it, and while Postgres is down (SIGKILL) the reported depth
//! counts both the votes still queued and the batch the worker holds, and the age grows.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use testkit::{free_port, TestPostgres, TestRedis};

const NAMESPACE: &str = "Slipway/voting-test";

/// Checks `event` against the EMF specification ("Specification: Embedded metric format",
/// CloudWatch user guide): its JSON schema (`testkit::emf`) and the prose rules
/// `platform::emf::check` enforces (every dimension a string member of the root, at most
/// 30 per set, at most 100 metrics per directive each naming a numeric root member — a
/// number, an array or a histogram — with a valid `Unit`), plus a `Timestamp` in
/// milliseconds of now.
fn validate_emf(event: &Value) -> Result<(), String> {
    let errors = testkit::emf::schema_errors(event);
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    platform::emf::check(event)?;
    let timestamp = event["_aws"]["Timestamp"]
        .as_u64()
        .ok_or("Timestamp is not an integer")?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    if now_ms.abs_diff(timestamp) > 60_000 {
        return Err(format!(
            "Timestamp {timestamp} is not milliseconds of now ({now_ms})"
        ));
    }
    Ok(())
}

#[test]
fn the_validator_rejects_what_cloudwatch_would_not_extract() {
    let good = serde_json::json!({
        "_aws": {"Timestamp": SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64,
                 "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Queue"]],
                                        "Metrics": [{"Name": "QueueDepth", "Unit": "Count"}]}]},
        "Queue": "votes", "QueueDepth": 1
    });
    validate_emf(&good).unwrap();
    for broken in [
        ("/_aws/Timestamp", serde_json::json!("now")),
        ("/Queue", serde_json::json!(1)),
        ("/QueueDepth", serde_json::json!("1")),
        (
            "/_aws/CloudWatchMetrics/0/Metrics/0/Unit",
            serde_json::json!("Votes"),
        ),
    ] {
        let mut event = good.clone();
        *event.pointer_mut(broken.0).unwrap() = broken.1;
        assert!(validate_emf(&event).is_err(), "{}", broken.0);
    }
}

/// Queues one vote per voter with a single RPUSH (the worker sees them all at once).
fn votes(redis: &TestRedis, voters: &[&str]) {
    let entries: Vec<String> = voters
        .iter()
        .map(|voter| format!(r#"{{"voter_id":"{voter}","vote":"a"}}"#))
        .collect();
    let mut args = vec!["RPUSH", "votes"];
    args.extend(entries.iter().map(String::as_str));
    redis.cli(&args);
}

#[test]
fn emits_valid_emf_lines_with_depth_and_age_of_the_queue_while_postgres_is_down() {
    let redis = TestRedis::start();
    let mut postgres = TestPostgres::start();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis.url())
        .env("DATABASE_URL", postgres.url())
        .env("LOG_FORMAT", "json")
        .env("WORKER_ID", "emf-worker")
        .env("METRICS_NAMESPACE", NAMESPACE)
        .env("METRICS_INTERVAL_SECS", "1");
    let (_worker, events) = testkit::emf::spawn_reading_emf("worker", &mut command, "WORKER_LOGS");
    // Waits for an EMF event satisfying `want`, validating every one on the way.
    let wait_for = |what: &str, want: &dyn Fn(u64, f64) -> bool| -> Value {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let Ok(event) = events.recv_timeout(Duration::from_secs(5)) else {
                continue;
            };
            validate_emf(&event).unwrap_or_else(|err| panic!("invalid EMF ({err}): {event}"));
            let directive = &event["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], NAMESPACE);
            assert_eq!(directive["Dimensions"], serde_json::json!([["Queue"]]));
            assert_eq!(event["Queue"], "votes");
            let depth = event["QueueDepth"].as_u64().unwrap();
            let age = event["QueueOldestAgeSeconds"].as_f64().unwrap();
            if want(depth, age) {
                return event;
            }
        }
        panic!("no EMF line with {what} within 30 s");
    };

    wait_for("an empty queue", &|depth, age| depth == 0 && age == 0.0);
    // Lines start before the migrations; let the worker finish them and drain first.
    let started = Instant::now();
    while platform::probe::check(port, "/ready").is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "worker never ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    postgres.stop();
    votes(&redis, &["held-0", "held-1", "held-2", "held-3", "held-4"]);
    // The worker claims those five and cannot write them; the next three stay queued.
    let started = Instant::now();
    while redis.cli(&["LLEN", "votes"]) != "0" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the worker never claimed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    votes(&redis, &["queued-0", "queued-1", "queued-2"]);
    wait_for("8 votes, the oldest 3 s old", &|depth, age| {
        depth == 8 && age >= 3.0
    });

    postgres.start_again();
    wait_for("the queue drained", &|depth, _| depth == 0);
}

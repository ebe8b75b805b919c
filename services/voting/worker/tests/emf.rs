//! The worker's CloudWatch Embedded Metric Format lines, from the real binary against
//! throwaway Redis and Postgres: every line is a valid EMF event (checked against the
//! specification's structure), and while Postgres is down (SIGKILL) the reported depth
//! counts both the votes still queued and the batch the worker holds, and the age grows.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use testkit::{free_port, ChildGuard, TestPostgres, TestRedis};

const NAMESPACE: &str = "Slipway/voting-test";

/// CloudWatch's metric units (MetricDatum.Unit in the CloudWatch API reference).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `event` against the EMF specification ("Specification: Embedded metric format",
/// CloudWatch user guide): a root `_aws` with an integer millisecond `Timestamp` and a
/// `CloudWatchMetrics` array of directives, each with a `Namespace`, `Dimensions` (an
/// array of arrays of at most 30 names, each a string member of the root) and `Metrics`
/// (at most 100 definitions with a `Name` — a numeric root member — and a valid `Unit`).
fn validate_emf(event: &Value) -> Result<(), String> {
    let aws = event["_aws"].as_object().ok_or("no _aws object")?;
    let timestamp = aws["Timestamp"]
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
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .ok_or("CloudWatchMetrics is not an array")?;
    if directives.is_empty() {
        return Err("no metric directive".into());
    }
    for directive in directives {
        let namespace = directive["Namespace"].as_str().ok_or("no Namespace")?;
        if namespace.is_empty() || namespace.len() > 255 {
            return Err(format!("bad Namespace {namespace:?}"));
        }
        for set in directive["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?
        {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if !event[name].is_string() {
                    return Err(format!(
                        "dimension {name} is not a string member of the root"
                    ));
                }
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or("Metrics is not an array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err(format!("{} metrics in a directive", metrics.len()));
        }
        for metric in metrics {
            let name = metric["Name"].as_str().ok_or("a metric without Name")?;
            if !event[name].is_number() {
                return Err(format!("metric {name} has no numeric value at the root"));
            }
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{unit} is not a CloudWatch unit"));
                }
            }
        }
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
    let mut command = common::worker_command(&redis, &postgres, port, "emf-worker");
    command
        .env("METRICS_NAMESPACE", NAMESPACE)
        .env("METRICS_INTERVAL_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut worker = ChildGuard::spawn_with_stdout("worker", &mut command);
    let stdout = worker.take_stdout();
    let (lines, events) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // Every stdout line is one CloudWatch Logs event: each must be JSON.
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
            if std::env::var_os("WORKER_LOGS").is_some() {
                eprintln!("{line}");
            }
            if value.get("_aws").is_some() && lines.send(value).is_err() {
                return;
            }
        }
    });
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

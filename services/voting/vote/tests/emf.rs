//! vote's CloudWatch Embedded Metric Format lines, from the real binary against a
//! throwaway Redis: every line conforms to the specification (its JSON schema and the
//! prose rules `platform::emf::check` enforces), counters arrive as per-interval growth
//! that adds up to the votes cast, request latencies as histograms, and a Redis outage
//! shows as `dependency_up{dependency=redis}` = 0 with failed checks counted.

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use platform::metrics::names;
use serde_json::{json, Value};
use testkit::{free_port, TestRedis};

const NAMESPACE: &str = "Slipway/voting-test";

/// Reads EMF events from the child's stdout, checking each against the specification.
struct Events {
    events: mpsc::Receiver<Value>,
}

impl Events {
    fn next(&self, within: Duration) -> Option<Value> {
        let event = self.events.recv_timeout(within).ok()?;
        let errors = testkit::emf::schema_errors(&event);
        assert!(errors.is_empty(), "schema: {errors:?} in {event}");
        platform::emf::check(&event).unwrap_or_else(|err| panic!("{err}: {event}"));
        let directives = event["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        for directive in directives {
            assert_eq!(directive["Namespace"], NAMESPACE);
            assert_eq!(directive["Dimensions"], json!([["Service"]]));
        }
        assert_eq!(event["Service"], "vote");
        Some(event)
    }

    /// Reads events until `done` says so (given the events so far), for at most 30 s.
    fn until(&self, what: &str, done: &dyn Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(event) = self.next(Duration::from_secs(5)) {
                seen.push(event);
                if done(&seen) {
                    return seen;
                }
            }
        }
        panic!("no EMF lines with {what} within 30 s: {seen:?}");
    }
}

fn total(events: &[Value], metric: &str) -> f64 {
    events.iter().filter_map(|e| e[metric].as_f64()).sum()
}

#[tokio::test]
async fn vote_reports_its_metrics_as_conforming_emf_lines() {
    let mut redis = TestRedis::start();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vote"));
    command
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis.url())
        .env("LOG_FORMAT", "json")
        .env("METRICS_NAMESPACE", NAMESPACE)
        .env("METRICS_INTERVAL_SECS", "1");
    let (_vote, events) = testkit::emf::spawn_reading_emf("vote", &mut command, "VOTE_LOGS");
    let events = Events { events };
    let started = Instant::now();
    while platform::probe::check(port, "/ready").is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "vote never ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let client = reqwest::Client::new();
    for (vote, times) in [("a", 5), ("b", 2)] {
        for _ in 0..times {
            let response = client
                .post(format!("http://127.0.0.1:{port}/api/vote"))
                .json(&json!({ "vote": vote }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        }
    }
    // Counters are growth per interval: over the lines they add up to the votes cast.
    let accepted = format!("{}{{vote=a}}", names::VOTES_QUEUED);
    let seen = events.until("7 votes queued", &|seen| {
        total(seen, names::VOTES_QUEUED) >= 7.0
    });
    assert_eq!(total(&seen, names::VOTES_QUEUED), 7.0);
    assert_eq!(total(&seen, &accepted), 5.0);
    let latency = format!("{}{{status=202}}", names::HTTP_REQUEST_DURATION);
    let counted: u64 = seen
        .iter()
        .filter_map(|e| e[&latency]["Count"].as_u64())
        .sum();
    assert_eq!(counted, 7, "each accepted vote timed once");
    let last = seen.last().unwrap();
    let up = format!("{}{{dependency=redis}}", names::DEPENDENCY_UP);
    assert_eq!(last[&up], json!(1));

    redis.stop();
    let down = events.until("Redis reported down", &|seen| {
        let last = seen.last().unwrap();
        last[&up] == json!(0) && last[names::DEPENDENCY_FAILURES].as_u64() >= Some(1)
    });
    let units: Vec<(&str, &str)> = down.last().unwrap()["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .filter(|(name, _)| *name == names::DEPENDENCY_FAILURES)
        .collect();
    assert_eq!(units, [(names::DEPENDENCY_FAILURES, "Count")]);
}

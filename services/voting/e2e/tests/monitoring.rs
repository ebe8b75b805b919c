//! A real scrape: the native voting stack and Debian's Prometheus on loopback, with the
//! compose profile's own configuration (targets rewritten to loopback, see
//! `voting_e2e::monitoring`) and its alert rules. The votes cast through vote must show up
//! in Prometheus as exactly that many votes queued and stored, every target up and
//! labelled as the dashboards and alerts expect, and every alert rule evaluating cleanly.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use voting_e2e::monitoring::{http, prometheus_binary, Prometheus, Sample};
use voting_e2e::VotingStack;

/// Votes cast: two thirds for a, one third for b, each from a new voter.
const VOTES: usize = 30;
/// How long any one expectation may take to show up (scrapes and rules run every second).
const LIMIT: Duration = Duration::from_secs(15);

fn total(samples: &[Sample]) -> f64 {
    samples.iter().map(|sample| sample.value).sum()
}

fn show(what: &str, samples: &[Sample]) {
    for sample in samples {
        eprintln!("{what}: {:?} = {}", sample.labels, sample.value);
    }
}

#[test]
fn prometheus_scrapes_the_voting_stack_with_the_compose_configuration() {
    // Before anything starts: a missing Prometheus fails here, saying what to install.
    prometheus_binary();
    let started = Instant::now();
    let stack = VotingStack::start();
    let prometheus = Prometheus::start(&stack.service_ports());

    for n in 0..VOTES {
        let vote = if n % 3 == 2 { "b" } else { "a" };
        let body = format!(r#"{{"vote": "{vote}"}}"#);
        let (status, answer) = http(stack.vote_port, "POST", "/api/vote", Some(&body)).unwrap();
        assert_eq!(status, 202, "vote {n}: {answer}");
    }
    let wait = Instant::now();
    while stack.stored_votes().len() < VOTES && wait.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        stack.stored_votes().len(),
        VOTES,
        "votes stored in Postgres"
    );

    // Every target of the stack is up, named by the relabelling (`service`, `stack`); the
    // sums and shop names of the same configuration have no target (their profile is not
    // running), as under compose.
    let up = prometheus.query_until(r#"up{job="slipway"}"#, LIMIT, |samples| {
        samples.len() == 3 && samples.iter().all(|sample| sample.value == 1.0)
    });
    show("up", &up);
    let services: BTreeSet<&str> = up.iter().map(|sample| sample.label("service")).collect();
    assert_eq!(services, BTreeSet::from(["result", "vote", "worker"]));
    for sample in &up {
        assert_eq!(sample.value, 1.0, "{sample:?}");
        assert_eq!(sample.label("stack"), "voting", "{sample:?}");
    }

    // Votes accepted by vote, by choice, and votes stored by the worker: exactly the ones cast.
    let queued = prometheus.query_until(
        r#"sum by (vote) (votes_queued_total{job="slipway", service="vote"})"#,
        LIMIT,
        |samples| total(samples) == VOTES as f64,
    );
    show("votes_queued_total", &queued);
    let by_vote = |choice: &str| {
        queued
            .iter()
            .find(|sample| sample.label("vote") == choice)
            .map(|sample| sample.value)
    };
    assert_eq!(by_vote("a"), Some(20.0), "{queued:?}");
    assert_eq!(by_vote("b"), Some(10.0), "{queued:?}");
    let stored = prometheus.query_until(
        r#"sum(votes_processed_total{job="slipway", service="worker"})"#,
        LIMIT,
        |samples| total(samples) == VOTES as f64,
    );
    show("votes_processed_total", &stored);
    assert_eq!(total(&stored), VOTES as f64, "votes stored == votes cast");
    let accepted = prometheus.query_until(
        r#"sum(http_requests_total{service="vote", method="POST", route="/api/vote", status="202"})"#,
        LIMIT,
        |samples| total(samples) == VOTES as f64,
    );
    show("http_requests_total 202", &accepted);
    assert_eq!(total(&accepted), VOTES as f64);

    // The queue is drained: nothing waiting, and the oldest-vote age is back to zero.
    for gauge in ["votes_queue_depth", "votes_queue_oldest_age_seconds"] {
        let samples = prometheus.query_until(
            &format!(r#"{gauge}{{job="slipway", service="worker"}}"#),
            LIMIT,
            |samples| samples.len() == 1 && samples[0].value == 0.0,
        );
        show(gauge, &samples);
        assert_eq!(samples.len(), 1, "{gauge}: {samples:?}");
        assert_eq!(samples[0].value, 0.0, "{gauge}: {samples:?}");
    }
    // The worker's batches were timed (the dashboard's batch latency panel).
    let batches = prometheus
        .query(r#"sum(votes_db_write_duration_seconds_count{job="slipway", service="worker"})"#);
    show("votes_db_write_duration_seconds_count", &batches);
    assert!(
        (1.0..=VOTES as f64).contains(&total(&batches)),
        "{batches:?}"
    );

    // Each service's own process metrics (the Services dashboard's CPU, memory and
    // restart panels; platform::metrics::process).
    for series in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ] {
        let samples = prometheus.query(&format!(r#"{series}{{job="slipway"}}"#));
        show(series, &samples);
        assert_eq!(samples.len(), 3, "{series}: {samples:?}");
        assert!(
            samples.iter().all(|s| s.value > 0.0),
            "{series}: {samples:?}"
        );
    }

    // Every alert rule of monitoring/prometheus/rules loaded and evaluates without error
    // on these real series, and none fires or is pending on a healthy stack.
    let wait = Instant::now();
    let (groups, unhealthy) = loop {
        let rules = prometheus.api("/api/v1/rules");
        let groups: Vec<String> = rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["name"].as_str().unwrap().to_owned())
            .collect();
        let unhealthy: Vec<String> = rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|group| group["rules"].as_array().unwrap().iter())
            .filter(|rule| rule["health"] != "ok")
            .map(|rule| format!("{} {} {}", rule["name"], rule["health"], rule["lastError"]))
            .collect();
        if unhealthy.is_empty() || wait.elapsed() > LIMIT {
            break (groups, unhealthy);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!("rule groups: {groups:?}");
    assert_eq!(
        groups,
        ["slipway-services", "slipway-shop", "slipway-voting"]
    );
    assert!(unhealthy.is_empty(), "rules not evaluating: {unhealthy:?}");
    let alerts = prometheus.query("ALERTS");
    assert!(alerts.is_empty(), "alerts on a healthy stack: {alerts:?}");

    // A service that stops answering is seen as down within a couple of scrapes.
    stack.signal("result", "STOP");
    let down = prometheus.query_until(r#"up{service="result"}"#, LIMIT, |samples| {
        samples.iter().any(|sample| sample.value == 0.0)
    });
    stack.signal("result", "CONT");
    show("up while result is stopped", &down);
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0].value, 0.0, "{down:?}");

    eprintln!("scrape test done in {:?}", started.elapsed());
}

//! The EMF documents the platform builds, checked against the JSON schema the CloudWatch
//! specification publishes (`tests/emf-schema.json`, via `testkit::emf`) and the prose
//! rules `platform::emf::check` enforces: from a recorder fed like a busy service (labels,
//! thousands of latencies, more than 100 series, two queues), and the schema itself
//! refusing what CloudWatch would not extract. The real binaries' lines are checked the
//! same way in services/voting/{vote,worker}/tests/emf.rs.

use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{Key, Label, Level, Metadata, Recorder};
use platform::emf::recorder::EmfRecorder;
use platform::emf::{check, documents, Report};
use serde_json::{json, Value};

static META: Metadata<'static> = Metadata::new("emf-test", Level::INFO, None);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(k.to_string(), v.to_string()))
        .collect();
    Key::from_parts(name.to_owned(), labels)
}

fn conforms(document: &Value) {
    let errors = testkit::emf::schema_errors(document);
    assert!(errors.is_empty(), "schema: {errors:?}\n{document}");
    check(document).unwrap_or_else(|err| panic!("{err}\n{document}"));
}

#[test]
fn documents_of_a_busy_interval_conform_to_the_schema_and_the_rules() {
    let recorder = EmfRecorder::new();
    for status in ["200", "404", "500", "503"] {
        let labels = [("method", "GET"), ("route", "/"), ("status", status)];
        recorder
            .register_counter(&key("http_requests_total", &labels), &META)
            .increment(10);
        let latency =
            recorder.register_histogram(&key("http_request_duration_seconds", &labels), &META);
        for i in 0..5_000 {
            latency.record(0.0001 * 1.002f64.powi(i));
        }
    }
    for i in 0..150 {
        recorder
            .register_gauge(&key(&format!("gauge_{i}"), &[]), &META)
            .set(i as f64 + 0.5);
    }
    for (queue, depth) in [("votes", 8.0), ("other", 3.0)] {
        recorder
            .register_gauge(&key("QueueDepth", &[("Queue", queue)]), &META)
            .set(depth);
    }
    recorder
        .register_gauge(&key("unknown_now", &[]), &META)
        .set(f64::NAN);
    let report = Report {
        namespace: "Slipway/voting-test",
        service: "vote",
        timestamp_ms: now_ms(),
    };
    let lines = documents(&report, &recorder.take());
    assert_eq!(lines.len(), 2, "two queues need two lines");
    for line in &lines {
        conforms(line);
        // Each is one line of text on stdout.
        assert!(!line.to_string().contains('\n'));
    }
    let first = &lines[0];
    let latency = &first["http_request_duration_seconds{status=500}"];
    assert_eq!(latency["Count"], json!(5_000));
    assert!(latency["Values"].as_array().unwrap().len() <= 100);
    assert_eq!(
        first["http_request_duration_seconds"]["Count"],
        json!(20_000)
    );
    assert_eq!(first["http_requests_total"], json!(40));
    assert_eq!(first["gauge_7"], json!(7.5));
    assert!(first.get("unknown_now").is_none());
    let directives = first["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives[0]["Dimensions"], json!([["Queue"]]));
    assert!(directives
        .iter()
        .all(|d| d["Metrics"].as_array().unwrap().len() <= 100));
    let queues: Vec<(Value, Value)> = lines
        .iter()
        .map(|l| (l["Queue"].clone(), l["QueueDepth"].clone()))
        .collect();
    assert_eq!(
        queues,
        [(json!("other"), json!(3)), (json!("votes"), json!(8))],
        "ordered by dimension value"
    );
}

#[test]
fn the_schema_refuses_what_cloudwatch_would_not_extract() {
    let good = json!({
        "_aws": {"Timestamp": now_ms(), "CloudWatchMetrics": [{
            "Namespace": "Slipway/voting-test", "Dimensions": [["Service"]],
            "Metrics": [{"Name": "votes_queued_total", "Unit": "Count", "StorageResolution": 60}]}]},
        "Service": "vote", "votes_queued_total": 3
    });
    conforms(&good);
    let thirty_one: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
    for (pointer, broken) in [
        ("/_aws/Timestamp", json!("now")),
        ("/_aws/Timestamp", json!(1.5)),
        ("/_aws/CloudWatchMetrics/0/Namespace", json!("")),
        ("/_aws/CloudWatchMetrics/0/Dimensions", json!([])),
        ("/_aws/CloudWatchMetrics/0/Dimensions", json!([thirty_one])),
        ("/_aws/CloudWatchMetrics/0/Metrics/0/Unit", json!("Votes")),
        ("/_aws/CloudWatchMetrics/0/Metrics/0/Name", json!("")),
        (
            "/_aws/CloudWatchMetrics/0/Metrics/0/StorageResolution",
            json!("60"),
        ),
        ("/_aws", json!({"CloudWatchMetrics": []})),
    ] {
        let mut document = good.clone();
        *document.pointer_mut(pointer).unwrap() = broken.clone();
        assert!(
            !testkit::emf::schema_errors(&document).is_empty(),
            "{pointer} = {broken}"
        );
    }
}

//! Turning one interval's samples into CloudWatch Embedded Metric Format documents, and
//! checking a document against the rules of the specification ("Specification: Embedded
//! metric format", CloudWatch user guide,
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>)
//! and of the CloudWatch API the extracted metrics go through (PutMetricData's
//! `MetricDatum`, `Dimension`).
//!
//! Shape of a line: the root carries `Service` and the value of every metric; one metric
//! directive (Dimensions `[["Service"]]`, at most 100 metrics each, more directives if
//! needed) lists the service's metrics. Series recorded with a label from
//! [`DIMENSION_LABELS`] (e.g. the worker's `Queue`) get a directive of their own with that
//! label as the dimension, first in the list. Other labels cannot be dimensions in a
//! single line (a root member has one value), so they become part of the metric name —
//! `products_cache_total{result=hit}` — next to the label-less total
//! `products_cache_total` for counters and histograms; `method` and `route` are left out
//! (the load balancer already reports per target group, and each name is a billed custom
//! metric).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::distribution::{Summary, MAX_VALUES};
use super::recorder::{Reading, Sample};
use super::{DIMENSION_LABELS, SERVICE_DIMENSION};

/// "This array MUST NOT contain more than 100 MetricDefinition objects."
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// "A DimensionSet MUST NOT contain more than 30 dimension keys."
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
/// MetricDatum.MetricName and Dimension.Name: 1 to 255 characters.
pub const MAX_NAME_LEN: usize = 255;
/// Dimension.Value and the EMF dimension target: at most 1024 characters.
pub const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// CloudWatch Logs' event size limit the EMF document is subject to ("limited to a
/// maximum size of 256 KB" in the specification; PutLogEvents: 256 KB per event).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Labels folded away before naming (see the module documentation).
pub const LABELS_NOT_EXPORTED: &[&str] = &["method", "route"];

/// The units CloudWatch accepts (MetricDatum.Unit in the CloudWatch API reference; the
/// specification's schema lists the same).
pub const UNITS: &[&str] = &[
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

/// The CloudWatch unit of a series: the unit it was described with, else its name's
/// Prometheus-style suffix (`_seconds`, `_bytes`, `_total`, `_size`).
pub fn unit_of(name: &str, declared: Option<metrics::Unit>) -> &'static str {
    use metrics::Unit as U;
    match declared {
        Some(U::Seconds) => "Seconds",
        Some(U::Milliseconds) => "Milliseconds",
        Some(U::Microseconds) => "Microseconds",
        Some(U::Bytes) => "Bytes",
        Some(U::Kibibytes) => "Kilobytes",
        Some(U::Mebibytes) => "Megabytes",
        Some(U::Gibibytes) => "Gigabytes",
        Some(U::Tebibytes) => "Terabytes",
        Some(U::Percent) => "Percent",
        Some(U::Count) => "Count",
        Some(U::CountPerSecond) => "Count/Second",
        Some(U::BitsPerSecond) => "Bits/Second",
        Some(U::KilobitsPerSecond) => "Kilobits/Second",
        Some(U::MegabitsPerSecond) => "Megabits/Second",
        Some(U::GigabitsPerSecond) => "Gigabits/Second",
        Some(U::TerabitsPerSecond) => "Terabits/Second",
        Some(U::Nanoseconds) | None => {
            let base = name.split('{').next().unwrap_or(name);
            if base.ends_with("_seconds") || base.ends_with("Seconds") {
                "Seconds"
            } else if base.ends_with("_bytes") {
                "Bytes"
            } else if base.ends_with("_total") || base.ends_with("_size") {
                "Count"
            } else {
                "None"
            }
        }
    }
}

/// The CloudWatch metric name of a series named `name` with `labels` (dimension labels
/// and [`LABELS_NOT_EXPORTED`] already removed): `name`, or `name{k=v,…}` in the order given.
pub fn series_name<'a>(name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let labels: Vec<String> = labels
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// What goes into the documents of one report.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone)]
enum Merged {
    Number(f64),
    Histogram(super::distribution::Distribution),
}

/// One directive's worth of metrics: its dimensions (name → value) and metrics.
#[derive(Debug, Default)]
struct Group {
    dimensions: BTreeMap<String, String>,
    metrics: BTreeMap<String, (&'static str, Merged)>,
}

impl Group {
    /// Adds a reading; readings of one series (labels folded away) add up.
    fn add(&mut self, name: String, unit: &'static str, reading: &Reading) {
        let incoming = match reading {
            Reading::Counter(growth) => Merged::Number(*growth as f64),
            Reading::Gauge(value) if value.is_finite() => Merged::Number(*value),
            // NaN marks "unknown right now" (e.g. the worker cannot sample its queue):
            // missing data, which CloudWatch would refuse as a value anyway.
            Reading::Gauge(_) => return,
            Reading::Histogram(distribution) => Merged::Histogram(distribution.clone()),
        };
        if let Some((_, existing)) = self.metrics.get_mut(&name) {
            match (existing, incoming) {
                (Merged::Number(total), Merged::Number(more)) => *total += more,
                (Merged::Histogram(total), Merged::Histogram(more)) => total.merge(&more),
                _ => {}
            }
        } else {
            self.metrics.insert(name, (unit, incoming));
        }
    }
}

/// The documents of one report: normally one line; more only if two groups would need
/// the same root member with different values (e.g. two queues).
pub fn documents(report: &Report<'_>, samples: &[Sample]) -> Vec<Value> {
    let mut groups: BTreeMap<Vec<(String, String)>, Group> = BTreeMap::new();
    for sample in samples {
        let name = sample.key.name();
        let mut dimensions = Vec::new();
        let mut labels = Vec::new();
        for label in sample.key.labels() {
            if DIMENSION_LABELS.contains(&label.key()) {
                dimensions.push((label.key().to_owned(), label.value().to_owned()));
            } else if !LABELS_NOT_EXPORTED.contains(&label.key()) {
                labels.push((label.key(), label.value()));
            }
        }
        let unit = unit_of(name, sample.unit);
        let group = groups.entry(dimensions.clone()).or_insert_with(|| Group {
            dimensions: dimensions.into_iter().collect(),
            ..Group::default()
        });
        // Folded-away labels make several samples one series, which add up. Counters and
        // histograms with labels also count towards their label-less total.
        group.add(
            series_name(name, labels.iter().copied()),
            unit,
            &sample.reading,
        );
        if !labels.is_empty() && !matches!(sample.reading, Reading::Gauge(_)) {
            group.add(name.to_owned(), unit, &sample.reading);
        }
    }
    // Dimensioned groups first (their directive leads the line), the service's last.
    let mut ordered: Vec<Group> = Vec::new();
    let service_group = groups.remove(&Vec::new());
    ordered.extend(groups.into_values());
    ordered.extend(service_group);

    let mut documents: Vec<(Map<String, Value>, Vec<Value>)> = Vec::new();
    for group in ordered {
        if group.metrics.is_empty() {
            continue;
        }
        let mut members = Map::new();
        let mut dimension_keys: Vec<String> = group.dimensions.keys().cloned().collect();
        for (key, value) in &group.dimensions {
            members.insert(key.clone(), json!(value));
        }
        if group.dimensions.is_empty() {
            dimension_keys.push(SERVICE_DIMENSION.to_owned());
            members.insert(SERVICE_DIMENSION.to_owned(), json!(report.service));
        }
        let mut definitions = Vec::new();
        for (name, (unit, merged)) in &group.metrics {
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                tracing::warn!(metric = %name, "metric name is not 1-255 characters; not sent to CloudWatch");
                continue;
            }
            members.insert(name.clone(), target(merged));
            definitions.push(json!({"Name": name, "Unit": unit}));
        }
        let directives: Vec<Value> = definitions
            .chunks(MAX_METRICS_PER_DIRECTIVE)
            .map(|chunk| {
                json!({
                    "Namespace": report.namespace,
                    "Dimensions": [dimension_keys],
                    "Metrics": chunk,
                })
            })
            .collect();
        // A root member has one value: a group joins the first line it shares none with.
        let home = documents
            .iter_mut()
            .find(|(root, _)| members.keys().all(|key| !root.contains_key(key)));
        match home {
            Some((root, list)) => {
                root.extend(members);
                list.extend(directives);
            }
            None => documents.push((members, directives)),
        }
    }
    documents
        .into_iter()
        .map(|(mut root, directives)| {
            root.insert(
                "_aws".into(),
                json!({"Timestamp": report.timestamp_ms, "CloudWatchMetrics": directives}),
            );
            Value::Object(root)
        })
        .collect()
}

/// A metric target: a number (integral values as integers), or a histogram.
fn target(merged: &Merged) -> Value {
    match merged {
        Merged::Number(value) => number(*value),
        Merged::Histogram(distribution) => match distribution.summary() {
            Some(summary) => histogram(&summary),
            None => json!(0),
        },
    }
}

/// The histogram form AWS's EMF libraries emit and CloudWatch extracts (e.g.
/// aws-embedded-metrics-java `Histogram`/`Statistics`, metrique's EMF formatter):
/// `Values` with their `Counts` (at most 100 each), and the exact `Max`, `Min`, `Count`
/// and `Sum`. The user guide's specification only shows numbers and arrays of numbers;
/// [`check`] accepts this form too and checks its consistency.
fn histogram(summary: &Summary) -> Value {
    json!({
        "Values": summary.values.iter().map(|v| number(*v)).collect::<Vec<_>>(),
        "Counts": summary.counts,
        "Max": number(summary.max),
        "Min": number(summary.min),
        "Count": summary.count,
        "Sum": number(summary.sum),
    })
}

fn number(value: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() < EXACT {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// Checks `document` against the specification's rules that its JSON schema does not
/// express (the schema itself is checked in the tests): every dimension key names a
/// string member of the root of at most 1024 characters; at most 30 keys per set; 1 to
/// 100 metrics per directive, each naming a numeric member of the root, an array of at
/// most 100 numbers or a consistent histogram; names of 1-255 characters; units
/// CloudWatch knows; a millisecond timestamp; the whole line within the event size limit.
pub fn check(document: &Value) -> Result<(), String> {
    let root = document
        .as_object()
        .ok_or("the document is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not an integer")?;
    // Milliseconds since the epoch: after 2001-09-09 (1e12 ms), before 2286 (1e13).
    if !(1_000_000_000_000..10_000_000_000_000).contains(&timestamp) {
        return Err(format!(
            "_aws.Timestamp {timestamp} is not milliseconds since the epoch"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    if directives.is_empty() {
        return Err("no metric directive".into());
    }
    for directive in directives {
        let namespace = directive["Namespace"]
            .as_str()
            .ok_or("a directive without Namespace")?;
        super::check_namespace(namespace)?;
        let sets = directive["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > MAX_DIMENSIONS_PER_SET {
                return Err(format!(
                    "{} dimensions in a set; at most {MAX_DIMENSIONS_PER_SET}",
                    set.len()
                ));
            }
            for key in set {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                if key.is_empty() || key.len() > MAX_NAME_LEN || key.starts_with(':') {
                    return Err(format!(
                        "dimension name {key:?}: 1-255 characters, not starting with ':'"
                    ));
                }
                match root.get(key).and_then(Value::as_str) {
                    Some(value)
                        if !value.trim().is_empty()
                            && value.len() <= MAX_DIMENSION_VALUE_LEN
                            && value.is_ascii() => {}
                    _ => {
                        return Err(format!(
                            "dimension {key} is not a root member with a non-empty ASCII string of at most {MAX_DIMENSION_VALUE_LEN} characters"
                        ))
                    }
                }
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or("Metrics is not an array")?;
        if metrics.is_empty() || metrics.len() > MAX_METRICS_PER_DIRECTIVE {
            return Err(format!(
                "{} metrics in a directive; 1 to {MAX_METRICS_PER_DIRECTIVE}",
                metrics.len()
            ));
        }
        for metric in metrics {
            let name = metric["Name"].as_str().ok_or("a metric without Name")?;
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                return Err(format!("metric name {name:?} is not 1-255 characters"));
            }
            check_target(name, root.get(name))?;
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{unit} is not a CloudWatch unit"));
                }
            }
            if let Some(resolution) = metric.get("StorageResolution") {
                if resolution != 1 && resolution != 60 {
                    return Err(format!("StorageResolution {resolution}: 1 or 60"));
                }
            }
        }
    }
    let size = document.to_string().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "{size} bytes; a CloudWatch Logs event holds at most {MAX_DOCUMENT_BYTES}"
        ));
    }
    Ok(())
}

fn check_target(name: &str, target: Option<&Value>) -> Result<(), String> {
    let finite = |value: &Value| value.as_f64().is_some_and(f64::is_finite);
    match target {
        Some(value) if finite(value) => Ok(()),
        Some(Value::Array(values)) => {
            if values.is_empty() || values.len() > MAX_VALUES || !values.iter().all(finite) {
                Err(format!(
                    "metric {name}: an array of 1 to {MAX_VALUES} numbers is required"
                ))
            } else {
                Ok(())
            }
        }
        Some(Value::Object(histogram)) => {
            let values = histogram.get("Values").and_then(Value::as_array);
            let counts = histogram.get("Counts").and_then(Value::as_array);
            let (Some(values), Some(counts)) = (values, counts) else {
                return Err(format!(
                    "metric {name}: a histogram needs Values and Counts"
                ));
            };
            let stats: Option<Vec<f64>> = ["Max", "Min", "Count", "Sum"]
                .iter()
                .map(|key| histogram.get(*key).and_then(Value::as_f64))
                .collect();
            let Some(stats) = stats else {
                return Err(format!(
                    "metric {name}: a histogram needs numeric Max, Min, Count and Sum"
                ));
            };
            let (max, min, count) = (stats[0], stats[1], stats[2]);
            let counted: f64 = counts.iter().filter_map(Value::as_f64).sum();
            if values.is_empty()
                || values.len() > MAX_VALUES
                || values.len() != counts.len()
                || !values.iter().all(finite)
                || !counts.iter().all(|c| c.as_u64().is_some())
                || counted != count
                || min > max
                || !values
                    .iter()
                    .filter_map(Value::as_f64)
                    .all(|v| (min..=max).contains(&v))
            {
                return Err(format!(
                    "metric {name}: histogram Values/Counts must be 1 to {MAX_VALUES} pairs within Min..Max whose counts add up to Count"
                ));
            }
            Ok(())
        }
        _ => Err(format!("metric {name} has no numeric value at the root")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emf::distribution::Distribution;
    use metrics::{Key, Label};

    const NOW_MS: u64 = 1_765_000_000_000;

    fn report() -> Report<'static> {
        Report {
            namespace: "Slipway/test-dev",
            service: "vote",
            timestamp_ms: NOW_MS,
        }
    }

    fn sample(name: &str, labels: &[(&str, &str)], reading: Reading) -> Sample {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(k.to_string(), v.to_string()))
            .collect();
        Sample {
            key: Key::from_parts(name.to_owned(), labels),
            unit: None,
            reading,
        }
    }

    #[test]
    fn one_line_with_the_queue_directive_first_labels_in_names_and_totals() {
        let mut latency = Distribution::default();
        latency.record(0.25);
        latency.record(0.5);
        let samples = vec![
            sample("QueueDepth", &[("Queue", "votes")], Reading::Gauge(8.0)),
            sample("votes_queued_total", &[("vote", "a")], Reading::Counter(2)),
            sample("votes_queued_total", &[("vote", "b")], Reading::Counter(3)),
            sample(
                "http_request_duration_seconds",
                &[("method", "GET"), ("route", "/"), ("status", "200")],
                Reading::Histogram(latency.clone()),
            ),
            sample(
                "http_request_duration_seconds",
                &[("method", "POST"), ("route", "/"), ("status", "200")],
                Reading::Histogram(latency),
            ),
            sample("result_socket_clients", &[], Reading::Gauge(f64::NAN)),
        ];
        let documents = documents(&report(), &samples);
        assert_eq!(documents.len(), 1);
        let line = &documents[0];
        check(line).unwrap();
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives[0]["Dimensions"], json!([["Queue"]]));
        assert_eq!(directives[1]["Dimensions"], json!([["Service"]]));
        assert_eq!(line["Queue"], "votes");
        assert_eq!(line["Service"], "vote");
        assert_eq!(line["QueueDepth"], json!(8));
        assert_eq!(line["votes_queued_total{vote=a}"], json!(2));
        assert_eq!(line["votes_queued_total"], json!(5));
        let latency = &line["http_request_duration_seconds{status=200}"];
        assert_eq!(latency["Count"], json!(4));
        assert_eq!(latency["Sum"], json!(1.5));
        assert_eq!(line["http_request_duration_seconds"]["Count"], json!(4));
        assert!(
            line.get("result_socket_clients").is_none(),
            "NaN is no data"
        );
        let units: BTreeMap<&str, &str> = directives[1]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
            .collect();
        assert_eq!(units["votes_queued_total"], "Count");
        assert_eq!(
            units["http_request_duration_seconds{status=200}"],
            "Seconds"
        );
    }

    #[test]
    fn more_than_a_hundred_metrics_are_split_over_directives_and_two_queues_over_lines() {
        let mut samples: Vec<Sample> = (0..250)
            .map(|i| sample(&format!("m{i}_total"), &[], Reading::Counter(i)))
            .collect();
        samples.push(sample("QueueDepth", &[("Queue", "a")], Reading::Gauge(1.0)));
        samples.push(sample("QueueDepth", &[("Queue", "b")], Reading::Gauge(2.0)));
        let documents = documents(&report(), &samples);
        assert_eq!(documents.len(), 2);
        for document in &documents {
            check(document).unwrap();
        }
        let counts: Vec<usize> = documents[0]["_aws"]["CloudWatchMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Metrics"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [1, 100, 100, 50]);
        assert_eq!(documents[1]["Queue"], "b");
    }

    #[test]
    fn check_rejects_what_the_specification_forbids() {
        let good = json!({
            "_aws": {"Timestamp": NOW_MS, "CloudWatchMetrics": [{
                "Namespace": "N", "Dimensions": [["Service"]],
                "Metrics": [{"Name": "m", "Unit": "Count", "StorageResolution": 60}, {"Name": "h", "Unit": "Seconds"}]}]},
            "Service": "vote", "m": 1,
            "h": {"Values": [0.5, 1], "Counts": [2, 1], "Max": 1, "Min": 0.5, "Count": 3, "Sum": 2}
        });
        check(&good).unwrap();
        let many_keys: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
        let hundred_and_one: Vec<Value> = (0..101).map(|_| json!({"Name": "m"})).collect();
        for (pointer, broken) in [
            ("/_aws/Timestamp", json!(1_765_000_000)), // seconds, not milliseconds
            ("/_aws/Timestamp", json!("now")),
            ("/_aws/CloudWatchMetrics", json!([])),
            ("/_aws/CloudWatchMetrics/0/Namespace", json!("AWS/ECS")),
            ("/_aws/CloudWatchMetrics/0/Dimensions", json!([many_keys])),
            ("/_aws/CloudWatchMetrics/0/Dimensions", json!([["Missing"]])),
            ("/_aws/CloudWatchMetrics/0/Metrics", json!(hundred_and_one)),
            ("/_aws/CloudWatchMetrics/0/Metrics/0/Unit", json!("Votes")),
            (
                "/_aws/CloudWatchMetrics/0/Metrics/0/Name",
                json!("x".repeat(256)),
            ),
            (
                "/_aws/CloudWatchMetrics/0/Metrics/0/StorageResolution",
                json!(5),
            ),
            ("/Service", json!(1)),
            ("/Service", json!("")),
            ("/m", json!("1")),
            ("/m", json!(vec![1; 101])),
            ("/h/Counts", json!([2, 2])),
            ("/h/Values", json!([0.5, 7])),
        ] {
            let mut document = good.clone();
            *document.pointer_mut(pointer).unwrap() = broken.clone();
            assert!(check(&document).is_err(), "{pointer} = {broken}");
        }
    }

    #[test]
    fn units_from_description_or_suffix() {
        assert_eq!(unit_of("x", Some(metrics::Unit::Count)), "Count");
        assert_eq!(unit_of("sums_compute_duration_seconds", None), "Seconds");
        assert_eq!(unit_of("QueueOldestAgeSeconds", None), "Seconds");
        assert_eq!(unit_of("vote_batch_size", None), "Count");
        assert_eq!(unit_of("orders_created_total{x=y}", None), "Count");
        assert_eq!(unit_of("result_socket_clients", None), "None");
        for name in ["a", "b_seconds", "c_total", "d_bytes"] {
            assert!(UNITS.contains(&unit_of(name, None)));
        }
    }
}

//! The services' own metrics in CloudWatch, without an agent or a sidecar: every
//! interval the process prints one CloudWatch Embedded Metric Format (EMF) line on
//! stdout with everything it records through the `metrics` facade (the same series
//! `/metrics` shows Prometheus): counters as their growth over the interval, gauges as
//! their value, histograms as value/count pairs with exact minimum, maximum, sum and
//! count. On ECS stdout goes to CloudWatch Logs (awslogs driver, PutLogEvents), which
//! extracts the metrics from any JSON event carrying an `_aws` object — the
//! `x-amzn-logs-format: json/emf` header is optional ("Using the PutLogEvents API to send
//! manually-created embedded metric format logs", CloudWatch user guide).
//!
//! On when `METRICS_NAMESPACE` is set (the provisioner sets `Slipway/<stack>-<env>` for
//! every service; unset under Compose and in tests). `METRICS_INTERVAL_SECS` (default 60,
//! CloudWatch's standard resolution) sets the interval, `METRICS_SERVICE` the `Service`
//! dimension (default: the service's own name). Right before each line the service's
//! readiness checks run once, so `dependency_up` and `dependency_check_failures_total`
//! describe every interval even where no load balancer asks `/ready`.
//!
//! Why not a crate: `metrics_cloudwatch_embedded` installs itself as the only global
//! recorder (no fan-out next to Prometheus), keeps at most 100 histogram values per flush
//! and writes a line per label set; `metrique-metricsrs` (AWS) records histogram values as
//! `u32`, so the seconds every latency here is measured in round to 0, and needs Rust 1.91.

pub mod distribution;
pub mod document;
pub mod recorder;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use document::{check, documents, series_name, Report};

use crate::{ConfigError, Env, Shutdown};

/// The dimension every service metric carries: the service's name.
pub const SERVICE_DIMENSION: &str = "Service";
/// The dimension of the queue metrics (the Redis list key).
pub const QUEUE_DIMENSION: &str = "Queue";
/// Labels that become CloudWatch dimensions of their own directive instead of part of the
/// metric name (see [`document`]).
pub const DIMENSION_LABELS: &[&str] = &[QUEUE_DIMENSION];

/// Where and how often to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// CloudWatch namespace (`Slipway/<stack>-<env>`).
    pub namespace: String,
    /// Value of the `Service` dimension.
    pub service: String,
    /// Time between two reports.
    pub interval: Duration,
}

/// A CloudWatch namespace: 1-255 ASCII characters, not starting with the reserved
/// `AWS/` (PutMetricData API reference, Namespace).
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    if namespace.is_empty()
        || namespace.len() > 255
        || !namespace.is_ascii()
        || namespace.starts_with("AWS/")
    {
        return Err(format!(
            "namespace {namespace:?}: 1-255 ASCII characters, not starting with AWS/"
        ));
    }
    Ok(())
}

impl Settings {
    /// `METRICS_NAMESPACE` (unset or empty: no EMF lines), `METRICS_INTERVAL_SECS`
    /// (1-3600, default 60) and `METRICS_SERVICE` (default `service`).
    pub fn from_env(env: &Env, service: &str) -> Result<Option<Self>, ConfigError> {
        let namespace = env.string("METRICS_NAMESPACE", "");
        let namespace = namespace.trim();
        if namespace.is_empty() {
            return Ok(None);
        }
        if check_namespace(namespace).is_err() {
            return Err(ConfigError::Invalid {
                name: "METRICS_NAMESPACE".into(),
                value: namespace.to_owned(),
                expected: "a CloudWatch namespace: 1-255 ASCII characters, not starting with AWS/"
                    .into(),
                detail: String::new(),
            });
        }
        let service = env.string("METRICS_SERVICE", service);
        if service.len() > document::MAX_DIMENSION_VALUE_LEN || !service.is_ascii() {
            return Err(ConfigError::Invalid {
                name: "METRICS_SERVICE".into(),
                value: service,
                expected: "a CloudWatch dimension value: 1-1024 ASCII characters".into(),
                detail: String::new(),
            });
        }
        Ok(Some(Self {
            namespace: namespace.to_owned(),
            service,
            interval: Duration::from_secs(env.bounded("METRICS_INTERVAL_SECS", 60u64, 1..=3600)?),
        }))
    }
}

/// Starts reporting if `env` asks for it (see the module documentation); returns whether
/// it did. Call once per process, inside the tokio runtime.
pub fn start(env: &Env, service: &str, shutdown: &Shutdown) -> Result<bool, ConfigError> {
    let Some(settings) = Settings::from_env(env, service)? else {
        return Ok(false);
    };
    crate::metrics::handle();
    tracing::info!(namespace = %settings.namespace, service = %settings.service, interval_secs = settings.interval.as_secs(), "reporting metrics to CloudWatch as EMF lines on stdout");
    tokio::spawn(export(settings, shutdown.clone()));
    Ok(true)
}

/// Prints a report every interval, and a last one when shutdown is requested.
async fn export(settings: Settings, shutdown: Shutdown) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.interval,
        settings.interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            () = shutdown.requested() => true,
        };
        report(&settings).await;
        if last {
            return;
        }
    }
}

/// One report: readiness evaluated, the interval read out, each document checked and
/// printed as one line (one write: CloudWatch Logs takes each line as one event).
pub async fn report(settings: &Settings) {
    if let Some(readiness) = crate::health::watched() {
        readiness.evaluate().await;
    }
    let samples = crate::metrics::emf_recorder().take();
    let report = Report {
        namespace: &settings.namespace,
        service: &settings.service,
        timestamp_ms: now_ms(),
    };
    for document in documents(&report, &samples) {
        match check(&document) {
            Ok(()) => println!("{document}"),
            Err(err) => tracing::error!(%err, "EMF document breaks the specification; not printed"),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_and_reject_reserved_namespaces() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert_eq!(Settings::from_env(&env(&[]), "worker").unwrap(), None);
        assert_eq!(
            Settings::from_env(
                &env(&[("METRICS_NAMESPACE", "Slipway/voting-dev")]),
                "worker"
            )
            .unwrap(),
            Some(Settings {
                namespace: "Slipway/voting-dev".into(),
                service: "worker".into(),
                interval: Duration::from_secs(60)
            })
        );
        let named = Settings::from_env(
            &env(&[
                ("METRICS_NAMESPACE", "Slipway/voting-dev"),
                ("METRICS_SERVICE", "worker-blue"),
                ("METRICS_INTERVAL_SECS", "10"),
            ]),
            "worker",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (named.service.as_str(), named.interval),
            ("worker-blue", Duration::from_secs(10))
        );
        assert!(Settings::from_env(&env(&[("METRICS_NAMESPACE", "AWS/ECS")]), "w").is_err());
        assert!(Settings::from_env(
            &env(&[
                ("METRICS_NAMESPACE", "Slipway/x"),
                ("METRICS_INTERVAL_SECS", "0")
            ]),
            "w"
        )
        .is_err());
    }
}

//! Metrics: one process-wide recorder (the `metrics` facade) that fans every series out
//! to Prometheus (rendered at `/metrics`) and to the CloudWatch EMF reporter
//! ([`crate::emf`]), plus the HTTP middleware that counts and times every request.

pub mod names;
pub mod process;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::FanoutBuilder;

use crate::emf::recorder::EmfRecorder;

/// Latency buckets in seconds: sub-millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Size buckets for counted things such as batch sizes.
const SIZE_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static EMF: OnceLock<EmfRecorder> = OnceLock::new();

/// The EMF half of the process-wide recorder (what [`crate::emf`] reports from).
pub(crate) fn emf_recorder() -> &'static EmfRecorder {
    EMF.get_or_init(EmfRecorder::new)
}

/// The process-wide recorder, installed on first use. Tests start many apps in one
/// process, so this must be idempotent.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let prometheus = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZE_BUCKETS))
            .expect("bucket lists are non-empty constants")
            .build_recorder();
        let handle = prometheus.handle();
        // The EMF side keeps bounded state (atomics, logarithmic histogram bins), so it
        // records whether or not this process reports to CloudWatch.
        let fanout = FanoutBuilder::default()
            .add_recorder(prometheus)
            .add_recorder(emf_recorder().clone())
            .build();
        metrics::set_global_recorder(fanout)
            .expect("no other metrics recorder is installed in this process");
        let upkeep = handle.clone();
        // Histograms are kept in buckets that need periodic draining; a plain thread keeps
        // this independent of whichever tokio runtime happened to install the recorder.
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("spawning the metrics upkeep thread");
        handle
    })
}

/// Counts and times each request by method, route template and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION, &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

//! The README's monitoring picture, reproducibly: starts the native voting stack and
//! Debian's Prometheus exactly as the scrape test does (tests/monitoring.rs), plays a
//! short scenario — votes flowing, Postgres down for a while so the queue backs up, then
//! back so the worker drains it — and screenshots Prometheus's own graph page with
//! headless Chromium (Grafana needs Docker, which this machine does not have).
//!
//!   cargo run -p voting-e2e --example monitoring-screenshot -- docs/monitoring-prometheus.png
//!
//! ci/screenshot-monitoring.sh builds what it needs and runs this.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use voting_e2e::monitoring::{encode, http, Prometheus};
use voting_e2e::VotingStack;

/// The graphs, top to bottom: what the dashboards' voting pipeline row shows.
const GRAPHS: &[&str] = &[
    r#"sum by (vote) (rate(votes_queued_total{job="slipway"}[10s]))"#,
    r#"sum(rate(votes_processed_total{job="slipway"}[10s]))"#,
    r#"max(votes_queue_depth{job="slipway"})"#,
    r#"max(votes_queue_oldest_age_seconds{job="slipway"})"#,
];
const STEADY: Duration = Duration::from_secs(25);
const OUTAGE: Duration = Duration::from_secs(20);
const RECOVERY: Duration = Duration::from_secs(25);

fn main() {
    let output = std::env::args()
        .nth(1)
        .expect("usage: monitoring-screenshot OUTPUT.png");
    let output = std::path::absolute(&output).expect("output path");
    let mut stack = VotingStack::start();
    let prometheus = Prometheus::start(&stack.service_ports());
    eprintln!(
        "Prometheus on {} scraping vote, worker, result",
        prometheus.url()
    );

    // About 20 votes a second, two thirds for a, until told to stop.
    let running = Arc::new(AtomicBool::new(true));
    let cast = Arc::new(AtomicUsize::new(0));
    let voter = {
        let (running, cast, port) = (Arc::clone(&running), Arc::clone(&cast), stack.vote_port);
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                let n = cast.load(Ordering::Relaxed);
                let vote = if n % 3 == 2 { "b" } else { "a" };
                let body = format!(r#"{{"vote": "{vote}"}}"#);
                if let Ok((202, _)) = http(port, "POST", "/api/vote", Some(&body)) {
                    cast.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(STEADY);
    eprintln!("stopping Postgres for {OUTAGE:?}: the queue backs up");
    stack.postgres.stop();
    std::thread::sleep(OUTAGE);
    stack.postgres.start_again();
    eprintln!("Postgres is back: the worker drains the queue");
    std::thread::sleep(RECOVERY);
    running.store(false, Ordering::Relaxed);
    voter.join().expect("voter thread");
    let cast = cast.load(Ordering::Relaxed);
    let stored = prometheus.query_until(
        r#"sum(votes_processed_total{job="slipway"})"#,
        Duration::from_secs(20),
        |samples| samples.first().is_some_and(|s| s.value == cast as f64),
    );
    eprintln!("{cast} votes cast; Prometheus counts {stored:?} stored");

    let mut url = format!("{}/classic/graph?", prometheus.url());
    for (index, expr) in GRAPHS.iter().enumerate() {
        url.push_str(&format!(
            "g{index}.expr={}&g{index}.tab=0&g{index}.range_input=90s&",
            encode(expr)
        ));
    }
    let status = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            // Let the page's scripts query Prometheus and draw before the picture is taken.
            "--virtual-time-budget=10000",
            "--window-size=1400,2900",
        ])
        .arg(format!("--screenshot={}", output.display()))
        .arg(&url)
        .status()
        .expect("running chromium (Debian package chromium; ci/test.sh installs it)");
    assert!(status.success(), "chromium failed: {status}");
    eprintln!("screenshot of {url}\nwritten to {}", output.display());
}

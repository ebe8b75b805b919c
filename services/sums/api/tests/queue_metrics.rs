//! The queue's length as gauges (`sums_waiting`, `sums_running`: the sums dashboard's
//! "Queue length" panel). A test binary of its own: the metrics recorder is per process,
//! and no other test may run sums meanwhile.

#[allow(dead_code)] // api.rs uses the rest of the harness
mod common;

use common::full_queue;
use testkit::{TestApp, TestRedis};

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(app: &TestApp) -> String {
    let response = app.client.get(format!("{}/metrics", app.base)).send();
    response.await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn waiting_and_running_sums_are_gauges_that_return_to_zero() {
    let redis = TestRedis::start();
    // One sum running and one waiting for the only slot, both stopped by the deadline.
    let (app, running, waiting) = full_queue(&redis).await;
    let during = metrics(&app).await;
    assert_eq!(gauge(&during, "sums_running"), Some(1.0), "{during}");
    assert_eq!(gauge(&during, "sums_waiting"), Some(1.0), "{during}");
    assert_eq!(running.await.unwrap(), 504);
    assert_eq!(waiting.await.unwrap(), 504);
    let after = metrics(&app).await;
    assert_eq!(gauge(&after, "sums_running"), Some(0.0), "{after}");
    assert_eq!(gauge(&after, "sums_waiting"), Some(0.0), "{after}");
}

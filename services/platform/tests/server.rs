//! Serving with the platform: ops endpoints, graceful drain of in-flight requests, the
//! bounded drain period, and the `--probe` check.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use platform::Readiness;
use testkit::{AppBuilder, TestApp};

async fn serve(
    app: Router,
    readiness: Readiness,
    drain: Duration,
) -> TestApp<(), std::io::Result<()>> {
    let app = platform::http::with_platform(app, readiness);
    AppBuilder::new()
        .drain(drain)
        .spawn(|listener, shutdown| platform::http::serve(listener, app, shutdown))
        .await
}

fn slow_app() -> Router {
    Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        }),
    )
}

#[tokio::test]
async fn ready_names_each_dependency_and_fails_when_one_is_down() {
    let readiness = Readiness::new()
        .with_check("queue", || async { Ok(()) })
        .with_check("database", || async {
            Err("connection refused".to_owned())
        });
    let app = serve(Router::new(), readiness, Duration::from_secs(1)).await;
    let response = reqwest::get(format!("{app}/ready")).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["dependencies"]["queue"]["status"], "up");
    assert_eq!(body["dependencies"]["database"]["status"], "down");
    assert_eq!(
        body["dependencies"]["database"]["error"],
        "connection refused"
    );
    let health = reqwest::get(format!("{app}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let app = serve(slow_app(), Readiness::new(), Duration::from_secs(5)).await;
    let base = app.base.clone();
    let in_flight =
        tokio::spawn(async move { reqwest::get(format!("{base}/slow")).await?.text().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.shutdown.trigger();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        "done",
        "the in-flight request completes"
    );
    app.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn drain_is_bounded() {
    let app = Router::new().route(
        "/stuck",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "never"
        }),
    );
    let app = serve(app, Readiness::new(), Duration::from_millis(300)).await;
    let base = app.base.clone();
    let _stuck = tokio::spawn(async move { reqwest::get(format!("{base}/stuck")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    app.shutdown.trigger();
    app.server.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn probe_reports_readiness_of_a_local_port() {
    let app = serve(Router::new(), Readiness::new(), Duration::from_secs(1)).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let probe = tokio::task::spawn_blocking(move || platform::probe::check(port, "/ready"));
    assert_eq!(probe.await.unwrap(), Ok(()));

    let failing = Readiness::new().with_check("db", || async { Err("down".to_owned()) });
    let failing_app = serve(Router::new(), failing, Duration::from_secs(1)).await;
    let port: u16 = failing_app
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let probe = tokio::task::spawn_blocking(move || platform::probe::check(port, "/ready"));
    assert!(probe.await.unwrap().unwrap_err().contains("503"));
    let closed = testkit::free_port();
    assert!(platform::probe::check(closed, "/ready").is_err());
}

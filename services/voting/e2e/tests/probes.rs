//! Liveness is not readiness: with Redis and Postgres killed (SIGKILL), every service's
//! container health check (`<binary> --probe`, what the ECS task definition runs) stays
//! healthy for longer than ECS needs to declare a container unhealthy, while readiness
//! (`--probe ready`, `/ready`) names the dependency that is down. result stays ready
//! (degraded) because it serves the last counts; vote and the worker are not ready.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::workspace_binary;
use voting_e2e::{wait_ready, VotingStack};

/// ECS's container health check timings (provisioner/src/resources/task_definition.rs `HEALTH_CHECK`):
/// every 15 s, unhealthy after 3 failures in a row, failures not counted for the first
/// 30 s, so a probe still healthy after 75 s of outage is one ECS would never have
/// replaced. The outage lasts 3 minutes, as long as a slow RDS Multi-AZ failover
/// (60-120 s) with room to spare.
const ECS_INTERVAL: Duration = Duration::from_secs(15);
const OUTAGE: Duration = Duration::from_secs(180);

/// Runs `<service> --probe [mode]` as the container runtime would: exit status and stderr.
fn probe(service: &str, port: u16, mode: &[&str]) -> (bool, String) {
    let output = Command::new(workspace_binary(service))
        .env_clear()
        .env("PORT", port.to_string())
        .arg("--probe")
        .args(mode)
        .output()
        .expect("running the probe");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The JSON body of `GET /ready`, whatever its status.
fn ready_body(port: u16) -> serde_json::Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET /ready HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    serde_json::from_str(body).expect("a JSON body")
}

/// The `/ready` body a failed readiness probe printed.
fn printed_body(stderr: &str) -> serde_json::Value {
    let start = stderr
        .find('{')
        .unwrap_or_else(|| panic!("no body in {stderr:?}"));
    serde_json::from_str(stderr[start..].trim()).unwrap_or_else(|err| panic!("{err}: {stderr}"))
}

#[test]
fn liveness_stays_healthy_through_a_dependency_outage_while_readiness_names_it() {
    let mut stack = VotingStack::start();
    let services = [
        ("worker", stack.worker_port),
        ("vote", stack.vote_port),
        ("result", stack.result_port),
    ];
    for (service, port) in services {
        assert!(
            probe(service, port, &[]).0,
            "{service} live before the outage"
        );
        assert!(probe(service, port, &["ready"]).0, "{service} ready before");
    }

    stack.redis.stop();
    stack.postgres.stop();
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        for (service, port) in services {
            let (live, stderr) = probe(service, port, &[]);
            assert!(
                live,
                "{service}: liveness failed {:?} into the outage: {stderr}",
                started.elapsed()
            );
        }
        // The worker needs both; it keeps running and says why it is not ready.
        let (ready, stderr) = probe("worker", stack.worker_port, &["ready"]);
        assert!(!ready, "worker ready without Redis and Postgres");
        let body = printed_body(&stderr);
        assert_eq!(body["dependencies"]["redis"]["status"], "down", "{body}");
        assert_eq!(body["dependencies"]["postgres"]["status"], "down", "{body}");
        // vote cannot queue a vote without Redis.
        let (ready, stderr) = probe("vote", stack.vote_port, &["ready"]);
        assert!(!ready, "vote ready without Redis");
        assert_eq!(
            printed_body(&stderr)["dependencies"]["redis"]["status"],
            "down"
        );
        // result serves the last counts: ready, degraded, and it names Postgres.
        let (ready, stderr) = probe("result", stack.result_port, &["ready"]);
        assert!(
            ready,
            "result should stay ready on its last counts: {stderr}"
        );
        let body = ready_body(stack.result_port);
        assert_eq!(body["status"], "degraded", "{body}");
        assert_eq!(body["dependencies"]["postgres"]["status"], "down", "{body}");
        rounds += 1;
        if started.elapsed() >= OUTAGE {
            break;
        }
        // Rounds start every ECS interval, as ECS runs the check.
        let next = started + ECS_INTERVAL * rounds;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // At 0, 15, …, 180 s: four times the 3 consecutive failures ECS needs, all healthy.
    assert!(
        rounds >= 13,
        "probed {rounds} times in {:?}",
        started.elapsed()
    );

    // Nothing was restarted: the same processes become ready when the dependencies return.
    stack.redis.start_again();
    stack.postgres.start_again();
    for (service, port) in services {
        wait_ready(port, Duration::from_secs(60));
        assert!(probe(service, port, &["ready"]).0, "{service} ready again");
    }
}

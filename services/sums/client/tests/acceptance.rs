//! ci/acceptance-sums.sh against the native binaries, started with the environment that
//! docker-compose.yml declares for them (rewritten to loopback), so a renamed variable or a
//! broken journey fails here before it fails in a deployment.

use std::process::{Command, Stdio};

use testkit::compose::{workspace_root, Loopback};
use testkit::{free_port, workspace_binary, ChildGuard, TestRedis};

fn start(service: &str, binary: &str, loopback: &Loopback, port: u16) -> ChildGuard {
    let mut command = Command::new(workspace_binary(binary));
    command
        .envs(loopback.environment_of(service))
        .env("PORT", port.to_string())
        .stdout(Stdio::null());
    ChildGuard::spawn(binary, &mut command)
}

#[test]
fn acceptance_script_passes_against_the_native_sums_stack() {
    let redis = TestRedis::start_persistent();
    let (api_port, client_port) = (free_port(), free_port());
    let loopback = Loopback::new()
        .port("sums-redis", redis.port())
        .port("sums-api", api_port);
    let _api = start("sums-api", "sums-api", &loopback, api_port);
    let _client = start("sums-client", "sums-client", &loopback, client_port);

    let output = Command::new("bash")
        .arg(workspace_root().join("ci/acceptance-sums.sh"))
        .arg(format!("http://127.0.0.1:{client_port}"))
        .arg(format!("http://127.0.0.1:{api_port}"))
        .env("ACCEPTANCE_WAIT_SECS", "20")
        .output()
        .expect("running bash ci/acceptance-sums.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "acceptance-sums.sh failed:\n{stdout}"
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn acceptance_script_fails_when_the_stack_is_not_there() {
    let nothing = format!("http://127.0.0.1:{}", free_port());
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/acceptance-sums.sh"))
        .arg(&nothing)
        .arg(&nothing)
        .env("ACCEPTANCE_WAIT_SECS", "1")
        .env("ACCEPTANCE_TIMEOUT_SECS", "2")
        .output()
        .expect("running bash ci/acceptance-sums.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL - client /ready answers 200"),
        "{stdout}"
    );
}

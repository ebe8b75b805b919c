use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_for_port, ChildGuard};

/// A throwaway moto server (the AWS emulator) on a free loopback port, for services that
/// read AWS at run time (database password secrets). Only the plain server: the
/// provisioner's tests have their own harness with request checks.
#[derive(Debug)]
pub struct TestMoto {
    port: u16,
    _server: ChildGuard,
}

/// `moto_server` from the project-local pinned `.venv/moto` (`ci/python-env.sh moto`),
/// else from PATH.
fn moto_server() -> PathBuf {
    let local = crate::compose::workspace_root().join(".venv/moto/bin/moto_server");
    if local.is_file() {
        return local;
    }
    PathBuf::from("moto_server")
}

impl TestMoto {
    pub fn start() -> Self {
        Self::serve("moto_server (bash ci/python-env.sh moto)", |port| {
            let mut command = Command::new(moto_server());
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        })
    }

    /// A server the provisioner can work against: moto behind the CloudWatch CBOR
    /// translation the Rust SDK needs (`provisioner/tests/moto_cbor.py`, the script the
    /// provisioner's own harness runs), with AWS managed policies loaded. For programs
    /// built on the provisioner (`examples/`); the provisioner's tests add request checks.
    pub fn start_for_provisioner() -> Self {
        let root = crate::compose::workspace_root();
        let venv = root.join(".venv/moto/bin/python3");
        let python = if venv.is_file() {
            venv
        } else {
            PathBuf::from("python3")
        };
        Self::serve("moto_cbor.py (bash ci/python-env.sh moto)", |port| {
            let mut command = Command::new(python);
            command
                .arg(root.join("provisioner/tests/moto_cbor.py"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
            command
        })
    }

    /// Runs the server `command(port)` builds on a free loopback port, until it listens.
    fn serve(name: &str, command: impl FnOnce(u16) -> Command) -> Self {
        let port = free_port();
        let mut command = command(port);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let server = ChildGuard::spawn(name, &mut command);
        assert!(
            wait_for_port(port, Duration::from_secs(60)),
            "{name} did not listen on port {port} within 60 s"
        );
        Self {
            port,
            _server: server,
        }
    }

    /// `http://127.0.0.1:<port>`: the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for an AWS SDK client of this server: endpoint, region and dummy keys.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            // No instance metadata lookups (they would leave loopback).
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Sets secret `name` to `value` (creating it when missing) with Secrets Manager's JSON
    /// API over curl, as an operator's `aws secretsmanager put-secret-value` would.
    pub fn put_secret(&self, name: &str, value: &str) {
        let body = format!("\"SecretString\":{}", json_string(value));
        let create = self.call(
            "CreateSecret",
            &format!(
                "{{\"Name\":{name_json},{body}}}",
                name_json = json_string(name)
            ),
        );
        if create.contains("ResourceExistsException") {
            let put = self.call(
                "PutSecretValue",
                &format!("{{\"SecretId\":{},{body}}}", json_string(name)),
            );
            assert!(put.contains("VersionId"), "PutSecretValue {name}: {put}");
        } else {
            assert!(create.contains("ARN"), "CreateSecret {name}: {create}");
        }
    }

    fn call(&self, action: &str, body: &str) -> String {
        // moto tells services apart by the credential scope of the (unchecked) signature.
        let output = Command::new("curl")
            .args(["-sS", "-X", "POST", &self.endpoint()])
            .args(["-H", "Content-Type: application/x-amz-json-1.1"])
            .arg("-H")
            .arg(format!("X-Amz-Target: secretsmanager.{action}"))
            .args([
                "-H",
                "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
            ])
            .args(["--data-binary", body])
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
fn json_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

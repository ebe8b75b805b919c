//! Test harness: a throwaway moto server on a free loopback port, the `provision` binary
//! pointed at it, and SDK clients to check what it built.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use provisioner::aws::Aws;

pub mod iam_eval;
pub mod mocks;

pub const REGION: &str = "us-east-1";

/// A moto server of our own (with CloudWatch's CBOR protocol translated, see
/// `tests/moto_cbor.py`); killed on drop.
///
/// Every request it receives is checked against botocore's service models
/// (`tests/request_check.py`); dropping it fails the test if any request broke them.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    /// Where the request check appends one JSON line per violation.
    request_check: PathBuf,
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

impl Moto {
    pub fn start() -> Moto {
        // The same server, run by the Python that has moto, behind the CBOR translation
        // the Rust SDK's CloudWatch client needs (moto has no RPC v2 CBOR).
        let exe = python3();
        // A port picked free can be taken by a parallel test before moto binds it: then
        // this moto exits, and we try another port rather than talk to someone else's.
        for _ in 0..5 {
            if let Some(moto) = Self::start_on_free_port(&exe) {
                return moto;
            }
        }
        panic!(
            "moto did not start on any of 5 free loopback ports (does `python3 {}` run? it needs \
             the python3 that has moto: `bash ci/python-env.sh moto` makes .venv/moto)",
            shim().display()
        );
    }

    fn start_on_free_port(exe: &Path) -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let request_check =
            std::env::temp_dir().join(format!("slipway-moto-request-check-{port}.jsonl"));
        // A file left by an earlier server on this port is not ours to report.
        let _ = std::fs::remove_file(&request_check);
        let mut child = Command::new(exe)
            .arg(shim())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // AWS managed policies exist (role-ecs-blue-green attaches one); moto leaves
            // them out unless asked.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            // moto issues an ACM certificate this many seconds after the request (its
            // default, 60, would outlast the tests' wait limit): long enough that the
            // provisioner's wait for ISSUED is exercised.
            .env("MOTO_ACM_VALIDATION_WAIT", "2")
            .env("SLIPWAY_REQUEST_CHECK", &request_check)
            // The request recorder (`recorded_actions`) writes here, not into the checkout.
            .env(
                "MOTO_RECORDER_FILEPATH",
                std::env::temp_dir().join(format!("slipway-moto-recording-{port}")),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                std::thread::sleep(Duration::from_millis(100));
                if child.try_wait().ok().flatten().is_some() {
                    return None;
                }
                return Some(Moto {
                    child,
                    endpoint: format!("http://127.0.0.1:{port}"),
                    request_check,
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("moto_server did not listen on {port} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `provision ARGS` against this server (repo `config/` unless given).
    pub fn provision(&self, args: &[&str]) -> Run {
        Run::of(self.command(args), args)
    }

    /// `provision ARGS` against this server, not started yet (to spawn it and run others
    /// alongside, or kill it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provision"));
        command
            .args(args)
            .current_dir(repo_root())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            // moto answers unimplemented APIs with HTTP 500: don't retry those for long.
            .env("AWS_MAX_ATTEMPTS", "2")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SLIPWAY_WAIT_TIMEOUT", "5")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("SLIPWAY_STACK")
            .env_remove("SLIPWAY_ENV")
            .env_remove("SLIPWAY_CONFIG_DIR")
            .stdin(Stdio::null());
        command
    }

    /// `provision --stack STACK --yes --output json COMMAND` (with `--config-dir` if given).
    pub fn json_command(&self, stack: &str, config_dir: Option<&str>, command: &str) -> Run {
        let mut args = vec!["--stack", stack, "--yes", "--output", "json"];
        if let Some(dir) = config_dir {
            args.extend(["--config-dir", dir]);
        }
        args.push(command);
        self.provision(&args)
    }

    /// A request to moto's own control API (`/moto-api/...`); returns the response body.
    /// Hand-rolled over a TcpStream: the provisioner has no HTTP client of its own and
    /// this is two kinds of request to a loopback test server.
    pub fn moto_api(&self, method: &str, path: &str) -> String {
        self.raw_request(method, path, "", "")
    }

    /// One AWS JSON 1.1 call (`X-Amz-Target: <target>`) to moto for a service whose SDK
    /// crate the provisioner does not depend on (ACM: a certificate for an HTTPS
    /// listener); returns the response body. moto picks the service from the credential
    /// scope of the Authorization header and does not check the signature.
    pub fn json_call(&self, service: &str, target: &str, body: &str) -> String {
        let headers = format!(
            "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n"
        );
        self.raw_request("POST", "/", &headers, body)
    }

    /// A request with `headers` (each line ending in CRLF) and `body`; the 200 response's
    /// body.
    fn raw_request(&self, method: &str, path: &str, headers: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("moto listens");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("request sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response read");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return dechunk(body);
        }
        body.to_owned()
    }

    /// The AWS API calls made while `during` ran, as IAM actions (`ecs:UpdateService`),
    /// from moto's request recorder.
    pub fn recorded_actions(&self, during: impl FnOnce()) -> Vec<String> {
        self.moto_api("POST", "/moto-api/recorder/reset-recording");
        self.moto_api("POST", "/moto-api/recorder/start-recording");
        during();
        self.moto_api("POST", "/moto-api/recorder/stop-recording");
        let recording = self.moto_api("GET", "/moto-api/recorder/download-recording");
        let mut actions: Vec<String> = recording
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let request: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                iam_action(&request).unwrap_or_else(|| panic!("cannot tell the action of {line}"))
            })
            .collect();
        actions.sort();
        actions.dedup();
        actions
    }

    /// SDK clients for the given stack, talking to this server.
    pub async fn aws(&self, stack: &str, env: &str) -> Aws {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .http_client(provisioner::aws::http_client())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await;
        Aws::new(&sdk, stack, env)
    }

    /// The requests so far that broke botocore's service models (one JSON object each:
    /// service, operation, path, rule, value, detail); the list starts empty again.
    pub fn take_request_violations(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.request_check).unwrap_or_default();
        let _ = std::fs::remove_file(&self.request_check);
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("request check wrote {line:?}: {err}"))
            })
            .collect()
    }

    /// Fails the test, listing them, if any request so far broke botocore's models.
    pub fn assert_requests_valid(&self) {
        let violations = self.take_request_violations();
        assert!(
            violations.is_empty(),
            "{} request(s) sent to moto break botocore's service models (AWS would reject \
             them; see tests/request_check.py):\n{}",
            violations.len(),
            violations
                .iter()
                .map(|v| format!(
                    "  {}:{} {} [{}] value {} — {}",
                    v["service"].as_str().unwrap_or("?"),
                    v["operation"].as_str().unwrap_or("?"),
                    v["path"].as_str().unwrap_or(""),
                    v["rule"].as_str().unwrap_or("?"),
                    v["value"],
                    v["detail"].as_str().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(port) = self.endpoint.rsplit(':').next() {
            let recording = format!("slipway-moto-recording-{port}");
            let _ = std::fs::remove_file(std::env::temp_dir().join(recording));
        }
        // A test already failing says why; a second panic would abort the process.
        if std::thread::panicking() {
            for violation in self.take_request_violations() {
                eprintln!("request check: {violation}");
            }
        } else {
            self.assert_requests_valid();
        }
    }
}

/// Puts a (layer-less) image manifest into ECR as `repository:tag`, as a push would.
pub async fn push_test_image(aws: &Aws, repository: &str, tag: &str) {
    aws.ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#,
        )
        .send()
        .await
        .expect("moto stores the image manifest");
}

/// Each ECS service's autoscaling range (min, max), by the service's AWS name
/// (`<stack>-<env>-service-<name>`, the last part of the scalable target's resource id).
#[allow(dead_code)] // each test binary uses its own subset
pub async fn ecs_scaling_bounds(aws: &Aws) -> std::collections::BTreeMap<String, (i32, i32)> {
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    targets
        .scalable_targets()
        .iter()
        .map(|t| {
            let service = t.resource_id().rsplit('/').next().unwrap_or_default();
            (service.to_owned(), (t.min_capacity(), t.max_capacity()))
        })
        .collect()
}

/// What the first `provision deploy` does to the services `up` held at 0 tasks (no image
/// then) besides the release itself, with the provisioner's own steps: autoscaling back
/// to the config's range, the configured desired count, the hold's tag removed. (A real
/// `deploy` on moto also sets a deploymentConfiguration, after which moto reports
/// `enableExecuteCommand` and Service Connect as off and every later plan shows them as
/// changes: tests of other things start from this instead.)
pub async fn release_held_services(aws: &Aws, config_dir: &Path) {
    let config = provisioner::config::StackConfig::load(config_dir, &aws.stack, &aws.env).unwrap();
    let observed = provisioner::resources::observe(aws).await.unwrap();
    for (name, service) in &config.services {
        let Some(first) = provisioner::first_release::release_plan(&observed, name, service) else {
            continue;
        };
        provisioner::first_release::open_scaling(aws, name, &first)
            .await
            .unwrap();
        aws.ecs
            .update_service()
            .cluster(format!("{}cluster", aws.prefix()))
            .service(&first.service_arn)
            .desired_count(first.desired)
            .send()
            .await
            .unwrap();
        provisioner::first_release::mark_released(aws, name, &first)
            .await
            .unwrap();
    }
}

/// The `python3` on PATH (the one moto is installed in, with botocore).
/// The Python that has moto: the project-local, pinned `.venv/moto` (`ci/python-env.sh
/// moto`, which ci/test.sh runs) first — another moto on PATH may be a version the CBOR
/// translation and the request check were never tested with — else the one on PATH.
pub fn python3() -> PathBuf {
    let local = repo_root().join(".venv/moto/bin/python3");
    if local.is_file() {
        return local;
    }
    find_on_path("moto_server").unwrap_or_else(|| {
        panic!(
            "no moto: the provisioner's integration tests run against the moto AWS emulator; \
             create the pinned project-local one with `bash ci/python-env.sh moto`"
        )
    });
    find_on_path("python3").expect("python3 (the one moto is installed in) on PATH")
}

/// `tests/request_check.py`, the check of every request against botocore's models.
pub fn request_check_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/request_check.py")
}

fn shim() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto_cbor.py")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One finished `provision` run.
pub struct Run {
    pub output: Output,
    pub took: Duration,
    args: Vec<String>,
}

impl Run {
    /// Runs `command` (`provision ARGS`, e.g. from [`Moto::command`] with more settings)
    /// to the end.
    pub fn of(mut command: Command, args: &[&str]) -> Run {
        let started = Instant::now();
        let output = command.output().expect("the provision binary runs");
        Run {
            output,
            took: started.elapsed(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "provision {:?} failed:\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|err| {
            panic!(
                "provision {:?} printed no JSON ({err}):\n{}\nstderr:\n{}",
                self.args,
                self.stdout(),
                self.stderr()
            )
        })
    }
}

/// `provision ARGS` with no AWS or Slipway setting from the environment, no profile
/// files to find credentials in and no instance metadata to ask (not run yet: callers
/// add what they test with).
pub fn bare_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provision"));
    command
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("SLIPWAY_") {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// A copy of the repo's `config/` to edit, for config-change tests.
pub fn config_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(repo_root().join("config")).expect("config/") {
        let entry = entry.expect("config entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy config");
    }
    dir
}

/// The load balancer `name` and each of its listeners with all its rules (the default
/// rule included).
pub async fn load_balancer_listeners(
    aws: &Aws,
    name: &str,
) -> (
    aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    Vec<(
        aws_sdk_elasticloadbalancingv2::types::Listener,
        Vec<aws_sdk_elasticloadbalancingv2::types::Rule>,
    )>,
) {
    let out = aws
        .elb
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .unwrap();
    let lb = out.load_balancers()[0].clone();
    let listeners = aws
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let mut found = Vec::new();
    for listener in listeners.listeners() {
        let rules = aws
            .elb
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap())
            .send()
            .await
            .unwrap();
        found.push((listener.clone(), rules.rules().to_vec()));
    }
    (lb, found)
}

/// EC2 filters for the stack's ownership tags (`slipway:stack`, `slipway:env`).
pub fn ownership_filters(aws: &Aws) -> Vec<aws_sdk_ec2::types::Filter> {
    vec![
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:slipway:stack")
            .values(&aws.stack)
            .build(),
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:slipway:env")
            .values(&aws.env)
            .build(),
    ]
}

/// A copy of `config/` whose shop stack has no Redis: moto cannot delete ElastiCache
/// (no DeleteCacheSubnetGroup, groups stay `deleting`), so tests proving a complete
/// teardown use this one (Postgres included).
pub fn shop_without_redis() -> tempfile::TempDir {
    let config = config_copy();
    edit_config(
        config.path(),
        "shop",
        "\n[redis]\nnode_type = \"cache.t4g.micro\"\n",
        "\n",
    );
    edit_config(
        config.path(),
        "shop",
        "\n[env.prod.redis]\nnode_type = \"cache.t4g.small\"\nreplicas = 1\n",
        "\n",
    );
    for service in ["products", "orders"] {
        edit_config(
            config.path(),
            "shop",
            &format!("shop-{service}\", \"--probe\"]\nuses = [\"postgres\", \"redis\"]"),
            &format!("shop-{service}\", \"--probe\"]\nuses = [\"postgres\"]"),
        );
    }
    config
}

/// Replaces `from` by `to` exactly once in `<dir>/<stack>.toml`.
pub fn edit_config(dir: &Path, stack: &str, from: &str, to: &str) {
    let path = dir.join(format!("{stack}.toml"));
    let text = std::fs::read_to_string(&path).expect("stack file");
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` must occur once in {stack}.toml"
    );
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write stack file");
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

/// `service:Operation` of one recorded request: the service from the signature's
/// credential scope, the operation from the JSON target header, the CBOR URL path or
/// the query protocol's `Action` parameter.
fn iam_action(request: &serde_json::Value) -> Option<String> {
    let headers = request["headers"].as_object()?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    let scope = header("Authorization")?.split("Credential=").nth(1)?;
    let signing_name = scope.split('/').nth(3)?;
    let prefix = match signing_name {
        "monitoring" => "cloudwatch",
        "tagging" => "tag",
        other => other,
    };
    let url = request["url"].as_str().unwrap_or_default();
    let operation = if let Some(target) = header("X-Amz-Target") {
        target.rsplit('.').next()?.to_owned()
    } else if let Some((_, operation)) = url.split_once("/operation/") {
        operation.to_owned()
    } else if signing_name == "route53" {
        route53_operation(request["method"].as_str()?, url)?.to_owned()
    } else {
        let body = request["body"].as_str().unwrap_or_default();
        let body = if request["body_encoded"].as_bool() == Some(true) {
            String::from_utf8(aws_smithy_types::base64::decode(body).ok()?).ok()?
        } else {
            body.to_owned()
        };
        body.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))?
            .to_owned()
    };
    Some(format!("{prefix}:{operation}"))
}

/// The Route 53 (REST-XML) operation of a request, from its method and path (those the
/// provisioner and these tests call).
fn route53_operation(method: &str, url: &str) -> Option<&'static str> {
    let path = url.split_once("/2013-04-01/")?.1.split('?').next()?;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    Some(match (method, parts.as_slice()) {
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["change", _]) => "GetChange",
        _ => return None,
    })
}

/// An IAM policy document as IAM returns it (URL-encoded JSON), parsed.
pub fn decode_policy(document: &str) -> serde_json::Value {
    let text = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .expect("a UTF-8 policy document");
    serde_json::from_str(&text).expect("a JSON policy document")
}

/// The stack role `name`'s inline policy (`slipway`), parsed.
pub async fn role_policy(aws: &Aws, name: &str) -> serde_json::Value {
    let policy = aws
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name("slipway")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name} has no inline policy: {e:?}"));
    decode_policy(policy.policy_document())
}

/// A `docker` that appends `argv: …` (and for `login`, `stdin: …`) to `$FAKE_DOCKER_LOG`
/// and fails when its arguments contain the word in `$FAKE_DOCKER_FAIL`.
const FAKE_DOCKER: &str = r#"#!/bin/sh
log="${FAKE_DOCKER_LOG:?}"
printf 'argv:' >> "$log"
for arg in "$@"; do printf ' %s' "$arg" >> "$log"; done
printf '\n' >> "$log"
if [ "$1" = login ]; then printf 'stdin: %s\n' "$(cat)" >> "$log"; fi
if [ -n "${FAKE_DOCKER_FAIL:-}" ]; then
    case " $* " in *" $FAKE_DOCKER_FAIL "*) echo "fake docker: failing on $FAKE_DOCKER_FAIL" >&2; exit 1 ;; esac
fi
exit 0
"#;

pub struct FakeDocker {
    dir: tempfile::TempDir,
}

impl FakeDocker {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let docker = bin.join("docker");
        std::fs::write(&docker, FAKE_DOCKER).unwrap();
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeDocker { dir }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("docker.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `provision ARGS` with this docker first on PATH (and nothing else of the caller's
    /// PATH but the system directories), failing on `fail` when given.
    pub fn provision(&self, moto: &Moto, args: &[&str], fail: Option<&str>) -> Run {
        run_with_path(
            moto,
            args,
            &format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display()),
            &self.log_path(),
            fail,
        )
    }
}

pub fn run_with_path(
    moto: &Moto,
    args: &[&str],
    path: &str,
    log: &Path,
    fail: Option<&str>,
) -> Run {
    let mut command = moto.command(args);
    command
        .env("PATH", path)
        .env("FAKE_DOCKER_LOG", log)
        .env_remove("FAKE_DOCKER_FAIL");
    if let Some(word) = fail {
        command.env("FAKE_DOCKER_FAIL", word);
    }
    Run::of(command, args)
}

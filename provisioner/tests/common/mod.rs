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

pub const REGION: &str = "us-east-1";

/// A moto server of our own (with CloudWatch's CBOR protocol translated, see
/// `tests/moto_cbor.py`); killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
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
        find_on_path("moto_server").unwrap_or_else(|| {
            panic!(
                "moto_server is not on PATH. The provisioner's integration tests run against the \
                 moto AWS emulator: install it with `pip install 'moto[server]'`"
            )
        });
        // The same server, run by the Python that has moto, behind the CBOR translation
        // the Rust SDK's CloudWatch client needs (moto has no RPC v2 CBOR).
        let exe = find_on_path("python3").expect("python3 (the one moto is installed in) on PATH");
        // A port picked free can be taken by a parallel test before moto binds it: then
        // this moto exits, and we try another port rather than talk to someone else's.
        for _ in 0..5 {
            if let Some(moto) = Self::start_on_free_port(&exe) {
                return moto;
            }
        }
        panic!(
            "moto did not start on any of 5 free loopback ports (does `python3 {}` run? it needs \
             the python3 that `pip install 'moto[server]'` installed into)",
            shim().display()
        );
    }

    fn start_on_free_port(exe: &Path) -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new(exe)
            .arg(shim())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
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
        let started = Instant::now();
        let output = command.output().expect("the provision binary runs");
        Run {
            output,
            took: started.elapsed(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A copy of the repo's `config/` to edit, for config-change tests.
pub fn config_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(repo_root().join("config")).expect("config/") {
        let entry = entry.expect("config entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy config");
    }
    dir
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

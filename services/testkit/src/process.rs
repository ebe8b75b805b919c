use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; the kernel won't hand it out again
/// immediately).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding an ephemeral loopback port")
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub(crate) fn wait_for_port(port: u16, limit: Duration) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while started.elapsed() < limit {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends a signal by name (`KILL`, `TERM`, `INT`, `STOP`, `CONT`) through kill(1), which
/// keeps `unsafe` libc calls out of the workspace.
pub(crate) fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// A child process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({command:?}): {err}"));
        Self {
            child: Some(child),
            name: name.to_owned(),
        }
    }

    /// Like [`ChildGuard::spawn`]; the command should have `stdout(Stdio::piped())`.
    pub fn spawn_with_stdout(name: &str, command: &mut Command) -> Self {
        Self::spawn(name, command)
    }

    /// The child's piped stdout (once).
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child
            .as_mut()
            .and_then(|child| child.stdout.take())
            .expect("the child was spawned with a piped stdout")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            signal(child.id(), name);
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `limit` for exit; returns the exit code.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} ignored SIGTERM for {limit:?}; killing it", self.name);
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// `Some(exit code)` once the process has exited.
    pub fn try_exit_code(&mut self) -> Option<Option<i32>> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.code()),
            _ => None,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The path of a binary built from this workspace (`cargo build --workspace --bins`),
/// found next to the running test executable (`target/<profile>/deps/..`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("current test executable");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let binary = profile_dir.join(name);
    assert!(
        binary.is_file(),
        "{} is missing: build the service binaries first with `cargo build --workspace --bins` \
         (ci/test.sh does this)",
        binary.display()
    );
    binary
}

/// `node ci/node/<script>`: the reference JavaScript clients (socket.io-client,
/// playwright-core), installed by `npm ci --prefix ci/node` (ci/test.sh does this).
pub fn node_script(script: &str) -> Command {
    let dir = crate::compose::workspace_root().join("ci").join("node");
    assert!(
        dir.join("node_modules").join("socket.io-client").is_dir(),
        "the test clients are not installed: run `npm ci --prefix ci/node` (ci/test.sh does this)"
    );
    let mut command = Command::new("node");
    command.arg(dir.join(script)).current_dir(&dir);
    command
}

/// A self-signed certificate and key for `localhost` in `dir` (openssl CLI), for TLS
/// tests of the services' Postgres (`sslmode=require`) and Redis (`rediss://`) clients.
pub(crate) fn self_signed_certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let output = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_for_port, ChildGuard};

/// A throwaway `redis-server` on a free loopback port. With `persistent`, it keeps an
/// append-only file in its own directory, so a restart keeps the data (like the compose
/// and ElastiCache setups); otherwise it keeps nothing.
#[derive(Debug)]
pub struct TestRedis {
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    /// AUTH token when serving TLS only (like ElastiCache with in-transit encryption).
    tls_token: Option<String>,
    server: Option<ChildGuard>,
}

impl TestRedis {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    pub fn start_persistent() -> Self {
        Self::start_with(true)
    }

    /// TLS only, with an AUTH token, like ElastiCache with in-transit encryption.
    pub fn start_with_tls() -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory for redis"),
            persistent: false,
            tls_token: Some("test-auth-token".to_owned()),
            server: None,
        };
        redis.launch();
        redis
    }

    fn start_with(persistent: bool) -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory for redis"),
            persistent,
            tls_token: None,
            server: None,
        };
        redis.launch();
        redis
    }

    fn binary() -> PathBuf {
        PathBuf::from(std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()))
    }

    fn launch(&mut self) {
        let mut command = Command::new(Self::binary());
        if let Some(token) = &self.tls_token {
            let (cert, key) = crate::process::self_signed_certificate(self.dir.path());
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(&cert)
                .arg("--tls-key-file")
                .arg(&key)
                .arg("--tls-ca-cert-file")
                .arg(&cert)
                .args(["--tls-auth-clients", "no", "--requirepass", token]);
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", if self.persistent { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.server = Some(ChildGuard::spawn(
            "redis-server (apt-get install redis-server)",
            &mut command,
        ));
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "redis-server did not listen on port {} within 10 s",
            self.port
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://…`, or for a TLS server `rediss://:token@…/0#insecure` (the test
    /// certificate is self-signed; `#insecure` skips verification in redis-rs only).
    pub fn url(&self) -> String {
        match &self.tls_token {
            Some(token) => format!("rediss://:{token}@127.0.0.1:{}/0#insecure", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Stops the server abruptly (SIGKILL), as a crash or a network loss would look.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn start_again(&mut self) {
        assert!(self.server.is_none(), "redis is still running");
        self.launch();
    }

    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Runs `redis-cli` against this server and returns its trimmed stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1"])
            .args(args)
            .output()
            .expect("running redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

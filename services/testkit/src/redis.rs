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
    server: Option<ChildGuard>,
}

impl TestRedis {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    pub fn start_persistent() -> Self {
        Self::start_with(true)
    }

    fn start_with(persistent: bool) -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory for redis"),
            persistent,
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
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
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

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
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

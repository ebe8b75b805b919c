//! A native voting stack for end-to-end tests: throwaway Redis (append-only, like the
//! compose file's) and Postgres, and the vote, worker and result binaries started with
//! exactly the environment `docker-compose.yml` gives their containers, dependency hosts
//! pointed at loopback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod monitoring;

use testkit::compose::Loopback;
use testkit::{free_port, workspace_binary, ChildGuard, TestPostgres, TestRedis};

pub struct VotingStack {
    pub redis: TestRedis,
    pub postgres: TestPostgres,
    pub vote_port: u16,
    pub result_port: u16,
    pub worker_port: u16,
    logs: tempfile::TempDir,
    vote: Option<ChildGuard>,
    worker: Option<ChildGuard>,
    result: Option<ChildGuard>,
}

impl VotingStack {
    pub fn start() -> Self {
        let mut stack = Self {
            redis: TestRedis::start_persistent(),
            postgres: TestPostgres::start(),
            vote_port: free_port(),
            result_port: free_port(),
            worker_port: free_port(),
            logs: tempfile::tempdir().expect("log directory"),
            vote: None,
            worker: None,
            result: None,
        };
        stack.worker = Some(stack.spawn("worker", stack.worker_port));
        stack.vote = Some(stack.spawn("vote", stack.vote_port));
        stack.result = Some(stack.spawn("result", stack.result_port));
        for port in [stack.worker_port, stack.vote_port, stack.result_port] {
            wait_ready(port, Duration::from_secs(30));
        }
        stack
    }

    /// The compose service name → loopback port of each running service (what Prometheus
    /// scrapes).
    pub fn service_ports(&self) -> BTreeMap<String, u16> {
        BTreeMap::from([
            ("vote".to_owned(), self.vote_port),
            ("worker".to_owned(), self.worker_port),
            ("result".to_owned(), self.result_port),
        ])
    }

    /// Sends a signal (`STOP`, `CONT`, …) to one of the stack's services.
    pub fn signal(&self, service: &str, signal: &str) {
        let child = match service {
            "vote" => &self.vote,
            "worker" => &self.worker,
            "result" => &self.result,
            other => panic!("the voting stack has no service {other:?}"),
        };
        child
            .as_ref()
            .unwrap_or_else(|| panic!("{service} is not running"))
            .signal(signal);
    }

    /// Dependency hosts of the compose file, mapped to this stack's loopback ports.
    pub fn loopback(&self) -> Loopback {
        Loopback::new()
            .port("redis", self.redis.port())
            .url("db", self.postgres.url())
            .port("vote", self.vote_port)
            .port("result", self.result_port)
    }

    /// The compose environment of `service`, rewritten for this stack.
    pub fn environment(&self, service: &str) -> BTreeMap<String, String> {
        self.loopback().environment_of(service)
    }

    fn spawn(&self, service: &str, port: u16) -> ChildGuard {
        let mut environment = self.environment(service);
        environment.insert("PORT".into(), port.to_string());
        let log = std::fs::File::create(self.log_path(service)).expect("log file");
        let mut command = Command::new(workspace_binary(service));
        command
            .env_clear()
            .envs(&environment)
            .stdout(log)
            .stderr(Stdio::inherit());
        ChildGuard::spawn(service, &mut command)
    }

    pub fn log_path(&self, service: &str) -> PathBuf {
        self.logs.path().join(format!("{service}.log"))
    }

    pub fn vote_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.vote_port)
    }

    pub fn result_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.result_port)
    }

    /// Runs the seed binary with the compose `seed` service's environment.
    pub fn seed(&self, args: &[&str]) -> std::process::Output {
        Command::new(workspace_binary("seed"))
            .env_clear()
            .envs(self.environment("seed"))
            .args(args)
            .output()
            .expect("running seed")
    }

    /// Voter id → vote as stored in Postgres.
    pub fn stored_votes(&self) -> BTreeMap<String, String> {
        self.postgres
            .psql("postgres", "SELECT id || ' ' || vote FROM votes")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(id, vote)| (id.to_owned(), vote.to_owned()))
            .collect()
    }
}

/// Waits until `/ready` on `127.0.0.1:port` answers 200 (the containers' own probe).
pub fn wait_ready(port: u16, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if platform::probe::check(port, "/ready").is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the service on port {port} was not ready within {limit:?}");
}

//! The worker binary against real, throwaway Redis and Postgres: draining, latest vote
//! wins, dead letters, readiness while dependencies are down, `kill -9` at random
//! instants while it drains 10,000 votes, a vote Postgres rejects among 10,000 good ones
//! drained by two workers, and a session that holds the writers' locks.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{free_port, ChildGuard, TestPostgres, TestRedis};

struct Worker {
    process: ChildGuard,
    port: u16,
}

fn start_worker(redis: &TestRedis, postgres: &TestPostgres, extra: &[(&str, &str)]) -> Worker {
    let port = free_port();
    let mut command = common::worker_command(redis, postgres, port, "test-worker");
    command
        .stdout(if std::env::var_os("WORKER_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit());
    for (key, value) in extra {
        command.env(key, value);
    }
    Worker {
        process: ChildGuard::spawn("worker", &mut command),
        port,
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let output = Command::new("curl")
        .args(["-s", "-m", "3", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.parse().ok()?, body.to_owned()))
}

/// The state readiness reports for one dependency (`up` / `down`), if it answered.
fn dependency_state(port: u16, dependency: &str) -> Option<(u16, String)> {
    let (status, body) = http_get(port, "/ready")?;
    let report: serde_json::Value = serde_json::from_str(&body).ok()?;
    let state = report["dependencies"][dependency]["status"]
        .as_str()?
        .to_owned();
    Some((status, state))
}

fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

fn push_votes(redis: &TestRedis, entries: &[String]) {
    for chunk in entries.chunks(500) {
        let mut args = vec!["RPUSH", "votes"];
        args.extend(chunk.iter().map(String::as_str));
        redis.cli(&args);
    }
}

fn vote_entry(voter: &str, vote: &str) -> String {
    format!(r#"{{"voter_id":"{voter}","vote":"{vote}"}}"#)
}

fn stored_votes(postgres: &TestPostgres) -> BTreeMap<String, String> {
    postgres
        .psql("postgres", "SELECT id || ' ' || vote FROM votes")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(id, vote)| (id.to_owned(), vote.to_owned()))
        .collect()
}

fn stored_counts(postgres: &TestPostgres) -> (i64, i64) {
    let text = postgres
        .psql(
            "postgres",
            "SELECT coalesce(sum(count) FILTER (WHERE vote = 'a'), 0) || ' ' || coalesce(sum(count) FILTER (WHERE vote = 'b'), 0) FROM vote_counts",
        )
        .unwrap();
    let (a, b) = text.split_once(' ').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn queue_is_empty(redis: &TestRedis) -> bool {
    redis.cli(&["LLEN", "votes"]) == "0" && redis.cli(&["KEYS", "votes:processing:*"]).is_empty()
}

#[test]
fn drains_votes_latest_wins_and_dead_letters_malformed_entries() {
    let redis = TestRedis::start();
    let postgres = TestPostgres::start();
    let worker = start_worker(&redis, &postgres, &[("BATCH_SIZE", "3")]);
    let entries = vec![
        vote_entry("alice", "a"),
        vote_entry("bob", "b"),
        "not json at all".to_owned(),
        vote_entry("alice", "b"),
        r#"{"voter_id":"carol","vote":"z"}"#.to_owned(),
        vote_entry("dave", "a"),
        vote_entry("alice", "a"),
    ];
    push_votes(&redis, &entries);
    wait_until(Duration::from_secs(20), "the queue to drain", || {
        queue_is_empty(&redis) && stored_votes(&postgres).len() == 3
    });
    let votes = stored_votes(&postgres);
    assert_eq!(
        votes["alice"], "a",
        "alice's latest vote wins across batches"
    );
    assert_eq!(votes["bob"], "b");
    assert_eq!(votes["dave"], "a");
    assert_eq!(stored_counts(&postgres), (2, 1));
    assert_eq!(redis.cli(&["LLEN", "votes:dead"]), "2");
    assert_eq!(redis.cli(&["LINDEX", "votes:dead", "0"]), "not json at all");
    assert_eq!(redis.cli(&["LLEN", "votes:dead:reasons"]), "2");
    let why: serde_json::Value =
        serde_json::from_str(&redis.cli(&["LINDEX", "votes:dead:reasons", "0"])).unwrap();
    assert_eq!(why["entry"], "not json at all");
    assert!(
        why["reason"].as_str().unwrap().contains("not a JSON vote"),
        "{why}"
    );

    let (status, body) = http_get(worker.port, "/ready").unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = http_get(worker.port, "/metrics").unwrap();
    assert!(metrics.contains("votes_processed_total 5"), "{metrics}");
    assert!(metrics.contains("votes_dead_letters_total 2"), "{metrics}");
    assert!(metrics.contains("vote_batch_size_bucket"), "{metrics}");
}

#[test]
fn keeps_retrying_while_dependencies_are_down_and_readiness_names_them() {
    let mut redis = TestRedis::start_persistent();
    let mut postgres = TestPostgres::start();
    let mut worker = start_worker(&redis, &postgres, &[]);
    wait_until(Duration::from_secs(20), "readiness", || {
        http_get(worker.port, "/ready").is_some_and(|(status, _)| status == 200)
    });

    postgres.stop();
    push_votes(&redis, &[vote_entry("v1", "a"), vote_entry("v2", "b")]);
    wait_until(
        Duration::from_secs(20),
        "/ready to report postgres down",
        || dependency_state(worker.port, "postgres") == Some((503, "down".to_owned())),
    );
    let (_, redis_state) = dependency_state(worker.port, "redis").unwrap();
    assert_eq!(redis_state, "up");
    assert!(
        worker.process.try_exit_code().is_none(),
        "the worker must not exit"
    );

    redis.stop();
    wait_until(
        Duration::from_secs(20),
        "/ready to report redis down",
        || dependency_state(worker.port, "redis").is_some_and(|(_, state)| state == "down"),
    );

    postgres.start_again();
    redis.start_again();
    wait_until(
        Duration::from_secs(40),
        "both votes stored after the outage",
        || stored_votes(&postgres).len() == 2 && queue_is_empty(&redis),
    );
    assert_eq!(stored_counts(&postgres), (1, 1));
    wait_until(Duration::from_secs(20), "readiness after recovery", || {
        http_get(worker.port, "/ready").is_some_and(|(status, _)| status == 200)
    });
    assert_eq!(
        worker.process.terminate(Duration::from_secs(15)),
        Some(0),
        "SIGTERM exits 0"
    );
}

/// A tiny deterministic generator so the workload is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn kill_minus_nine_while_draining_loses_nothing_and_applies_nothing_twice() {
    let redis = TestRedis::start_persistent();
    let postgres = TestPostgres::start();
    // 10,000 votes from 6,000 voters; many vote more than once, the last one counts.
    let mut random = Lcg(42);
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let entries: Vec<String> = (0..10_000)
        .map(|_| {
            let voter = format!("voter-{}", random.next() % 6_000);
            let vote = if random.next() % 3 == 0 { "b" } else { "a" };
            expected.insert(voter.clone(), vote.to_owned());
            vote_entry(&voter, vote)
        })
        .collect();
    push_votes(&redis, &entries);

    // Small batches make the drain take long enough to kill it many times mid-way.
    let settings = [("BATCH_SIZE", "10"), ("LEASE_SECS", "2")];
    let mut kills_mid_drain = 0;
    let mut delays = Lcg(7);
    for _ in 0..8 {
        let mut worker = start_worker(&redis, &postgres, &settings);
        // Let it run for a random moment, then kill it without warning.
        std::thread::sleep(Duration::from_millis(100 + delays.next() % 250));
        let before: u64 = redis.cli(&["LLEN", "votes"]).parse().unwrap();
        worker.process.kill();
        if before > 0 && before < 10_000 {
            kills_mid_drain += 1;
        }
    }
    let remaining: u64 = redis.cli(&["LLEN", "votes"]).parse().unwrap();
    eprintln!(
        "killed the worker {kills_mid_drain} times mid-drain; {remaining} votes still queued"
    );
    assert!(
        kills_mid_drain >= 3,
        "the worker must be killed while draining"
    );

    let worker = start_worker(&redis, &postgres, &settings);
    wait_until(
        Duration::from_secs(60),
        "the queue and all claimed batches to drain",
        || queue_is_empty(&redis),
    );
    let stored = stored_votes(&postgres);
    assert_eq!(stored.len(), expected.len(), "one row per voter");
    assert!(stored == expected, "every voter's latest vote is stored");
    let expected_a = expected.values().filter(|vote| *vote == "a").count() as i64;
    let expected_b = expected.len() as i64 - expected_a;
    assert_eq!(
        stored_counts(&postgres),
        (expected_a, expected_b),
        "totals are exact"
    );
    assert_eq!(redis.cli(&["LLEN", "votes:dead"]), "0");
    drop(worker);
}

/// The sum of a metric's samples (all label sets) on a worker's `/metrics`.
fn metric_total(port: u16, name: &str) -> f64 {
    let (_, text) = http_get(port, "/metrics").unwrap_or_default();
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_vote_postgres_rejects_is_dead_lettered_and_two_workers_count_every_good_vote_once() {
    let redis = TestRedis::start();
    let postgres = TestPostgres::start();
    // A NUL byte is valid JSON (`\u0000`) and passes the worker's own checks, but Postgres
    // refuses it in text (SQLSTATE 22021): before, the batch holding it was retried forever.
    let poison = r#"{"voter_id":"bad\u0000voter","vote":"a"}"#.to_owned();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut entries: Vec<String> = Vec::new();
    for i in 0..10_000 {
        if i == 5_000 {
            entries.push(poison.clone());
        }
        let voter = format!("voter-{i}");
        let vote = if i % 3 == 0 { "b" } else { "a" };
        expected.insert(voter.clone(), vote.to_owned());
        entries.push(vote_entry(&voter, vote));
    }
    let settings = |id| [("BATCH_SIZE", "100"), ("WORKER_ID", id)];
    let one = start_worker(&redis, &postgres, &settings("worker-one"));
    let two = start_worker(&redis, &postgres, &settings("worker-two"));
    // Both draining from the start, so that both take part.
    wait_until(Duration::from_secs(20), "both workers ready", || {
        [one.port, two.port]
            .iter()
            .all(|port| http_get(*port, "/ready").is_some_and(|(status, _)| status == 200))
    });
    push_votes(&redis, &entries);

    wait_until(
        Duration::from_secs(90),
        "both workers to drain the queue, poison included",
        || queue_is_empty(&redis),
    );
    let stored = stored_votes(&postgres);
    assert_eq!(stored.len(), expected.len(), "one row per good voter");
    assert!(stored == expected, "every good vote is stored");
    let expected_b = expected.values().filter(|vote| *vote == "b").count() as i64;
    assert_eq!(
        stored_counts(&postgres),
        (10_000 - expected_b, expected_b),
        "every good vote counted exactly once"
    );
    assert_eq!(redis.cli(&["LLEN", "votes:dead"]), "1");
    assert_eq!(redis.cli(&["LINDEX", "votes:dead", "0"]), poison);
    let why: serde_json::Value =
        serde_json::from_str(&redis.cli(&["LINDEX", "votes:dead:reasons", "0"])).unwrap();
    assert_eq!(why["entry"], poison.as_str());
    let reason = why["reason"].as_str().unwrap();
    assert!(reason.contains("SQLSTATE 22021"), "{reason}");
    let rejected = metric_total(one.port, "votes_rejected_by_postgres_total")
        + metric_total(two.port, "votes_rejected_by_postgres_total");
    assert_eq!(rejected, 1.0, "the dead-lettered vote is counted once");
    let processed = metric_total(one.port, "votes_processed_total")
        + metric_total(two.port, "votes_processed_total");
    assert_eq!(processed, 10_000.0);
    assert!(
        metric_total(one.port, "votes_processed_total") > 0.0
            && metric_total(two.port, "votes_processed_total") > 0.0,
        "both workers took part"
    );
}

/// Runs `sql` in a psql session of its own, in the background (it holds whatever locks
/// it takes until it ends).
fn background_session(postgres: &TestPostgres, sql: &str) -> ChildGuard {
    let mut command = Command::new("psql");
    command
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .args([
            "-p",
            &postgres.port().to_string(),
            "-d",
            "postgres",
            "-c",
            sql,
        ])
        .stdout(Stdio::null());
    ChildGuard::spawn("psql", &mut command)
}

/// The longest a worker session has been waiting for a lock right now, in seconds.
fn longest_lock_wait(postgres: &TestPostgres) -> f64 {
    postgres
        .psql(
            "postgres",
            "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0) \
             FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        )
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_session_holding_the_writers_locks_does_not_block_the_worker_forever() {
    let redis = TestRedis::start();
    let postgres = TestPostgres::start();
    let worker = start_worker(
        &redis,
        &postgres,
        &[
            ("DB_LOCK_TIMEOUT_MS", "300"),
            ("DB_STATEMENT_TIMEOUT_MS", "5000"),
        ],
    );
    push_votes(&redis, &[vote_entry("first", "a")]);
    wait_until(Duration::from_secs(20), "the first vote", || {
        stored_votes(&postgres).len() == 1
    });

    let holders = [
        // An advisory lock held by a transaction that does not end (a hung writer).
        format!(
            "SELECT pg_advisory_xact_lock({}); SELECT pg_sleep(6)",
            voting_store::WRITER_LOCK
        ),
        // A row lock on the totals every batch updates (an operator's open transaction).
        "BEGIN; SELECT * FROM vote_counts FOR UPDATE; SELECT pg_sleep(6); COMMIT".to_owned(),
    ];
    for (round, holder) in holders.iter().enumerate() {
        let mut session = background_session(&postgres, holder);
        std::thread::sleep(Duration::from_millis(500));
        let timeouts_before = metric_total(worker.port, "votes_db_errors_total");
        let voter = format!("during-hold-{round}");
        push_votes(&redis, &[vote_entry(&voter, "b")]);
        // While the lock is held the worker's statements give up after lock_timeout and
        // retry: none waits for the whole hold.
        let mut longest: f64 = 0.0;
        let hold_started = Instant::now();
        while hold_started.elapsed() < Duration::from_secs(4) {
            longest = longest.max(longest_lock_wait(&postgres));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            longest < 2.0,
            "round {round}: a worker statement waited {longest:.1} s for a lock (lock_timeout is 0.3 s)"
        );
        assert!(
            metric_total(worker.port, "votes_db_errors_total") > timeouts_before,
            "round {round}: the timeouts fired and were counted"
        );
        assert!(!stored_votes(&postgres).contains_key(&voter));
        // Once the holder is gone the worker recovers on its own.
        wait_until(Duration::from_secs(20), "the holder to finish", || {
            session.try_exit_code().is_some()
        });
        wait_until(
            Duration::from_secs(20),
            "the vote queued during the hold",
            || stored_votes(&postgres).contains_key(&voter) && queue_is_empty(&redis),
        );
    }
    assert_eq!(stored_counts(&postgres), (1, 2));
    assert_eq!(
        redis.cli(&["LLEN", "votes:dead"]),
        "0",
        "nothing dead-lettered"
    );
}

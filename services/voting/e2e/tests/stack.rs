//! The voting stack end to end: a browser click shows up on the open result page, seed
//! casts 3,000 votes that all get counted, and votes keep counting across Redis and
//! Postgres restarts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use voting_e2e::VotingStack;

#[test]
fn clicking_a_in_chromium_updates_the_open_result_page_without_reload() {
    let stack = VotingStack::start();
    let shots = tempfile::tempdir().unwrap();
    let output = testkit::node_script("vote-and-watch.mjs")
        .arg(stack.vote_url())
        .arg(stack.result_url())
        .arg("1 vote")
        .arg(shots.path())
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("vote page title: Cats vs Dogs!"),
        "{stdout}"
    );
    assert!(
        stdout.contains("result page before voting: No votes yet"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"result page shows "1 vote""#), "{stdout}");
    assert!(shots.path().join("result.png").is_file());
    assert_eq!(stack.stored_votes().values().collect::<Vec<_>>(), vec!["a"]);
}

#[test]
fn seed_casts_3000_votes_and_waits_until_they_are_counted() {
    let stack = VotingStack::start();
    let output = stack.seed(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "seed failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("cast 3000 votes"), "{stdout}");
    assert!(stdout.contains("a=2000, b=1000"), "{stdout}");
    let stored = stack.stored_votes();
    assert_eq!(stored.len(), 3000, "each vote from a distinct voter");
    assert_eq!(stored.values().filter(|v| *v == "a").count(), 2000);

    // A result service that is not there is a clear failure, not a hang.
    let output = stack.seed(&["--result-url", "http://127.0.0.1:9", "--a", "1", "--b", "0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is the result service running"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_vote_is_counted_across_redis_and_postgres_restarts() {
    let stack = Arc::new(Mutex::new(VotingStack::start()));
    let vote_url = format!("{}/api/vote", stack.lock().unwrap().vote_url());
    let accepted: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Voters vote continuously for a bounded time; every 2xx is remembered.
    let sender = {
        let accepted = Arc::clone(&accepted);
        tokio::spawn(async move {
            let started = Instant::now();
            let mut n = 0u32;
            let mut rejected = 0u32;
            while started.elapsed() < Duration::from_secs(12) {
                let voter = format!("flow-{n}");
                let vote = if n % 3 == 0 { "b" } else { "a" };
                n += 1;
                let response = client
                    .post(&vote_url)
                    .header("x-voter-id", &voter)
                    .json(&serde_json::json!({ "vote": vote }))
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        accepted.lock().unwrap().insert(voter, vote.to_owned());
                    }
                    _ => rejected += 1,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (n, rejected)
        })
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.lock().unwrap().redis.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let mut stack = stack.lock().unwrap();
        stack.postgres.stop();
        std::thread::sleep(Duration::from_secs(2));
        stack.postgres.start_again();
    }
    let (sent, rejected) = sender.await.unwrap();
    let accepted = accepted.lock().unwrap().clone();
    eprintln!(
        "sent {sent} votes, {} accepted, {rejected} refused during the outages",
        accepted.len()
    );
    assert!(accepted.len() > 200, "votes flowed: {}", accepted.len());

    let started = Instant::now();
    loop {
        let stored = stack.lock().unwrap().stored_votes();
        let missing: Vec<_> = accepted
            .iter()
            .filter(|(voter, vote)| stored.get(*voter) != Some(vote))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} accepted votes never reached Postgres, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn acceptance_script_passes_against_the_native_stack_and_fails_without_it() {
    let stack = VotingStack::start();
    let script = testkit::compose::workspace_root().join("ci/acceptance-voting.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(stack.vote_url())
        .arg(stack.result_url())
        .output()
        .expect("running bash ci/acceptance-voting.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "acceptance-voting.sh failed:\n{stdout}"
    );
    assert!(
        stdout.contains("both votes are counted by the result service"),
        "{stdout}"
    );
    assert!(stdout.contains("0 failed"), "{stdout}");

    let unused = testkit::free_port();
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{unused}"))
        .arg(format!("http://127.0.0.1:{unused}"))
        .env("ACCEPTANCE_WAIT_SECS", "1")
        .output()
        .expect("running bash ci/acceptance-voting.sh");
    assert!(!output.status.success(), "must fail when nothing answers");
}

//! seed: casts votes through the vote service's own form (as a browser would), each
//! from a distinct voter, then waits until the result service has counted them.
//!
//! Each vote carries its own voter id cookie (`seed-<run>-<n>`), so a retried request
//! can never count twice: the latest vote of a voter wins.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Parser)]
#[command(
    about = "Cast votes through the vote service and wait until the result service counts them"
)]
pub struct Args {
    /// Base URL of the vote service.
    #[arg(long, env = "VOTE_URL", default_value = "http://vote:8080")]
    pub vote_url: String,
    /// Base URL of the result service; its /api/results is polled until the votes count.
    #[arg(long, env = "RESULT_URL", default_value = "http://result:8081")]
    pub result_url: String,
    /// Votes for option a.
    #[arg(long, env = "SEED_VOTES_A", default_value_t = 2000)]
    pub a: u32,
    /// Votes for option b.
    #[arg(long, env = "SEED_VOTES_B", default_value_t = 1000)]
    pub b: u32,
    /// Requests in flight at once.
    #[arg(long, env = "SEED_CONCURRENCY", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,
    /// How long to wait for the result service to count the votes, in seconds.
    #[arg(long, env = "SEED_WAIT_SECS", default_value_t = 120)]
    pub wait_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{0} is not an http(s) URL — pass e.g. --vote-url http://localhost:8080")]
    BadUrl(String),
    #[error("cannot read {url}: {reason} — is the result service running (RESULT_URL)?")]
    Results { url: String, reason: String },
    #[error("{failed} of {total} votes were not accepted (last error: {last_error}) — check the vote service and its Redis")]
    VotesFailed {
        failed: u32,
        total: u32,
        last_error: String,
    },
    #[error("the result service counted a={a} b={b} after {waited:?}, expected at least a={want_a} b={want_b} — is the worker running?")]
    NotCounted {
        a: i64,
        b: i64,
        want_a: i64,
        want_b: i64,
        waited: Duration,
    },
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct Totals {
    pub a: i64,
    pub b: i64,
}

/// What a successful run did.
#[derive(Debug)]
pub struct Report {
    pub cast: u32,
    pub vote_seconds: f64,
    pub counted_after: Duration,
    pub totals: Totals,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cast {} votes in {:.1} s ({:.0}/s); result service counted them after {:.1} s (a={}, b={})",
            self.cast,
            self.vote_seconds,
            f64::from(self.cast) / self.vote_seconds.max(1e-9),
            self.counted_after.as_secs_f64(),
            self.totals.a,
            self.totals.b
        )
    }
}

fn base(url: &str) -> Result<String, SeedError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(SeedError::BadUrl(url.to_owned()))
    }
}

async fn totals(client: &reqwest::Client, result_url: &str) -> Result<Totals, SeedError> {
    let url = format!("{result_url}/api/results");
    let failure = |reason: String| SeedError::Results {
        url: url.clone(),
        reason,
    };
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|err| failure(err.to_string()))?;
    if !response.status().is_success() {
        return Err(failure(format!("HTTP {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|err| failure(err.to_string()))
}

/// Casts one vote, retrying transient failures; the voter id makes retries idempotent.
async fn cast(
    client: &reqwest::Client,
    vote_url: &str,
    voter: &str,
    vote: &str,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
        }
        let outcome = client
            .post(vote_url)
            .header("cookie", format!("voter_id={voter}"))
            .form(&[("vote", vote)])
            .send()
            .await;
        match outcome {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) if response.status().is_client_error() => {
                return Err(format!("HTTP {}", response.status()))
            }
            Ok(response) => last = format!("HTTP {}", response.status()),
            Err(err) => last = err.to_string(),
        }
    }
    Err(last)
}

pub async fn run(args: Args) -> Result<Report, SeedError> {
    let vote_url = base(&args.vote_url)?;
    let result_url = base(&args.result_url)?;
    let client = platform::outbound::client(
        "slipway-seed",
        platform::outbound::ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        },
    )
    .expect("a reqwest client with rustls");
    let before = totals(&client, &result_url).await?;
    let run_id = format!("{:08x}", rand::random::<u32>());
    let total = args.a + args.b;
    let progress =
        ProgressBar::with_draw_target(Some(u64::from(total)), ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} votes ({per_sec}, eta {eta})")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    progress.set_message("voting");

    let started = Instant::now();
    let ballots = (0..total).map(|n| {
        (
            format!("seed-{run_id}-{n}"),
            if n < args.a { "a" } else { "b" },
        )
    });
    let outcomes: Vec<Result<(), String>> = stream::iter(ballots)
        .map(|(voter, vote)| {
            let client = &client;
            let vote_url = &vote_url;
            let progress = &progress;
            async move {
                let outcome = cast(client, vote_url, &voter, vote).await;
                progress.inc(1);
                outcome
            }
        })
        .buffer_unordered(args.concurrency as usize)
        .collect()
        .await;
    let vote_seconds = started.elapsed().as_secs_f64();
    progress.finish_with_message("voted");
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    if let Some(last_error) = failures.last() {
        return Err(SeedError::VotesFailed {
            failed: failures.len() as u32,
            total,
            last_error: (*last_error).clone(),
        });
    }
    tracing::info!(
        total,
        vote_seconds,
        "all votes accepted; waiting for the result service to count them"
    );

    let want_a = before.a + i64::from(args.a);
    let want_b = before.b + i64::from(args.b);
    let counting = Instant::now();
    let limit = Duration::from_secs(args.wait_secs);
    loop {
        let now = totals(&client, &result_url).await;
        if let Ok(now) = now {
            if now.a >= want_a && now.b >= want_b {
                return Ok(Report {
                    cast: total,
                    vote_seconds,
                    counted_after: counting.elapsed(),
                    totals: now,
                });
            }
            if counting.elapsed() >= limit {
                return Err(SeedError::NotCounted {
                    a: now.a,
                    b: now.b,
                    want_a,
                    want_b,
                    waited: counting.elapsed(),
                });
            }
        } else if counting.elapsed() >= limit {
            return Err(now.unwrap_err());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["seed"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("valid arguments")
    }

    #[test]
    fn defaults_are_the_documented_3000_votes() {
        let args = Args::try_parse_from(["seed"]).unwrap();
        assert_eq!((args.a, args.b, args.concurrency), (2000, 1000, 50));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Args::try_parse_from(["seed", "--concurrency", "0"]).is_err());
        assert!(Args::try_parse_from(["seed", "--a", "-5"]).is_err());
    }

    #[tokio::test]
    async fn a_url_without_scheme_is_a_clear_error() {
        let err = run(args(&["--vote-url", "localhost:8080"]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--vote-url http://"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_result_service_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = run(args(&[
            "--vote-url",
            &format!("http://127.0.0.1:{port}"),
            "--result-url",
            &format!("http://127.0.0.1:{port}"),
        ]))
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("is the result service running"),
            "{err}"
        );
    }
}

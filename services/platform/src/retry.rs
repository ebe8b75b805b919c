//! Exponential backoff for connecting to dependencies that may start after us.

use std::future::Future;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max_delay: Duration,
    /// Give up after this long; `None` retries until the future succeeds.
    pub max_elapsed: Option<Duration>,
}

impl Backoff {
    /// For start-up: quick first retries, then up to 5 s apart, for at most `limit`.
    pub fn startup(limit: Duration) -> Self {
        Self {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_elapsed: Some(limit),
        }
    }

    /// For background loops that must never give up.
    pub fn forever() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_elapsed: None,
        }
    }

    /// The delay before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.initial.saturating_mul(factor).min(self.max_delay)
    }

    /// Runs `operation` until it succeeds or the time budget is spent, logging each failure.
    pub async fn retry<T, E, F, Fut>(&self, what: &str, mut operation: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match operation().await {
                Ok(value) => return Ok(value),
                Err(err) => {
                    let delay = self.delay(attempt);
                    let out_of_time = self
                        .max_elapsed
                        .is_some_and(|limit| started.elapsed() + delay > limit);
                    if out_of_time {
                        return Err(err);
                    }
                    tracing::warn!(%err, attempt, retry_in_ms = delay.as_millis() as u64, "{what} failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        let backoff = Backoff::forever();
        assert_eq!(backoff.delay(1), Duration::from_millis(100));
        assert_eq!(backoff.delay(2), Duration::from_millis(200));
        assert_eq!(backoff.delay(4), Duration::from_millis(800));
        assert_eq!(backoff.delay(30), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn retry_gives_up_after_budget_and_succeeds_when_possible() {
        let backoff = Backoff {
            initial: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
            max_elapsed: Some(Duration::from_millis(50)),
        };
        let mut calls = 0;
        let outcome: Result<(), String> = backoff
            .retry("always failing", || {
                calls += 1;
                async { Err("down".to_owned()) }
            })
            .await;
        assert!(outcome.is_err());
        assert!(calls > 1, "retried {calls} times");

        let mut calls = 0;
        let outcome: Result<u32, String> = backoff
            .retry("third time lucky", || {
                calls += 1;
                let ok = calls >= 3;
                async move {
                    if ok {
                        Ok(7)
                    } else {
                        Err("not yet".into())
                    }
                }
            })
            .await;
        assert_eq!(outcome, Ok(7));
    }
}

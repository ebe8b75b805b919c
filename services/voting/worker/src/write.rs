//! Writing a batch's ballots to Postgres so that one bad vote cannot stall the queue.
//!
//! Errors are split in two. *Rejections* — Postgres refuses the data itself (SQLSTATE
//! class 22 data exception, e.g. a NUL byte in a voter id; 23 integrity constraint
//! violation; 54 program limit exceeded) — will fail the same way on every retry, so the
//! failing part of the batch is halved until the single ballot at fault is found; the
//! rest of the batch is committed, and that ballot is dead-lettered after a bounded number
//! of attempts. Everything else (connection loss, `lock_timeout`, `statement_timeout`,
//! serialisation failures, a missing schema, privileges) says nothing about the vote: it is
//! retried with backoff for as long as it takes, keeping the batch's claim, so no vote is
//! dropped because the database was away or busy.
//!
//! Every part is written with the batch's own `seq`, and each ballot of a batch belongs to
//! a different voter, so committing the halves separately — or re-applying the whole
//! batch after a crash part-way — changes nothing that was already committed.

use std::ops::Range;

use platform::retry::Backoff;
use platform::Shutdown;
use sqlx::PgPool;
use voting_store::Ballot;

use crate::queue::Queue;

/// SQLSTATE classes that blame the data rather than the database's state.
const REJECTING_CLASSES: [&str; 3] = ["22", "23", "54"];

/// How a failed batch write is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Postgres refused these ballots; the reason names the SQLSTATE and message.
    Rejected(String),
    /// Anything else: retried without limit.
    Transient,
}

fn classify(err: &sqlx::Error) -> Failure {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code)
                if REJECTING_CLASSES
                    .iter()
                    .any(|class| code.starts_with(class)) =>
            {
                Failure::Rejected(format!(
                    "rejected by Postgres (SQLSTATE {code}): {}",
                    db.message()
                ))
            }
            _ => Failure::Transient,
        },
        // A value the driver cannot even encode will never be sent successfully.
        sqlx::Error::Encode(source) => {
            Failure::Rejected(format!("cannot be encoded for Postgres: {source}"))
        }
        _ => Failure::Transient,
    }
}

/// Where a batch is written, and how stubbornly.
pub struct Writer<'a> {
    pub queue: &'a Queue,
    pub pool: &'a PgPool,
    pub shutdown: &'a Shutdown,
    /// Attempts for a single rejected ballot before it is given up on.
    pub rejected_attempts: u32,
}

/// A ballot of the batch that Postgres kept rejecting: its index in the ballots, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

impl Writer<'_> {
    /// Commits every ballot Postgres accepts; returns the ones it rejected, or `None` when
    /// shutdown interrupted the write (the batch stays claimed and is recovered later).
    pub async fn write(&self, ballots: &[Ballot], seq: i64) -> Option<Vec<Rejected>> {
        // Parts still to write (a stack of index ranges); at first the whole batch.
        let mut pending: Vec<Range<usize>> = Vec::new();
        pending.push(0..ballots.len());
        let mut rejected = Vec::new();
        let mut transient_failures = 0u32;
        while let Some(range) = pending.pop() {
            let mut attempts = 0u32;
            loop {
                if self.shutdown.is_requested() {
                    return None;
                }
                let err = match voting_store::apply_batch(self.pool, &ballots[range.clone()], seq)
                    .await
                {
                    Ok(applied) => {
                        transient_failures = 0;
                        tracing::debug!(
                            seq,
                            ballots = range.len(),
                            changed = applied.changed,
                            a = applied.counts.a,
                            b = applied.counts.b,
                            "votes committed"
                        );
                        break;
                    }
                    Err(err) => err,
                };
                // Keep the claim while retrying so that no other worker takes over.
                let _ = self.queue.extend_lease(seq).await;
                let delay = match classify(&err) {
                    Failure::Rejected(reason) if range.len() > 1 => {
                        metrics::counter!("votes_db_errors_total", "kind" => "rejected")
                            .increment(1);
                        tracing::info!(seq, ballots = range.len(), %reason, "Postgres rejected part of a batch; writing its halves separately");
                        let middle = range.start + range.len() / 2;
                        pending.push(middle..range.end);
                        pending.push(range.start..middle);
                        break;
                    }
                    Failure::Rejected(reason) => {
                        metrics::counter!("votes_db_errors_total", "kind" => "rejected")
                            .increment(1);
                        attempts += 1;
                        if attempts >= self.rejected_attempts {
                            rejected.push(Rejected {
                                index: range.start,
                                reason,
                            });
                            break;
                        }
                        Backoff::forever().delay(attempts)
                    }
                    Failure::Transient => {
                        metrics::counter!("votes_db_errors_total", "kind" => "transient")
                            .increment(1);
                        transient_failures += 1;
                        let delay = Backoff::forever().delay(transient_failures);
                        platform::db::log_connection_failure(&err);
                        tracing::warn!(
                            %err,
                            seq,
                            retry_in_ms = delay.as_millis() as u64,
                            "writing votes to Postgres failed; retrying"
                        );
                        if voting_store::is_missing_schema(&err) {
                            // The database was replaced or restored without our tables.
                            if let Err(err) = voting_store::migrate(self.pool).await {
                                tracing::warn!(%err, "cannot re-apply migrations");
                            }
                        }
                        delay
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.shutdown.requested() => return None,
                }
            }
        }
        Some(rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_errors_blame_the_vote() {
        let pool_gone = sqlx::Error::PoolTimedOut;
        assert_eq!(classify(&pool_gone), Failure::Transient);
        let io = sqlx::Error::Io(std::io::Error::other("reset"));
        assert_eq!(classify(&io), Failure::Transient);
        let encode = sqlx::Error::Encode("bad".into());
        assert!(matches!(classify(&encode), Failure::Rejected(_)));
    }
}

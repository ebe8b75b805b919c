//! The Redis side of a vote: one RPUSH onto `votes`, bounded in time; where Redis has
//! replicas, followed in the same round trip by `WAIT 1 <ms>` so that a vote is
//! acknowledged only once a replica holds it too.
//!
//! Why: ElastiCache here keeps no append-only file, so a primary lost before replicating
//! loses what it had; replication is asynchronous, and a failover promotes a replica
//! that may miss the last writes. `WAIT` closes that window for acknowledged votes: a
//! 2xx means two nodes had the vote. It does not make Redis strongly consistent (a
//! replica that acknowledged can in theory still lose the write in a failover race, see
//! the WAIT documentation), and without a replica (dev) there is nothing to wait for.

use std::time::Duration;

use platform::cache::RedisHandle;
use serde::Serialize;

pub const VOTES_KEY: &str = "votes";

/// The queued message, field for field the original vote app's payload.
#[derive(Debug, Serialize)]
pub struct QueuedVote<'a> {
    pub voter_id: &'a str,
    pub vote: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the vote queue did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the vote queue failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the vote was queued but no replica confirmed it within {0:?}")]
    NotReplicated(Duration),
}

/// Waiting for a replica before acknowledging a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    /// Longest `WAIT` for one replica's acknowledgement.
    pub wait: Duration,
}

#[derive(Clone)]
pub struct VoteQueue {
    redis: RedisHandle,
    timeout: Duration,
    replication: Option<Replication>,
}

impl VoteQueue {
    pub fn new(redis: RedisHandle, timeout: Duration, replication: Option<Replication>) -> Self {
        Self {
            redis,
            timeout,
            replication,
        }
    }

    pub async fn push(&self, vote: &QueuedVote<'_>) -> Result<(), QueueError> {
        let payload = serde_json::to_string(vote).expect("a vote always serialises");
        // The handle bounds dialling and the reply separately; this bounds their sum, so a
        // voter waits at most `timeout` in total.
        let Some(replication) = self.replication else {
            let mut command = redis::cmd("RPUSH");
            command.arg(VOTES_KEY).arg(payload);
            let push = self.redis.query::<i64>(&command);
            return match tokio::time::timeout(self.timeout, push).await {
                Ok(outcome) => outcome.map(|_| ()).map_err(QueueError::from),
                Err(_) => Err(QueueError::Timeout(self.timeout)),
            };
        };
        // One round trip: WAIT covers every earlier write of this (shared, multiplexed)
        // connection, this RPUSH included, and answers how many replicas have them.
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("RPUSH")
            .arg(VOTES_KEY)
            .arg(payload)
            .cmd("WAIT")
            .arg(1)
            .arg(replication.wait.as_millis() as u64);
        let push = self.redis.query_pipeline::<(i64, i64)>(&pipeline);
        match tokio::time::timeout(self.timeout, push).await {
            Ok(Ok((_, replicas))) if replicas >= 1 => Ok(()),
            Ok(Ok(_)) => Err(QueueError::NotReplicated(replication.wait)),
            Ok(Err(err)) => Err(QueueError::from(err)),
            Err(_) => Err(QueueError::Timeout(self.timeout)),
        }
    }
}

//! The Redis side of a vote: one RPUSH onto `votes`, bounded in time.

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
}

#[derive(Clone)]
pub struct VoteQueue {
    redis: RedisHandle,
    timeout: Duration,
}

impl VoteQueue {
    pub fn new(redis: RedisHandle, timeout: Duration) -> Self {
        Self { redis, timeout }
    }

    pub async fn push(&self, vote: &QueuedVote<'_>) -> Result<(), QueueError> {
        let payload = serde_json::to_string(vote).expect("a vote always serialises");
        let mut command = redis::cmd("RPUSH");
        command.arg(VOTES_KEY).arg(payload);
        // The handle bounds dialling and the reply separately; this bounds their sum, so a
        // voter waits at most `timeout` in total.
        let push = self.redis.query::<i64>(&command);
        match tokio::time::timeout(self.timeout, push).await {
            Ok(outcome) => outcome.map(|_| ()).map_err(QueueError::from),
            Err(_) => Err(QueueError::Timeout(self.timeout)),
        }
    }
}

//! The reliable queue on Redis.
//!
//! Producers RPUSH onto `votes`. A worker *claims* a batch with one atomic script: up to
//! N entries move from `votes` into a batch list `votes:processing:<seq>`, guarded by a
//! lease key, where `seq` is a number that grows with every batch (Redis server time in
//! microseconds, never below the last one). The worker writes the batch to Postgres and
//! only then *acknowledges* it (dead letters pushed and the batch list deleted in one
//! atomic script). Dead letters go verbatim to `votes:dead`, and a JSON record of why
//! (`{"entry","reason","seq","worker_id"}`) to `votes:dead:reasons` at the same index. A worker killed at any instant leaves its batch in Redis; it is
//! recovered (by the same worker on restart, or by any worker once the lease expires)
//! and applied with its original seq, which Postgres uses to skip anything older than
//! what it already has — so nothing is lost and nothing is applied twice.
//!
//! The scripts compute key names from `seq`, which is fine on a single-shard Redis
//! (ElastiCache replication group, compose) but not on Redis Cluster.

use std::time::Duration;

use platform::cache::RedisHandle;
use redis::Script;

pub const QUEUE_KEY: &str = "votes";
pub const DEAD_LETTER_KEY: &str = "votes:dead";
/// Parallel to [`DEAD_LETTER_KEY`]: the reason record for the entry at the same index.
pub const DEAD_LETTER_REASONS_KEY: &str = "votes:dead:reasons";
pub const SEQ_KEY: &str = "votes:seq";
pub const BATCH_PREFIX: &str = "votes:processing:";
pub const LEASE_PREFIX: &str = "votes:lease:";

const CLAIM: &str = r#"
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {} end
local now = redis.call('TIME')
local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local seq = string.format('%d', math.max(last + 1, micros))
redis.call('SET', KEYS[2], seq)
redis.call('LTRIM', KEYS[1], #items, -1)
redis.call('RPUSH', ARGV[2] .. seq, unpack(items))
redis.call('SET', ARGV[3] .. seq, ARGV[5], 'PX', ARGV[4])
table.insert(items, 1, seq)
return items
"#;

const ACK: &str = r#"
for i = 1, #ARGV, 2 do
  redis.call('RPUSH', KEYS[3], ARGV[i])
  redis.call('RPUSH', KEYS[4], ARGV[i + 1])
end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
return 1
"#;

/// Claims an abandoned batch: free when nobody holds its lease, or when the holder is
/// this worker id. A worker handles one batch at a time and reclaims only between
/// batches, so a lease under its own id is left from a previous run or a failed ack.
const RECLAIM: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return redis.call('LRANGE', KEYS[1], 0, -1)
"#;

/// A queue entry the worker gives up on, with the reason (logged and kept in Redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub entry: String,
    pub reason: String,
}

/// A claimed batch: raw queue entries in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub seq: i64,
    pub entries: Vec<String>,
}

#[derive(Clone)]
pub struct Queue {
    redis: RedisHandle,
    worker_id: String,
    lease: Duration,
    claim: Script,
    ack: Script,
    reclaim: Script,
}

impl Queue {
    pub fn new(redis: RedisHandle, worker_id: String, lease: Duration) -> Self {
        Self {
            redis,
            worker_id,
            lease,
            claim: Script::new(CLAIM),
            ack: Script::new(ACK),
            reclaim: Script::new(RECLAIM),
        }
    }

    pub fn redis(&self) -> &RedisHandle {
        &self.redis
    }

    /// Moves up to `max` entries into a new batch; `None` when the queue is empty.
    pub async fn claim(&self, max: usize) -> redis::RedisResult<Option<Batch>> {
        let mut invocation = self.claim.prepare_invoke();
        invocation
            .key(QUEUE_KEY)
            .key(SEQ_KEY)
            .arg(max)
            .arg(BATCH_PREFIX)
            .arg(LEASE_PREFIX)
            .arg(self.lease.as_millis() as u64)
            .arg(&self.worker_id);
        let mut reply: Vec<String> = self.redis.invoke(&invocation).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        let seq = parse_seq(&reply.remove(0))?;
        Ok(Some(Batch {
            seq,
            entries: reply,
        }))
    }

    /// Marks a batch done: dead letters and their reasons kept, batch list and lease
    /// removed, atomically (a batch acknowledged twice cannot happen: the second attempt
    /// would find no batch list to recover).
    pub async fn acknowledge(
        &self,
        seq: i64,
        dead_letters: &[DeadLetter],
    ) -> redis::RedisResult<()> {
        let mut invocation = self.ack.prepare_invoke();
        invocation
            .key(batch_key(seq))
            .key(lease_key(seq))
            .key(DEAD_LETTER_KEY)
            .key(DEAD_LETTER_REASONS_KEY);
        for letter in dead_letters {
            let record = serde_json::json!({
                "entry": letter.entry,
                "reason": letter.reason,
                "seq": seq,
                "worker_id": self.worker_id,
            });
            invocation.arg(&letter.entry).arg(record.to_string());
        }
        self.redis.invoke::<i64>(&invocation).await.map(|_| ())
    }

    /// Extends the lease of a batch still being written (e.g. while Postgres is down).
    pub async fn extend_lease(&self, seq: i64) -> redis::RedisResult<()> {
        let mut command = redis::cmd("PEXPIRE");
        command
            .arg(lease_key(seq))
            .arg(self.lease.as_millis() as u64);
        self.redis.query::<i64>(&command).await.map(|_| ())
    }

    /// Finds batches left behind by dead workers (or by this worker id's previous run)
    /// and claims them, oldest first.
    pub async fn reclaim_abandoned(&self) -> redis::RedisResult<Vec<Batch>> {
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(format!("{BATCH_PREFIX}*"))
                .arg("COUNT")
                .arg(500);
            let (next, page): (u64, Vec<String>) = self.redis.query(&scan).await?;
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut batches = Vec::new();
        for key in keys {
            let Some(seq) = key.strip_prefix(BATCH_PREFIX).and_then(|s| s.parse().ok()) else {
                continue;
            };
            let mut invocation = self.reclaim.prepare_invoke();
            invocation
                .key(&key)
                .key(lease_key(seq))
                .arg(&self.worker_id)
                .arg(self.lease.as_millis() as u64);
            let entries: Vec<String> = self.redis.invoke(&invocation).await?;
            if !entries.is_empty() {
                batches.push(Batch { seq, entries });
            }
        }
        batches.sort_by_key(|batch| batch.seq);
        Ok(batches)
    }

    pub async fn depth(&self) -> redis::RedisResult<u64> {
        self.redis.query(redis::cmd("LLEN").arg(QUEUE_KEY)).await
    }
}

fn parse_seq(raw: &str) -> redis::RedisResult<i64> {
    raw.parse().map_err(|_| {
        redis::RedisError::from((
            redis::ErrorKind::TypeError,
            "batch sequence is not an integer",
            raw.to_owned(),
        ))
    })
}

pub fn batch_key(seq: i64) -> String {
    format!("{BATCH_PREFIX}{seq}")
}

pub fn lease_key(seq: i64) -> String {
    format!("{LEASE_PREFIX}{seq}")
}

//! The queue's depth and the age of its oldest vote, sampled every second and recorded
//! as gauges with the `Queue` dimension label: the platform's CloudWatch Embedded Metric
//! Format reporter ([`platform::emf`]) puts them in the worker's EMF line under their
//! own directive (namespace `METRICS_NAMESPACE`, dimension `Queue` = the Redis list key),
//! and `/metrics` shows them to Prometheus. The provisioner turns this on
//! (`METRICS_NAMESPACE`) and alarms on the metrics (provisioner/src/constructs/
//! observability.rs: `QueueDepth`, `QueueOldestAgeSeconds`, dimension `Queue`).
//!
//! The age is measured, not read from the entry: a queued vote is the original app's
//! `{"voter_id","vote"}` payload, without a timestamp. Each second the worker reads the
//! head of the list; the age is how long that same entry has been the head. So it is a
//! lower bound right after the worker starts (it cannot know what happened before), and
//! two identical entries in a row (one voter's repeated vote) read as one older entry —
//! both err towards the alarm's side only in that second, harmless case.

use std::time::{Duration, Instant};

use platform::metrics::names;
use platform::Shutdown;

use crate::queue::{Queue, BATCH_PREFIX, QUEUE_KEY};

/// Metric names and the dimension, as the provisioner's alarms read them.
pub const DEPTH_METRIC: &str = names::QUEUE_DEPTH;
pub const AGE_METRIC: &str = names::QUEUE_OLDEST_AGE;
pub const QUEUE_DIMENSION: &str = platform::emf::QUEUE_DIMENSION;
/// The same age as an unlabelled Prometheus gauge (seconds) for the local monitoring
/// profile's dashboards and alerts (monitoring/): set on every sample, kept at its last
/// value while Redis cannot be sampled.
pub const AGE_GAUGE: &str = "votes_queue_oldest_age_seconds";

/// How often the head of the queue is sampled (the age's resolution).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How long the entry now at the head of the queue has been there.
#[derive(Debug, Default)]
pub struct HeadAge {
    head: Option<(String, Instant)>,
}

impl HeadAge {
    /// Records the head seen at `now` (`None`: the queue is empty) and returns its age.
    pub fn observe(&mut self, head: Option<String>, now: Instant) -> Duration {
        match head {
            None => {
                self.head = None;
                Duration::ZERO
            }
            Some(entry) => match &self.head {
                Some((seen, since)) if *seen == entry => now.saturating_duration_since(*since),
                _ => {
                    self.head = Some((entry, now));
                    Duration::ZERO
                }
            },
        }
    }
}

/// One sample, atomically: entries waiting in the queue plus those claimed by workers and
/// not yet acknowledged (in `votes:processing:<seq>`; a worker stuck on Postgres holds
/// one such batch), the entry at the head of the queue, and how long ago (Redis server
/// time, µs) the oldest unacknowledged batch was claimed — its `seq` is that time. The
/// SCAN walks the whole keyspace inside the script: fine for the voting Redis, which
/// holds only the queue's own keys; like `queue`'s scripts it assumes a single shard.
const SAMPLE: &str = r#"
local depth = redis.call('LLEN', KEYS[1])
local oldest = nil
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    depth = depth + redis.call('LLEN', key)
    local seq = tonumber(string.sub(key, #ARGV[1] + 1))
    if seq and (oldest == nil or seq < oldest) then oldest = seq end
  end
until cursor == '0'
local age = 0
if oldest then
  local now = redis.call('TIME')
  age = math.max(0, tonumber(now[1]) * 1000000 + tonumber(now[2]) - oldest)
end
return {depth, redis.call('LINDEX', KEYS[1], 0), age}
"#;

/// Samples the queue every second until shutdown and records both gauges. A Redis
/// outage records NaN: missing data in CloudWatch (the reporter leaves non-finite values
/// out), not a made-up zero or a stale value.
pub async fn report(queue: Queue, shutdown: Shutdown) {
    metrics::describe_gauge!(
        DEPTH_METRIC,
        metrics::Unit::Count,
        "entries waiting in the queue or claimed and not yet acknowledged"
    );
    metrics::describe_gauge!(
        AGE_METRIC,
        metrics::Unit::Seconds,
        "how long the oldest entry of the queue has been waiting"
    );
    let depth_gauge = metrics::gauge!(DEPTH_METRIC, QUEUE_DIMENSION => QUEUE_KEY);
    let age_gauge = metrics::gauge!(AGE_METRIC, QUEUE_DIMENSION => QUEUE_KEY);
    let script = redis::Script::new(SAMPLE);
    let mut ages = HeadAge::default();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.requested() => return,
        }
        let mut invocation = script.prepare_invoke();
        invocation.key(QUEUE_KEY).arg(BATCH_PREFIX);
        // LINDEX of an empty list is nil, which Lua turns into `false` in the reply table.
        let sampled = queue
            .redis()
            .invoke::<(u64, Option<String>, u64)>(&invocation)
            .await;
        let (depth, head, claimed_micros) = match sampled {
            Ok(sample) => sample,
            Err(err) => {
                tracing::debug!(%err, "cannot sample the queue");
                depth_gauge.set(f64::NAN);
                age_gauge.set(f64::NAN);
                continue;
            }
        };
        let age = ages
            .observe(head, Instant::now())
            .max(Duration::from_micros(claimed_micros));
        depth_gauge.set(depth as f64);
        age_gauge.set(age.as_secs_f64());
        metrics::gauge!(AGE_GAUGE).set(age.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_is_how_long_the_same_entry_has_been_the_head() {
        let start = Instant::now();
        let mut ages = HeadAge::default();
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(ages.observe(Some("a".into()), at(0)), Duration::ZERO);
        assert_eq!(
            ages.observe(Some("a".into()), at(7)),
            Duration::from_secs(7)
        );
        // The worker took it: the next entry starts at zero.
        assert_eq!(ages.observe(Some("b".into()), at(8)), Duration::ZERO);
        assert_eq!(
            ages.observe(Some("b".into()), at(10)),
            Duration::from_secs(2)
        );
        assert_eq!(ages.observe(None, at(11)), Duration::ZERO);
        assert_eq!(ages.observe(Some("b".into()), at(12)), Duration::ZERO);
    }
}

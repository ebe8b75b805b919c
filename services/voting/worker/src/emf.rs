//! The age of the queue's oldest vote as a Prometheus gauge (`votes_queue_oldest_age_seconds`,
//! always), and the queue's depth and that age as CloudWatch metrics, without a
//! Lambda or an agent: every `interval` the worker prints one CloudWatch Embedded Metric
//! Format (EMF) line on stdout. On ECS stdout goes to CloudWatch Logs (awslogs driver,
//! PutLogEvents), which extracts the metrics from any JSON event carrying an `_aws`
//! object — the `x-amzn-logs-format: json/emf` header is optional ("Using the
//! PutLogEvents API to send manually-created embedded metric format logs", CloudWatch
//! user guide). The provisioner turns this on (`METRICS_NAMESPACE`) for services whose
//! config lists `queues` and alarms on the metrics (cdk/src/constructs/
//! observability.rs: `QueueDepth`, `QueueOldestAgeSeconds`, dimension `Queue`).
//!
//! The age is measured, not read from the entry: a queued vote is the original app's
//! `{"voter_id","vote"}` payload, without a timestamp. Each second the worker reads the
//! head of the list; the age is how long that same entry has been the head. So it is a
//! lower bound right after the worker starts (it cannot know what happened before), and
//! two identical entries in a row (one voter's repeated vote) read as one older entry —
//! both err towards the alarm's side only in that second, harmless case.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use platform::{ConfigError, Env, Shutdown};
use serde_json::json;

use crate::queue::{Queue, BATCH_PREFIX, QUEUE_KEY};

/// Metric names and the dimension, as the provisioner's alarms read them.
pub const DEPTH_METRIC: &str = "QueueDepth";
pub const AGE_METRIC: &str = "QueueOldestAgeSeconds";
pub const QUEUE_DIMENSION: &str = "Queue";

/// How often the head of the queue is sampled (the age's resolution).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Where and how often to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// CloudWatch namespace (`Slipway/<stack>-<env>`).
    pub namespace: String,
    /// Time between two EMF lines.
    pub interval: Duration,
}

impl Settings {
    /// `METRICS_NAMESPACE` (unset or empty: no EMF lines, e.g. under Compose) and
    /// `METRICS_INTERVAL_SECS` (default 60: CloudWatch's standard resolution).
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let namespace = env.string("METRICS_NAMESPACE", "");
        let namespace = namespace.trim();
        if namespace.is_empty() {
            return Ok(None);
        }
        // CloudWatch namespaces: 1-255 ASCII characters, `AWS/` is reserved (PutMetricData
        // API reference, Namespace).
        if namespace.len() > 255 || !namespace.is_ascii() || namespace.starts_with("AWS/") {
            return Err(ConfigError::Invalid {
                name: "METRICS_NAMESPACE".into(),
                value: namespace.to_owned(),
                expected: "a CloudWatch namespace: 1-255 ASCII characters, not starting with AWS/"
                    .into(),
                detail: String::new(),
            });
        }
        Ok(Some(Self {
            namespace: namespace.to_owned(),
            interval: Duration::from_secs(env.bounded("METRICS_INTERVAL_SECS", 60u64, 1..=3600)?),
        }))
    }
}

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

/// One EMF event: both metrics of `queue` at `timestamp_ms` (milliseconds since the epoch).
pub fn line(namespace: &str, queue: &str, depth: u64, age: Duration, timestamp_ms: u64) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[QUEUE_DIMENSION]],
                "Metrics": [
                    {"Name": DEPTH_METRIC, "Unit": "Count"},
                    {"Name": AGE_METRIC, "Unit": "Seconds"},
                ],
            }],
        },
        QUEUE_DIMENSION: queue,
        DEPTH_METRIC: depth,
        AGE_METRIC: age.as_secs_f64(),
    })
    .to_string()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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

/// Prometheus gauge (seconds) of the same age as [`AGE_METRIC`], set every sample.
pub const AGE_GAUGE: &str = "votes_queue_oldest_age_seconds";

/// Samples the queue every second until shutdown: sets the [`AGE_GAUGE`] each time and,
/// given `settings`, prints an EMF line every `settings.interval`. A Redis outage skips
/// samples (missing data, not a made-up zero; the gauge keeps its last value).
pub async fn report(settings: Option<Settings>, queue: Queue, shutdown: Shutdown) {
    let script = redis::Script::new(SAMPLE);
    let mut ages = HeadAge::default();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let mut next_line = Instant::now() + settings.as_ref().map_or(Duration::ZERO, |s| s.interval);
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
                tracing::debug!(%err, "cannot sample the queue's oldest vote");
                continue;
            }
        };
        let now = Instant::now();
        let age = ages
            .observe(head, now)
            .max(Duration::from_micros(claimed_micros));
        metrics::gauge!(AGE_GAUGE).set(age.as_secs_f64());
        let Some(settings) = &settings else {
            continue;
        };
        if now >= next_line {
            next_line = now + settings.interval;
            let event = line(&settings.namespace, QUEUE_KEY, depth, age, now_ms());
            // One write of a whole line: CloudWatch Logs takes each line as one event.
            println!("{event}");
        }
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

    #[test]
    fn settings_come_from_the_environment_and_reject_reserved_namespaces() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert_eq!(Settings::from_env(&env(&[])).unwrap(), None);
        assert_eq!(
            Settings::from_env(&env(&[("METRICS_NAMESPACE", "Slipway/voting-dev")])).unwrap(),
            Some(Settings {
                namespace: "Slipway/voting-dev".into(),
                interval: Duration::from_secs(60)
            })
        );
        assert!(Settings::from_env(&env(&[("METRICS_NAMESPACE", "AWS/ECS")])).is_err());
        assert!(Settings::from_env(&env(&[
            ("METRICS_NAMESPACE", "Slipway/x"),
            ("METRICS_INTERVAL_SECS", "0")
        ]))
        .is_err());
    }
}

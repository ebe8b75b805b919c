//! `provision logs`: a service's CloudWatch log group, paginated, optionally followed.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use aws_smithy_types::date_time::{DateTime, Format};

use crate::aws::{call_error, Aws};

/// How often `--follow` asks for new events (bounded: CloudWatch Logs is eventually consistent
/// and FilterLogEvents is rate-limited per account).
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// One log event as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub timestamp_ms: i64,
    pub stream: String,
    pub message: String,
    pub event_id: String,
}

impl LogLine {
    /// `2026-11-21T06:40:00.123Z stream message`.
    pub fn render(&self) -> String {
        let when = DateTime::from_millis(self.timestamp_ms)
            .fmt(Format::DateTime)
            .unwrap_or_else(|_| self.timestamp_ms.to_string());
        format!("{when} {} {}", self.stream, self.message.trim_end())
    }
}

/// `--since`: `90s`, `10m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_since(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let Ok(amount) = digits.parse::<u64>() else {
        bail!("--since {text:?}: expected a number with s, m, h or d (e.g. 10m)");
    };
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--since {text:?}: unknown unit {unit:?}; use s, m, h or d (e.g. 10m)"),
    };
    Ok(Duration::from_secs(amount.saturating_mul(seconds)))
}

/// Milliseconds since the epoch, `ago` before now.
pub fn start_time_ms(ago: Duration) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.saturating_sub(ago).as_millis()).unwrap_or(i64::MAX)
}

/// Every event of `group` from `start_ms` on (all pages), optionally only from streams
/// starting with `stream_prefix`.
pub async fn fetch(
    aws: &Aws,
    group: &str,
    start_ms: i64,
    stream_prefix: Option<&str>,
) -> Result<Vec<LogLine>> {
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = aws
            .logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_log_stream_name_prefix(stream_prefix.map(str::to_owned))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| call_error(group, "FilterLogEvents", e))?;
        lines.extend(out.events().iter().map(|event| LogLine {
            timestamp_ms: event.timestamp().unwrap_or_default(),
            stream: event.log_stream_name().unwrap_or_default().to_owned(),
            message: event.message().unwrap_or_default().to_owned(),
            event_id: event.event_id().unwrap_or_default().to_owned(),
        }));
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    // Pages are ordered per stream; interleave streams by time.
    lines.sort_by_key(|line| line.timestamp_ms);
    Ok(lines)
}

/// Tracks what was printed so a poll starting at the last timestamp shows nothing twice.
#[derive(Debug)]
pub struct Cursor {
    pub start_ms: i64,
    seen_at_start: HashSet<String>,
}

impl Cursor {
    pub fn new(start_ms: i64) -> Self {
        Cursor {
            start_ms,
            seen_at_start: HashSet::new(),
        }
    }

    /// The lines not shown yet; moves the cursor past them.
    pub fn advance(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        let fresh: Vec<LogLine> = lines
            .into_iter()
            .filter(|l| {
                !(l.timestamp_ms == self.start_ms && self.seen_at_start.contains(&l.event_id))
            })
            .filter(|l| l.timestamp_ms >= self.start_ms)
            .collect();
        if let Some(latest) = fresh.iter().map(|l| l.timestamp_ms).max() {
            if latest > self.start_ms {
                self.start_ms = latest;
                self.seen_at_start.clear();
            }
            self.seen_at_start.extend(
                fresh
                    .iter()
                    .filter(|l| l.timestamp_ms == latest)
                    .map(|l| l.event_id.clone()),
            );
        }
        fresh
    }

    /// Fetches and returns what is new since the last call.
    pub async fn poll(
        &mut self,
        aws: &Aws,
        group: &str,
        stream_prefix: Option<&str>,
    ) -> Result<Vec<LogLine>> {
        let lines = fetch(aws, group, self.start_ms, stream_prefix).await?;
        Ok(self.advance(lines))
    }
}

/// `provision logs SERVICE [--follow] [--since 10m]`: prints to stdout until done (or Ctrl-C).
pub async fn logs(aws: &Aws, group: &str, since: Duration, follow: bool) -> Result<u8> {
    let mut cursor = Cursor::new(start_time_ms(since));
    loop {
        for line in cursor.poll(aws, group, None).await? {
            super::print_line(&line.render());
        }
        if !follow {
            return Ok(0);
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_units_and_rejects_garbage() {
        assert_eq!(parse_since("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_since("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_since("10y")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_since("m")
            .unwrap_err()
            .to_string()
            .contains("expected a number"));
        let start = start_time_ms(Duration::from_secs(600));
        let now = start_time_ms(Duration::ZERO);
        assert!(
            (599_000..=601_000).contains(&(now - start)),
            "{}",
            now - start
        );
    }

    fn line(ms: i64, id: &str) -> LogLine {
        LogLine {
            timestamp_ms: ms,
            stream: "api/api/abc".into(),
            message: format!("event {id}\n"),
            event_id: id.into(),
        }
    }

    #[test]
    fn cursor_never_repeats_events_sharing_the_last_timestamp() {
        let mut cursor = Cursor::new(100);
        let first = cursor.advance(vec![line(100, "a"), line(200, "b")]);
        assert_eq!(first.len(), 2);
        assert_eq!(cursor.start_ms, 200);
        // The next poll starts at 200 and sees b again, plus c at the same millisecond.
        let second = cursor.advance(vec![line(200, "b"), line(200, "c"), line(300, "d")]);
        let ids: Vec<&str> = second.iter().map(|l| l.event_id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
        assert!(cursor.advance(vec![line(300, "d")]).is_empty());
        assert_eq!(
            line(1_700_000_000_123, "x").render(),
            "2023-11-14T22:13:20.123Z api/api/abc event x"
        );
    }
}

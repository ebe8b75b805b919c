//! The process's own CPU time, resident memory and start time under Prometheus's standard
//! names, appended to `/metrics` each time it renders: what the local Grafana dashboards'
//! CPU, memory and restart panels read (monitoring/grafana/dashboards/services.json).
//!
//! Read from `/proc/self` with the `procfs` crate on every scrape rather than recorded
//! through the `metrics` facade, so these series stay out of the CloudWatch EMF lines: on
//! ECS, CPU and memory come from the service's own `AWS/ECS` metrics at no extra cost.

use std::fmt::Write;

/// Prometheus text-format lines for the three series, or nothing (with a debug log) where
/// `/proc` cannot be read.
pub fn render() -> String {
    match sample() {
        Ok(sample) => sample.to_prometheus(),
        Err(err) => {
            tracing::debug!(%err, "cannot read /proc/self: no process metrics in this scrape");
            String::new()
        }
    }
}

/// One reading of the process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: u64,
    start_time_seconds: f64,
}

fn sample() -> procfs::ProcResult<Sample> {
    let stat = procfs::process::Process::myself()?.stat()?;
    // utime, stime and starttime are in clock ticks (proc(5), /proc/pid/stat).
    let ticks = procfs::ticks_per_second() as f64;
    Ok(Sample {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        resident_bytes: stat.rss * procfs::page_size(),
        start_time_seconds: procfs::boot_time_secs()? as f64 + stat.starttime as f64 / ticks,
    })
}

impl Sample {
    fn to_prometheus(self) -> String {
        let mut out = String::new();
        let series = [
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                self.resident_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
        ];
        for (name, kind, help, value) in series {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let before = sample().expect("/proc/self is readable on Linux");
        // Burn a little CPU so the counter moves.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = sample().unwrap();
        assert!(
            after.cpu_seconds > before.cpu_seconds,
            "{before:?} → {after:?}"
        );
        assert!(after.resident_bytes > 1 << 20, "{after:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // Started in the past, and not before the test binary could have been built today.
        assert!(after.start_time_seconds <= now + 1.0, "{after:?}");
        assert!(after.start_time_seconds > now - 3600.0, "{after:?}");
        assert_eq!(before.start_time_seconds, after.start_time_seconds);
    }

    #[test]
    fn renders_the_prometheus_text_format() {
        let text = Sample {
            cpu_seconds: 1.5,
            resident_bytes: 4096,
            start_time_seconds: 1700000000.25,
        }
        .to_prometheus();
        assert!(
            text.contains(
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nprocess_resident_memory_bytes 4096\n"),
            "{text}"
        );
        assert!(
            text.contains("\nprocess_start_time_seconds 1700000000.25\n"),
            "{text}"
        );
    }
}

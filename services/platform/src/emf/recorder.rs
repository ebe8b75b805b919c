//! The EMF side of the process-wide `metrics` recorder: [`crate::metrics::handle`] fans
//! every counter, gauge and histogram out to Prometheus and to this recorder, which keeps
//! what happened since the last report so that each EMF line carries one interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString};
use metrics_util::registry::{Registry, Storage};

use super::distribution::Distribution;

/// A histogram's observations since the last report.
#[derive(Debug, Default)]
pub struct SharedDistribution(Mutex<Distribution>);

impl HistogramFn for SharedDistribution {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(value);
    }
}

/// Counters and gauges as atomics (the `metrics` crate implements both for `AtomicU64`),
/// histograms as bounded bins.
#[derive(Debug)]
struct EmfStorage;

impl Storage<Key> for EmfStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<SharedDistribution>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::new(AtomicU64::new(0))
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::new(SharedDistribution::default())
    }
}

/// One series' report for an interval.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// How much the counter grew during the interval.
    Counter(u64),
    /// The gauge's value now.
    Gauge(f64),
    /// The observations of the interval (never empty).
    Histogram(Distribution),
}

/// A series (name and labels), its declared unit and its reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub key: Key,
    pub unit: Option<metrics::Unit>,
    pub reading: Reading,
}

struct Inner {
    registry: Registry<Key, EmfStorage>,
    units: Mutex<HashMap<String, metrics::Unit>>,
    /// Each counter's value at the last report.
    reported: Mutex<HashMap<Key, u64>>,
}

/// Records through the `metrics` facade; [`EmfRecorder::take`] reads an interval out.
#[derive(Clone)]
pub struct EmfRecorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmfRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfRecorder").finish_non_exhaustive()
    }
}

impl Default for EmfRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl EmfRecorder {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Registry::new(EmfStorage),
                units: Mutex::new(HashMap::new()),
                reported: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// What happened since the previous call: every counter's growth (zero included, so
    /// that "nothing happened" is a data point), every gauge's value and every histogram
    /// that observed something (drained).
    pub fn take(&self) -> Vec<Sample> {
        let units = self
            .inner
            .units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let unit = |key: &Key| units.get(key.name()).copied();
        let mut samples = Vec::new();
        let mut reported = self
            .inner
            .reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.registry.visit_counters(|key, counter| {
            let now = counter.load(Ordering::Relaxed);
            let before = reported.insert(key.clone(), now).unwrap_or(0);
            // A counter set lower with `absolute` starts over.
            let growth = if now >= before { now - before } else { now };
            samples.push(Sample {
                key: key.clone(),
                unit: unit(key),
                reading: Reading::Counter(growth),
            });
        });
        drop(reported);
        self.inner.registry.visit_gauges(|key, gauge| {
            samples.push(Sample {
                key: key.clone(),
                unit: unit(key),
                reading: Reading::Gauge(f64::from_bits(gauge.load(Ordering::Relaxed))),
            });
        });
        self.inner.registry.visit_histograms(|key, histogram| {
            let drained =
                std::mem::take(&mut *histogram.0.lock().unwrap_or_else(PoisonError::into_inner));
            if !drained.is_empty() {
                samples.push(Sample {
                    key: key.clone(),
                    unit: unit(key),
                    reading: Reading::Histogram(drained),
                });
            }
        });
        samples
    }

    fn describe(&self, key: KeyName, unit: Option<metrics::Unit>) {
        if let Some(unit) = unit {
            self.inner
                .units
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.as_str().to_owned(), unit);
        }
    }
}

impl metrics::Recorder for EmfRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.inner.registry.get_or_create_counter(key, Arc::clone))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.inner.registry.get_or_create_gauge(key, Arc::clone))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.inner.registry.get_or_create_histogram(key, Arc::clone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Recorder;

    static META: Metadata<'static> = Metadata::new("test", metrics::Level::INFO, None);

    #[test]
    fn counters_report_growth_gauges_their_value_histograms_their_interval() {
        let recorder = EmfRecorder::new();
        recorder.describe_histogram("latency".into(), Some(metrics::Unit::Seconds), "".into());
        let counter = recorder.register_counter(&Key::from_name("hits"), &META);
        let gauge = recorder.register_gauge(&Key::from_name("clients"), &META);
        let histogram = recorder.register_histogram(&Key::from_name("latency"), &META);
        counter.increment(3);
        gauge.set(2.0);
        histogram.record(0.5);
        let first = recorder.take();
        let reading = |samples: &[Sample], name: &str| {
            samples
                .iter()
                .find(|s| s.key.name() == name)
                .map(|s| s.reading.clone())
        };
        assert_eq!(reading(&first, "hits"), Some(Reading::Counter(3)));
        assert_eq!(reading(&first, "clients"), Some(Reading::Gauge(2.0)));
        let latency = first.iter().find(|s| s.key.name() == "latency").unwrap();
        assert_eq!(latency.unit, Some(metrics::Unit::Seconds));
        let Reading::Histogram(d) = &latency.reading else {
            panic!()
        };
        assert_eq!(d.summary().unwrap().count, 1);

        counter.increment(2);
        let second = recorder.take();
        assert_eq!(reading(&second, "hits"), Some(Reading::Counter(2)));
        assert_eq!(reading(&second, "clients"), Some(Reading::Gauge(2.0)));
        assert_eq!(reading(&second, "latency"), None, "drained");
        assert_eq!(reading(&recorder.take(), "hits"), Some(Reading::Counter(0)));
    }
}

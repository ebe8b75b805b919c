//! A histogram's observations over one reporting interval, kept in logarithmic bins so
//! that memory stays bounded however many values are recorded, and reported in the
//! shape CloudWatch takes: at most [`MAX_VALUES`] distinct values with their counts, plus
//! the exact minimum, maximum, sum and count.

use std::collections::BTreeMap;

/// Values within 10% of each other share a bin (the resolution of the histograms in
/// AWS's own EMF libraries, e.g. aws-embedded-metrics-java `Histogram`).
const GROWTH: f64 = 1.1;

/// "Numeric array metric targets MUST NOT have more than 100 members" (CloudWatch user
/// guide, "Specification: Embedded metric format", Target members).
pub const MAX_VALUES: usize = 100;

/// A bin: the sign of its values (-1, 0, 1) and the logarithmic index of their magnitude.
type BinKey = (i8, i32);

/// Observations of one interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    /// Per bin: the sum and the number of its values.
    bins: BTreeMap<BinKey, (f64, u64)>,
    min: f64,
    max: f64,
    sum: f64,
    count: u64,
}

/// What one interval of a histogram reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// One value per bin: the mean of the values in it (so values × counts add up to
    /// the sum). At most [`MAX_VALUES`].
    pub values: Vec<f64>,
    /// How many observations each value stands for.
    pub counts: Vec<u64>,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Distribution {
    /// Adds one observation. CloudWatch rejects NaN and infinities (PutMetricData,
    /// MetricDatum.Value), so those are dropped.
    pub fn record(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.sum += value;
        self.count += 1;
        let bin = self.bins.entry(bin_of(value)).or_insert((0.0, 0));
        bin.0 += value;
        bin.1 += 1;
    }

    /// Adds all observations of `other`.
    pub fn merge(&mut self, other: &Distribution) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
        for (key, (sum, count)) in &other.bins {
            let bin = self.bins.entry(*key).or_insert((0.0, 0));
            bin.0 += sum;
            bin.1 += count;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The report, `None` without observations. Bins are merged pairwise (halving the
    /// resolution) until at most [`MAX_VALUES`] remain.
    pub fn summary(&self) -> Option<Summary> {
        if self.count == 0 {
            return None;
        }
        let mut bins = self.bins.clone();
        while bins.len() > MAX_VALUES {
            let mut coarser: BTreeMap<BinKey, (f64, u64)> = BTreeMap::new();
            for ((sign, index), (sum, count)) in bins {
                let bin = coarser
                    .entry((sign, index.div_euclid(2)))
                    .or_insert((0.0, 0));
                bin.0 += sum;
                bin.1 += count;
            }
            bins = coarser;
        }
        let (values, counts) = bins
            .values()
            .map(|(sum, count)| (sum / *count as f64, *count))
            .unzip();
        Some(Summary {
            values,
            counts,
            min: self.min,
            max: self.max,
            sum: self.sum,
            count: self.count,
        })
    }
}

fn bin_of(value: f64) -> BinKey {
    if value == 0.0 {
        return (0, 0);
    }
    let index = (value.abs().ln() / GROWTH.ln()).floor() as i32;
    (if value > 0.0 { 1 } else { -1 }, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_statistics_and_at_most_a_hundred_values_however_many_are_recorded() {
        let mut distribution = Distribution::default();
        // Ten thousand latencies from 0.1 ms to 10 s: far more than 100 bins at 10%.
        let values: Vec<f64> = (0..10_000).map(|i| 0.0001 * 1.0012f64.powi(i)).collect();
        for value in &values {
            distribution.record(*value);
        }
        distribution.record(f64::NAN);
        let summary = distribution.summary().unwrap();
        assert!(
            summary.values.len() <= MAX_VALUES,
            "{}",
            summary.values.len()
        );
        assert_eq!(summary.values.len(), summary.counts.len());
        assert_eq!(summary.count, 10_000);
        assert_eq!(summary.counts.iter().sum::<u64>(), 10_000);
        let sum: f64 = values.iter().sum();
        assert!((summary.sum - sum).abs() < 1e-9 * sum);
        let weighted: f64 = summary
            .values
            .iter()
            .zip(&summary.counts)
            .map(|(v, c)| v * *c as f64)
            .sum();
        assert!((weighted - sum).abs() < 1e-6 * sum, "{weighted} vs {sum}");
        assert_eq!(summary.min, values[0]);
        assert_eq!(summary.max, *values.last().unwrap());
        for value in &summary.values {
            assert!((summary.min..=summary.max).contains(value));
        }
    }

    #[test]
    fn few_values_keep_their_own_bins_and_merging_adds_up() {
        let mut a = Distribution::default();
        for value in [0.0, 0.002, 0.002, 1.5, -3.0] {
            a.record(value);
        }
        let summary = a.summary().unwrap();
        assert_eq!(summary.count, 5);
        assert_eq!(summary.values.len(), 4);
        assert_eq!((summary.min, summary.max), (-3.0, 1.5));
        let mut b = Distribution::default();
        b.record(7.0);
        b.merge(&a);
        assert_eq!(b.summary().unwrap().count, 6);
        assert_eq!(b.summary().unwrap().max, 7.0);
        assert!(Distribution::default().summary().is_none());
    }
}

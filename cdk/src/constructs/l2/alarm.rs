//! CloudWatch alarms on one metric.

use std::collections::BTreeMap;

use crate::model::*;
use crate::scope::{Section, Stack};

/// A CloudWatch alarm `alarm-<name>` on one metric: in ALARM when the statistic is above
/// (or below) the threshold in `datapoints` of the last `periods` one-minute periods;
/// missing data is not breaching. Notifies the given topics on ALARM and OK.
///
/// ```
/// use slipway_cdk::constructs::l2::Alarm;
/// use slipway_cdk::model::Ref;
/// use slipway_cdk::scope::Stack;
///
/// let mut stack = Stack::new("jobs", "dev");
/// Alarm::new(&mut stack, "ingest-backlog", "ingest: more than 500 jobs waiting for 5 minutes")
///     .metric("Slipway/jobs-dev", "QueueDepth", &[("Queue", Ref::physical("work"))], "Maximum")
///     .above(500.0)
///     .for_periods(5, 5)
///     .build();
/// let alarm = stack.resource("alarm-ingest-backlog").unwrap().spec_json();
/// assert_eq!(alarm["comparison"], "GreaterThanThreshold");
/// assert_eq!(alarm["queries"][0]["metric"]["dimensions"]["Queue"], "work");
/// ```
pub struct Alarm<'a> {
    stack: &'a mut Stack,
    name: String,
    spec: AlarmSpec,
}

impl<'a> Alarm<'a> {
    /// Alarm `alarm-<name>` with `description` (what is wrong, for whoever is paged).
    pub fn new(stack: &'a mut Stack, name: &str, description: &str) -> Self {
        Alarm {
            stack,
            name: name.to_owned(),
            spec: AlarmSpec {
                description: description.to_owned(),
                queries: Vec::new(),
                comparison: "GreaterThanThreshold".into(),
                threshold: 0.0,
                evaluation_periods: 1,
                datapoints_to_alarm: 1,
                treat_missing_data: "notBreaching".into(),
                actions: Vec::new(),
            },
        }
    }
    /// The metric: namespace, name, dimensions (a value `Ref::to(id)` is that resource's
    /// CloudWatch name) and statistic (`Sum`, `Average`, `Maximum`, `p95`…), per minute.
    pub fn metric(
        mut self,
        namespace: &str,
        metric: &str,
        dimensions: &[(&str, Ref)],
        stat: &str,
    ) -> Self {
        self.spec.queries = vec![AlarmQuery {
            id: "m".into(),
            expression: None,
            metric: Some(MetricStatSpec {
                namespace: namespace.to_owned(),
                metric: metric.to_owned(),
                dimensions: dimensions
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect::<BTreeMap<_, _>>(),
                stat: stat.to_owned(),
                period: 60,
            }),
            return_data: true,
        }];
        self
    }
    /// In ALARM above `threshold`.
    pub fn above(mut self, threshold: f64) -> Self {
        self.spec.comparison = "GreaterThanThreshold".into();
        self.spec.threshold = threshold;
        self
    }
    /// In ALARM below `threshold`.
    pub fn below(mut self, threshold: f64) -> Self {
        self.spec.comparison = "LessThanThreshold".into();
        self.spec.threshold = threshold;
        self
    }
    /// `datapoints` breaching minutes out of the last `periods`.
    pub fn for_periods(mut self, datapoints: i32, periods: i32) -> Self {
        self.spec.datapoints_to_alarm = datapoints;
        self.spec.evaluation_periods = periods;
        self
    }
    /// Notifies this SNS topic (`Ref::to("alarm-topic")` or an ARN) on ALARM and OK.
    pub fn notify(mut self, topic: Ref) -> Self {
        self.spec.actions.push(topic);
        self
    }
    /// Adds the alarm; returns its logical id.
    pub fn build(self) -> String {
        let id = crate::model::ids::alarm(&self.name);
        self.stack
            .add(Section::Observability, &id, Spec::Alarm(self.spec));
        id
    }
}

//! CloudWatch metric alarms (metric math included), notifying SNS topics; also the
//! alarms firing now (`provision status`).

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, StateValue, Tag,
};

use super::cloudwatch_common::dimension_value;
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

fn alarm_spec(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> AlarmSpec {
    let queries = alarm
        .metrics()
        .iter()
        .map(|q| AlarmQuery {
            id: q.id().unwrap_or_default().to_owned(),
            expression: q.expression().map(str::to_owned),
            metric: q.metric_stat().map(|stat| {
                let metric = stat.metric();
                MetricStatSpec {
                    namespace: metric
                        .and_then(|m| m.namespace())
                        .unwrap_or_default()
                        .to_owned(),
                    metric: metric
                        .and_then(|m| m.metric_name())
                        .unwrap_or_default()
                        .to_owned(),
                    dimensions: metric
                        .map(|m| m.dimensions())
                        .unwrap_or_default()
                        .iter()
                        .map(|d| {
                            (
                                d.name().unwrap_or_default().to_owned(),
                                Ref::physical(d.value().unwrap_or_default()),
                            )
                        })
                        .collect::<BTreeMap<_, _>>(),
                    stat: stat.stat().unwrap_or_default().to_owned(),
                    period: stat.period().unwrap_or_default(),
                }
            }),
            // AWS's default when the field is left out is true.
            return_data: q.return_data().unwrap_or(true),
        })
        .collect();
    let evaluation_periods = alarm.evaluation_periods().unwrap_or_default();
    AlarmSpec {
        description: alarm.alarm_description().unwrap_or_default().to_owned(),
        queries,
        comparison: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        threshold: alarm.threshold().unwrap_or_default(),
        evaluation_periods,
        datapoints_to_alarm: alarm.datapoints_to_alarm().unwrap_or(evaluation_periods),
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_owned(),
        actions: alarm
            .alarm_actions()
            .iter()
            .map(|a| Ref::physical(a.clone()))
            .collect(),
    }
}

/// Every metric alarm whose name starts with the stack's prefix, with its tags' id.
async fn stack_alarms(
    aws: &Aws,
) -> Result<Vec<(String, aws_sdk_cloudwatch::types::MetricAlarm)>, AwsError> {
    let mut alarms = Vec::new();
    let mut pages = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(aws.prefix())
        .alarm_types(AlarmType::MetricAlarm)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("alarms", "DescribeAlarms", e))?;
        alarms.extend(page.metric_alarms().iter().cloned());
    }
    let mut found = Vec::new();
    for alarm in alarms {
        let Some(arn) = alarm.alarm_arn() else {
            continue;
        };
        let tags = aws
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| call_error(arn, "ListTagsForResource", e))?;
        let owner = aws.owned_id(
            tags.tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        );
        if let Some(id) = owner {
            found.push((id, alarm));
        }
    }
    Ok(found)
}

/// An alarm of the stack in ALARM state: (name, why).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Firing {
    pub name: String,
    pub reason: String,
}

/// The stack's alarms currently in ALARM.
pub async fn firing_alarms(aws: &Aws) -> Result<Vec<Firing>, AwsError> {
    let mut firing: Vec<Firing> = stack_alarms(aws)
        .await?
        .into_iter()
        .filter(|(_, alarm)| alarm.state_value() == Some(&StateValue::Alarm))
        .map(|(_, alarm)| Firing {
            name: alarm.alarm_name().unwrap_or_default().to_owned(),
            reason: alarm.state_reason().unwrap_or_default().to_owned(),
        })
        .collect();
    firing.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(firing)
}

fn metric_query(query: &AlarmQuery, resolved: &Resolved) -> Result<MetricDataQuery, AwsError> {
    let metric_stat = match &query.metric {
        None => None,
        Some(m) => {
            let mut metric = Metric::builder()
                .namespace(&m.namespace)
                .metric_name(&m.metric);
            for (name, value) in &m.dimensions {
                metric = metric.dimensions(
                    Dimension::builder()
                        .name(name)
                        .value(dimension_value(resolved, value)?)
                        .build(),
                );
            }
            Some(
                MetricStat::builder()
                    .metric(metric.build())
                    .period(m.period)
                    .stat(&m.stat)
                    .build(),
            )
        }
    };
    Ok(MetricDataQuery::builder()
        .id(&query.id)
        .set_expression(query.expression.clone())
        .set_metric_stat(metric_stat)
        .return_data(query.return_data)
        .build())
}

impl Provider for super::Alarm {
    type Spec = AlarmSpec;
    const PUT: bool = true;

    fn gone(code: &str) -> bool {
        matches!(code, "ResourceNotFound")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        Ok(stack_alarms(aws)
            .await?
            .into_iter()
            .map(|(id, alarm)| {
                observed(
                    &id,
                    Kind::Alarm,
                    alarm_spec(&alarm),
                    attrs([
                        ("arn", alarm.alarm_arn().map(str::to_owned)),
                        ("name", alarm.alarm_name().map(str::to_owned)),
                    ]),
                )
            })
            .collect())
    }

    /// PutMetricAlarm creates or replaces the whole alarm: create and update are one call.
    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let name = aws.name(id);
        crate::constructs::observability::check_alarm_queries(&spec.queries).map_err(
            |message| AwsError::Unexpected {
                resource: id.to_owned(),
                message: format!("PutMetricAlarm would be refused: {message}"),
            },
        )?;
        let actions = resolved.all(&spec.actions, "arn")?;
        let queries = spec
            .queries
            .iter()
            .map(|q| metric_query(q, resolved))
            .collect::<Result<Vec<_>, _>>()?;
        let tags = aws
            .tags(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        aws.cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .alarm_description(&spec.description)
            .set_metrics(Some(queries))
            .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
            .threshold(spec.threshold)
            .evaluation_periods(spec.evaluation_periods)
            .datapoints_to_alarm(spec.datapoints_to_alarm)
            .treat_missing_data(&spec.treat_missing_data)
            .actions_enabled(true)
            .set_alarm_actions(Some(actions.clone()))
            .set_ok_actions(Some(actions))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| call_error(id, "PutMetricAlarm", e))?;
        let out = aws
            .cloudwatch
            .describe_alarms()
            .alarm_names(&name)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeAlarms", e))?;
        let arn = out
            .metric_alarms()
            .first()
            .and_then(|a| a.alarm_arn())
            .map(str::to_owned);
        Ok(attrs([("arn", arn), ("name", Some(name))]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.cloudwatch
                .delete_alarms()
                .alarm_names(require(current, id, "name")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteAlarms", e)),
            Self::gone,
        )
    }
}

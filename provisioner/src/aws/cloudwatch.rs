//! CloudWatch: the stack's dashboard, its metric alarms, and the metric filters on the
//! services' log groups. Dashboards and metric filters cannot be tagged: the dashboard is
//! owned by its exact name `<stack>-<env>`, metric filters by the `<stack>-<env>-filter-`
//! name prefix. Alarms carry the ownership tags.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, DashboardEntry, Dimension, Metric, MetricDataQuery, MetricStat,
    StateValue, Tag,
};
use aws_sdk_cloudwatchlogs::types::MetricTransformation;
use serde_json::Value;

use super::{attrs, call_error, deleted, observed, require, Aws, AwsError, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let (dashboards, alarms, filters) = tokio::try_join!(
        observe_dashboard(aws),
        observe_alarms(aws),
        observe_metric_filters(aws)
    )?;
    Ok([dashboards, alarms, filters]
        .into_iter()
        .flatten()
        .collect())
}

/// The dashboard's AWS name: the stack and environment, nothing else.
pub fn dashboard_name(aws: &Aws) -> String {
    stack_dashboard_name(&aws.stack, &aws.env)
}

/// `<stack>-<env>`: the dashboard name of a stack and environment.
pub fn stack_dashboard_name(stack: &str, env: &str) -> String {
    crate::names::dashboard_name(stack, env)
}

/// Where the dashboard is in the console.
pub fn dashboard_url(aws: &Aws) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{}",
        dashboard_name(aws),
        region = aws.region
    )
}

/// The value CloudWatch knows a resource by in metric dimensions: a load balancer's or
/// target group's label (`app/<name>/<id>`, `targetgroup/<name>/<id>`), else its name.
fn dimension_value(resolved: &Resolved, reference: &Ref) -> Result<String, AwsError> {
    resolved
        .get(reference, "label")
        .or_else(|_| resolved.get(reference, "name"))
}

/// The dashboard body as written: references resolved, the region in every metric widget.
fn resolved_body(aws: &Aws, body: &Value, resolved: &Resolved) -> Result<Value, AwsError> {
    fn walk(value: &Value, resolved: &Resolved) -> Result<Value, AwsError> {
        Ok(match value {
            Value::String(s) if parse_ref(s).is_some() => {
                Value::String(dimension_value(resolved, &Ref(s.clone()))?)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| walk(v, resolved))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), walk(v, resolved)?)))
                    .collect::<Result<_, AwsError>>()?,
            ),
            other => other.clone(),
        })
    }
    let mut body = walk(body, resolved)?;
    for widget in body["widgets"].as_array_mut().into_iter().flatten() {
        if let Some(properties) = widget["properties"].as_object_mut() {
            properties.insert("region".into(), Value::String(aws.region.clone()));
        }
    }
    Ok(body)
}

/// The body as read back, in the desired form: without the region added on write.
fn normalized_body(text: &str) -> Value {
    let mut body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    for widget in body["widgets"].as_array_mut().into_iter().flatten() {
        if let Some(properties) = widget["properties"].as_object_mut() {
            properties.remove("region");
        }
    }
    body
}

/// The dashboard named exactly `name`, from every page of those sharing its prefix.
async fn dashboard_entry(
    aws: &Aws,
    resource: &str,
    name: &str,
) -> Result<Option<DashboardEntry>, AwsError> {
    let entries = aws
        .cloudwatch
        .list_dashboards()
        .dashboard_name_prefix(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error(resource, "ListDashboards", e))?;
    Ok(entries
        .into_iter()
        .find(|e| e.dashboard_name() == Some(name)))
}

async fn observe_dashboard(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let name = dashboard_name(aws);
    let Some(entry) = dashboard_entry(aws, "dashboard", &name).await? else {
        return Ok(Vec::new());
    };
    let body = aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(&name)
        .send()
        .await
        .map_err(|e| call_error("dashboard", "GetDashboard", e))?;
    Ok(vec![observed(
        crate::constructs::observability::DASHBOARD_ID,
        Kind::Dashboard,
        DashboardSpec {
            body: normalized_body(body.dashboard_body().unwrap_or("{}")),
        },
        attrs([
            ("arn", entry.dashboard_arn().map(str::to_owned)),
            ("_name", Some(name)),
        ]),
    )])
}

pub async fn put_dashboard(
    aws: &Aws,
    id: &str,
    spec: &DashboardSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let name = dashboard_name(aws);
    let body = resolved_body(aws, &spec.body, resolved)?;
    aws.cloudwatch
        .put_dashboard()
        .dashboard_name(&name)
        .dashboard_body(body.to_string())
        .send()
        .await
        .map_err(|e| call_error(id, "PutDashboard", e))?;
    let arn = dashboard_entry(aws, id, &name)
        .await?
        .and_then(|e| e.dashboard_arn().map(str::to_owned));
    Ok(attrs([("arn", arn), ("_name", Some(name))]))
}

pub async fn delete_dashboard(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    let name = current
        .get("_name")
        .cloned()
        .unwrap_or_else(|| dashboard_name(aws));
    deleted(
        aws.cloudwatch
            .delete_dashboards()
            .dashboard_names(name)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteDashboards", e)),
        &["ResourceNotFound", "DashboardNotFoundError"],
    )
}

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

async fn observe_alarms(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

/// PutMetricAlarm creates or replaces the whole alarm: create and update are one call.
pub async fn put_alarm(
    aws: &Aws,
    id: &str,
    spec: &AlarmSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let name = aws.name(id);
    crate::constructs::observability::check_alarm_queries(&spec.queries).map_err(|message| {
        AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!("PutMetricAlarm would be refused: {message}"),
        }
    })?;
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

pub async fn delete_alarm(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.cloudwatch
            .delete_alarms()
            .alarm_names(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteAlarms", e)),
        &["ResourceNotFound"],
    )
}

/// Logical ids of metric filters start with this (the rest of the name space under the
/// stack's prefix is not ours to claim).
const FILTER_ID_PREFIX: &str = "filter-";

async fn observe_metric_filters(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let prefix = aws.prefix();
    // AWS applies a name prefix only together with a log group: list them all.
    let filters = aws
        .logs
        .describe_metric_filters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("metric filters", "DescribeMetricFilters", e))?;
    let mut found = Vec::new();
    for filter in &filters {
        let Some(name) = filter.filter_name() else {
            continue;
        };
        let Some(id) = name
            .strip_prefix(&prefix)
            .filter(|id| id.starts_with(FILTER_ID_PREFIX))
        else {
            continue;
        };
        let transformation = filter.metric_transformations().first();
        let log_group = filter.log_group_name().unwrap_or_default().to_owned();
        found.push(observed(
            id,
            Kind::MetricFilter,
            MetricFilterSpec {
                log_group: Ref::physical(log_group.clone()),
                pattern: filter.filter_pattern().unwrap_or_default().to_owned(),
                namespace: transformation
                    .map(|t| t.metric_namespace().to_owned())
                    .unwrap_or_default(),
                metric: transformation
                    .map(|t| t.metric_name().to_owned())
                    .unwrap_or_default(),
                value: transformation
                    .map(|t| t.metric_value().to_owned())
                    .unwrap_or_default(),
            },
            // `_`: the log group's name identifies the log group, not the filter.
            attrs([
                ("name", Some(name.to_owned())),
                ("_log_group", Some(log_group)),
            ]),
        ));
    }
    Ok(found)
}

/// PutMetricFilter creates or replaces a filter by name: create and update are one call.
pub async fn put_metric_filter(
    aws: &Aws,
    id: &str,
    spec: &MetricFilterSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let name = aws.name(id);
    let log_group = resolved.get(&spec.log_group, "name")?;
    let transformation = MetricTransformation::builder()
        .metric_namespace(&spec.namespace)
        .metric_name(&spec.metric)
        .metric_value(&spec.value)
        .build()
        .map_err(|e| AwsError::Unexpected {
            resource: id.to_owned(),
            message: e.to_string(),
        })?;
    aws.logs
        .put_metric_filter()
        .log_group_name(&log_group)
        .filter_name(&name)
        .filter_pattern(&spec.pattern)
        .metric_transformations(transformation)
        .send()
        .await
        .map_err(|e| call_error(id, "PutMetricFilter", e))?;
    Ok(attrs([
        ("name", Some(name)),
        ("_log_group", Some(log_group)),
    ]))
}

pub async fn delete_metric_filter(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.logs
            .delete_metric_filter()
            .log_group_name(require(current, id, "_log_group")?)
            .filter_name(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteMetricFilter", e)),
        &["ResourceNotFoundException"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_back_bodies_drop_the_region_added_on_write() {
        let text = r#"{"widgets":[{"type":"metric","properties":{"region":"eu-west-1","metrics":[["AWS/ECS","CPUUtilization"]]}}]}"#;
        assert_eq!(
            normalized_body(text),
            serde_json::json!({"widgets":[{"type":"metric","properties":{"metrics":[["AWS/ECS","CPUUtilization"]]}}]})
        );
    }

    #[test]
    fn dimensions_use_the_load_balancer_label_else_the_name() {
        let mut resolved = Resolved::default();
        resolved.insert(
            "alb",
            [
                ("name".to_string(), "voting-dev-alb".to_string()),
                ("label".to_string(), "app/voting-dev-alb/0123".to_string()),
            ]
            .into(),
        );
        resolved.insert(
            "cluster",
            [("name".to_string(), "voting-dev-cluster".to_string())].into(),
        );
        assert_eq!(
            dimension_value(&resolved, &Ref::to("alb")).unwrap(),
            "app/voting-dev-alb/0123"
        );
        assert_eq!(
            dimension_value(&resolved, &Ref::to("cluster")).unwrap(),
            "voting-dev-cluster"
        );
        assert_eq!(
            dimension_value(&resolved, &Ref::physical("literal-001")).unwrap(),
            "literal-001"
        );
    }
}

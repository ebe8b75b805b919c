//! CloudWatch Logs metric filters (untaggable: owned by their `<stack>-<env>-` name).

use aws_sdk_cloudwatchlogs::types::MetricTransformation;

use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

/// Logical ids of metric filters start with this (the rest of the name space under the
/// stack's prefix is not ours to claim).
const FILTER_ID_PREFIX: &str = "filter-";

impl Provider for super::MetricFilter {
    type Spec = MetricFilterSpec;
    const PUT: bool = true;

    fn gone(code: &str) -> bool {
        matches!(code, "ResourceNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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
    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.logs
                .delete_metric_filter()
                .log_group_name(require(current, id, "_log_group")?)
                .filter_name(require(current, id, "name")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteMetricFilter", e)),
            Self::gone,
        )
    }
}

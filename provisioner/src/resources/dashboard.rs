//! The stack's CloudWatch dashboard, named `<stack>-<env>` (dashboards cannot be
//! tagged).

use aws_sdk_cloudwatch::types::DashboardEntry;
use serde_json::Value;

use super::cloudwatch_common::dimension_value;
use super::{deleted, Provider, Scan};
use crate::aws::{attrs, call_error, observed, Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};

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

impl Provider for super::Dashboard {
    type Spec = DashboardSpec;
    const PUT: bool = true;

    fn gone(code: &str) -> bool {
        matches!(code, "ResourceNotFound" | "DashboardNotFoundError")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
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
            Self::gone,
        )
    }
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
}

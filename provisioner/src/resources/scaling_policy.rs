//! Target-tracking scaling policies (CPU, memory, ALB requests per target), and how
//! `deploy` re-points the request-count policy after a blue/green swap.

use std::collections::HashMap;

use aws_sdk_applicationautoscaling::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use super::autoscaling_common::DIMENSION;
use super::{deleted, Provider, Scan};
use crate::aws::{attrs, call_error, require, Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::settings::autoscaling::{SCALE_IN_COOLDOWN_SECONDS, SCALE_OUT_COOLDOWN_SECONDS};

/// DescribeScalingPolicies returns at most 10 policies a page, its default and maximum
/// (Application Auto Scaling API reference, `MaxResults`: "between 1 and 10. The default
/// value is 10"): a stack's services alone can have more. Asked for explicitly so moto,
/// whose default is 100, pages like AWS.
const POLICIES_PAGE_SIZE: i32 = 10;

/// The ALB resource label (`app/…/targetgroup/…`) a request-count policy should measure:
/// the group that serves production. After a blue/green deployment that is the alternate
/// group (`deploy` re-points the policy, see [`repoint_requests_policy`]); an `up` that
/// rewrites the policy keeps measuring that group instead of the idle one.
fn requests_label(
    id: &str,
    load_balancer: &Ref,
    target_group: &Ref,
    resolved: &Resolved,
) -> Result<String, AwsError> {
    let desired = format!(
        "{}/{}",
        resolved.get(load_balancer, "label")?,
        resolved.get(target_group, "label")?
    );
    let live = resolved.attrs(id).and_then(|a| a.get("_resource_label"));
    let alternate = target_group
        .logical_id()
        .map(|tg| Ref::to(&alternate_target_group_id(tg)))
        .and_then(|alt| resolved.get(&alt, "label").ok());
    Ok(match (live, alternate) {
        (Some(live), Some(alternate)) if live.ends_with(&format!("/{alternate}")) => live.clone(),
        _ => desired,
    })
}

/// PutScalingPolicy for a target-tracking policy (shared by `up` and `deploy`).
fn policy_request(
    aws: &Aws,
    name: &str,
    resource_id: &str,
    target_value: f64,
    metric: PredefinedMetricSpecification,
    id: &str,
) -> Result<PutScalingPolicyFluentBuilder, AwsError> {
    Ok(aws
        .autoscaling
        .put_scaling_policy()
        .policy_name(name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(DIMENSION)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(
            TargetTrackingScalingPolicyConfiguration::builder()
                .target_value(target_value)
                .predefined_metric_specification(metric)
                .scale_in_cooldown(SCALE_IN_COOLDOWN_SECONDS)
                .scale_out_cooldown(SCALE_OUT_COOLDOWN_SECONDS)
                .build()
                .map_err(|e| AwsError::Unexpected {
                    resource: id.to_owned(),
                    message: e.to_string(),
                })?,
        ))
}

/// After a blue/green deployment moved production to the other target group: points the
/// request-count policy `id` (as observed: `_name`, `_resource_id`, `_resource_label`) at
/// `resource_label` (`app/…/targetgroup/…`), keeping its target value. Returns whether
/// anything changed (false when it already measures that group).
pub async fn repoint_requests_policy(
    aws: &Aws,
    id: &str,
    current: &Attrs,
    resource_label: &str,
) -> Result<bool, AwsError> {
    if current.get("_resource_label").map(String::as_str) == Some(resource_label) {
        return Ok(false);
    }
    let name = require(current, id, "_name")?;
    let resource_id = require(current, id, "_resource_id")?;
    // Every page: the answer is paginated whatever the filters (and moto, ignoring
    // PolicyNames, returns every policy of the service).
    let policies = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .policy_names(&name)
        .resource_id(&resource_id)
        .into_paginator()
        .page_size(POLICIES_PAGE_SIZE)
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error(id, "DescribeScalingPolicies", e))?;
    // Matched by name again: moto ignores the PolicyNames filter.
    let target_value = policies
        .iter()
        .find(|p| p.policy_name() == name)
        .and_then(|p| p.target_tracking_scaling_policy_configuration())
        .map(|c| c.target_value())
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: "the scaling policy is gone; run `provision up` to recreate it".into(),
        })?;
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::AlbRequestCountPerTarget)
        .resource_label(resource_label)
        .build()
        .map_err(|e| AwsError::Unexpected {
            resource: id.to_owned(),
            message: e.to_string(),
        })?;
    policy_request(aws, &name, &resource_id, target_value, metric, id)?
        .send()
        .await
        .map_err(|e| call_error(id, "PutScalingPolicy", e))?;
    Ok(true)
}

impl Provider for super::ScalingPolicy {
    type Spec = ScalingPolicySpec;
    const PUT: bool = true;

    fn gone(code: &str) -> bool {
        matches!(code, "ObjectNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let by_resource: HashMap<&str, &str> = scan
            .scalable_targets()
            .await?
            .iter()
            .map(|(id, target)| (target.resource_id(), id.as_str()))
            .collect();
        if by_resource.is_empty() {
            return Ok(Vec::new());
        }
        let aws = scan.aws;
        let policies = aws
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .into_paginator()
            .page_size(POLICIES_PAGE_SIZE)
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("scaling", "DescribeScalingPolicies", e))?;
        let mut found = Vec::new();
        for policy in &policies {
            let Some(target) = by_resource.get(policy.resource_id()) else {
                continue;
            };
            let Some(id) = policy.policy_name().strip_prefix(&aws.prefix()) else {
                continue;
            };
            let Some(config) = policy.target_tracking_scaling_policy_configuration() else {
                continue;
            };
            let metric = config.predefined_metric_specification();
            let live_label = metric.and_then(|m| m.resource_label()).map(str::to_owned);
            let metric = match metric.map(|m| m.predefined_metric_type()) {
                Some(MetricType::EcsServiceAverageCpuUtilization) => ScalingMetric::Cpu,
                Some(MetricType::EcsServiceAverageMemoryUtilization) => ScalingMetric::Memory,
                _ => {
                    let label = metric.and_then(|m| m.resource_label()).unwrap_or_default();
                    let (alb, tg) = label
                        .split_once("/targetgroup/")
                        .map(|(a, t)| (a.to_owned(), format!("targetgroup/{t}")))
                        .unwrap_or_default();
                    ScalingMetric::AlbRequestsPerTarget {
                        load_balancer: Ref::physical(alb),
                        target_group: Ref::physical(tg),
                    }
                }
            };
            found.push(Observed {
                id: id.to_owned(),
                kind: Kind::ScalingPolicy,
                spec: serde_json::to_value(ScalingPolicySpec {
                    target: Ref::to(target),
                    metric,
                    target_value: config.target_value(),
                })
                .expect("specs serialize"),
                attrs: attrs([
                    ("arn", Some(policy.policy_arn().to_owned())),
                    ("_name", Some(policy.policy_name().to_owned())),
                    ("_resource_id", Some(policy.resource_id().to_owned())),
                    ("_resource_label", live_label),
                ]),
            });
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let resource_id = resolved.get(&spec.target, "_resource_id")?;
        let metric = match &spec.metric {
            ScalingMetric::Cpu => PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization),
            ScalingMetric::Memory => PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageMemoryUtilization),
            ScalingMetric::AlbRequestsPerTarget {
                load_balancer,
                target_group,
            } => PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::AlbRequestCountPerTarget)
                .resource_label(requests_label(id, load_balancer, target_group, resolved)?),
        }
        .build()
        .map_err(|e| AwsError::Unexpected {
            resource: id.to_owned(),
            message: e.to_string(),
        })?;
        let name = aws.name(id);
        let out = policy_request(aws, &name, &resource_id, spec.target_value, metric, id)?
            .send()
            .await
            .map_err(|e| call_error(id, "PutScalingPolicy", e))?;
        Ok(attrs([
            ("arn", Some(out.policy_arn().to_owned())),
            ("_name", Some(name)),
            ("_resource_id", Some(resource_id)),
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
            aws.autoscaling
                .delete_scaling_policy()
                .policy_name(require(current, id, "_name")?)
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(require(current, id, "_resource_id")?)
                .scalable_dimension(DIMENSION)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteScalingPolicy", e)),
            Self::gone,
        )
    }
}

/// DescribeScalingPolicies answered in two pages (what AWS does past 10 policies), with
/// aws-smithy-mocks: moto pages only when asked for a page size, so it cannot show that a
/// request without one would have missed the second page.
#[cfg(test)]
mod tests {
    use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
    use aws_sdk_applicationautoscaling::operation::describe_scaling_policies::{
        DescribeScalingPoliciesInput, DescribeScalingPoliciesOutput,
    };
    use aws_sdk_applicationautoscaling::operation::put_scaling_policy::{
        PutScalingPolicyInput, PutScalingPolicyOutput,
    };
    use aws_sdk_applicationautoscaling::types::{ScalableTarget, ScalingPolicy};
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_types::DateTime;

    use super::*;
    use crate::aws::mocked;
    use crate::resources::observe_kinds;

    /// The scaling kinds' observation, targets and policies.
    async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
        observe_kinds(aws, &[Kind::ScalableTarget, Kind::ScalingPolicy]).await
    }

    const RESOURCE: &str = "service/voting-dev-cluster/voting-dev-service-vote";
    const OURS: &str = "voting-dev-scaling-vote-requests";
    const SERVING: &str = "app/voting-dev-alb/1/targetgroup/voting-dev-tg-vote/2";
    const NOW_SERVING: &str = "app/voting-dev-alb/1/targetgroup/voting-dev-tg-vote-alt/3";

    fn policy(name: &str, metric: MetricType, label: Option<&str>) -> ScalingPolicy {
        let specification = PredefinedMetricSpecification::builder()
            .predefined_metric_type(metric)
            .set_resource_label(label.map(str::to_owned))
            .build()
            .unwrap();
        ScalingPolicy::builder()
            .policy_arn(format!("arn:aws:autoscaling:us-east-1:1:scalingPolicy:1:resource/ecs/{RESOURCE}:policyName/{name}"))
            .policy_name(name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(RESOURCE)
            .scalable_dimension(DIMENSION)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(500.0)
                    .predefined_metric_specification(specification)
                    .build()
                    .unwrap(),
            )
            .creation_time(DateTime::from_secs(0))
            .build()
            .unwrap()
    }

    /// Page 1: ten other policies of the service (AWS's page size) and a NextToken; page
    /// 2: the request-count policy. Each answers only the request AWS would answer so.
    fn two_pages() -> (Rule, Rule) {
        let first = mock!(aws_sdk_applicationautoscaling::Client::describe_scaling_policies)
            .match_requests(|input: &DescribeScalingPoliciesInput| {
                input.next_token().is_none() && input.max_results() == Some(10)
            })
            .then_output(|| {
                DescribeScalingPoliciesOutput::builder()
                    .set_scaling_policies(Some(
                        (0..10)
                            .map(|i| {
                                policy(
                                    &format!("other-{i}"),
                                    MetricType::EcsServiceAverageCpuUtilization,
                                    None,
                                )
                            })
                            .collect(),
                    ))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_applicationautoscaling::Client::describe_scaling_policies)
            .match_requests(|input: &DescribeScalingPoliciesInput| {
                input.next_token() == Some("page-2")
            })
            .then_output(|| {
                DescribeScalingPoliciesOutput::builder()
                    .scaling_policies(policy(
                        OURS,
                        MetricType::AlbRequestCountPerTarget,
                        Some(SERVING),
                    ))
                    .build()
            });
        (first, second)
    }

    fn autoscaling(rules: &[&Rule]) -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::from_conf(
            aws_sdk_applicationautoscaling::config::Builder::from(&mocked::sdk_config())
                .interceptor(mocked::interceptor(rules))
                .build(),
        )
    }

    #[tokio::test]
    async fn observe_finds_a_scaling_policy_on_the_second_page() {
        let targets = mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
            .then_output(|| {
                DescribeScalableTargetsOutput::builder()
                    .scalable_targets(
                        ScalableTarget::builder()
                            .service_namespace(ServiceNamespace::Ecs)
                            .resource_id(RESOURCE)
                            .scalable_dimension(DIMENSION)
                            .min_capacity(1)
                            .max_capacity(4)
                            .role_arn("arn:aws:iam::1:role/ecs-autoscaling")
                            .creation_time(DateTime::from_secs(0))
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let (first, second) = two_pages();
        let mut aws = mocked::aws();
        aws.autoscaling = autoscaling(&[&targets, &first, &second]);
        let found = observe(&aws).await.unwrap();
        let policy = found
            .iter()
            .find(|o| o.id == "scaling-vote-requests")
            .expect("the policy on page 2 is observed");
        assert_eq!(policy.attrs["_resource_label"], SERVING);
        assert_eq!(second.num_calls(), 1);
        // The other service's policies are not ours (names outside the stack prefix).
        assert_eq!(
            found.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["scaling-vote", "scaling-vote-requests"]
        );
    }

    #[tokio::test]
    async fn deploy_repoints_a_request_count_policy_found_on_the_second_page() {
        let (first, second) = two_pages();
        let put = mock!(aws_sdk_applicationautoscaling::Client::put_scaling_policy)
            .match_requests(|input: &PutScalingPolicyInput| {
                let config = input.target_tracking_scaling_policy_configuration();
                input.policy_name() == Some(OURS)
                    && config.map(|c| c.target_value()) == Some(500.0)
                    && config
                        .and_then(|c| c.predefined_metric_specification())
                        .and_then(|m| m.resource_label())
                        == Some(NOW_SERVING)
            })
            .then_output(|| {
                PutScalingPolicyOutput::builder()
                    .policy_arn("arn:aws:autoscaling:us-east-1:1:scalingPolicy:1")
                    .build()
                    .unwrap()
            });
        let mut aws = mocked::aws();
        aws.autoscaling = autoscaling(&[&first, &second, &put]);
        let current: Attrs = [
            ("_name", OURS),
            ("_resource_id", RESOURCE),
            ("_resource_label", SERVING),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let changed = repoint_requests_policy(&aws, "scaling-vote-requests", &current, NOW_SERVING)
            .await
            .unwrap();
        assert!(changed);
        assert_eq!(
            (first.num_calls(), second.num_calls(), put.num_calls()),
            (1, 1, 1),
            "both pages read, then the policy re-pointed with its target value"
        );
    }
}

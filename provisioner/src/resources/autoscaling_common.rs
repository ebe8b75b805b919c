//! Helpers shared by the Application Auto Scaling kinds (scalable target, scaling
//! policy): the ECS dimension, target ids, and the listing of the stack's targets.

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ScalableTarget, ServiceNamespace};

use super::Scan;
use crate::aws::{call_error, Aws, AwsError};

pub(crate) const DIMENSION: ScalableDimension = ScalableDimension::EcsServiceDesiredCount;

/// Scalable targets carry no name of their own: the logical id follows from the
/// service's (`<prefix>service-vote` → `scaling-vote`).
pub(crate) fn target_id(aws: &Aws, resource_id: &str) -> Option<String> {
    let service = resource_id.rsplit('/').next()?;
    let name = service
        .strip_prefix(&aws.prefix())?
        .strip_prefix("service-")?;
    Some(format!("scaling-{name}"))
}

/// The scalable targets of the stack's services: `(logical id, target)`.
pub(crate) type Targets = Vec<(String, ScalableTarget)>;

impl Scan<'_> {
    /// The scalable targets of the stack's services `(logical id, target)`, read once per
    /// observation: the scaling policies are read for them.
    pub(crate) async fn scalable_targets(&self) -> Result<&[(String, ScalableTarget)], AwsError> {
        self.scalable_targets
            .get_or_try_init(|| list_targets(self.aws))
            .await
            .map(Vec::as_slice)
    }
}

async fn list_targets(aws: &Aws) -> Result<Targets, AwsError> {
    let cluster = format!("service/{}/", aws.name("cluster"));
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("scaling", "DescribeScalableTargets", e))?;
    Ok(targets
        .into_iter()
        .filter(|target| target.resource_id().starts_with(&cluster))
        .filter_map(|target| Some((target_id(aws, target.resource_id())?, target)))
        .collect())
}

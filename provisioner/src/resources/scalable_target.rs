//! Application Auto Scaling targets: an ECS service's desired count between min and max.

use aws_sdk_applicationautoscaling::types::ServiceNamespace;

use super::autoscaling_common::DIMENSION;
use super::{deleted, Provider, Scan};
use crate::aws::{attrs, call_error, require, Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};

impl Provider for super::ScalableTarget {
    type Spec = ScalableTargetSpec;
    const PUT: bool = true;

    fn gone(code: &str) -> bool {
        matches!(code, "ObjectNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        Ok(scan
            .scalable_targets()
            .await?
            .iter()
            .map(|(id, target)| Observed {
                id: id.clone(),
                kind: Kind::ScalableTarget,
                spec: serde_json::to_value(ScalableTargetSpec {
                    service: Ref::physical(target.resource_id()),
                    min: target.min_capacity(),
                    max: target.max_capacity(),
                })
                .expect("specs serialize"),
                attrs: attrs([
                    ("arn", target.scalable_target_arn().map(str::to_owned)),
                    ("_resource_id", Some(target.resource_id().to_owned())),
                ]),
            })
            .collect())
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let resource_id = resolved.get(&spec.service, "resource_id")?;
        let out = aws
            .autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&resource_id)
            .scalable_dimension(DIMENSION)
            .min_capacity(spec.min)
            .max_capacity(spec.max)
            .set_tags(Some(aws.tags(id).into_iter().collect()))
            .send()
            .await
            .map_err(|e| call_error(id, "RegisterScalableTarget", e))?;
        Ok(attrs([
            ("arn", out.scalable_target_arn().map(str::to_owned)),
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
                .deregister_scalable_target()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(require(current, id, "_resource_id")?)
                .scalable_dimension(DIMENSION)
                .send()
                .await
                .map_err(|e| call_error(id, "DeregisterScalableTarget", e)),
            Self::gone,
        )
    }
}

//! Target groups: where the ALB sends a service's traffic, with its health check and
//! stickiness.

use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetGroupAttribute, TargetTypeEnum};

use super::elb_common::{label, tags};
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::elb::{TargetHealthCheck, TARGET_HEALTH};

fn stickiness(sticky: bool) -> Vec<TargetGroupAttribute> {
    let mut attributes = vec![TargetGroupAttribute::builder()
        .key("stickiness.enabled")
        .value(sticky.to_string())
        .build()];
    if sticky {
        attributes.push(
            TargetGroupAttribute::builder()
                .key("stickiness.type")
                .value("lb_cookie")
                .build(),
        );
    }
    attributes
}

impl Provider for super::TargetGroup {
    type Spec = TargetGroupSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "TargetGroupNotFound")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut found = Vec::new();
        for (id, tg) in &scan.elb().await?.target_groups {
            let arn = tg.target_group_arn().unwrap_or_default();
            let attributes = aws
                .elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DescribeTargetGroupAttributes", e))?;
            let sticky = attributes
                .attributes()
                .iter()
                .any(|a| a.key() == Some("stickiness.enabled") && a.value() == Some("true"));
            found.push(observed(
                id,
                Kind::TargetGroup,
                TargetGroupSpec {
                    vpc: Ref::physical(tg.vpc_id().unwrap_or_default()),
                    port: tg.port().unwrap_or_default() as u16,
                    health_path: tg.health_check_path().unwrap_or_default().to_owned(),
                    sticky,
                },
                attrs([
                    ("arn", Some(arn.to_owned())),
                    ("name", tg.target_group_name().map(str::to_owned)),
                    ("label", label(arn, ":targetgroup/")),
                ]),
            ));
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
        let out = aws
            .elb
            .create_target_group()
            .name(aws.name(id))
            .protocol(ProtocolEnum::Http)
            .port(i32::from(spec.port))
            .vpc_id(resolved.get(&spec.vpc, "id")?)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path(&spec.health_path)
            .health_check_interval_seconds(TARGET_HEALTH.interval_seconds)
            .health_check_timeout_seconds(TARGET_HEALTH.timeout_seconds)
            .healthy_threshold_count(TARGET_HEALTH.healthy_threshold)
            .unhealthy_threshold_count(TARGET_HEALTH.unhealthy_threshold)
            .set_tags(Some(tags(aws, id)))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateTargetGroup", e))?;
        let tg = out
            .target_groups()
            .first()
            .ok_or_else(|| AwsError::Unexpected {
                resource: id.to_owned(),
                message: "CreateTargetGroup returned no target group".into(),
            })?;
        let arn = tg.target_group_arn().unwrap_or_default().to_owned();
        aws.elb
            .modify_target_group_attributes()
            .target_group_arn(&arn)
            .set_attributes(Some(stickiness(spec.sticky)))
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyTargetGroupAttributes", e))?;
        Ok(attrs([
            ("label", label(&arn, ":targetgroup/")),
            ("arn", Some(arn)),
            ("name", tg.target_group_name().map(str::to_owned)),
        ]))
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let arn = require(current, id, "arn")?;
        aws.elb
            .modify_target_group()
            .target_group_arn(&arn)
            .health_check_path(&spec.health_path)
            .health_check_interval_seconds(TARGET_HEALTH.interval_seconds)
            .health_check_timeout_seconds(TARGET_HEALTH.timeout_seconds)
            .healthy_threshold_count(TARGET_HEALTH.healthy_threshold)
            .unhealthy_threshold_count(TARGET_HEALTH.unhealthy_threshold)
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyTargetGroup", e))?;
        aws.elb
            .modify_target_group_attributes()
            .target_group_arn(&arn)
            .set_attributes(Some(stickiness(spec.sticky)))
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyTargetGroupAttributes", e))?;
        Ok(current.clone())
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.elb
                .delete_target_group()
                .target_group_arn(require(current, id, "arn")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteTargetGroup", e)),
            Self::gone,
        )
    }
}

//! The stack's application load balancer (ALB).

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};

use super::elb_common::{label, tags};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, wait_until, Aws, AwsError, DeleteOptions, Progress,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::settings::elb::DROP_INVALID_HEADERS;

fn lb_label(arn: &str) -> Option<String> {
    label(arn, ":loadbalancer/").map(|l| l.replacen("loadbalancer/", "", 1))
}

async fn set_load_balancer_attributes(
    aws: &Aws,
    id: &str,
    arn: &str,
    spec: &LoadBalancerSpec,
) -> Result<(), AwsError> {
    aws.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key(DROP_INVALID_HEADERS)
                .value(spec.drop_invalid_headers.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyLoadBalancerAttributes", e))?;
    Ok(())
}

/// The attribute holding the ALB's canonical hosted zone id (what a Route 53 alias to it
/// names). `_`-prefixed: bookkeeping, not an identifier to normalize specs by.
pub(crate) const CANONICAL_ZONE: &str = "_canonical_zone";

impl Provider for super::LoadBalancer {
    type Spec = LoadBalancerSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "LoadBalancerNotFound")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut found = Vec::new();
        for (id, lb) in &scan.elb().await?.load_balancers {
            let arn = lb.load_balancer_arn().unwrap_or_default();
            let scheme = lb
                .scheme()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let attributes = aws
                .elb
                .describe_load_balancer_attributes()
                .load_balancer_arn(arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DescribeLoadBalancerAttributes", e))?;
            let drop_invalid_headers = attributes
                .attributes()
                .iter()
                .any(|a| a.key() == Some(DROP_INVALID_HEADERS) && a.value() == Some("true"));
            found.push(observed(
                id,
                Kind::LoadBalancer,
                LoadBalancerSpec {
                    scheme,
                    subnets: lb
                        .availability_zones()
                        .iter()
                        .filter_map(|az| az.subnet_id())
                        .map(Ref::physical)
                        .collect(),
                    security_groups: lb.security_groups().iter().map(Ref::physical).collect(),
                    drop_invalid_headers,
                },
                attrs([
                    ("arn", Some(arn.to_owned())),
                    ("name", lb.load_balancer_name().map(str::to_owned)),
                    ("dns", lb.dns_name().map(str::to_owned)),
                    ("label", lb_label(arn)),
                    (
                        CANONICAL_ZONE,
                        lb.canonical_hosted_zone_id().map(str::to_owned),
                    ),
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
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = aws
            .elb
            .create_load_balancer()
            .name(aws.name(id))
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(spec.scheme.as_str()))
            .set_subnets(Some(resolved.all(&spec.subnets, "id")?))
            .set_security_groups(Some(resolved.all(&spec.security_groups, "id")?))
            .set_tags(Some(tags(aws, id)))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateLoadBalancer", e))?;
        let lb = out
            .load_balancers()
            .first()
            .ok_or_else(|| AwsError::Unexpected {
                resource: id.to_owned(),
                message: "CreateLoadBalancer returned no load balancer".into(),
            })?;
        let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
        wait_until(aws, id, "load balancer active", progress, || async {
            let out = aws
                .elb
                .describe_load_balancers()
                .load_balancer_arns(&arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DescribeLoadBalancers", e))?;
            let state = out
                .load_balancers()
                .first()
                .and_then(|lb| lb.state())
                .and_then(|s| s.code().cloned());
            Ok(match state {
                Some(LoadBalancerStateEnum::Active) => Ok(()),
                other => Err(other.map_or("unknown".into(), |s| s.as_str().to_owned())),
            })
        })
        .await?;
        set_load_balancer_attributes(aws, id, &arn, spec).await?;
        Ok(attrs([
            ("label", lb_label(&arn)),
            ("arn", Some(arn)),
            ("name", lb.load_balancer_name().map(str::to_owned)),
            ("dns", lb.dns_name().map(str::to_owned)),
            (
                CANONICAL_ZONE,
                lb.canonical_hosted_zone_id().map(str::to_owned),
            ),
        ]))
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let arn = require(current, id, "arn")?;
        aws.elb
            .set_subnets()
            .load_balancer_arn(&arn)
            .set_subnets(Some(resolved.all(&spec.subnets, "id")?))
            .send()
            .await
            .map_err(|e| call_error(id, "SetSubnets", e))?;
        aws.elb
            .set_security_groups()
            .load_balancer_arn(&arn)
            .set_security_groups(Some(resolved.all(&spec.security_groups, "id")?))
            .send()
            .await
            .map_err(|e| call_error(id, "SetSecurityGroups", e))?;
        set_load_balancer_attributes(aws, id, &arn, spec).await?;
        Ok(current.clone())
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let arn = require(current, id, "arn")?;
        aws.elb
            .delete_load_balancer()
            .load_balancer_arn(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteLoadBalancer", e))?;
        wait_until(aws, id, "load balancer deleted", progress, || async {
            match aws
                .elb
                .describe_load_balancers()
                .load_balancer_arns(&arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DescribeLoadBalancers", e))
            {
                Ok(out) if out.load_balancers().is_empty() => Ok(Ok(())),
                Ok(_) => Ok(Err("deleting".to_owned())),
                Err(err) if err.code().is_some_and(Self::gone) => Ok(Ok(())),
                Err(err) => Err(err),
            }
        })
        .await
    }
}

//! VPC: the stack's network, with DNS support and hostnames.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};

use super::ec2_common::{available, ignore_missing, missing, owned, ownership_filters, tag_spec};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, once_visible, require, wait_until, Aws, AwsError, DeleteOptions,
    Progress, Quiet, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

async fn vpc_attribute(aws: &Aws, vpc_id: &str, name: VpcAttributeName) -> Result<bool, AwsError> {
    let out = aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(name.clone())
        .send()
        .await
        .map_err(|e| call_error("vpc", "DescribeVpcAttribute", e))?;
    let value = match name {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
        _ => out.enable_dns_hostnames(),
    };
    Ok(value.and_then(|v| v.value()).unwrap_or(false))
}

async fn set_vpc_dns(aws: &Aws, id: &str, spec: &VpcSpec, current: &Attrs) -> Result<(), AwsError> {
    let vpc_id = require(current, id, "id")?;
    // One attribute per call: an EC2 API rule.
    once_visible(aws, &Quiet, || async {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(&vpc_id)
            .enable_dns_support(
                AttributeBooleanValue::builder()
                    .value(spec.dns_support)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyVpcAttribute", e))
    })
    .await?;
    once_visible(aws, &Quiet, || async {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(&vpc_id)
            .enable_dns_hostnames(
                AttributeBooleanValue::builder()
                    .value(spec.dns_hostnames)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyVpcAttribute", e))
    })
    .await?;
    Ok(())
}

impl Provider for super::Vpc {
    type Spec = VpcSpec;

    fn gone(code: &str) -> bool {
        missing(code)
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let vpcs = aws
            .ec2
            .describe_vpcs()
            .set_filters(Some(ownership_filters(aws)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("vpc", "DescribeVpcs", e))?;
        let mut found = Vec::new();
        for vpc in &vpcs {
            let (Some(id), Some(vpc_id)) = (owned(aws, vpc.tags()), vpc.vpc_id()) else {
                continue;
            };
            let (dns_support, dns_hostnames) = tokio::try_join!(
                vpc_attribute(aws, vpc_id, VpcAttributeName::EnableDnsSupport),
                vpc_attribute(aws, vpc_id, VpcAttributeName::EnableDnsHostnames),
            )?;
            found.push(observed(
                &id,
                Kind::Vpc,
                VpcSpec {
                    cidr: vpc.cidr_block().unwrap_or_default().to_owned(),
                    dns_support,
                    dns_hostnames,
                },
                attrs([("id", Some(vpc_id.to_owned()))]),
            ));
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = aws
            .ec2
            .create_vpc()
            .cidr_block(&spec.cidr)
            .tag_specifications(tag_spec(aws, id, ResourceType::Vpc))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateVpc", e))?;
        let vpc_id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_owned();
        wait_until(aws, id, "VPC available", progress, || async {
            let out = once_visible(aws, progress, || async {
                aws.ec2
                    .describe_vpcs()
                    .vpc_ids(&vpc_id)
                    .send()
                    .await
                    .map_err(|e| call_error(id, "DescribeVpcs", e))
            })
            .await?;
            Ok(available(
                out.vpcs()
                    .first()
                    .and_then(|v| v.state())
                    .map(|s| s.as_str()),
            ))
        })
        .await?;
        let current = attrs([("id", Some(vpc_id))]);
        set_vpc_dns(aws, id, spec, &current).await?;
        Ok(current)
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        set_vpc_dns(aws, id, spec, current).await?;
        Ok(current.clone())
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let vpc_id = require(current, id, "id")?;
        ignore_missing(
            aws.ec2
                .delete_vpc()
                .vpc_id(vpc_id)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteVpc", e)),
        )
    }
}

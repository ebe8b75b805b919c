//! Internet gateway: attached to the VPC, the public subnets' way out.

use aws_sdk_ec2::types::ResourceType;

use super::ec2_common::{ignore_missing, missing, owned, ownership_filters, tag_spec};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, once_visible, require, Aws, AwsError, DeleteOptions, Progress,
    Quiet, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

impl Provider for super::InternetGateway {
    type Spec = InternetGatewaySpec;

    fn gone(code: &str) -> bool {
        missing(code)
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let gateways = aws
            .ec2
            .describe_internet_gateways()
            .set_filters(Some(ownership_filters(aws)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("igw", "DescribeInternetGateways", e))?;
        Ok(gateways
            .iter()
            .filter_map(|igw| {
                let id = owned(aws, igw.tags())?;
                let vpc = igw
                    .attachments()
                    .first()
                    .and_then(|a| a.vpc_id())
                    .unwrap_or_default();
                Some(observed(
                    &id,
                    Kind::InternetGateway,
                    InternetGatewaySpec {
                        vpc: Ref::physical(vpc),
                    },
                    attrs([("id", igw.internet_gateway_id().map(str::to_owned))]),
                ))
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
        let vpc_id = resolved.get(&spec.vpc, "id")?;
        let out = aws
            .ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(aws, id, ResourceType::InternetGateway))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateInternetGateway", e))?;
        let igw_id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_owned();
        once_visible(aws, &Quiet, || async {
            aws.ec2
                .attach_internet_gateway()
                .internet_gateway_id(&igw_id)
                .vpc_id(&vpc_id)
                .send()
                .await
                .map_err(|e| call_error(id, "AttachInternetGateway", e))
        })
        .await?;
        Ok(attrs([("id", Some(igw_id))]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let igw_id = require(current, id, "id")?;
        let out = aws
            .ec2
            .describe_internet_gateways()
            .internet_gateway_ids(&igw_id)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeInternetGateways", e));
        if let Ok(out) = out {
            for attachment in out.internet_gateways().iter().flat_map(|g| g.attachments()) {
                if let Some(vpc) = attachment.vpc_id() {
                    ignore_missing(
                        aws.ec2
                            .detach_internet_gateway()
                            .internet_gateway_id(&igw_id)
                            .vpc_id(vpc)
                            .send()
                            .await
                            .map_err(|e| call_error(id, "DetachInternetGateway", e)),
                    )?;
                }
            }
        }
        ignore_missing(
            aws.ec2
                .delete_internet_gateway()
                .internet_gateway_id(igw_id)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteInternetGateway", e)),
        )
    }
}

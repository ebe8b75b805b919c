//! Subnets: one per AZ and tier; public ones map public IPs on launch. Also the choice
//! of availability zones.

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType};

use super::ec2_common::{available, ignore_missing, missing, owned, ownership_filters, tag_spec};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, once_visible, require, wait_until, Aws, AwsError, DeleteOptions,
    Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

fn yes() -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(true).build()
}

/// The two availability zones (suffixes of the region) a stack's subnets go into.
///
/// Configured zones win, but each must be one this account has available in the region;
/// otherwise the zones the stack's subnets already use (so a stack never moves); otherwise
/// the first two available zones in name order. Zone letters are per account and not
/// every account has `a` and `b` everywhere, so fixed letters are not assumed ("Regions
/// and Zones", EC2 user guide: "we independently map Availability Zones to names for each
/// AWS account"). Opt-in Local/Wavelength zones are never chosen.
pub async fn choose_zones(
    aws: &Aws,
    configured: Option<&[String]>,
    observed: &[Observed],
) -> Result<Vec<String>, AwsError> {
    let out = aws
        .ec2
        .describe_availability_zones()
        .filters(Filter::builder().name("state").values("available").build())
        .filters(
            Filter::builder()
                .name("zone-type")
                .values("availability-zone")
                .build(),
        )
        .send()
        .await
        .map_err(|e| call_error("availability zones", "DescribeAvailabilityZones", e))?;
    let mut available: Vec<String> = out
        .availability_zones()
        .iter()
        .filter_map(|zone| zone.zone_name()?.strip_prefix(aws.region.as_str()))
        .map(str::to_owned)
        .collect();
    available.sort();
    let listed = || available.join(", ");
    if let Some(zones) = configured {
        if let Some(missing) = zones.iter().find(|z| !available.contains(z)) {
            return Err(AwsError::Unexpected {
                resource: "network".into(),
                message: format!(
                    "availability zone {}{missing} is not available to this account (available in {}: {}); change network.availability_zones or leave it out to let `up` choose",
                    aws.region,
                    aws.region,
                    listed()
                ),
            });
        }
        return Ok(zones.to_vec());
    }
    // Index 0 and 1 of the subnets (`subnet-*-a`, `subnet-*-b`: the letter is the index).
    let zone_of = |index: &str| {
        observed
            .iter()
            .filter(|o| o.kind == Kind::Subnet && o.id.ends_with(&format!("-{index}")))
            .find_map(|o| o.spec.get("az")?.as_str().map(str::to_owned))
    };
    if let (Some(first), Some(second)) = (zone_of("a"), zone_of("b")) {
        return Ok(vec![first, second]);
    }
    if available.len() < 2 {
        return Err(AwsError::Unexpected {
            resource: "network".into(),
            message: format!(
                "the stack needs two availability zones, but {} has only [{}] available to this account; pick another --region",
                aws.region,
                listed()
            ),
        });
    }
    Ok(available[..2].to_vec())
}

impl Provider for super::Subnet {
    type Spec = SubnetSpec;

    fn gone(code: &str) -> bool {
        missing(code)
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let subnets = aws
            .ec2
            .describe_subnets()
            .set_filters(Some(ownership_filters(aws)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("subnets", "DescribeSubnets", e))?;
        Ok(subnets
            .iter()
            .filter_map(|subnet| {
                let id = owned(aws, subnet.tags())?;
                let az = subnet
                    .availability_zone()
                    .unwrap_or_default()
                    .strip_prefix(aws.region.as_str())
                    .unwrap_or_default()
                    .to_owned();
                Some(observed(
                    &id,
                    Kind::Subnet,
                    SubnetSpec {
                        vpc: Ref::physical(subnet.vpc_id().unwrap_or_default()),
                        cidr: subnet.cidr_block().unwrap_or_default().to_owned(),
                        az,
                        public: subnet.map_public_ip_on_launch().unwrap_or(false),
                    },
                    attrs([("id", subnet.subnet_id().map(str::to_owned))]),
                ))
            })
            .collect())
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = aws
            .ec2
            .create_subnet()
            .vpc_id(resolved.get(&spec.vpc, "id")?)
            .cidr_block(&spec.cidr)
            .availability_zone(format!("{}{}", aws.region, spec.az))
            .tag_specifications(tag_spec(aws, id, ResourceType::Subnet))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateSubnet", e))?;
        let subnet_id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_owned();
        wait_until(aws, id, "subnet available", progress, || async {
            let out = once_visible(aws, progress, || async {
                aws.ec2
                    .describe_subnets()
                    .subnet_ids(&subnet_id)
                    .send()
                    .await
                    .map_err(|e| call_error(id, "DescribeSubnets", e))
            })
            .await?;
            Ok(available(
                out.subnets()
                    .first()
                    .and_then(|s| s.state())
                    .map(|s| s.as_str()),
            ))
        })
        .await?;
        if spec.public {
            once_visible(aws, progress, || async {
                aws.ec2
                    .modify_subnet_attribute()
                    .subnet_id(&subnet_id)
                    .map_public_ip_on_launch(yes())
                    .send()
                    .await
                    .map_err(|e| call_error(id, "ModifySubnetAttribute", e))
            })
            .await?;
        }
        Ok(attrs([("id", Some(subnet_id))]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        ignore_missing(
            aws.ec2
                .delete_subnet()
                .subnet_id(require(current, id, "id")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteSubnet", e)),
        )
    }
}

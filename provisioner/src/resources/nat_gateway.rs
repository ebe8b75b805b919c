//! NAT gateways, each with its own Elastic IP, released when the gateway is deleted
//! (and by [`release_unused_addresses`] when an earlier run could not).

use aws_sdk_ec2::types::{DomainType, Filter, NatGatewayState, ResourceType};

use super::ec2_common::{ignore_missing, missing, owned, ownership_filters, tag_spec};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, client_token, observed, once_visible, require, wait_until, Aws, AwsError,
    DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

async fn wait_for_nat(
    aws: &Aws,
    id: &str,
    nat_id: &str,
    target: NatGatewayState,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    let what = format!("NAT gateway {}", target.as_str());
    wait_until(aws, id, &what, progress, || async {
        let described = aws
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(nat_id)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeNatGateways", e));
        let out = match described {
            Ok(out) => out,
            // Right after CreateNatGateway the id may not be visible yet; after a delete,
            // an id AWS no longer knows is as gone as it gets.
            Err(err) if crate::aws::not_visible_yet(err.code()) => {
                return Ok(if target == NatGatewayState::Deleted {
                    Ok(())
                } else {
                    Err("not visible yet".to_owned())
                });
            }
            Err(err) => return Err(err),
        };
        let state = out.nat_gateways().first().and_then(|n| n.state().cloned());
        match state {
            Some(s) if s == target => Ok(Ok(())),
            Some(NatGatewayState::Failed) => Err(AwsError::Unexpected {
                resource: id.to_owned(),
                message: format!(
                    "NAT gateway failed: {}",
                    out.nat_gateways()
                        .first()
                        .and_then(|n| n.failure_message())
                        .unwrap_or("no reason given")
                ),
            }),
            // Gone entirely counts as deleted.
            None if target == NatGatewayState::Deleted => Ok(Ok(())),
            other => Ok(Err(
                other.map_or("unknown".into(), |s| s.as_str().to_owned())
            )),
        }
    })
    .await
}

/// Releases an Elastic IP whose NAT gateway was just deleted. AWS keeps the address
/// attached to the gateway's network interface for a while after the gateway reads
/// `deleted` and refuses the release meanwhile (`AuthFailure`, `InvalidIPAddress.InUse`,
/// `InvalidNetworkInterfaceID.NotFound` for the interface being torn down): those are
/// retried until the wait limit; only `InvalidAllocationID.NotFound` means the address is
/// gone. An Elastic IP left allocated is billed every hour, so giving up is an error.
async fn release_address(
    aws: &Aws,
    id: &str,
    allocation: &str,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    wait_until(
        aws,
        id,
        "its Elastic IP to be released",
        progress,
        || async {
            let released = aws
                .ec2
                .release_address()
                .allocation_id(allocation)
                .send()
                .await
                .map_err(|e| call_error(id, "ReleaseAddress", e));
            match released {
                Ok(_) => Ok(Ok(())),
                Err(err) if err.code() == Some("InvalidAllocationID.NotFound") => Ok(Ok(())),
                Err(err) if err.code().is_some_and(address_still_held) => {
                    Ok(Err(format!("{} still held", allocation)))
                }
                Err(err) => Err(err),
            }
        },
    )
    .await
}

/// ReleaseAddress answers while the NAT gateway's interface still holds the address.
fn address_still_held(code: &str) -> bool {
    matches!(
        code,
        "AuthFailure" | "InvalidIPAddress.InUse" | "InvalidNetworkInterfaceID.NotFound"
    )
}

/// Releases every Elastic IP tagged as this stack's that nothing uses any more: those a
/// NAT gateway's deletion could not release in an earlier, interrupted `down`, and those
/// an interrupted `up` allocated before its NAT gateway existed. Run by `down` after the
/// deletions; returns the allocation ids released.
pub async fn release_unused_addresses(
    aws: &Aws,
    progress: &dyn Progress,
) -> Result<Vec<String>, AwsError> {
    let out = aws
        .ec2
        .describe_addresses()
        .set_filters(Some(ownership_filters(aws)))
        .send()
        .await
        .map_err(|e| call_error("elastic ips", "DescribeAddresses", e))?;
    let mut released = Vec::new();
    for address in out.addresses() {
        let (Some(allocation), None) = (address.allocation_id(), address.association_id()) else {
            continue;
        };
        let id = owned(aws, address.tags()).unwrap_or_else(|| "elastic ip".to_owned());
        release_address(aws, &id, allocation, progress).await?;
        released.push(allocation.to_owned());
    }
    Ok(released)
}

impl Provider for super::NatGateway {
    type Spec = NatGatewaySpec;

    fn gone(code: &str) -> bool {
        missing(code)
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut filters = ownership_filters(aws);
        filters.push(
            Filter::builder()
                .name("state")
                .values("pending")
                .values("available")
                .build(),
        );
        let nats = aws
            .ec2
            .describe_nat_gateways()
            .set_filter(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("nat", "DescribeNatGateways", e))?;
        Ok(nats
            .iter()
            .filter_map(|nat| {
                let id = owned(aws, nat.tags())?;
                let allocation = nat
                    .nat_gateway_addresses()
                    .first()
                    .and_then(|a| a.allocation_id())
                    .map(str::to_owned);
                Some(observed(
                    &id,
                    Kind::NatGateway,
                    NatGatewaySpec {
                        subnet: Ref::physical(nat.subnet_id().unwrap_or_default()),
                    },
                    attrs([
                        ("id", nat.nat_gateway_id().map(str::to_owned)),
                        ("_allocation", allocation),
                    ]),
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
        // Reuse an Elastic IP a previous, interrupted run allocated for this NAT gateway.
        let mut filters = ownership_filters(aws);
        filters.push(
            Filter::builder()
                .name(format!("tag:{}", crate::aws::tags::ID))
                .values(id)
                .build(),
        );
        let existing = aws
            .ec2
            .describe_addresses()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeAddresses", e))?;
        let reusable = existing
            .addresses()
            .iter()
            .find(|a| a.association_id().is_none())
            .and_then(|a| a.allocation_id())
            .map(str::to_owned);
        let allocation_id = match reusable {
            Some(allocation) => allocation,
            None => aws
                .ec2
                .allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(tag_spec(aws, id, ResourceType::ElasticIp))
                .send()
                .await
                .map_err(|e| call_error(id, "AllocateAddress", e))?
                .allocation_id()
                .unwrap_or_default()
                .to_owned(),
        };
        let subnet_id = resolved.get(&spec.subnet, "id")?;
        // A deterministic client token (stack, env, id, subnet, Elastic IP): a run repeating
        // this create (two runs at once, or one whose answer was lost) gets the same NAT
        // gateway back instead of a second one.
        let mut token = client_token(&[&aws.stack, &aws.env, id, &subnet_id, &allocation_id]);
        let mut nat_id = String::new();
        for _ in 0..2 {
            let out = once_visible(aws, progress, || async {
                aws.ec2
                    .create_nat_gateway()
                    .subnet_id(&subnet_id)
                    .allocation_id(&allocation_id)
                    .client_token(&token)
                    .tag_specifications(tag_spec(aws, id, ResourceType::Natgateway))
                    .send()
                    .await
                    .map_err(|e| call_error(id, "CreateNatGateway", e))
            })
            .await?;
            let nat = out.nat_gateway();
            nat_id = nat
                .and_then(|n| n.nat_gateway_id())
                .unwrap_or_default()
                .to_owned();
            // EC2 answers a token it has seen with the original result, for at least a day —
            // also when that gateway was deleted since (by hand, keeping its Elastic IP). Then
            // ask once more with a token salted by the dead gateway's id.
            let dead = nat.and_then(|n| n.state()).is_some_and(|s| {
                matches!(
                    s,
                    NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed
                )
            });
            if !dead {
                break;
            }
            token = client_token(&[
                &aws.stack,
                &aws.env,
                id,
                &subnet_id,
                &allocation_id,
                &nat_id,
            ]);
        }
        wait_for_nat(aws, id, &nat_id, NatGatewayState::Available, progress).await?;
        Ok(attrs([
            ("id", Some(nat_id)),
            ("_allocation", Some(allocation_id)),
        ]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let nat_id = require(current, id, "id")?;
        ignore_missing(
            aws.ec2
                .delete_nat_gateway()
                .nat_gateway_id(&nat_id)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteNatGateway", e)),
        )?;
        wait_for_nat(aws, id, &nat_id, NatGatewayState::Deleted, progress).await?;
        if let Some(allocation) = current.get("_allocation") {
            release_address(aws, id, allocation, progress).await?;
        }
        Ok(())
    }
}

//! Network: VPC, internet gateway, subnets, NAT gateways (with their Elastic IPs),
//! route tables and security groups. EC2 filters by tag, so each kind is one listing,
//! read through every page ("Pagination in the Amazon EC2 API", EC2 developer guide:
//! describe calls that can return many results may be paginated). Look-ups by id return
//! the one item asked for.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, IpPermission, IpRange, NatGatewayState,
    ResourceType, Tag, TagSpecification, UserIdGroupPair, VpcAttributeName,
};

use super::{
    attrs, call_error, observed, once_visible, require, wait_until, Aws, AwsError, Progress, Quiet,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

fn tag_spec(aws: &Aws, id: &str, kind: ResourceType) -> TagSpecification {
    let mut tags: Vec<Tag> = aws
        .tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    tags.push(Tag::builder().key("Name").value(aws.name(id)).build());
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags))
        .build()
}

fn ownership_filters(aws: &Aws) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{}", super::tags::STACK))
            .values(&aws.stack)
            .build(),
        Filter::builder()
            .name(format!("tag:{}", super::tags::ENV))
            .values(&aws.env)
            .build(),
    ]
}

fn owned(aws: &Aws, tags: &[Tag]) -> Option<String> {
    aws.owned_id(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

/// `Ok` once an EC2 state reads `available`; otherwise the state to report.
fn available(state: Option<&str>) -> Result<(), String> {
    match state {
        Some("available") => Ok(()),
        other => Err(other.unwrap_or("unknown").to_owned()),
    }
}

fn yes() -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(true).build()
}

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let (vpcs, igws, subnets, nats, tables, groups) = tokio::try_join!(
        observe_vpcs(aws),
        observe_igws(aws),
        observe_subnets(aws),
        observe_nats(aws),
        observe_route_tables(aws),
        observe_security_groups(aws),
    )?;
    Ok([vpcs, igws, subnets, nats, tables, groups]
        .into_iter()
        .flatten()
        .collect())
}

async fn observe_vpcs(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

pub async fn create_vpc(
    aws: &Aws,
    id: &str,
    spec: &VpcSpec,
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

pub async fn update_vpc(
    aws: &Aws,
    id: &str,
    spec: &VpcSpec,
    current: &Attrs,
) -> Result<Attrs, AwsError> {
    set_vpc_dns(aws, id, spec, current).await?;
    Ok(current.clone())
}

pub async fn delete_vpc(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
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

/// Treats "already gone" as success, so `down` can be re-run.
fn ignore_missing<T>(result: Result<T, AwsError>) -> Result<(), AwsError> {
    match result {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .code()
                .is_some_and(|c| c.contains("NotFound") || c.contains("Malformed")) =>
        {
            Ok(())
        }
        Err(err) => Err(err),
    }
}

async fn observe_igws(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

pub async fn create_igw(
    aws: &Aws,
    id: &str,
    spec: &InternetGatewaySpec,
    resolved: &Resolved,
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

pub async fn delete_igw(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
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

async fn observe_subnets(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

pub async fn create_subnet(
    aws: &Aws,
    id: &str,
    spec: &SubnetSpec,
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

pub async fn delete_subnet(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    ignore_missing(
        aws.ec2
            .delete_subnet()
            .subnet_id(require(current, id, "id")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteSubnet", e)),
    )
}

async fn observe_nats(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

pub async fn create_nat(
    aws: &Aws,
    id: &str,
    spec: &NatGatewaySpec,
    resolved: &Resolved,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    // Reuse an Elastic IP a previous, interrupted run allocated for this NAT gateway.
    let mut filters = ownership_filters(aws);
    filters.push(
        Filter::builder()
            .name(format!("tag:{}", super::tags::ID))
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
    let mut token = super::client_token(&[&aws.stack, &aws.env, id, &subnet_id, &allocation_id]);
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
        token = super::client_token(&[
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
            Err(err) if super::not_visible_yet(err.code()) => {
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

pub async fn delete_nat(
    aws: &Aws,
    id: &str,
    current: &Attrs,
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

async fn observe_route_tables(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let tables = aws
        .ec2
        .describe_route_tables()
        .set_filters(Some(ownership_filters(aws)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("route tables", "DescribeRouteTables", e))?;
    Ok(tables
        .iter()
        .filter_map(|table| {
            let id = owned(aws, table.tags())?;
            let default_route = table
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
                .unwrap_or_default();
            let mut associations = Vec::new();
            let mut subnets = Vec::new();
            for association in table.associations() {
                if let (Some(subnet), Some(assoc)) = (
                    association.subnet_id(),
                    association.route_table_association_id(),
                ) {
                    subnets.push(Ref::physical(subnet));
                    associations.push(format!("{subnet}={assoc}"));
                }
            }
            Some(observed(
                &id,
                Kind::RouteTable,
                RouteTableSpec {
                    vpc: Ref::physical(table.vpc_id().unwrap_or_default()),
                    default_route: Ref::physical(default_route),
                    subnets,
                },
                attrs([
                    ("id", table.route_table_id().map(str::to_owned)),
                    // Not an identifier of the table; kept for updates and deletes.
                    ("_associations", Some(associations.join(","))),
                ]),
            ))
        })
        .collect())
}

pub async fn create_route_table(
    aws: &Aws,
    id: &str,
    spec: &RouteTableSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let out = aws
        .ec2
        .create_route_table()
        .vpc_id(resolved.get(&spec.vpc, "id")?)
        .tag_specifications(tag_spec(aws, id, ResourceType::RouteTable))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateRouteTable", e))?;
    let table_id = out
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default()
        .to_owned();
    set_default_route(aws, id, &table_id, spec, resolved, false).await?;
    let mut associations = Vec::new();
    for subnet in resolved.all(&spec.subnets, "id")? {
        associations.push(associate(aws, id, &table_id, &subnet).await?);
    }
    Ok(attrs([
        ("id", Some(table_id)),
        ("_associations", Some(associations.join(","))),
    ]))
}

async fn associate(aws: &Aws, id: &str, table_id: &str, subnet: &str) -> Result<String, AwsError> {
    // The table (and maybe the subnet) was just created: wait until AWS sees them.
    let out = once_visible(aws, &Quiet, || async {
        aws.ec2
            .associate_route_table()
            .route_table_id(table_id)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| call_error(id, "AssociateRouteTable", e))
    })
    .await?;
    Ok(format!(
        "{subnet}={}",
        out.association_id().unwrap_or_default()
    ))
}

async fn set_default_route(
    aws: &Aws,
    id: &str,
    table_id: &str,
    spec: &RouteTableSpec,
    resolved: &Resolved,
    replace: bool,
) -> Result<(), AwsError> {
    let target = resolved.get(&spec.default_route, "id")?;
    let is_nat = target.starts_with("nat-");
    if replace {
        let mut call = aws
            .ec2
            .replace_route()
            .route_table_id(table_id)
            .destination_cidr_block("0.0.0.0/0");
        call = if is_nat {
            call.nat_gateway_id(&target)
        } else {
            call.gateway_id(&target)
        };
        let replaced = call
            .send()
            .await
            .map_err(|e| call_error(id, "ReplaceRoute", e));
        // A run interrupted between creating the table and its route left no route to
        // replace: create it instead.
        match replaced {
            Ok(_) => return Ok(()),
            Err(err)
                if err.code() == Some("InvalidRoute.NotFound")
                    || err.code() == Some("InvalidParameterValue") => {}
            Err(err) => return Err(err),
        }
    }
    // The table and its target (internet or NAT gateway) may be minutes old.
    once_visible(aws, &Quiet, || async {
        let call = aws
            .ec2
            .create_route()
            .route_table_id(table_id)
            .destination_cidr_block("0.0.0.0/0");
        let call = if is_nat {
            call.nat_gateway_id(&target)
        } else {
            call.gateway_id(&target)
        };
        call.send()
            .await
            .map_err(|e| call_error(id, "CreateRoute", e))
    })
    .await?;
    Ok(())
}

fn parse_associations(current: &Attrs) -> Vec<(String, String)> {
    current
        .get("_associations")
        .map(|s| {
            s.split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn update_route_table(
    aws: &Aws,
    id: &str,
    spec: &RouteTableSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let table_id = require(current, id, "id")?;
    set_default_route(aws, id, &table_id, spec, resolved, true).await?;
    let wanted = resolved.all(&spec.subnets, "id")?;
    let mut associations = Vec::new();
    for (subnet, association) in parse_associations(current) {
        if wanted.contains(&subnet) {
            associations.push(format!("{subnet}={association}"));
        } else {
            aws.ec2
                .disassociate_route_table()
                .association_id(association)
                .send()
                .await
                .map_err(|e| call_error(id, "DisassociateRouteTable", e))?;
        }
    }
    for subnet in wanted {
        if !associations
            .iter()
            .any(|a| a.starts_with(&format!("{subnet}=")))
        {
            associations.push(associate(aws, id, &table_id, &subnet).await?);
        }
    }
    Ok(attrs([
        ("id", Some(table_id)),
        ("_associations", Some(associations.join(","))),
    ]))
}

pub async fn delete_route_table(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    for (_, association) in parse_associations(current) {
        ignore_missing(
            aws.ec2
                .disassociate_route_table()
                .association_id(association)
                .send()
                .await
                .map_err(|e| call_error(id, "DisassociateRouteTable", e)),
        )?;
    }
    ignore_missing(
        aws.ec2
            .delete_route_table()
            .route_table_id(require(current, id, "id")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteRouteTable", e)),
    )
}

/// Flattens AWS's permission lists into one rule per (port, source).
fn flatten(permissions: &[IpPermission]) -> Vec<IngressRule> {
    let mut rules = Vec::new();
    for permission in permissions {
        let port = permission.from_port().unwrap_or(0) as u16;
        for pair in permission.user_id_group_pairs() {
            if let Some(group) = pair.group_id() {
                rules.push(IngressRule {
                    port,
                    source: Ref::physical(group),
                });
            }
        }
        for range in permission.ip_ranges() {
            if let Some(cidr) = range.cidr_ip() {
                rules.push(IngressRule {
                    port,
                    source: Ref::physical(cidr),
                });
            }
        }
    }
    rules
}

fn permission(port: u16, source: &str) -> IpPermission {
    let builder = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port));
    if source.starts_with("sg-") {
        builder
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(source).build())
            .build()
    } else {
        builder
            .ip_ranges(IpRange::builder().cidr_ip(source).build())
            .build()
    }
}

fn all_traffic() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

async fn observe_security_groups(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let groups = aws
        .ec2
        .describe_security_groups()
        .set_filters(Some(ownership_filters(aws)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("security groups", "DescribeSecurityGroups", e))?;
    Ok(groups
        .iter()
        .filter_map(|group| {
            let id = owned(aws, group.tags())?;
            Some(observed(
                &id,
                Kind::SecurityGroup,
                SecurityGroupSpec {
                    vpc: Ref::physical(group.vpc_id().unwrap_or_default()),
                    description: group.description().unwrap_or_default().to_owned(),
                    ingress: flatten(group.ip_permissions()),
                    egress_all: !group.ip_permissions_egress().is_empty(),
                },
                attrs([("id", group.group_id().map(str::to_owned))]),
            ))
        })
        .collect())
}

pub async fn create_security_group(
    aws: &Aws,
    id: &str,
    spec: &SecurityGroupSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let out = aws
        .ec2
        .create_security_group()
        .group_name(aws.name(id))
        .description(&spec.description)
        .vpc_id(resolved.get(&spec.vpc, "id")?)
        .tag_specifications(tag_spec(aws, id, ResourceType::SecurityGroup))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateSecurityGroup", e))?;
    let group_id = out.group_id().unwrap_or_default().to_owned();
    let current = attrs([("id", Some(group_id))]);
    sync_rules(aws, id, spec, &current, resolved).await?;
    Ok(current)
}

pub async fn update_security_group(
    aws: &Aws,
    id: &str,
    spec: &SecurityGroupSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    sync_rules(aws, id, spec, current, resolved).await?;
    Ok(current.clone())
}

/// Makes the group's rules exactly the spec's: authorizes missing ingress, revokes
/// extra ingress, and removes all egress where the spec wants none.
async fn sync_rules(
    aws: &Aws,
    id: &str,
    spec: &SecurityGroupSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<(), AwsError> {
    let group_id = require(current, id, "id")?;
    // Right after CreateSecurityGroup the group may answer InvalidGroup.NotFound (the EC2
    // guide's own example of eventual consistency), and so may a source group.
    let out = once_visible(aws, &Quiet, || async {
        aws.ec2
            .describe_security_groups()
            .group_ids(&group_id)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeSecurityGroups", e))
    })
    .await?;
    let Some(live) = out.security_groups().first() else {
        return Err(AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!("security group {group_id} vanished"),
        });
    };
    // Egress first: CreateSecurityGroup always adds allow-all egress, and a data-tier
    // group must not keep it if this run is interrupted, so it is revoked before anything
    // else (the group is not in use before this create returns: nothing is attached to it
    // in the window between the two calls). An interrupted run leaves at most that one
    // call undone, which the next `up` sees (egress_all) and repairs.
    let egress = live.ip_permissions_egress().to_vec();
    if !spec.egress_all && !egress.is_empty() {
        aws.ec2
            .revoke_security_group_egress()
            .group_id(&group_id)
            .set_ip_permissions(Some(egress))
            .send()
            .await
            .map_err(|e| call_error(id, "RevokeSecurityGroupEgress", e))?;
    } else if spec.egress_all && egress.is_empty() {
        aws.ec2
            .authorize_security_group_egress()
            .group_id(&group_id)
            .ip_permissions(all_traffic())
            .send()
            .await
            .map_err(|e| call_error(id, "AuthorizeSecurityGroupEgress", e))?;
    }
    let have: Vec<(u16, String)> = flatten(live.ip_permissions())
        .into_iter()
        .map(|r| (r.port, r.source.0))
        .collect();
    let mut want = Vec::new();
    for rule in &spec.ingress {
        want.push((rule.port, resolved.get(&rule.source, "id")?));
    }
    let add: Vec<IpPermission> = want
        .iter()
        .filter(|w| !have.contains(w))
        .map(|(port, source)| permission(*port, source))
        .collect();
    let remove: Vec<IpPermission> = have
        .iter()
        .filter(|h| !want.contains(h))
        .map(|(port, source)| permission(*port, source))
        .collect();
    if !add.is_empty() {
        once_visible(aws, &Quiet, || async {
            aws.ec2
                .authorize_security_group_ingress()
                .group_id(&group_id)
                .set_ip_permissions(Some(add.clone()))
                .send()
                .await
                .map_err(|e| call_error(id, "AuthorizeSecurityGroupIngress", e))
        })
        .await?;
    }
    if !remove.is_empty() {
        aws.ec2
            .revoke_security_group_ingress()
            .group_id(&group_id)
            .set_ip_permissions(Some(remove))
            .send()
            .await
            .map_err(|e| call_error(id, "RevokeSecurityGroupIngress", e))?;
    }
    Ok(())
}

pub async fn delete_security_group(
    aws: &Aws,
    id: &str,
    current: &Attrs,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    let group_id = require(current, id, "id")?;
    // Network interfaces of stopped tasks and deleted load balancers linger for a while.
    wait_until(
        aws,
        id,
        "its network interfaces to be released",
        progress,
        || async {
            match aws
                .ec2
                .delete_security_group()
                .group_id(&group_id)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteSecurityGroup", e))
            {
                Ok(_) => Ok(Ok(())),
                Err(err) if err.code() == Some("DependencyViolation") => {
                    Ok(Err("in use".to_owned()))
                }
                Err(err) => ignore_missing::<()>(Err(err)).map(Ok),
            }
        },
    )
    .await
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

/// EC2 listings answered in two pages, with aws-smithy-mocks: moto's EC2 ignores
/// MaxResults/NextToken on these calls and always answers in one page.
#[cfg(test)]
mod tests {
    use aws_sdk_ec2::operation::describe_security_groups::{
        DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput,
    };
    use aws_sdk_ec2::operation::describe_subnets::{DescribeSubnetsInput, DescribeSubnetsOutput};
    use aws_sdk_ec2::types::{SecurityGroup, Subnet};
    use aws_smithy_mocks::{mock, Rule};

    use super::*;
    use crate::aws::mocked;

    fn ec2(rules: &[&Rule]) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&mocked::sdk_config())
                .interceptor(mocked::interceptor(rules))
                .build(),
        )
    }

    /// The ownership tags `up` puts on `id`.
    fn tags(aws: &Aws, id: &str) -> Vec<Tag> {
        aws.tags(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn group(aws: &Aws, id: &str, group_id: &str) -> SecurityGroup {
        SecurityGroup::builder()
            .group_id(group_id)
            .vpc_id("vpc-1")
            .description(id)
            .set_tags(Some(tags(aws, id)))
            .build()
    }

    #[tokio::test]
    async fn security_groups_on_every_page_are_observed() {
        let aws = mocked::aws();
        let first_page = vec![group(&aws, "sg-alb", "sg-0001")];
        let second_page = vec![group(&aws, "sg-vote", "sg-0002")];
        let first = mock!(aws_sdk_ec2::Client::describe_security_groups)
            .match_requests(|input: &DescribeSecurityGroupsInput| input.next_token().is_none())
            .then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .set_security_groups(Some(first_page.clone()))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_ec2::Client::describe_security_groups)
            .match_requests(|input: &DescribeSecurityGroupsInput| {
                input.next_token() == Some("page-2")
                    && input
                        .filters()
                        .iter()
                        .any(|f| f.name() == Some("tag:slipway:stack"))
            })
            .then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .set_security_groups(Some(second_page.clone()))
                    .build()
            });
        let mut aws = aws;
        aws.ec2 = ec2(&[&first, &second]);
        let found = observe_security_groups(&aws).await.unwrap();
        let ids: Vec<(&str, &str)> = found
            .iter()
            .map(|o| (o.id.as_str(), o.attrs["id"].as_str()))
            .collect();
        assert_eq!(ids, [("sg-alb", "sg-0001"), ("sg-vote", "sg-0002")]);
        assert_eq!(
            second.num_calls(),
            1,
            "the second page was asked for with the filters"
        );
    }

    #[tokio::test]
    async fn subnets_on_every_page_are_observed() {
        let aws = mocked::aws();
        let subnet = |id: &str, subnet_id: &str| {
            Subnet::builder()
                .subnet_id(subnet_id)
                .vpc_id("vpc-1")
                .cidr_block("10.0.0.0/24")
                .availability_zone("us-east-1a")
                .set_tags(Some(tags(&aws, id)))
                .build()
        };
        let pages = [
            vec![subnet("subnet-public-a", "subnet-1")],
            vec![subnet("subnet-private-a", "subnet-2")],
        ];
        let [first_page, second_page] = pages;
        let first = mock!(aws_sdk_ec2::Client::describe_subnets)
            .match_requests(|input: &DescribeSubnetsInput| input.next_token().is_none())
            .then_output(move || {
                DescribeSubnetsOutput::builder()
                    .set_subnets(Some(first_page.clone()))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_ec2::Client::describe_subnets)
            .match_requests(|input: &DescribeSubnetsInput| input.next_token() == Some("page-2"))
            .then_output(move || {
                DescribeSubnetsOutput::builder()
                    .set_subnets(Some(second_page.clone()))
                    .build()
            });
        let mut aws = aws;
        aws.ec2 = ec2(&[&first, &second]);
        let found = observe_subnets(&aws).await.unwrap();
        let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["subnet-public-a", "subnet-private-a"]);
    }
}

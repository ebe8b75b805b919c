//! Security groups: TCP ingress from groups or CIDRs, and all egress or none.

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

use super::ec2_common::{ignore_missing, missing, owned, ownership_filters, tag_spec};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, once_visible, require, wait_until, Aws, AwsError, DeleteOptions,
    Progress, Quiet, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

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

impl Provider for super::SecurityGroup {
    type Spec = SecurityGroupSpec;

    fn gone(code: &str) -> bool {
        missing(code)
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        sync_rules(aws, id, spec, current, resolved).await?;
        Ok(current.clone())
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
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
}

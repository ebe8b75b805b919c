//! Redis: an ElastiCache replication group with AUTH, encryption in transit and at rest,
//! final snapshots on delete outside dev.

use super::data_common::{cache_owner, cache_tags, engine_upgrade, unix_now};
use super::secret::read_secret;
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, require, wait_until, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

/// The engine version a replication group runs, trimmed to the configured precision
/// later: DescribeReplicationGroups does not report it, DescribeCacheClusters of a member
/// does. `None` when the group has no member to ask or the member is gone.
async fn member_engine_version(
    aws: &Aws,
    group: &aws_sdk_elasticache::types::ReplicationGroup,
) -> Result<Option<String>, AwsError> {
    let Some(member) = group.member_clusters().first() else {
        return Ok(None);
    };
    match aws
        .elasticache
        .describe_cache_clusters()
        .cache_cluster_id(member)
        .send()
        .await
        .map_err(|e| call_error(member, "DescribeCacheClusters", e))
    {
        Ok(out) => Ok(out
            .cache_clusters()
            .first()
            .and_then(|c| c.engine_version())
            .map(str::to_owned)),
        Err(err)
            if matches!(
                err.code(),
                Some("CacheClusterNotFound") | Some("CacheClusterNotFoundFault")
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

fn primary_endpoint(group: &aws_sdk_elasticache::types::ReplicationGroup) -> Option<String> {
    group
        .node_groups()
        .first()
        .and_then(|n| n.primary_endpoint())
        .and_then(|e| e.address())
        .map(str::to_owned)
}

/// Waits until the replication group is `available`; returns its attributes.
async fn redis_available(
    aws: &Aws,
    id: &str,
    name: &str,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let group = wait_until(aws, id, "Redis available", progress, || async {
        let out = aws
            .elasticache
            .describe_replication_groups()
            .replication_group_id(name)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeReplicationGroups", e))?;
        let Some(group) = out.replication_groups().first() else {
            return Ok(Err("missing".into()));
        };
        match group.status() {
            Some("available") => Ok(Ok(group.clone())),
            other => Ok(Err(other.unwrap_or("unknown").to_owned())),
        }
    })
    .await?;
    Ok(attrs([
        ("name", Some(name.to_owned())),
        ("arn", group.arn().map(str::to_owned)),
        ("endpoint", primary_endpoint(&group)),
        (
            "_replicas",
            Some(group.member_clusters().len().saturating_sub(1).to_string()),
        ),
        ("_node_type", group.cache_node_type().map(str::to_owned)),
        ("_multi_az", group.multi_az().map(|m| m.as_str().to_owned())),
    ]))
}

/// ElastiCache keeps no backups of cache.t1 nodes ("Backup and restore … not supported"
/// for T1 nodes, ElastiCache User Guide, Constraints and limits of backups), so a final
/// snapshot cannot be taken: refuse rather than delete without one.
fn check_snapshot_support(id: &str, current: &Attrs) -> Result<(), AwsError> {
    match current.get("_node_type") {
        Some(node_type) if node_type.starts_with("cache.t1.") => Err(AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!(
                "{node_type} nodes cannot be backed up, so no final snapshot can be kept; \
                 move Redis to a current node type first, or delete it in dev with --no-snapshot"
            ),
        }),
        _ => Ok(()),
    }
}

impl Provider for super::ReplicationGroup {
    type Spec = ReplicationGroupSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ReplicationGroupNotFoundFault")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let groups = aws
            .elasticache
            .describe_replication_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("redis", "DescribeReplicationGroups", e))?;
        let mut found = Vec::new();
        for group in &groups {
            let (Some(name), Some(arn)) = (group.replication_group_id(), group.arn()) else {
                continue;
            };
            if !name.starts_with(&aws.prefix()) || group.status() == Some("deleting") {
                continue;
            }
            let Some(id) = cache_owner(aws, arn).await? else {
                continue;
            };
            let engine_version = member_engine_version(aws, group).await?;
            let mut spec = serde_json::json!({
                "node_type": group.cache_node_type().unwrap_or_default(),
                "replicas": group.member_clusters().len().saturating_sub(1),
                "multi_az": group.multi_az().map(|m| m.as_str()) == Some("enabled"),
                "transit_encryption": group.transit_encryption_enabled().unwrap_or(false),
                "at_rest_encryption": group.at_rest_encryption_enabled().unwrap_or(false),
            });
            if let Some(version) = &engine_version {
                // Reported as `7.1.0`; configured (and compared) as major.minor (`7.1`).
                let major_minor: Vec<&str> = version.split('.').take(2).collect();
                spec["engine_version"] = serde_json::Value::String(major_minor.join("."));
            }
            let mut group_attrs = attrs([
                ("name", Some(name.to_owned())),
                ("arn", Some(arn.to_owned())),
                ("endpoint", primary_endpoint(group)),
                (
                    "_replicas",
                    Some(group.member_clusters().len().saturating_sub(1).to_string()),
                ),
                ("_node_type", group.cache_node_type().map(str::to_owned)),
                ("_multi_az", group.multi_az().map(|m| m.as_str().to_owned())),
            ]);
            if let Some(version) = engine_version {
                group_attrs.insert("_engine_version".into(), version);
            }
            found.push(crate::plan::Observed {
                id,
                kind: Kind::ReplicationGroup,
                // Subnet group and security groups are only reported per cache cluster; they
                // are set at creation and not compared. The engine version is read from a
                // member cluster (when there is one to ask).
                spec,
                attrs: group_attrs,
            });
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
        let token = read_secret(aws, id, &resolved.get(&spec.auth_secret, "arn")?).await?;
        let name = aws.name(id);
        aws.elasticache
            .create_replication_group()
            .replication_group_id(&name)
            .replication_group_description(format!("{} Redis", aws.prefix()))
            .engine("redis")
            .engine_version(&spec.engine_version)
            .cache_node_type(&spec.node_type)
            // Replicas of the single shard (moto ignores NumCacheClusters; AWS takes either).
            .replicas_per_node_group(i32::from(spec.replicas))
            .automatic_failover_enabled(spec.multi_az)
            .multi_az_enabled(spec.multi_az)
            .transit_encryption_enabled(spec.transit_encryption)
            .at_rest_encryption_enabled(spec.at_rest_encryption)
            .auth_token(token)
            .cache_subnet_group_name(resolved.get(&spec.subnet_group, "name")?)
            .set_security_group_ids(Some(resolved.all(&spec.security_groups, "id")?))
            .set_tags(Some(cache_tags(aws, id)))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateReplicationGroup", e))?;
        redis_available(aws, id, &name, progress).await
    }

    /// Node type, replicas, Multi-AZ and engine version in place. Replicas are added before Multi-AZ is
    /// switched on and removed after it is switched off (AWS needs a replica to fail over to).
    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let name = require(current, id, "name")?;
        let replicas: i32 = current
            .get("_replicas")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let wanted = i32::from(spec.replicas);
        let mut attrs = current.clone();
        if wanted > replicas {
            aws.elasticache
                .increase_replica_count()
                .replication_group_id(&name)
                .new_replica_count(wanted)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| call_error(id, "IncreaseReplicaCount", e))?;
            attrs = redis_available(aws, id, &name, progress).await?;
        }
        // AWS rejects a modification that changes nothing: only send what differs.
        let node_type =
            (current.get("_node_type") != Some(&spec.node_type)).then_some(&spec.node_type);
        let multi_az_now = current.get("_multi_az").map(String::as_str) == Some("enabled");
        let multi_az = (multi_az_now != spec.multi_az).then_some(spec.multi_az);
        // Engine upgrades happen in place: ModifyReplicationGroup EngineVersion with
        // ApplyImmediately (ElastiCache API Reference; "Version management", ElastiCache User
        // Guide: upgrades keep the data, downgrades are not supported).
        let engine_version =
            engine_upgrade(id, current.get("_engine_version"), &spec.engine_version)?;
        if node_type.is_some() || multi_az.is_some() || engine_version.is_some() {
            aws.elasticache
                .modify_replication_group()
                .replication_group_id(&name)
                .set_cache_node_type(node_type.cloned())
                .set_multi_az_enabled(multi_az)
                .set_automatic_failover_enabled(multi_az)
                .set_engine_version(engine_version)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| call_error(id, "ModifyReplicationGroup", e))?;
            attrs = redis_available(aws, id, &name, progress).await?;
        }
        if wanted < replicas {
            aws.elasticache
                .decrease_replica_count()
                .replication_group_id(&name)
                .new_replica_count(wanted)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| call_error(id, "DecreaseReplicaCount", e))?;
            attrs = redis_available(aws, id, &name, progress).await?;
        }
        Ok(attrs)
    }

    /// Deletes the replication group, keeping a final snapshot `<name>-final-<unix seconds>`
    /// unless `options.no_snapshot` (which the CLI allows only in dev). ElastiCache takes it
    /// from the primary (DeleteReplicationGroup FinalSnapshotIdentifier, ElastiCache API
    /// Reference); that works for the cluster-mode-disabled groups Slipway creates, single node
    /// or with replicas, on every node type but cache.t1 (no backups), which
    /// `check_snapshot_support` refuses before anything is deleted.
    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let name = require(current, id, "name")?;
        let snapshot = if options.no_snapshot {
            None
        } else {
            check_snapshot_support(id, current)?;
            Some(crate::names::final_snapshot_id(&name, unix_now()))
        };
        match aws
            .elasticache
            .delete_replication_group()
            .replication_group_id(&name)
            .set_final_snapshot_identifier(snapshot)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteReplicationGroup", e))
        {
            Err(err) if err.code().is_some_and(Self::gone) => return Ok(()),
            other => other.map(|_| ())?,
        }
        wait_until(aws, id, "Redis deleted", progress, || async {
            match aws
                .elasticache
                .describe_replication_groups()
                .replication_group_id(&name)
                .send()
                .await
                .map_err(|e| call_error(id, "DescribeReplicationGroups", e))
            {
                Ok(out) if out.replication_groups().is_empty() => Ok(Ok(())),
                Ok(out) => Ok(Err(out
                    .replication_groups()
                    .first()
                    .and_then(|g| g.status())
                    .unwrap_or("deleting")
                    .to_owned())),
                Err(err) if err.code().is_some_and(Self::gone) => Ok(Ok(())),
                Err(err) => Err(err),
            }
        })
        .await
    }
}

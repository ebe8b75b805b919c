//! The data tier: ElastiCache Redis (replication group + subnet group) and RDS
//! PostgreSQL (instance + subnet group).

use aws_sdk_rds::types::Tag as RdsTag;

use super::{
    attrs, call_error, deleted, observed, require, wait_until, Aws, AwsError, DeleteOptions,
    Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::settings::rds::{CACHE_SUBNET_GROUP_DESCRIPTION, DB_SUBNET_GROUP_DESCRIPTION};

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let (cache_groups, replication, db_groups, instances) = tokio::try_join!(
        observe_cache_subnet_groups(aws),
        observe_replication_groups(aws),
        observe_db_subnet_groups(aws),
        observe_db_instances(aws),
    )?;
    Ok([cache_groups, replication, db_groups, instances]
        .into_iter()
        .flatten()
        .collect())
}

async fn cache_owner(aws: &Aws, arn: &str) -> Result<Option<String>, AwsError> {
    let tags = aws
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| call_error(arn, "ListTagsForResource", e))?;
    Ok(aws.owned_id(
        tags.tag_list()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    ))
}

fn cache_tags(aws: &Aws, id: &str) -> Vec<aws_sdk_elasticache::types::Tag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_elasticache::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

async fn observe_cache_subnet_groups(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let groups = aws
        .elasticache
        .describe_cache_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("cache subnet groups", "DescribeCacheSubnetGroups", e))?;
    let mut found = Vec::new();
    for group in &groups {
        let Some(name) = group.cache_subnet_group_name() else {
            continue;
        };
        if !name.starts_with(&aws.prefix()) {
            continue;
        }
        let Some(arn) = group.arn() else { continue };
        let Some(id) = cache_owner(aws, arn).await? else {
            continue;
        };
        found.push(observed(
            &id,
            Kind::CacheSubnetGroup,
            SubnetGroupSpec {
                subnets: group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier())
                    .map(Ref::physical)
                    .collect(),
            },
            attrs([
                ("name", Some(name.to_owned())),
                ("arn", Some(arn.to_owned())),
            ]),
        ));
    }
    Ok(found)
}

pub async fn create_cache_subnet_group(
    aws: &Aws,
    id: &str,
    spec: &SubnetGroupSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let out = aws
        .elasticache
        .create_cache_subnet_group()
        .cache_subnet_group_name(aws.name(id))
        .cache_subnet_group_description(CACHE_SUBNET_GROUP_DESCRIPTION)
        .set_subnet_ids(Some(resolved.all(&spec.subnets, "id")?))
        .set_tags(Some(cache_tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateCacheSubnetGroup", e))?;
    Ok(attrs([
        ("name", Some(aws.name(id))),
        (
            "arn",
            out.cache_subnet_group()
                .and_then(|g| g.arn())
                .map(str::to_owned),
        ),
    ]))
}

pub async fn delete_cache_subnet_group(
    aws: &Aws,
    id: &str,
    current: &Attrs,
) -> Result<(), AwsError> {
    deleted(
        aws.elasticache
            .delete_cache_subnet_group()
            .cache_subnet_group_name(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteCacheSubnetGroup", e)),
        &["CacheSubnetGroupNotFoundFault"],
    )
}

async fn observe_replication_groups(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

/// The AUTH token is read from its secret so it never appears in plans or logs.
pub(crate) async fn read_secret(aws: &Aws, id: &str, arn: &str) -> Result<String, AwsError> {
    let out = aws
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| call_error(id, "GetSecretValue", e))?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!("secret {arn} has no string value"),
        })
}

pub async fn create_replication_group(
    aws: &Aws,
    id: &str,
    spec: &ReplicationGroupSpec,
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

/// The engine version to send to ModifyReplicationGroup, if `wanted` (`7.1`, as configured)
/// differs from what runs (`running`, e.g. `7.1.0`; unknown when AWS did not report it).
/// A lower version is an error: ElastiCache cannot downgrade in place.
pub(crate) fn engine_upgrade(
    id: &str,
    running: Option<&String>,
    wanted: &str,
) -> Result<Option<String>, AwsError> {
    let Some(running) = running else {
        return Ok(None);
    };
    let numbers = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (have, want) = (numbers(running), numbers(wanted));
    // `7.1` is satisfied by `7.1.0`: compare only as many parts as configured.
    let have_prefix: Vec<u32> = have.iter().copied().take(want.len()).collect();
    match have_prefix.cmp(&want) {
        std::cmp::Ordering::Equal => Ok(None),
        std::cmp::Ordering::Less => Ok(Some(wanted.to_owned())),
        std::cmp::Ordering::Greater => Err(AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!(
                "runs engine {running}, the config asks for {wanted}: AWS cannot downgrade in \
                 place; set engine_version back to {running} (or higher)"
            ),
        }),
    }
}

/// Node type, replicas, Multi-AZ and engine version in place. Replicas are added before Multi-AZ is
/// switched on and removed after it is switched off (AWS needs a replica to fail over to).
pub async fn update_replication_group(
    aws: &Aws,
    id: &str,
    spec: &ReplicationGroupSpec,
    current: &Attrs,
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
    let node_type = (current.get("_node_type") != Some(&spec.node_type)).then_some(&spec.node_type);
    let multi_az_now = current.get("_multi_az").map(String::as_str) == Some("enabled");
    let multi_az = (multi_az_now != spec.multi_az).then_some(spec.multi_az);
    // Engine upgrades happen in place: ModifyReplicationGroup EngineVersion with
    // ApplyImmediately (ElastiCache API Reference; "Version management", ElastiCache User
    // Guide: upgrades keep the data, downgrades are not supported).
    let engine_version = engine_upgrade(id, current.get("_engine_version"), &spec.engine_version)?;
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

/// Unix seconds now: the suffix of final snapshot names (unique per deletion).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Deletes the replication group, keeping a final snapshot `<name>-final-<unix seconds>`
/// unless `options.no_snapshot` (which the CLI allows only in dev). ElastiCache takes it
/// from the primary (DeleteReplicationGroup FinalSnapshotIdentifier, ElastiCache API
/// Reference); that works for the cluster-mode-disabled groups Slipway creates, single node
/// or with replicas, on every node type but cache.t1 (no backups), which
/// `check_snapshot_support` refuses before anything is deleted.
pub async fn delete_replication_group(
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
        Err(err) if err.code() == Some("ReplicationGroupNotFoundFault") => return Ok(()),
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
            Err(err) if err.code() == Some("ReplicationGroupNotFoundFault") => Ok(Ok(())),
            Err(err) => Err(err),
        }
    })
    .await
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

fn rds_tags(aws: &Aws, id: &str) -> Vec<RdsTag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| RdsTag::builder().key(k).value(v).build())
        .collect()
}

fn rds_owner(aws: &Aws, tags: &[RdsTag]) -> Option<String> {
    aws.owned_id(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

async fn observe_db_subnet_groups(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let groups = aws
        .rds
        .describe_db_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("db subnet groups", "DescribeDBSubnetGroups", e))?;
    let mut found = Vec::new();
    for group in &groups {
        let (Some(name), Some(arn)) = (group.db_subnet_group_name(), group.db_subnet_group_arn())
        else {
            continue;
        };
        if !name.starts_with(&aws.prefix()) {
            continue;
        }
        let tags = aws
            .rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| call_error(name, "ListTagsForResource", e))?;
        let Some(id) = rds_owner(aws, tags.tag_list()) else {
            continue;
        };
        found.push(observed(
            &id,
            Kind::DbSubnetGroup,
            SubnetGroupSpec {
                subnets: group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier())
                    .map(Ref::physical)
                    .collect(),
            },
            attrs([
                ("name", Some(name.to_owned())),
                ("arn", Some(arn.to_owned())),
            ]),
        ));
    }
    Ok(found)
}

pub async fn create_db_subnet_group(
    aws: &Aws,
    id: &str,
    spec: &SubnetGroupSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let out = aws
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(aws.name(id))
        .db_subnet_group_description(DB_SUBNET_GROUP_DESCRIPTION)
        .set_subnet_ids(Some(resolved.all(&spec.subnets, "id")?))
        .set_tags(Some(rds_tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateDBSubnetGroup", e))?;
    Ok(attrs([
        ("name", Some(aws.name(id))),
        (
            "arn",
            out.db_subnet_group()
                .and_then(|g| g.db_subnet_group_arn())
                .map(str::to_owned),
        ),
    ]))
}

pub async fn update_db_subnet_group(
    aws: &Aws,
    id: &str,
    spec: &SubnetGroupSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    aws.rds
        .modify_db_subnet_group()
        .db_subnet_group_name(require(current, id, "name")?)
        .set_subnet_ids(Some(resolved.all(&spec.subnets, "id")?))
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyDBSubnetGroup", e))?;
    Ok(current.clone())
}

pub async fn delete_db_subnet_group(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.rds
            .delete_db_subnet_group()
            .db_subnet_group_name(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteDBSubnetGroup", e)),
        &["DBSubnetGroupNotFoundFault"],
    )
}

fn instance_attrs(instance: &aws_sdk_rds::types::DbInstance) -> Attrs {
    attrs([
        ("name", instance.db_instance_identifier().map(str::to_owned)),
        ("arn", instance.db_instance_arn().map(str::to_owned)),
        (
            "endpoint",
            instance
                .endpoint()
                .and_then(|e| e.address())
                .map(str::to_owned),
        ),
        ("_database", instance.db_name().map(str::to_owned)),
        // Referenceable (no `_`): `${postgres}` where a secret is expected means the
        // RDS-managed master secret (see `Resolved::secret_arn`).
        (
            "secret_arn",
            instance
                .master_user_secret()
                .and_then(|s| s.secret_arn())
                .map(str::to_owned),
        ),
        (
            "_engine_version",
            instance.engine_version().map(str::to_owned),
        ),
        (
            "_master_secret",
            instance
                .master_user_secret()
                .and_then(|s| s.secret_arn())
                .map(str::to_owned),
        ),
    ])
}

async fn observe_db_instances(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let instances = aws
        .rds
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("postgres", "DescribeDBInstances", e))?;
    let mut found = Vec::new();
    for instance in &instances {
        if instance.db_instance_status() == Some("deleting") {
            continue;
        }
        let Some(id) = rds_owner(aws, instance.tag_list()) else {
            continue;
        };
        let spec = DbInstanceSpec {
            instance_class: instance.db_instance_class().unwrap_or_default().to_owned(),
            // Config names the major version; AWS reports the minor it picked.
            engine_version: instance
                .engine_version()
                .unwrap_or_default()
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned(),
            database: instance.db_name().unwrap_or_default().to_owned(),
            username: instance.master_username().unwrap_or_default().to_owned(),
            allocated_storage_gb: instance.allocated_storage().unwrap_or_default(),
            backup_retention_days: instance.backup_retention_period().unwrap_or_default(),
            multi_az: instance.multi_az().unwrap_or(false),
            deletion_protection: instance.deletion_protection().unwrap_or(false),
            storage_encrypted: instance.storage_encrypted().unwrap_or(false),
            publicly_accessible: instance.publicly_accessible().unwrap_or(false),
            managed_master_password: instance.master_user_secret().is_some(),
            subnet_group: Ref::physical(
                instance
                    .db_subnet_group()
                    .and_then(|g| g.db_subnet_group_name())
                    .unwrap_or_default(),
            ),
            security_groups: instance
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id())
                .map(Ref::physical)
                .collect(),
        };
        found.push(observed(
            &id,
            Kind::DbInstance,
            spec,
            instance_attrs(instance),
        ));
    }
    Ok(found)
}

async fn wait_available(
    aws: &Aws,
    id: &str,
    name: &str,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    wait_until(aws, id, "PostgreSQL available", progress, || async {
        let out = aws
            .rds
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeDBInstances", e))?;
        let Some(instance) = out.db_instances().first() else {
            return Ok(Err("missing".into()));
        };
        match instance.db_instance_status() {
            Some("available") => Ok(Ok(instance_attrs(instance))),
            other => Ok(Err(other.unwrap_or("unknown").to_owned())),
        }
    })
    .await
}

pub async fn create_db_instance(
    aws: &Aws,
    id: &str,
    spec: &DbInstanceSpec,
    resolved: &Resolved,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let name = aws.name(id);
    aws.rds
        .create_db_instance()
        .db_instance_identifier(&name)
        .engine("postgres")
        .engine_version(&spec.engine_version)
        .db_instance_class(&spec.instance_class)
        .allocated_storage(spec.allocated_storage_gb)
        .db_name(&spec.database)
        .master_username(&spec.username)
        .manage_master_user_password(spec.managed_master_password)
        .storage_encrypted(spec.storage_encrypted)
        .publicly_accessible(spec.publicly_accessible)
        .multi_az(spec.multi_az)
        .backup_retention_period(spec.backup_retention_days)
        .deletion_protection(spec.deletion_protection)
        .db_subnet_group_name(resolved.get(&spec.subnet_group, "name")?)
        .set_vpc_security_group_ids(Some(resolved.all(&spec.security_groups, "id")?))
        .set_tags(Some(rds_tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateDBInstance", e))?;
    wait_available(aws, id, &name, progress).await
}

pub async fn update_db_instance(
    aws: &Aws,
    id: &str,
    spec: &DbInstanceSpec,
    current: &Attrs,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let name = require(current, id, "name")?;
    // Major (and minor) upgrades in place, keeping the data: ModifyDBInstance
    // EngineVersion, with AllowMajorVersionUpgrade when the major changes (RDS API
    // Reference: "This parameter must be set to true when specifying a value for the
    // EngineVersion parameter that is a different major version"). The config names the
    // major only, which the API accepts: "If you specify only a major version, Amazon RDS
    // updates the DB instance to the default minor version".
    let engine_version = engine_upgrade(id, current.get("_engine_version"), &spec.engine_version)?;
    let major_change = engine_version.as_ref().is_some_and(|_| {
        current
            .get("_engine_version")
            .and_then(|v| v.split('.').next())
            != spec.engine_version.split('.').next()
    });
    aws.rds
        .modify_db_instance()
        .db_instance_identifier(&name)
        .set_engine_version(engine_version)
        .set_allow_major_version_upgrade(major_change.then_some(true))
        .db_instance_class(&spec.instance_class)
        .allocated_storage(spec.allocated_storage_gb)
        .backup_retention_period(spec.backup_retention_days)
        .multi_az(spec.multi_az)
        .deletion_protection(spec.deletion_protection)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyDBInstance", e))?;
    wait_available(aws, id, &name, progress).await
}

pub async fn delete_db_instance(
    aws: &Aws,
    id: &str,
    current: &Attrs,
    options: &DeleteOptions,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    let name = require(current, id, "name")?;
    let not_found = |err: &AwsError| {
        matches!(
            err.code(),
            Some("DBInstanceNotFound") | Some("DBInstanceNotFoundFault")
        )
    };
    // Deletion protection is lifted only for an instance the operator named with
    // `--allow-data-loss`; otherwise AWS refuses the deletion, which is the protection's
    // point.
    if options.allows(id) {
        let lifted = aws
            .rds
            .modify_db_instance()
            .db_instance_identifier(&name)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyDBInstance", e));
        match lifted {
            Err(err) if not_found(&err) => return Ok(()),
            other => other.map(|_| ())?,
        }
    }
    let mut request = aws
        .rds
        .delete_db_instance()
        .db_instance_identifier(&name)
        .skip_final_snapshot(options.no_snapshot);
    if !options.no_snapshot {
        request = request
            .final_db_snapshot_identifier(crate::names::final_snapshot_id(&name, unix_now()));
    }
    match request
        .send()
        .await
        .map_err(|e| call_error(id, "DeleteDBInstance", e))
    {
        Err(err) if not_found(&err) => return Ok(()),
        Err(err) if err.code() == Some("InvalidParameterCombination") => {
            return Err(AwsError::Unexpected {
                resource: id.to_owned(),
                message: format!(
                    "AWS refused to delete it ({err}); if deletion protection is on, name it \
                     with --allow-data-loss {id} to lift the protection and delete it"
                ),
            })
        }
        other => other.map(|_| ())?,
    }
    wait_until(aws, id, "PostgreSQL deleted", progress, || async {
        match aws
            .rds
            .describe_db_instances()
            .db_instance_identifier(&name)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeDBInstances", e))
        {
            Ok(out) => match out.db_instances().first() {
                None => Ok(Ok(())),
                Some(instance) => Ok(Err(instance
                    .db_instance_status()
                    .unwrap_or("deleting")
                    .to_owned())),
            },
            Err(err)
                if matches!(
                    err.code(),
                    Some("DBInstanceNotFound") | Some("DBInstanceNotFoundFault")
                ) =>
            {
                Ok(Ok(()))
            }
            Err(err) => Err(err),
        }
    })
    .await
}

/// The exact requests for what moto ignores or lacks: moto's DeleteReplicationGroup drops
/// FinalSnapshotIdentifier (no snapshot is made), it has no ModifyReplicationGroup
/// EngineVersion upgrade, and it reports no engine version for replication group members.
#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::operation::delete_replication_group::{
        DeleteReplicationGroupInput, DeleteReplicationGroupOutput,
    };
    use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsOutput;
    use aws_sdk_elasticache::operation::modify_replication_group::{
        ModifyReplicationGroupInput, ModifyReplicationGroupOutput,
    };
    use aws_sdk_elasticache::types::ReplicationGroup;
    use aws_sdk_rds::operation::delete_db_instance::{
        DeleteDbInstanceInput, DeleteDbInstanceOutput,
    };
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::modify_db_instance::{
        ModifyDbInstanceInput, ModifyDbInstanceOutput,
    };
    use aws_sdk_rds::types::DbInstance;
    use aws_smithy_mocks::{mock, Rule};

    use super::*;
    use crate::aws::{mocked, Quiet};

    fn elasticache(rules: &[&Rule]) -> aws_sdk_elasticache::Client {
        aws_sdk_elasticache::Client::from_conf(
            aws_sdk_elasticache::config::Builder::from(&mocked::sdk_config())
                .interceptor(mocked::interceptor(rules))
                .build(),
        )
    }

    fn rds(rules: &[&Rule]) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(&mocked::sdk_config())
                .interceptor(mocked::interceptor(rules))
                .build(),
        )
    }

    fn redis_attrs(engine: &str) -> Attrs {
        attrs([
            ("name", Some("voting-dev-redis".into())),
            ("_node_type", Some("cache.t4g.micro".into())),
            ("_multi_az", Some("disabled".into())),
            ("_replicas", Some("0".into())),
            ("_engine_version", Some(engine.into())),
        ])
    }

    fn redis_spec(engine: &str) -> ReplicationGroupSpec {
        ReplicationGroupSpec {
            node_type: "cache.t4g.micro".into(),
            engine_version: engine.into(),
            replicas: 0,
            multi_az: false,
            transit_encryption: true,
            at_rest_encryption: true,
            subnet_group: Ref::to("redis-subnets"),
            security_groups: vec![Ref::to("sg-redis")],
            auth_secret: Ref::to("redis-auth"),
        }
    }

    fn gone_groups() -> Rule {
        mock!(aws_sdk_elasticache::Client::describe_replication_groups)
            .then_output(|| DescribeReplicationGroupsOutput::builder().build())
    }

    #[tokio::test]
    async fn redis_is_deleted_with_a_final_snapshot_unless_dev_opts_out() {
        let delete = mock!(aws_sdk_elasticache::Client::delete_replication_group)
            .match_requests(|input: &DeleteReplicationGroupInput| {
                let snapshot = input.final_snapshot_identifier().unwrap_or_default();
                input.replication_group_id() == Some("voting-dev-redis")
                    && snapshot.starts_with("voting-dev-redis-final-")
                    && snapshot["voting-dev-redis-final-".len()..]
                        .chars()
                        .all(|c| c.is_ascii_digit())
                    && crate::names::CACHE_SNAPSHOT_NAME.check(snapshot).is_ok()
                    && input.retain_primary_cluster().is_none()
            })
            .then_output(|| DeleteReplicationGroupOutput::builder().build());
        let gone = gone_groups();
        let mut aws = mocked::aws();
        aws.elasticache = elasticache(&[&delete, &gone]);
        delete_replication_group(
            &aws,
            "redis",
            &redis_attrs("7.1.0"),
            &DeleteOptions::default(),
            &Quiet,
        )
        .await
        .unwrap();
        assert_eq!(delete.num_calls(), 1);

        let without = mock!(aws_sdk_elasticache::Client::delete_replication_group)
            .match_requests(|input: &DeleteReplicationGroupInput| {
                input.final_snapshot_identifier().is_none()
            })
            .then_output(|| DeleteReplicationGroupOutput::builder().build());
        aws.elasticache = elasticache(&[&without, &gone]);
        let dev = DeleteOptions::for_env("dev", true, &[]);
        delete_replication_group(&aws, "redis", &redis_attrs("7.1.0"), &dev, &Quiet)
            .await
            .unwrap();
        assert_eq!(without.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_t1_node_is_not_deleted_without_its_snapshot() {
        let mut aws = mocked::aws();
        aws.elasticache = elasticache(&[]);
        let mut current = redis_attrs("7.1.0");
        current.insert("_node_type".into(), "cache.t1.micro".into());
        let err =
            delete_replication_group(&aws, "redis", &current, &DeleteOptions::default(), &Quiet)
                .await
                .unwrap_err();
        assert!(err.to_string().contains("no final snapshot"), "{err}");
    }

    #[tokio::test]
    async fn a_newer_redis_engine_is_applied_in_place() {
        let modify = mock!(aws_sdk_elasticache::Client::modify_replication_group)
            .match_requests(|input: &ModifyReplicationGroupInput| {
                input.replication_group_id() == Some("voting-dev-redis")
                    && input.engine_version() == Some("7.1")
                    && input.apply_immediately() == Some(true)
                    && input.cache_node_type().is_none()
            })
            .then_output(|| ModifyReplicationGroupOutput::builder().build());
        let available = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
            .then_output(|| {
                DescribeReplicationGroupsOutput::builder()
                    .replication_groups(
                        ReplicationGroup::builder()
                            .replication_group_id("voting-dev-redis")
                            .status("available")
                            .build(),
                    )
                    .build()
            });
        let mut aws = mocked::aws();
        aws.elasticache = elasticache(&[&modify, &available]);
        update_replication_group(
            &aws,
            "redis",
            &redis_spec("7.1"),
            &redis_attrs("7.0.7"),
            &Quiet,
        )
        .await
        .unwrap();
        assert_eq!(modify.num_calls(), 1);
        // The same version at the configured precision sends nothing.
        update_replication_group(
            &aws,
            "redis",
            &redis_spec("7.1"),
            &redis_attrs("7.1.0"),
            &Quiet,
        )
        .await
        .unwrap();
        assert_eq!(modify.num_calls(), 1);
        // A downgrade is refused before any call.
        let err = update_replication_group(
            &aws,
            "redis",
            &redis_spec("6.2"),
            &redis_attrs("7.1.0"),
            &Quiet,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("cannot downgrade"), "{err}");
    }

    fn postgres_spec(engine: &str) -> DbInstanceSpec {
        DbInstanceSpec {
            instance_class: "db.t4g.micro".into(),
            engine_version: engine.into(),
            database: "votes".into(),
            username: "slipway".into(),
            allocated_storage_gb: 20,
            backup_retention_days: 7,
            multi_az: false,
            deletion_protection: true,
            storage_encrypted: true,
            publicly_accessible: false,
            managed_master_password: true,
            subnet_group: Ref::to("db-subnets"),
            security_groups: vec![Ref::to("sg-postgres")],
        }
    }

    fn available_instance() -> Rule {
        mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("voting-dev-postgres")
                        .db_instance_status("available")
                        .build(),
                )
                .build()
        })
    }

    #[tokio::test]
    async fn a_postgres_major_upgrade_is_applied_in_place() {
        let modify = mock!(aws_sdk_rds::Client::modify_db_instance)
            .match_requests(|input: &ModifyDbInstanceInput| {
                input.engine_version() == Some("16")
                    && input.allow_major_version_upgrade() == Some(true)
                    && input.apply_immediately() == Some(true)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let available = available_instance();
        let mut aws = mocked::aws();
        aws.rds = rds(&[&modify, &available]);
        let current = attrs([
            ("name", Some("voting-dev-postgres".into())),
            ("_engine_version", Some("15.7".into())),
        ]);
        update_db_instance(&aws, "postgres", &postgres_spec("16"), &current, &Quiet)
            .await
            .unwrap();
        assert_eq!(modify.num_calls(), 1);
    }

    #[tokio::test]
    async fn deletion_protection_is_lifted_only_for_a_named_instance() {
        // Not named: DeleteDBInstance straight away (no ModifyDBInstance rule: a call
        // would fail the test), with a final snapshot; AWS's refusal is explained.
        let refused = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|input: &DeleteDbInstanceInput| {
                input.skip_final_snapshot() == Some(false)
                    && input
                        .final_db_snapshot_identifier()
                        .is_some_and(|s| s.starts_with("voting-dev-postgres-final-"))
            })
            .then_error(|| {
                aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError::generic(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("InvalidParameterCombination")
                        .message("Cannot delete protected DB Instance")
                        .build(),
                )
            });
        let mut aws = mocked::aws();
        aws.rds = rds(&[&refused]);
        let current = attrs([("name", Some("voting-dev-postgres".into()))]);
        let err = delete_db_instance(
            &aws,
            "postgres",
            &current,
            &DeleteOptions::default(),
            &Quiet,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("--allow-data-loss postgres"),
            "{err}"
        );

        // Named: protection lifted first, then deleted.
        let lift = mock!(aws_sdk_rds::Client::modify_db_instance)
            .match_requests(|input: &ModifyDbInstanceInput| {
                input.deletion_protection() == Some(false)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let delete = mock!(aws_sdk_rds::Client::delete_db_instance)
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let gone = mock!(aws_sdk_rds::Client::describe_db_instances)
            .then_output(|| DescribeDbInstancesOutput::builder().build());
        aws.rds = rds(&[&lift, &delete, &gone]);
        let named = DeleteOptions::for_env("prod", false, &["postgres".into()]);
        delete_db_instance(&aws, "postgres", &current, &named, &Quiet)
            .await
            .unwrap();
        assert_eq!((lift.num_calls(), delete.num_calls()), (1, 1));
    }
}

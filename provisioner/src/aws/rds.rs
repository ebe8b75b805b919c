//! The data tier: ElastiCache Redis (replication group + subnet group) and RDS
//! PostgreSQL (instance + subnet group).

use aws_sdk_rds::types::Tag as RdsTag;

use super::{
    attrs, call_error, deleted, observed, require, wait_until, Aws, AwsError, DeleteOptions,
    Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

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

/// Descriptions of the data stores' subnet groups.
pub const CACHE_SUBNET_GROUP_DESCRIPTION: &str = "Redis: private subnets";
pub const DB_SUBNET_GROUP_DESCRIPTION: &str = "PostgreSQL: private subnets";

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
        let spec = serde_json::json!({
            "node_type": group.cache_node_type().unwrap_or_default(),
            "replicas": group.member_clusters().len().saturating_sub(1),
            "multi_az": group.multi_az().map(|m| m.as_str()) == Some("enabled"),
            "transit_encryption": group.transit_encryption_enabled().unwrap_or(false),
            "at_rest_encryption": group.at_rest_encryption_enabled().unwrap_or(false),
        });
        found.push(crate::plan::Observed {
            id,
            kind: Kind::ReplicationGroup,
            // Engine version, subnet group and security groups are only reported per
            // cache cluster; they are set at creation and not compared.
            spec,
            attrs: attrs([
                ("name", Some(name.to_owned())),
                ("arn", Some(arn.to_owned())),
                ("endpoint", primary_endpoint(group)),
                (
                    "_replicas",
                    Some(group.member_clusters().len().saturating_sub(1).to_string()),
                ),
                ("_node_type", group.cache_node_type().map(str::to_owned)),
                ("_multi_az", group.multi_az().map(|m| m.as_str().to_owned())),
            ]),
        });
    }
    Ok(found)
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

/// Node type, replicas and Multi-AZ in place. Replicas are added before Multi-AZ is
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
    if node_type.is_some() || multi_az.is_some() {
        aws.elasticache
            .modify_replication_group()
            .replication_group_id(&name)
            .set_cache_node_type(node_type.cloned())
            .set_multi_az_enabled(multi_az)
            .set_automatic_failover_enabled(multi_az)
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

pub async fn delete_replication_group(
    aws: &Aws,
    id: &str,
    current: &Attrs,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    let name = require(current, id, "name")?;
    match aws
        .elasticache
        .delete_replication_group()
        .replication_group_id(&name)
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
    aws.rds
        .modify_db_instance()
        .db_instance_identifier(&name)
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
    // The operator confirmed the teardown; protection would only make it fail half-way.
    let lifted = aws
        .rds
        .modify_db_instance()
        .db_instance_identifier(&name)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyDBInstance", e));
    if let Err(err) = lifted {
        if err.code() == Some("DBInstanceNotFound") || err.code() == Some("DBInstanceNotFoundFault")
        {
            return Ok(());
        }
        return Err(err);
    }
    let mut request = aws
        .rds
        .delete_db_instance()
        .db_instance_identifier(&name)
        .skip_final_snapshot(options.no_snapshot);
    if !options.no_snapshot {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        request =
            request.final_db_snapshot_identifier(crate::names::final_snapshot_id(&name, stamp));
    }
    request
        .send()
        .await
        .map_err(|e| call_error(id, "DeleteDBInstance", e))?;
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

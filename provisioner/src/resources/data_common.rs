//! Helpers shared by the data-store kinds: ElastiCache (cache subnet group, replication
//! group) and RDS (DB subnet group, DB instance): ownership tags (both list them per
//! ARN), in-place engine upgrades and final snapshot names.

use aws_sdk_rds::types::Tag as RdsTag;

use crate::aws::{call_error, Aws, AwsError};

pub(crate) async fn cache_owner(aws: &Aws, arn: &str) -> Result<Option<String>, AwsError> {
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

pub(crate) fn cache_tags(aws: &Aws, id: &str) -> Vec<aws_sdk_elasticache::types::Tag> {
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

/// Unix seconds now: the suffix of final snapshot names (unique per deletion).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub(crate) fn rds_tags(aws: &Aws, id: &str) -> Vec<RdsTag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| RdsTag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn rds_owner(aws: &Aws, tags: &[RdsTag]) -> Option<String> {
    aws.owned_id(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
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
    use crate::aws::{attrs, mocked, DeleteOptions, Progress, Quiet, Resolved};
    use crate::model::*;
    use crate::plan::Attrs;
    use crate::resources::{self as providers, Provider};

    async fn delete_replication_group(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        providers::ReplicationGroup::delete(aws, id, current, options, progress).await
    }

    async fn update_replication_group(
        aws: &Aws,
        id: &str,
        spec: &ReplicationGroupSpec,
        current: &Attrs,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        providers::ReplicationGroup::update(aws, id, spec, current, &Resolved::default(), progress)
            .await
    }

    async fn update_db_instance(
        aws: &Aws,
        id: &str,
        spec: &DbInstanceSpec,
        current: &Attrs,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        providers::DbInstance::update(aws, id, spec, current, &Resolved::default(), progress).await
    }

    async fn delete_db_instance(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        providers::DbInstance::delete(aws, id, current, options, progress).await
    }

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

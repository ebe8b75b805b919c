//! Postgres: an RDS DB instance with an RDS-managed master password, deletion
//! protection, and a final snapshot on delete outside dev.

use super::data_common::{engine_upgrade, rds_owner, rds_tags, unix_now};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, wait_until, Aws, AwsError, DeleteOptions, Progress,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

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

impl Provider for super::DbInstance {
    type Spec = DbInstanceSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "DBInstanceNotFound" | "DBInstanceNotFoundFault")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
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

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let name = require(current, id, "name")?;
        // Major (and minor) upgrades in place, keeping the data: ModifyDBInstance
        // EngineVersion, with AllowMajorVersionUpgrade when the major changes (RDS API
        // Reference: "This parameter must be set to true when specifying a value for the
        // EngineVersion parameter that is a different major version"). The config names the
        // major only, which the API accepts: "If you specify only a major version, Amazon RDS
        // updates the DB instance to the default minor version".
        let engine_version =
            engine_upgrade(id, current.get("_engine_version"), &spec.engine_version)?;
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

    async fn delete(
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
}

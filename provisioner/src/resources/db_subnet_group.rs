//! The RDS DB subnet group Postgres lives in.

use super::data_common::{rds_owner, rds_tags};
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::rds::DB_SUBNET_GROUP_DESCRIPTION;

impl Provider for super::DbSubnetGroup {
    type Spec = SubnetGroupSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "DBSubnetGroupNotFoundFault")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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
            let (Some(name), Some(arn)) =
                (group.db_subnet_group_name(), group.db_subnet_group_arn())
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.rds
                .delete_db_subnet_group()
                .db_subnet_group_name(require(current, id, "name")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteDBSubnetGroup", e)),
            Self::gone,
        )
    }
}

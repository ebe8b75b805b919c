//! The ElastiCache subnet group Redis lives in.

use super::data_common::{cache_owner, cache_tags};
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::rds::CACHE_SUBNET_GROUP_DESCRIPTION;

impl Provider for super::CacheSubnetGroup {
    type Spec = SubnetGroupSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "CacheSubnetGroupNotFoundFault")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn update(
        _aws: &Aws,
        id: &str,
        _spec: &Self::Spec,
        _current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        Err(AwsError::Unexpected {
            resource: id.to_owned(),
            message:
                "moving Redis to other subnets in place is not supported; remove and re-add [redis]"
                    .into(),
        })
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.elasticache
                .delete_cache_subnet_group()
                .cache_subnet_group_name(require(current, id, "name")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteCacheSubnetGroup", e)),
            Self::gone,
        )
    }
}

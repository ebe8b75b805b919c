//! CloudWatch Logs log groups, with retention.

use std::collections::HashMap;

use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, once_visible, require, wait_until, Aws, AwsError, DeleteOptions,
    Progress, Quiet, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

impl Provider for super::LogGroup {
    type Spec = LogGroupSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ResourceNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let out = aws
                .logs
                .describe_log_groups()
                .log_group_name_prefix(aws.prefix())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("log groups", "DescribeLogGroups", e))?;
            for group in out.log_groups() {
                let Some(name) = group.log_group_name() else {
                    continue;
                };
                let arn = group
                    .log_group_arn()
                    .map(str::to_owned)
                    .or_else(|| group.arn().map(|a| a.trim_end_matches(":*").to_owned()))
                    .unwrap_or_default();
                let tags = aws
                    .logs
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| call_error(name, "ListTagsForResource", e))?;
                let Some(id) = aws.owned_id(
                    tags.tags()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ) else {
                    continue;
                };
                found.push(observed(
                    &id,
                    Kind::LogGroup,
                    LogGroupSpec {
                        retention_days: group.retention_in_days().unwrap_or(0),
                    },
                    attrs([("arn", Some(arn)), ("name", Some(name.to_owned()))]),
                ));
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let name = aws.name(id);
        let tags: HashMap<String, String> = aws.tags(id).into_iter().collect();
        aws.logs
            .create_log_group()
            .log_group_name(&name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateLogGroup", e))?;
        // CloudWatch Logs is eventually consistent too: the group may not be found by the
        // next call. Its ARN goes into the execution role's policy, so it must be the real
        // one (account id included), never a guess.
        once_visible(aws, &Quiet, || async {
            aws.logs
                .put_retention_policy()
                .log_group_name(&name)
                .retention_in_days(spec.retention_days)
                .send()
                .await
                .map_err(|e| call_error(id, "PutRetentionPolicy", e))
        })
        .await?;
        let arn = wait_until(aws, id, "the log group to be listed", &Quiet, || async {
            let groups: Vec<_> = aws
                .logs
                .describe_log_groups()
                .log_group_name_prefix(&name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| call_error(id, "DescribeLogGroups", e))?;
            let group = groups
                .iter()
                .find(|g| g.log_group_name() == Some(name.as_str()));
            Ok(group
                .and_then(|g| {
                    g.log_group_arn()
                        .map(str::to_owned)
                        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_owned()))
                })
                .ok_or_else(|| "not listed yet".to_owned()))
        })
        .await?;
        Ok(attrs([("arn", Some(arn)), ("name", Some(name))]))
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        aws.logs
            .put_retention_policy()
            .log_group_name(require(current, id, "name")?)
            .retention_in_days(spec.retention_days)
            .send()
            .await
            .map_err(|e| call_error(id, "PutRetentionPolicy", e))?;
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
            aws.logs
                .delete_log_group()
                .log_group_name(require(current, id, "name")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteLogGroup", e)),
            Self::gone,
        )
    }
}

//! The post-`down` leftover scan: anything still carrying the stack's ownership tags.

use serde::Serialize;

use super::observe_kinds;
use crate::aws::tags::{role_path, ENV, ID, STACK};
use crate::aws::{call_error, Aws, AwsError};
use crate::model::Kind;

/// Something still tagged as the stack's after `down`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leftover {
    pub arn: String,
    pub id: Option<String>,
}

/// Scans the Resource Groups Tagging API (and IAM roles by path, OIDC providers by tag) for anything still carrying
/// the stack's tags.
pub async fn leftovers(aws: &Aws) -> Result<Vec<Leftover>, AwsError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .tagging
            .get_resources()
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key(STACK)
                    .values(&aws.stack)
                    .build(),
            )
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key(ENV)
                    .values(&aws.env)
                    .build(),
            )
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| call_error("leftover scan", "GetResources", e))?;
        for mapping in page.resource_tag_mapping_list() {
            let id = mapping
                .tags()
                .iter()
                .find(|t| t.key() == ID)
                .map(|t| t.value().to_owned());
            let arn = mapping.resource_arn().unwrap_or_default().to_owned();
            if !already_gone(aws, &arn).await? {
                found.push(Leftover { arn, id });
            }
        }
        token = page
            .pagination_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let roles = aws
        .iam
        .list_roles()
        .path_prefix(role_path(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("leftover scan", "ListRoles", e))?;
    for role in &roles {
        found.push(Leftover {
            arn: role.arn().to_owned(),
            id: None,
        });
    }
    // OIDC providers are IAM too: found by their tags among the account's providers.
    for provider in observe_kinds(aws, &[Kind::OidcProvider]).await? {
        found.push(Leftover {
            arn: provider.attrs.get("arn").cloned().unwrap_or_default(),
            id: Some(provider.id),
        });
    }
    found.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(found)
}

/// Some deleted resources stay listed, tags and all, for a while (INACTIVE ECS services,
/// clusters and task definitions, `deleted` NAT gateways, secrets pending deletion): those
/// are not leftovers.
async fn already_gone(aws: &Aws, arn: &str) -> Result<bool, AwsError> {
    // Secrets deleted outside dev wait out their recovery window, restorable on purpose
    // (`resources::secret`): deleted, not left over.
    if arn.contains(":secretsmanager:") {
        return match aws
            .secrets
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| call_error(arn, "DescribeSecret", e))
        {
            Ok(out) => Ok(out.deleted_date().is_some()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(true),
            Err(err) => Err(err),
        };
    }
    let Some((_, resource)) = arn.split_once(":ecs:").or_else(|| arn.split_once(":ec2:")) else {
        return Ok(false);
    };
    let resource = resource.splitn(3, ':').nth(2).unwrap_or_default();
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    match kind {
        "service" => {
            let (cluster, _) = rest.split_once('/').unwrap_or((rest, ""));
            let out = aws
                .ecs
                .describe_services()
                .cluster(cluster)
                .services(arn)
                .send()
                .await
                .map_err(|e| call_error(arn, "DescribeServices", e))?;
            Ok(out
                .services()
                .iter()
                .all(|s| s.status() == Some("INACTIVE")))
        }
        "cluster" => {
            let out = aws
                .ecs
                .describe_clusters()
                .clusters(arn)
                .send()
                .await
                .map_err(|e| call_error(arn, "DescribeClusters", e))?;
            Ok(out
                .clusters()
                .iter()
                .all(|c| c.status() == Some("INACTIVE")))
        }
        "task-definition" => {
            match aws
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .task_definition()
                    .and_then(|d| d.status())
                    .is_none_or(|s| s.as_str() != "ACTIVE")),
                Err(_) => Ok(true),
            }
        }
        "natgateway" => {
            let out = aws
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(rest)
                .send()
                .await
                .map_err(|e| call_error(arn, "DescribeNatGateways", e))?;
            Ok(out.nat_gateways().iter().all(|n| {
                n.state()
                    .is_some_and(|s| s.as_str() == "deleted" || s.as_str() == "deleting")
            }))
        }
        _ => Ok(false),
    }
}

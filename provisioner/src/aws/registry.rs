//! Per-service supporting resources: ECR repositories, CloudWatch log groups, IAM roles.

use std::collections::HashMap;

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
use serde_json::{json, Value};

use super::tags::role_path;
use super::{
    attrs, call_error, deleted, observed, once_visible, require, wait_until, Aws, AwsError, Quiet,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::settings::registry::{lifecycle_policy, POLICY_NAME};

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let (repos, logs, roles) = tokio::try_join!(
        observe_repositories(aws),
        observe_log_groups(aws),
        observe_roles(aws)
    )?;
    Ok([repos, logs, roles].into_iter().flatten().collect())
}

fn kept_images(policy: &str) -> u32 {
    serde_json::from_str::<Value>(policy)
        .ok()
        .and_then(|p| p["rules"][0]["selection"]["countNumber"].as_u64())
        .unwrap_or(0) as u32
}

async fn observe_repositories(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let prefix = aws.prefix();
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .ecr
            .describe_repositories()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| call_error("repositories", "DescribeRepositories", e))?;
        for repo in out.repositories() {
            let (Some(name), Some(arn)) = (repo.repository_name(), repo.repository_arn()) else {
                continue;
            };
            if !name.starts_with(&prefix) {
                continue;
            }
            let tags = aws
                .ecr
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| call_error(name, "ListTagsForResource", e))?;
            let Some(id) = aws.owned_id(tags.tags().iter().map(|t| (t.key(), t.value()))) else {
                continue;
            };
            let policy = aws
                .ecr
                .get_lifecycle_policy()
                .repository_name(name)
                .send()
                .await;
            let keep_images = match policy {
                Ok(out) => kept_images(out.lifecycle_policy_text().unwrap_or_default()),
                Err(err) => {
                    let err = call_error(&id, "GetLifecyclePolicy", err);
                    if err.code() != Some("LifecyclePolicyNotFoundException") {
                        return Err(err);
                    }
                    0
                }
            };
            found.push(observed(
                &id,
                Kind::Repository,
                RepositorySpec {
                    scan_on_push: repo
                        .image_scanning_configuration()
                        .is_some_and(|c| c.scan_on_push()),
                    immutable_tags: repo.image_tag_mutability()
                        == Some(&ImageTagMutability::Immutable),
                    keep_images,
                },
                attrs([
                    ("arn", Some(arn.to_owned())),
                    ("name", Some(name.to_owned())),
                    ("uri", repo.repository_uri().map(str::to_owned)),
                ]),
            ));
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(found)
}

pub async fn create_repository(
    aws: &Aws,
    id: &str,
    spec: &RepositorySpec,
) -> Result<Attrs, AwsError> {
    let tags = aws
        .tags(id)
        .into_iter()
        .map(|(k, v)| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::Unexpected {
            resource: id.to_owned(),
            message: e.to_string(),
        })?;
    let out = aws
        .ecr
        .create_repository()
        .repository_name(aws.name(id))
        .image_tag_mutability(mutability(spec))
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(spec.scan_on_push)
                .build(),
        )
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateRepository", e))?;
    let repo = out.repository().ok_or_else(|| AwsError::Unexpected {
        resource: id.to_owned(),
        message: "CreateRepository returned no repository".into(),
    })?;
    aws.ecr
        .put_lifecycle_policy()
        .repository_name(aws.name(id))
        .lifecycle_policy_text(lifecycle_policy(spec.keep_images))
        .send()
        .await
        .map_err(|e| call_error(id, "PutLifecyclePolicy", e))?;
    Ok(attrs([
        ("arn", repo.repository_arn().map(str::to_owned)),
        ("name", repo.repository_name().map(str::to_owned)),
        ("uri", repo.repository_uri().map(str::to_owned)),
    ]))
}

fn mutability(spec: &RepositorySpec) -> ImageTagMutability {
    if spec.immutable_tags {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}

pub async fn update_repository(
    aws: &Aws,
    id: &str,
    spec: &RepositorySpec,
    current: &Attrs,
) -> Result<Attrs, AwsError> {
    let name = require(current, id, "name")?;
    aws.ecr
        .put_image_scanning_configuration()
        .repository_name(&name)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(spec.scan_on_push)
                .build(),
        )
        .send()
        .await
        .map_err(|e| call_error(id, "PutImageScanningConfiguration", e))?;
    aws.ecr
        .put_image_tag_mutability()
        .repository_name(&name)
        .image_tag_mutability(mutability(spec))
        .send()
        .await
        .map_err(|e| call_error(id, "PutImageTagMutability", e))?;
    aws.ecr
        .put_lifecycle_policy()
        .repository_name(&name)
        .lifecycle_policy_text(lifecycle_policy(spec.keep_images))
        .send()
        .await
        .map_err(|e| call_error(id, "PutLifecyclePolicy", e))?;
    Ok(current.clone())
}

pub async fn delete_repository(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.ecr
            .delete_repository()
            .repository_name(require(current, id, "name")?)
            .force(true)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteRepository", e)),
        &["RepositoryNotFoundException"],
    )
}

async fn observe_log_groups(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

pub async fn create_log_group(aws: &Aws, id: &str, spec: &LogGroupSpec) -> Result<Attrs, AwsError> {
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

pub async fn update_log_group(
    aws: &Aws,
    id: &str,
    spec: &LogGroupSpec,
    current: &Attrs,
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

pub async fn delete_log_group(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.logs
            .delete_log_group()
            .log_group_name(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteLogGroup", e)),
        &["ResourceNotFoundException"],
    )
}

fn trust_policy(spec: &RoleSpec, resolved: &Resolved) -> Result<String, AwsError> {
    let statement = match &spec.web_identity {
        None => json!({
            "Effect": "Allow",
            "Principal": {"Service": spec.principal},
            "Action": "sts:AssumeRole"
        }),
        Some(trust) => {
            let provider = resolved.get(&trust.provider, "arn")?;
            // Condition keys are named after the issuer: the provider ARN's last part.
            let issuer = provider
                .split_once(":oidc-provider/")
                .map_or("", |(_, host)| host);
            json!({
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{issuer}:aud"): trust.audience,
                    format!("{issuer}:sub"): trust.subjects,
                }}
            })
        }
    };
    Ok(json!({"Version": "2012-10-17", "Statement": [statement]}).to_string())
}

/// The trust policy read back into the spec's terms (physical ARNs stay until normalized).
fn observed_trust(document: &Value) -> (String, Option<WebIdentityTrust>) {
    let statement = &document["Statement"][0];
    let principal = as_list(&statement["Principal"]["Service"]).join(",");
    let Some(provider) = statement["Principal"]["Federated"].as_str() else {
        return (principal, None);
    };
    let issuer = provider
        .split_once(":oidc-provider/")
        .map_or("", |(_, host)| host);
    let equals = &statement["Condition"]["StringEquals"];
    let mut subjects = as_list(&equals[format!("{issuer}:sub")]);
    subjects.sort();
    let trust = WebIdentityTrust {
        provider: Ref::physical(provider),
        audience: as_list(&equals[format!("{issuer}:aud")]).join(","),
        subjects,
    };
    (principal, Some(trust))
}

/// IAM returns policy documents URL-encoded.
fn decode(document: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&decoded).ok()
}

fn as_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

async fn observe_roles(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    // ListRoles pages with Marker/IsTruncated (100 roles a page by default).
    let roles = aws
        .iam
        .list_roles()
        .path_prefix(role_path(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("roles", "ListRoles", e))?;
    let prefix = aws.prefix();
    let mut found = Vec::new();
    for role in &roles {
        // The stack-scoped IAM path marks ownership; the name carries the logical id.
        let Some(id) = role.role_name().strip_prefix(&prefix) else {
            continue;
        };
        let (principal, web_identity) = role
            .assume_role_policy_document()
            .and_then(decode)
            .map(|doc| observed_trust(&doc))
            .unwrap_or_default();
        let policy = aws
            .iam
            .get_role_policy()
            .role_name(role.role_name())
            .policy_name(POLICY_NAME)
            .send()
            .await;
        let statements = match policy {
            Ok(out) => decode(out.policy_document())
                .map(|doc| {
                    let statements = match &doc["Statement"] {
                        Value::Array(items) => items.clone(),
                        single => vec![single.clone()],
                    };
                    statements
                        .iter()
                        .map(|s| {
                            let mut actions = as_list(&s["Action"]);
                            actions.sort();
                            let mut resources = as_list(&s["Resource"]);
                            resources.sort();
                            let conditions = PolicyStatement::conditions_from_json(&s["Condition"]);
                            PolicyStatement {
                                actions,
                                resources,
                                conditions,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Err(err) => {
                let err = call_error(id, "GetRolePolicy", err);
                if err.code() != Some("NoSuchEntity") {
                    return Err(err);
                }
                Vec::new()
            }
        };
        let managed_policies = attached_policies(aws, id, role.role_name()).await?;
        found.push(observed(
            id,
            Kind::Role,
            RoleSpec {
                principal,
                web_identity,
                statements,
                managed_policies,
            },
            attrs([
                ("arn", Some(role.arn().to_owned())),
                ("name", Some(role.role_name().to_owned())),
            ]),
        ));
    }
    Ok(found)
}

/// The ARNs of the managed policies attached to a role, sorted.
async fn attached_policies(aws: &Aws, id: &str, role_name: &str) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut pages = aws
        .iam
        .list_attached_role_policies()
        .role_name(role_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error(id, "ListAttachedRolePolicies", e))?;
        arns.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned)),
        );
    }
    arns.sort();
    Ok(arns)
}

/// Attaches the spec's managed policies the role lacks and detaches the others.
async fn sync_managed_policies(
    aws: &Aws,
    id: &str,
    name: &str,
    spec: &RoleSpec,
    attached: &[String],
) -> Result<(), AwsError> {
    for arn in spec
        .managed_policies
        .iter()
        .filter(|a| !attached.contains(a))
    {
        aws.iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| call_error(id, "AttachRolePolicy", e))?;
    }
    for arn in attached
        .iter()
        .filter(|a| !spec.managed_policies.contains(a))
    {
        aws.iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DetachRolePolicy", e))?;
    }
    Ok(())
}

/// Writes the role's inline policy, or removes it when the spec has no statements (a task
/// role with ECS Exec off, the blue/green role): the Statement element is required and
/// holds statements (IAM User Guide, "IAM JSON policy elements: Statement").
async fn sync_inline_policy(
    aws: &Aws,
    id: &str,
    name: &str,
    spec: &RoleSpec,
    resolved: &Resolved,
) -> Result<(), AwsError> {
    if spec.statements.is_empty() {
        return deleted(
            aws.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(POLICY_NAME)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteRolePolicy", e)),
            &["NoSuchEntity"],
        );
    }
    aws.iam
        .put_role_policy()
        .role_name(name)
        .policy_name(POLICY_NAME)
        .policy_document(policy_document(spec, resolved)?)
        .send()
        .await
        .map_err(|e| call_error(id, "PutRolePolicy", e))?;
    Ok(())
}

/// The policy document with references resolved to ARNs.
fn policy_document(spec: &RoleSpec, resolved: &Resolved) -> Result<String, AwsError> {
    let mut statements = Vec::new();
    for statement in &spec.statements {
        let mut resources = Vec::new();
        for resource in &statement.resources {
            let (base, suffix) = match resource.strip_suffix(":*") {
                Some(base) => (base, ":*"),
                None => (resource.as_str(), ""),
            };
            let reference = Ref(base.to_owned());
            let arn = if statement
                .actions
                .iter()
                .all(|a| a.starts_with("secretsmanager:"))
            {
                resolved.secret_arn(&reference)?
            } else {
                resolved.get(&reference, "arn")?
            };
            resources.push(format!("{arn}{suffix}"));
        }
        let mut written =
            json!({"Effect": "Allow", "Action": statement.actions, "Resource": resources});
        if let Some(condition) = statement.condition_json() {
            written["Condition"] = condition;
        }
        statements.push(written);
    }
    Ok(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
}

/// The ownership tags as IAM takes them (roles, OIDC providers).
pub(super) fn iam_tags(aws: &Aws, id: &str) -> Result<Vec<aws_sdk_iam::types::Tag>, AwsError> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::Unexpected {
            resource: id.to_owned(),
            message: e.to_string(),
        })
}

pub async fn create_role(
    aws: &Aws,
    id: &str,
    spec: &RoleSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let tags = iam_tags(aws, id)?;
    let name = aws.name(id);
    let out = aws
        .iam
        .create_role()
        .role_name(&name)
        .path(role_path(aws))
        .assume_role_policy_document(trust_policy(spec, resolved)?)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateRole", e))?;
    let arn = out.role().map(|r| r.arn().to_owned());
    if !spec.statements.is_empty() {
        sync_inline_policy(aws, id, &name, spec, resolved).await?;
    }
    sync_managed_policies(aws, id, &name, spec, &[]).await?;
    Ok(attrs([("arn", arn), ("name", Some(name))]))
}

pub async fn update_role(
    aws: &Aws,
    id: &str,
    spec: &RoleSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let name = require(current, id, "name")?;
    aws.iam
        .update_assume_role_policy()
        .role_name(&name)
        .policy_document(trust_policy(spec, resolved)?)
        .send()
        .await
        .map_err(|e| call_error(id, "UpdateAssumeRolePolicy", e))?;
    sync_inline_policy(aws, id, &name, spec, resolved).await?;
    let attached = attached_policies(aws, id, &name).await?;
    sync_managed_policies(aws, id, &name, spec, &attached).await?;
    Ok(current.clone())
}

pub async fn delete_role(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    let name = require(current, id, "name")?;
    let gone = |err: &AwsError| err.code() == Some("NoSuchEntity");
    // DeleteRole refuses a role that still has managed policies attached (DeleteConflict).
    match attached_policies(aws, id, &name).await {
        Ok(attached) => {
            for arn in attached {
                deleted(
                    aws.iam
                        .detach_role_policy()
                        .role_name(&name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(|e| call_error(id, "DetachRolePolicy", e)),
                    &["NoSuchEntity"],
                )?;
            }
        }
        Err(err) if gone(&err) => return Ok(()),
        Err(err) => return Err(err),
    }
    if let Err(err) = aws
        .iam
        .delete_role_policy()
        .role_name(&name)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(|e| call_error(id, "DeleteRolePolicy", e))
    {
        if !gone(&err) {
            return Err(err);
        }
    }
    match aws
        .iam
        .delete_role()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| call_error(id, "DeleteRole", e))
    {
        Err(err) if gone(&err) => Ok(()),
        other => other.map(|_| ()),
    }
}

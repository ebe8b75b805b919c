//! IAM roles: trust (a service, or a web identity), one inline policy, managed policies.

use serde_json::{json, Value};

use super::iam_common::iam_tags;
use super::{deleted, Provider, Scan};
use crate::aws::tags::role_path;
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::registry::POLICY_NAME;

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
            <super::Role as Provider>::gone,
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

impl Provider for super::Role {
    type Spec = RoleSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "NoSuchEntity")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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
                                let conditions =
                                    PolicyStatement::conditions_from_json(&s["Condition"]);
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let name = require(current, id, "name")?;
        let gone = |err: &AwsError| err.code().is_some_and(Self::gone);
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
                        Self::gone,
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
}

//! The Cloud Map HTTP namespace Service Connect uses.

use super::ecs_common::invalid;
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, wait_until, Aws, AwsError, DeleteOptions, Progress,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

/// Cloud Map operations are asynchronous: polls one until it succeeds.
async fn wait_for_operation(
    aws: &Aws,
    id: &str,
    operation_id: &str,
    progress: &dyn Progress,
) -> Result<Option<String>, AwsError> {
    wait_until(aws, id, "Cloud Map operation", progress, || async {
        let out = aws
            .discovery
            .get_operation()
            .operation_id(operation_id)
            .send()
            .await
            .map_err(|e| call_error(id, "GetOperation", e))?;
        let Some(operation) = out.operation() else {
            return Ok(Err("unknown".into()));
        };
        let status = operation
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        match status.as_str() {
            "SUCCESS" => Ok(Ok(operation
                .targets()
                .and_then(|t| {
                    t.get(&aws_sdk_servicediscovery::types::OperationTargetType::Namespace)
                })
                .cloned())),
            "FAIL" => Err(AwsError::Unexpected {
                resource: id.to_owned(),
                message: format!(
                    "Cloud Map operation failed: {}",
                    operation.error_message().unwrap_or("no reason given")
                ),
            }),
            other => Ok(Err(other.to_owned())),
        }
    })
    .await
}

impl Provider for super::Namespace {
    type Spec = NamespaceSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "NamespaceNotFound")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut namespaces = Vec::new();
        let mut pages = aws.discovery.list_namespaces().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| call_error("namespace", "ListNamespaces", e))?;
            namespaces.extend(page.namespaces().iter().cloned());
        }
        let mut found = Vec::new();
        for namespace in &namespaces {
            let (Some(name), Some(arn)) = (namespace.name(), namespace.arn()) else {
                continue;
            };
            if !name.starts_with(&format!("{}-{}.", aws.stack, aws.env)) {
                continue;
            }
            let tags = aws
                .discovery
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| call_error(name, "ListTagsForResource", e))?;
            let Some(id) = aws.owned_id(tags.tags().iter().map(|t| (t.key(), t.value()))) else {
                continue;
            };
            found.push(observed(
                &id,
                Kind::Namespace,
                NamespaceSpec {
                    name: name.to_owned(),
                },
                attrs([
                    ("arn", Some(arn.to_owned())),
                    ("id", namespace.id().map(str::to_owned)),
                ]),
            ));
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let tags = aws
            .tags(id)
            .into_iter()
            .map(|(k, v)| {
                aws_sdk_servicediscovery::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(id, e))?;
        let out = aws
            .discovery
            .create_http_namespace()
            .name(&spec.name)
            .creator_request_id(aws.name(id))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateHttpNamespace", e))?;
        let namespace_id =
            wait_for_operation(aws, id, out.operation_id().unwrap_or_default(), progress)
                .await?
                .unwrap_or_default();
        let namespace = aws
            .discovery
            .get_namespace()
            .id(&namespace_id)
            .send()
            .await
            .map_err(|e| call_error(id, "GetNamespace", e))?;
        Ok(attrs([
            (
                "arn",
                namespace
                    .namespace()
                    .and_then(|n| n.arn())
                    .map(str::to_owned),
            ),
            ("id", Some(namespace_id)),
        ]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        match aws
            .discovery
            .delete_namespace()
            .id(require(current, id, "id")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteNamespace", e))
        {
            Ok(out) => {
                if let Some(operation) = out.operation_id() {
                    wait_for_operation(aws, id, operation, progress).await?;
                }
                Ok(())
            }
            Err(err) if err.code().is_some_and(Self::gone) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

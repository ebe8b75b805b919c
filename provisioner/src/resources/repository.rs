//! ECR repositories: scanning, tag immutability and the lifecycle policy; also whether an
//! image tag exists (`deploy`, and services waiting for their image).

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
use serde_json::Value;

use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::registry::lifecycle_policy;

fn kept_images(policy: &str) -> u32 {
    serde_json::from_str::<Value>(policy)
        .ok()
        .and_then(|p| p["rules"][0]["selection"]["countNumber"].as_u64())
        .unwrap_or(0) as u32
}

fn mutability(spec: &RepositorySpec) -> ImageTagMutability {
    if spec.immutable_tags {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}

/// The repository attribute listing its image tags (`a,b,c`; see [`has_image_tag`]).
pub const IMAGE_TAGS: &str = "_image_tags";

/// Whether an observed repository's attributes list `tag` among its images.
pub fn has_image_tag(attrs: &Attrs, tag: &str) -> bool {
    attrs
        .get(IMAGE_TAGS)
        .is_some_and(|tags| tags.split(',').any(|t| t == tag))
}

/// What ECR says about one tag of one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageTag {
    Present,
    Missing,
    NoRepository,
}

/// The tags of the images in an ECR repository, sorted and joined by `,` (the
/// repository's `_image_tags` attribute: whether a service's image exists before it is
/// created, see `first_release`). The lifecycle policy bounds how many there are.
async fn image_tags(aws: &Aws, id: &str, repository: &str) -> Result<String, AwsError> {
    let ids: Vec<aws_sdk_ecr::types::ImageIdentifier> = aws
        .ecr
        .list_images()
        .repository_name(repository)
        .filter(
            aws_sdk_ecr::types::ListImagesFilter::builder()
                .tag_status(aws_sdk_ecr::types::TagStatus::Tagged)
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error(id, "ListImages", e))?;
    let mut tags: Vec<&str> = ids.iter().filter_map(|i| i.image_tag()).collect();
    tags.sort_unstable();
    tags.dedup();
    Ok(tags.join(","))
}

/// Looks a tag up in an ECR repository (shared by `up`'s wait and `deploy`'s check).
pub async fn image_tag(aws: &Aws, repository: &str, tag: &str) -> Result<ImageTag, AwsError> {
    let result = aws
        .ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag(tag)
                .build(),
        )
        .send()
        .await;
    match result {
        Ok(out) if out.image_details().is_empty() => Ok(ImageTag::Missing),
        Ok(_) => Ok(ImageTag::Present),
        Err(err) => {
            let err = call_error(repository, "DescribeImages", err);
            match err.code() {
                Some("ImageNotFoundException") => Ok(ImageTag::Missing),
                Some("RepositoryNotFoundException") => Ok(ImageTag::NoRepository),
                _ => Err(err),
            }
        }
    }
}

impl Provider for super::Repository {
    type Spec = RepositorySpec;

    fn gone(code: &str) -> bool {
        matches!(code, "RepositoryNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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
                let (Some(name), Some(arn)) = (repo.repository_name(), repo.repository_arn())
                else {
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
                let Some(id) = aws.owned_id(tags.tags().iter().map(|t| (t.key(), t.value())))
                else {
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
                let image_tag_list = image_tags(aws, &id, name).await?;
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
                        (IMAGE_TAGS, Some(image_tag_list)),
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

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.ecr
                .delete_repository()
                .repository_name(require(current, id, "name")?)
                .force(true)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteRepository", e)),
            Self::gone,
        )
    }
}

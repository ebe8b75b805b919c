//! Helpers shared by the ECS kinds (cluster, task definition, service): ownership tags
//! (ECS returns them with `include=TAGS`), the cluster's name, and request errors.

use aws_sdk_ecs::types::Tag;

use crate::aws::{Aws, AwsError};

pub(crate) fn tags(aws: &Aws, id: &str) -> Vec<Tag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn owned(aws: &Aws, tags: &[Tag]) -> Option<String> {
    aws.owned_id(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

pub(crate) fn invalid(id: &str, err: impl std::fmt::Display) -> AwsError {
    AwsError::Unexpected {
        resource: id.to_owned(),
        message: err.to_string(),
    }
}

pub(crate) fn cluster_name(aws: &Aws) -> String {
    aws.name("cluster")
}

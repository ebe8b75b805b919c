//! Helpers shared by the IAM kinds (role, OIDC provider).

use crate::aws::{Aws, AwsError};

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

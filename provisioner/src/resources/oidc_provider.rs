//! IAM OpenID Connect identity providers (GitHub Actions' issuer), found by their tags
//! among the account's providers.

use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

/// Names of roles outside this stack whose trust policy names `provider`.
async fn roles_trusting(aws: &Aws, provider: &str) -> Result<Vec<String>, AwsError> {
    let own_path = crate::aws::tags::role_path(aws);
    let mut names = Vec::new();
    let mut pages = aws.iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("roles", "ListRoles", e))?;
        for role in page.roles() {
            let document = role.assume_role_policy_document().unwrap_or_default();
            let document = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
            if role.path() != own_path && document.contains(provider) {
                names.push(role.role_name().to_owned());
            }
        }
    }
    Ok(names)
}

impl Provider for super::OidcProvider {
    type Spec = OidcProviderSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "NoSuchEntity")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let listed = aws
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| call_error("oidc providers", "ListOpenIDConnectProviders", e))?;
        let mut found = Vec::new();
        for arn in listed
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
        {
            let provider = aws
                .iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .map_err(|e| call_error(arn, "GetOpenIDConnectProvider", e))?;
            let Some(id) = aws.owned_id(provider.tags().iter().map(|t| (t.key(), t.value())))
            else {
                continue;
            };
            let mut client_ids = provider.client_id_list().to_vec();
            client_ids.sort();
            // IAM reports the URL without its scheme.
            let url = provider.url().unwrap_or_default();
            let url = if url.starts_with("https://") {
                url.to_owned()
            } else {
                format!("https://{url}")
            };
            found.push(observed(
                &id,
                Kind::OidcProvider,
                OidcProviderSpec { url, client_ids },
                attrs([("arn", Some(arn.to_owned()))]),
            ));
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
        let tags = super::iam_common::iam_tags(aws, id)?;
        let out = aws
            .iam
            .create_open_id_connect_provider()
            .url(&spec.url)
            .set_client_id_list(Some(spec.client_ids.clone()))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| match call_error(id, "CreateOpenIDConnectProvider", e) {
                AwsError::Call { code, message, .. } if code.as_deref() == Some("EntityAlreadyExists") => {
                    AwsError::Unexpected {
                        resource: id.to_owned(),
                        message: format!(
                            "the account already has an OIDC provider for {} ({message}); IAM allows one per account: set github.oidc_provider_arn in the stack file to its ARN (`aws iam list-open-id-connect-providers`)",
                            spec.url
                        ),
                    }
                }
                other => other,
            })?;
        Ok(attrs([(
            "arn",
            out.open_id_connect_provider_arn().map(str::to_owned),
        )]))
    }

    /// Brings the audiences in line (the URL never changes in place: that is a replace).
    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let arn = require(current, id, "arn")?;
        let live = aws
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "GetOpenIDConnectProvider", e))?;
        let live_ids = live.client_id_list();
        for wanted in spec.client_ids.iter().filter(|c| !live_ids.contains(c)) {
            aws.iam
                .add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .client_id(wanted)
                .send()
                .await
                .map_err(|e| call_error(id, "AddClientIDToOpenIDConnectProvider", e))?;
        }
        for stale in live_ids.iter().filter(|c| !spec.client_ids.contains(c)) {
            aws.iam
                .remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .client_id(stale)
                .send()
                .await
                .map_err(|e| call_error(id, "RemoveClientIDFromOpenIDConnectProvider", e))?;
        }
        Ok(current.clone())
    }

    /// Deletes the provider — unless roles outside this stack still trust it (another stack
    /// or environment naming it in `github.oidc_provider_arn`): then it stays for them, with
    /// this stack's tags removed so it is no longer this stack's.
    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let arn = require(current, id, "arn")?;
        let trusting = roles_trusting(aws, &arn).await?;
        if !trusting.is_empty() {
            tracing::warn!(
                provider = %arn,
                roles = %trusting.join(", "),
                "kept the OIDC provider: other stacks' roles trust it; it is no longer tagged as this stack's"
            );
            let keys: Vec<String> = aws.tags(id).into_iter().map(|(k, _)| k).collect();
            return aws
                .iam
                .untag_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| call_error(id, "UntagOpenIDConnectProvider", e));
        }
        deleted(
            aws.iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteOpenIDConnectProvider", e)),
            Self::gone,
        )
    }
}

//! ECR as `provision push` needs it: a repository's URI and the registry credentials
//! (GetAuthorizationToken), which `docker login` takes.

use anyhow::{bail, Context, Result};

use crate::aws::{call_error, Aws};

/// The URI (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`) of repository `name`, or
/// `None` when it does not exist.
pub async fn repository_uri(aws: &Aws, name: &str) -> Result<Option<String>> {
    match aws
        .ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .repositories()
            .first()
            .and_then(|r| r.repository_uri())
            .map(str::to_owned)),
        Err(err) => {
            let err = call_error(name, "DescribeRepositories", err);
            if err.code() == Some("RepositoryNotFoundException") {
                return Ok(None);
            }
            Err(err.into())
        }
    }
}

/// The registry host of an image reference (`host/repository:tag` → `host`).
///
/// ```
/// use provisioner::push::registry::host;
/// assert_eq!(host("1.dkr.ecr.eu-west-1.amazonaws.com/shop-dev-repo-users:v1"), "1.dkr.ecr.eu-west-1.amazonaws.com");
/// ```
pub fn host(image: &str) -> &str {
    image.split_once('/').map_or(image, |(host, _)| host)
}

/// What `docker login` needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password (valid for 12 hours).
        write!(
            f,
            "Credentials {{ username: {:?}, password: *** }}",
            self.username
        )
    }
}

/// Decodes an ECR authorization token: base64 of `user:password` (ECR API reference,
/// "AuthorizationData": "a base64-encoded string that contains authorization data for the
/// specified Amazon ECR registry. When the string is decoded, it is presented in the
/// format user:password").
pub fn decode_token(token: &str) -> Result<Credentials> {
    let bytes = aws_smithy_types::base64::decode(token.trim())
        .context("ECR's authorization token is not base64")?;
    let text = String::from_utf8(bytes).context("ECR's authorization token is not text")?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Credentials {
            username: user.to_owned(),
            password: password.to_owned(),
        }),
        _ => bail!("ECR's authorization token is not `user:password`"),
    }
}

/// Registry credentials for this account and region (GetAuthorizationToken; valid 12 h).
pub async fn login_credentials(aws: &Aws) -> Result<Credentials> {
    let out = aws
        .ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| call_error("registry", "GetAuthorizationToken", e))?;
    let token = out
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .context("GetAuthorizationToken returned no token")?;
    decode_token(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_decode_to_user_and_password() {
        let token = aws_smithy_types::base64::encode("AWS:s3cr3t:with-colon");
        let credentials = decode_token(&token).unwrap();
        assert_eq!(credentials.username, "AWS");
        assert_eq!(credentials.password, "s3cr3t:with-colon");
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
        assert!(decode_token("!!!").is_err());
        let no_password = aws_smithy_types::base64::encode("AWS:");
        assert!(decode_token(&no_password)
            .unwrap_err()
            .to_string()
            .contains("user:password"));
    }
}

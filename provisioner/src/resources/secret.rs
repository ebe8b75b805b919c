//! Secrets Manager secrets: random tokens, connection URLs and database roles; values
//! never appear in plans. Deleted secrets stay restorable outside dev.

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};

use super::{deleted, Provider, Scan};
use crate::aws::{attrs, call_error, require, Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::secrets::{DATABASE_PASSWORD_LENGTH, RANDOM_TOKEN_LENGTH};

/// Percent-encodes a URL userinfo component (passwords may contain `@`, `/`, `:`).
fn userinfo(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn value(
    aws: &Aws,
    id: &str,
    spec: &SecretSpec,
    resolved: &Resolved,
) -> Result<String, AwsError> {
    match &spec.value {
        // ElastiCache AUTH tokens: 16-128 printable characters, no punctuation issues.
        SecretValue::RandomToken => random_password(aws, id, RANDOM_TOKEN_LENGTH).await,
        SecretValue::DatabaseRole { username } => {
            let password = random_password(aws, id, DATABASE_PASSWORD_LENGTH).await?;
            Ok(serde_json::json!({"username": username, "password": password}).to_string())
        }
        SecretValue::RedisUrl {
            replication_group,
            auth,
        } => {
            let endpoint = resolved.get(replication_group, "endpoint")?;
            let token = read_secret(aws, id, &resolved.get(auth, "arn")?).await?;
            Ok(format!("rediss://:{}@{endpoint}:6379", userinfo(&token)))
        }
        SecretValue::DatabaseUrl { instance } => {
            let endpoint = resolved.get(instance, "endpoint")?;
            let master = resolved.get(instance, "_master_secret")?;
            let credentials: serde_json::Value =
                serde_json::from_str(&read_secret(aws, id, &master).await?).map_err(|e| {
                    AwsError::Unexpected {
                        resource: id.to_owned(),
                        message: format!("the RDS master secret is not JSON: {e}"),
                    }
                })?;
            let field = |name: &str| credentials[name].as_str().unwrap_or_default().to_owned();
            let database = instance_database(resolved, instance);
            Ok(format!(
                "postgres://{}:{}@{endpoint}:5432/{database}?sslmode=require",
                userinfo(&field("username")),
                userinfo(&field("password")),
            ))
        }
    }
}

/// Letters and digits only (`ExcludePunctuation`; spaces are excluded by default).
async fn random_password(aws: &Aws, id: &str, length: i64) -> Result<String, AwsError> {
    let out = aws
        .secrets
        .get_random_password()
        .password_length(length)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| call_error(id, "GetRandomPassword", e))?;
    out.random_password()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: "GetRandomPassword returned nothing".into(),
        })
}

fn instance_database(resolved: &Resolved, instance: &Ref) -> String {
    resolved
        .get(instance, "_database")
        .unwrap_or_else(|_| "postgres".into())
}

/// A secret named `name` that is pending deletion blocks creating one of that name until
/// its recovery window ends (DeleteSecret, Secrets Manager API Reference). If it is ours
/// (ownership tags), RestoreSecret brings it back and the current value and description
/// are written over the old ones; `None` when there is no such secret to restore.
async fn restore_pending_deletion(
    aws: &Aws,
    id: &str,
    name: &str,
    spec: &SecretSpec,
    secret_string: &str,
) -> Result<Option<Attrs>, AwsError> {
    let described = match aws.secrets.describe_secret().secret_id(name).send().await {
        Ok(out) => out,
        Err(_) => return Ok(None),
    };
    let ours = aws
        .owned_id(
            described
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        )
        .is_some_and(|owner| owner == id);
    if described.deleted_date().is_none() || !ours {
        return Ok(None);
    }
    let arn = described.arn().unwrap_or(name).to_owned();
    aws.secrets
        .restore_secret()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| call_error(id, "RestoreSecret", e))?;
    aws.secrets
        .update_secret()
        .secret_id(&arn)
        .description(&spec.description)
        .secret_string(secret_string)
        .send()
        .await
        .map_err(|e| call_error(id, "UpdateSecret", e))?;
    Ok(Some(attrs([
        ("arn", Some(arn)),
        ("name", Some(name.to_owned())),
    ])))
}

/// The AUTH token is read from its secret so it never appears in plans or logs.
pub(crate) async fn read_secret(aws: &Aws, id: &str, arn: &str) -> Result<String, AwsError> {
    let out = aws
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| call_error(id, "GetSecretValue", e))?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!("secret {arn} has no string value"),
        })
}

impl Provider for super::Secret {
    type Spec = SecretSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ResourceNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let out = aws
                .secrets
                .list_secrets()
                .filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values(aws.prefix())
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("secrets", "ListSecrets", e))?;
            for secret in out.secret_list() {
                if secret.deleted_date().is_some() {
                    continue;
                }
                let Some(id) = aws.owned_id(
                    secret
                        .tags()
                        .iter()
                        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                ) else {
                    continue;
                };
                found.push(Observed {
                    id,
                    kind: Kind::Secret,
                    // The value's source is fixed at creation; only the description is compared.
                    spec: serde_json::json!({"description": secret.description().unwrap_or_default()}),
                    attrs: attrs([
                        ("arn", secret.arn().map(str::to_owned)),
                        ("name", secret.name().map(str::to_owned)),
                    ]),
                });
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
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let secret_string = value(aws, id, spec, resolved).await?;
        let tags: Vec<Tag> = aws
            .tags(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let name = aws.name(id);
        let created = aws
            .secrets
            .create_secret()
            .name(&name)
            .description(&spec.description)
            .secret_string(&secret_string)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateSecret", e));
        match created {
            Ok(out) => Ok(attrs([
                ("arn", out.arn().map(str::to_owned)),
                ("name", out.name().map(str::to_owned)),
            ])),
            // AWS answers InvalidRequestException ("already scheduled for deletion"), moto
            // ResourceExistsException; either way, a secret of ours waiting out its recovery
            // window (deleted outside dev by `down` or a replacement) is restored.
            Err(err)
                if matches!(
                    err.code(),
                    Some("InvalidRequestException") | Some("ResourceExistsException")
                ) =>
            {
                match restore_pending_deletion(aws, id, &name, spec, &secret_string).await? {
                    Some(attrs) => Ok(attrs),
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Deletes the secret: with a recovery window outside dev (restorable for
    /// `options.secret_recovery_days`, restored by the next `up` that needs the name), at once
    /// only when there is none (dev). DeleteSecret takes RecoveryWindowInDays (7-30) or
    /// ForceDeleteWithoutRecovery, never both.
    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let request = aws
            .secrets
            .delete_secret()
            .secret_id(require(current, id, "arn")?);
        let request = match options.secret_recovery_days {
            Some(days) => request.recovery_window_in_days(days.clamp(7, 30)),
            None => request.force_delete_without_recovery(true),
        };
        deleted(
            request
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteSecret", e)),
            Self::gone,
        )
    }
}

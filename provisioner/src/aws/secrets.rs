//! Secrets Manager: the Redis AUTH token and the URLs services receive as secrets.
//! Values are generated or derived here and never printed.

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};

use super::rds::read_secret;
use super::{attrs, call_error, deleted, require, Aws, AwsError, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};

/// Length of a random token (ElastiCache AUTH tokens: 16-128 characters, no punctuation).
pub const RANDOM_TOKEN_LENGTH: i64 = 64;
/// Length of a service role's Postgres password. Postgres itself limits nothing that
/// matters here (SCRAM hashes any length); letters and digits only, so the password
/// survives URLs and shells unescaped. GetRandomPassword takes 1-4096 (Secrets Manager
/// API reference, GetRandomPassword `PasswordLength`).
pub const DATABASE_PASSWORD_LENGTH: i64 = 48;

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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

pub async fn create_secret(
    aws: &Aws,
    id: &str,
    spec: &SecretSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let secret_string = value(aws, id, spec, resolved).await?;
    let tags: Vec<Tag> = aws
        .tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = aws
        .secrets
        .create_secret()
        .name(aws.name(id))
        .description(&spec.description)
        .secret_string(secret_string)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateSecret", e))?;
    Ok(attrs([
        ("arn", out.arn().map(str::to_owned)),
        ("name", out.name().map(str::to_owned)),
    ]))
}

pub async fn delete_secret(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.secrets
            .delete_secret()
            .secret_id(require(current, id, "arn")?)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteSecret", e)),
        &["ResourceNotFoundException"],
    )
}

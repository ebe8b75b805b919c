//! Per-service database roles (least privilege). Services never log in as the master
//! user: each has a role named after it, with a password from its own secret, that owns
//! the schemas it migrates and may only read (or update) the other schemas it uses.
//!
//! [`apply`] makes Postgres match a list of [`RoleSpec`]s; it runs as the master user in
//! the one-off `db-setup` task (`provision run db-setup`, the `db-roles` subcommand of a
//! service binary), the only place the master password is used. It is idempotent: it
//! creates what is missing, sets every role's password from its secret (so re-running it
//! after changing a secret rotates that role's password) and hands existing tables of an
//! owned schema to its owner (stacks whose migrations once ran as the master user).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// One service's role, as `provision` writes it into the setup task's `DATABASE_ROLES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSpec {
    /// The role (= the service's `DATABASE_USER`).
    pub role: String,
    /// The secret holding its password (name or ARN; JSON with a `password` field).
    pub secret: String,
    /// Schemas it owns: it creates and migrates their tables.
    #[serde(default)]
    pub owns: Vec<String>,
    /// Schemas whose tables it may only `SELECT`.
    #[serde(default)]
    pub reads: Vec<String>,
    /// Schemas whose tables it may `SELECT` and `UPDATE` (no `INSERT`, no `DELETE`).
    #[serde(default)]
    pub updates: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error("invalid DATABASE_ROLES: {0} — expected the JSON list `provision` writes")]
    Spec(String),
    #[error("schema {schema} is read by {role} but no role owns it: add it to one role's `owns`")]
    NoOwner { schema: String, role: String },
    #[error("no password for role {0}")]
    NoPassword(String),
    #[error("Postgres refused the role setup: {0} — it must run as the RDS master user")]
    Postgres(#[from] sqlx::Error),
}

/// Parses `DATABASE_ROLES` and checks that every schema read or updated has an owner.
pub fn parse(json: &str) -> Result<Vec<RoleSpec>, RolesError> {
    let roles: Vec<RoleSpec> =
        serde_json::from_str(json).map_err(|e| RolesError::Spec(e.to_string()))?;
    owners(&roles)?;
    Ok(roles)
}

fn owners(roles: &[RoleSpec]) -> Result<BTreeMap<&str, &str>, RolesError> {
    let owners: BTreeMap<&str, &str> = roles
        .iter()
        .flat_map(|r| r.owns.iter().map(|s| (s.as_str(), r.role.as_str())))
        .collect();
    for role in roles {
        for schema in role.reads.iter().chain(&role.updates) {
            if !owners.contains_key(schema.as_str()) {
                return Err(RolesError::NoOwner {
                    schema: schema.clone(),
                    role: role.role.clone(),
                });
            }
        }
    }
    Ok(owners)
}

/// `"name"` with embedded quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'value'` with embedded quotes doubled (`standard_conforming_strings` is on by default
/// since Postgres 9.1, so backslashes need nothing). `ALTER ROLE … PASSWORD` takes no
/// bind parameters.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The statements that make Postgres match `roles`, in order. `passwords` maps each role
/// to its password. Pure, so the SQL can be read (and tested) without a database.
pub fn statements(
    roles: &[RoleSpec],
    passwords: &BTreeMap<String, String>,
) -> Result<Vec<String>, RolesError> {
    let owners = owners(roles)?;
    let mut sql = Vec::new();
    for role in roles {
        let name = ident(&role.role);
        let password = passwords
            .get(&role.role)
            .ok_or_else(|| RolesError::NoPassword(role.role.clone()))?;
        // CREATE ROLE has no IF NOT EXISTS; a concurrent run may also hit the unique index.
        sql.push(format!(
            "DO $$ BEGIN CREATE ROLE {name} LOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ));
        // Only LOGIN and the password: RDS's master user is no superuser, and Postgres
        // lets only superusers name the SUPERUSER attribute even to deny it. The role was
        // created without SUPERUSER, CREATEDB or CREATEROLE (CREATE ROLE's defaults).
        sql.push(format!(
            "ALTER ROLE {name} WITH LOGIN PASSWORD {}",
            literal(password)
        ));
        // The master user needs membership to hand objects to the role and to set its
        // default privileges (RDS's master is not a superuser).
        sql.push(format!("GRANT {name} TO CURRENT_USER"));
    }
    for role in roles {
        let name = ident(&role.role);
        for schema in &role.owns {
            let schema_ident = ident(schema);
            sql.push(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema_ident} AUTHORIZATION {name}"
            ));
            sql.push(format!("ALTER SCHEMA {schema_ident} OWNER TO {name}"));
            // Only the owner creates objects there (Postgres 15's default for `public`,
            // made explicit for older clusters and other schemas).
            sql.push(format!(
                "REVOKE CREATE ON SCHEMA {schema_ident} FROM PUBLIC"
            ));
            // Tables, views and their sequences made earlier by someone else (migrations
            // that ran as the master user) become the owner's, so its migrations can
            // alter them.
            sql.push(format!(
                "DO $$ DECLARE r record; BEGIN \
                 FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = {} AND c.relkind IN ('r', 'p', 'v', 'm') \
                 AND c.relowner <> {}::regrole \
                 LOOP EXECUTE format('ALTER TABLE %s OWNER TO %I', r.rel, {}); END LOOP; END $$",
                literal(schema),
                literal(&name),
                literal(&role.role),
            ));
        }
        for (schemas, privileges) in [(&role.reads, "SELECT"), (&role.updates, "SELECT, UPDATE")] {
            for schema in schemas {
                let schema_ident = ident(schema);
                let owner = ident(owners[schema.as_str()]);
                sql.push(format!("GRANT USAGE ON SCHEMA {schema_ident} TO {name}"));
                sql.push(format!(
                    "GRANT {privileges} ON ALL TABLES IN SCHEMA {schema_ident} TO {name}"
                ));
                // Tables the owner's later migrations create.
                sql.push(format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema_ident} \
                     GRANT {privileges} ON TABLES TO {name}"
                ));
            }
        }
    }
    Ok(sql)
}

/// Applies [`statements`] in one transaction, so a failure leaves nothing half done.
pub async fn apply(
    master: &PgPool,
    roles: &[RoleSpec],
    passwords: &BTreeMap<String, String>,
) -> Result<(), RolesError> {
    let statements = statements(roles, passwords)?;
    let mut transaction = master.begin().await?;
    for statement in &statements {
        sqlx::query(statement).execute(&mut *transaction).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// The `db-roles` subcommand: connects with the (master) [`super::DatabaseConfig`] of the
/// environment, reads each role's password from its secret and applies `DATABASE_ROLES`.
pub async fn run_from_env(env: &crate::Env) -> anyhow::Result<()> {
    use anyhow::Context;
    let roles = parse(&env.required(
        "DATABASE_ROLES",
        "the JSON list of roles `provision` writes",
    )?)?;
    let database = super::DatabaseConfig::from_env(env)?;
    let options = database.current_options().await?;
    let master = super::connect_with_retry(
        options,
        super::PoolSettings {
            max_connections: 1,
            ..super::PoolSettings::default()
        },
        crate::retry::Backoff::startup(std::time::Duration::from_secs(60)),
    )
    .await
    .context("cannot connect as the master user: check DATABASE_HOST/USER and the master secret")?;
    let secrets = super::credentials::SecretsManager::from_env().await;
    let mut passwords = BTreeMap::new();
    for role in &roles {
        let value = secrets.fetch(&role.secret).await?;
        let password = super::credentials::password_from_secret(&role.secret, &value)?;
        passwords.insert(role.role.clone(), password);
    }
    apply(&master, &roles, &passwords).await?;
    for role in &roles {
        tracing::info!(role = %role.role, owns = ?role.owns, reads = ?role.reads, updates = ?role.updates, "database role in place");
    }
    Ok(())
}

/// For a service's `main`: when the first argument is `db-roles`, runs
/// [`run_from_env`] and exits (0 on success); otherwise returns.
pub async fn exit_if_requested() {
    if std::env::args().nth(1).as_deref() != Some("db-roles") {
        return;
    }
    let env = crate::Env::from_process();
    crate::telemetry::init(
        env.log_format()
            .unwrap_or(crate::telemetry::LogFormat::Json),
    );
    match run_from_env(&env).await {
        Ok(()) => std::process::exit(0),
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "database role setup failed");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_read_without_an_owner_is_refused() {
        let err = parse(r#"[{"role":"result","secret":"s","reads":["public"]}]"#).unwrap_err();
        assert!(err.to_string().contains("no role owns it"), "{err}");
        assert!(parse("{}").is_err());
    }

    #[test]
    fn identifiers_and_passwords_are_quoted() {
        let roles = parse(r#"[{"role":"we\"ird","secret":"s","owns":["public"]}]"#).unwrap();
        let passwords = BTreeMap::from([("we\"ird".to_owned(), "it's".to_owned())]);
        let sql = statements(&roles, &passwords).unwrap();
        assert!(
            sql.iter().any(|s| s.contains(r#"ROLE "we""ird""#)),
            "{sql:?}"
        );
        assert!(
            sql.iter().any(|s| s.ends_with("PASSWORD 'it''s'")),
            "{sql:?}"
        );
    }
}

//! `provision tunnel redis|postgres`: SSM port forwarding from a local port to the private
//! Redis or Postgres endpoint through a running task of a service that uses the store (its
//! security group is one the store accepts), so local tools reach the data tier without it
//! ever being public. (moto has no SSM StartSession; tested with aws-smithy-mocks.)

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::exec::{self, ExecTarget};
use super::session::{self, Origin, Session};
use super::PluginContext;
use crate::aws::{call_error, Aws};
use crate::config::{DataStore, StackConfig};

/// The SSM document that forwards a local port to a host reachable from the target.
pub const DOCUMENT: &str = "AWS-StartPortForwardingSessionToRemoteHost";

/// Where the store listens (as AWS reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// `redis` / `postgres`, as the stack file and the command line spell it.
pub fn store_name(store: DataStore) -> &'static str {
    match store {
        DataStore::Redis => "redis",
        DataStore::Postgres => "postgres",
    }
}

/// The services a tunnel may go through: `via` if given (it must use the store, otherwise
/// the store's security group drops its traffic), else every service that uses the store.
pub fn relay_services(
    config: &StackConfig,
    store: DataStore,
    via: Option<&str>,
) -> Result<Vec<String>> {
    let name = store_name(store);
    let present = match store {
        DataStore::Redis => config.redis.is_some(),
        DataStore::Postgres => config.postgres.is_some(),
    };
    if !present {
        bail!(
            "stack {} has no {name} (no [{name}] in {}.toml); nothing to tunnel to",
            config.stack,
            config.stack
        );
    }
    let consumers: Vec<String> = config
        .services
        .iter()
        .filter(|(_, s)| s.uses.contains(&store))
        .map(|(n, _)| n.clone())
        .collect();
    match via {
        Some(service) if consumers.iter().any(|c| c == service) => Ok(vec![service.to_owned()]),
        Some(service) => bail!(
            "{service} does not use {name}, so {name} does not accept its traffic; pass --via one of: {}",
            consumers.join(", ")
        ),
        None if consumers.is_empty() => bail!(
            "no service of stack {} uses {name}; a tunnel needs a running task of one (or use `provision debug`)",
            config.stack
        ),
        None => Ok(consumers),
    }
}

/// The store's endpoint: the replication group's primary endpoint or the DB instance's.
pub async fn store_endpoint(aws: &Aws, store: DataStore) -> Result<Endpoint> {
    let name = aws.name(store_name(store));
    let missing =
        || format!("{name} has no endpoint yet; run `provision up` and wait until it is available");
    match store {
        DataStore::Redis => {
            let out = aws
                .elasticache
                .describe_replication_groups()
                .replication_group_id(&name)
                .send()
                .await
                .map_err(|e| call_error("redis", "DescribeReplicationGroups", e))?;
            let endpoint = out
                .replication_groups()
                .first()
                .and_then(|g| g.node_groups().first())
                .and_then(|n| n.primary_endpoint())
                .with_context(missing)?;
            Ok(Endpoint {
                host: endpoint.address().with_context(missing)?.to_owned(),
                port: endpoint
                    .port()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(6379),
            })
        }
        DataStore::Postgres => {
            let out = aws
                .rds
                .describe_db_instances()
                .db_instance_identifier(&name)
                .send()
                .await
                .map_err(|e| call_error("postgres", "DescribeDBInstances", e))?;
            let endpoint = out
                .db_instances()
                .first()
                .and_then(|i| i.endpoint())
                .with_context(missing)?;
            Ok(Endpoint {
                host: endpoint.address().with_context(missing)?.to_owned(),
                port: endpoint
                    .port()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(5432),
            })
        }
    }
}

/// The StartSession request as JSON, the form the AWS CLI hands to the plugin.
pub fn request_json(target: &ExecTarget, endpoint: &Endpoint, local_port: u16) -> Value {
    json!({
        "Target": target.ssm_target(),
        "DocumentName": DOCUMENT,
        "Parameters": {
            "host": [endpoint.host],
            "portNumber": [endpoint.port.to_string()],
            "localPortNumber": [local_port.to_string()],
        },
    })
}

/// SSM StartSession with the port-forwarding document; the session it opened.
pub async fn start_session(
    aws: &Aws,
    target: &ExecTarget,
    endpoint: &Endpoint,
    local_port: u16,
) -> Result<Session> {
    let out = aws
        .ssm
        .start_session()
        .target(target.ssm_target())
        .document_name(DOCUMENT)
        .parameters("host", vec![endpoint.host.clone()])
        .parameters("portNumber", vec![endpoint.port.to_string()])
        .parameters("localPortNumber", vec![local_port.to_string()])
        .send()
        .await
        .map_err(|e| call_error(&target.task_id, "StartSession", e))
        .context(
            "is the task's ExecuteCommandAgent running and are you allowed ssm:StartSession?",
        )?;
    Ok(Session {
        session_id: out.session_id().unwrap_or_default().to_owned(),
        stream_url: out.stream_url().unwrap_or_default().to_owned(),
        token_value: out.token_value().unwrap_or_default().to_owned(),
    })
}

/// What to run on the operator's machine once the tunnel is up. Secrets are named, never
/// printed.
pub fn local_hint(
    config: &StackConfig,
    aws: &Aws,
    store: DataStore,
    endpoint: &Endpoint,
    local_port: u16,
) -> String {
    match store {
        DataStore::Postgres => {
            let (user, database) = config
                .postgres
                .as_ref()
                .map(|pg| (pg.username.as_str(), pg.database.as_str()))
                .unwrap_or(("postgres", "postgres"));
            format!(
                "  psql \"postgresql://{user}@localhost:{local_port}/{database}?sslmode=require\"\n\
                 password: the one in secret {secret} (its DATABASE_URL):\n  \
                 aws secretsmanager get-secret-value --secret-id {secret} --query SecretString --output text",
                secret = aws.name("database-url"),
            )
        }
        DataStore::Redis => format!(
            "  redis-cli --tls --sni {host} -p {local_port} --askpass\n\
             AUTH token: secret {secret}:\n  \
             aws secretsmanager get-secret-value --secret-id {secret} --query SecretString --output text\n\
             The server certificate names {host}, not localhost: clients that check host names \
             must be given that name (redis-cli: --sni) or skip the check for this tunnel only.",
            host = endpoint.host,
            secret = aws.name("redis-auth"),
        ),
    }
}

/// A running task of the first relay service that has one.
async fn relay_target(aws: &Aws, services: &[String]) -> Result<ExecTarget> {
    let mut reasons = Vec::new();
    for service in services {
        match exec::find_target(aws, service, None, None).await {
            Ok(target) => return Ok(target),
            Err(err) => reasons.push(format!("{service}: {err:#}")),
        }
    }
    bail!(
        "no running task to tunnel through:\n  {}",
        reasons.join("\n  ")
    )
}

/// `provision tunnel redis|postgres [--local-port P] [--via SERVICE]`: runs until the
/// plugin ends (Ctrl-C); the plugin's exit code.
pub async fn tunnel(
    aws: &Aws,
    plugin: &PluginContext,
    config: &StackConfig,
    store: DataStore,
    local_port: Option<u16>,
    via: Option<&str>,
) -> Result<u8> {
    let services = relay_services(config, store, via)?;
    let endpoint = store_endpoint(aws, store).await?;
    let local_port = local_port.unwrap_or(endpoint.port);
    let target = relay_target(aws, &services).await?;
    let session = start_session(aws, &target, &endpoint, local_port).await?;
    let args = session::plugin_args(
        &session,
        Origin::SsmStartSession,
        &aws.region,
        plugin.profile.as_deref(),
        &request_json(&target, &endpoint, local_port),
        &session::ssm_endpoint(&aws.region, plugin.endpoint_url.as_deref()),
    );
    eprintln!(
        "tunnel: localhost:{local_port} → {}:{} through task {} of {}; Ctrl-C closes it.\nIn another terminal:\n{}",
        endpoint.host,
        endpoint.port,
        target.task_id,
        target.container,
        local_hint(config, aws, store, &endpoint, local_port)
    );
    session::launch(&plugin.plugin, &args).await
}

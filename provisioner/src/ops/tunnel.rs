//! `provision tunnel redis|postgres`: SSM port forwarding from a local port to the private
//! Redis or Postgres endpoint through a running task of a service that uses the store (its
//! security group is one the store accepts), or through a temporary debug task
//! (`--via debug`), so local tools reach the data tier without it ever being public.
//! The session goes through the task's ECS Exec agent, so relays must have exec on
//! (see `exec`). (moto has no SSM StartSession; tested with aws-smithy-mocks.)

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::exec::{self, ExecSetting, ExecTarget};
use super::session::{self, Origin, Session};
use super::{debug, run, PluginContext};
use crate::aws::{call_error, Aws};
use crate::config::{DataStore, StackConfig};
use crate::constructs::DEBUG;
use crate::model::ids;

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

/// What relays a tunnel's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    /// A running task of the first of these services that has one whose agent runs.
    Services(Vec<String>),
    /// A debug task started for the tunnel and stopped when it closes (`--via debug`).
    DebugTask,
}

fn require_store(config: &StackConfig, store: DataStore) -> Result<()> {
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
    Ok(())
}

/// `--via debug`, described for messages.
const VIA_DEBUG: &str =
    "`--via debug` (a temporary debug task next to the data tier, stopped when the tunnel closes)";

/// The relay for `via`: `debug`, or the services [`relay_services`] allows.
pub fn relay(config: &StackConfig, store: DataStore, via: Option<&str>) -> Result<Relay> {
    if via == Some(DEBUG) {
        require_store(config, store)?;
        return Ok(Relay::DebugTask);
    }
    relay_services(config, store, via).map(Relay::Services)
}

/// The services a tunnel may go through: `via` if given, else every service that uses the
/// store and has ECS Exec on in this environment. A service that does not use the store
/// is refused (the store's security group drops its traffic), and so is one with exec off
/// (no SSM session can reach its tasks); the refusal names the alternatives.
pub fn relay_services(
    config: &StackConfig,
    store: DataStore,
    via: Option<&str>,
) -> Result<Vec<String>> {
    require_store(config, store)?;
    let name = store_name(store);
    let consumers: Vec<String> = config
        .services
        .iter()
        .filter(|(_, s)| s.uses.contains(&store))
        .map(|(n, _)| n.clone())
        .collect();
    let with_exec: Vec<String> = consumers
        .iter()
        .filter(|c| config.exec_enabled(c))
        .cloned()
        .collect();
    let alternatives = match with_exec.as_slice() {
        [] => format!("pass {VIA_DEBUG}"),
        others => format!(
            "pass {VIA_DEBUG}, or --via one of: {} (exec on)",
            others.join(", ")
        ),
    };
    match via {
        Some(service) if consumers.iter().any(|c| c == service) => {
            if config.exec_enabled(service) {
                return Ok(vec![service.to_owned()]);
            }
            bail!(
                "cannot tunnel through {service}: {}. Without changing it, {alternatives}",
                ExecSetting::of(config, service).off_message()
            )
        }
        Some(service) => bail!(
            "{service} does not use {name}, so {name} does not accept its traffic; pass --via one of: {}",
            with_exec
                .iter()
                .map(String::as_str)
                .chain([DEBUG])
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None if consumers.is_empty() => bail!(
            "no service of stack {} uses {name}; pass {VIA_DEBUG}",
            config.stack
        ),
        None if with_exec.is_empty() => bail!(
            "every service that uses {name} ({}) has ECS Exec off in env {}, so no session can go through their tasks; \
             {alternatives}. Or turn exec on for one of them: {}",
            consumers.join(", "),
            config.env,
            ExecSetting::of(config, &consumers[0]).how_to_enable()
        ),
        None => Ok(with_exec),
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

/// A task of the first relay service whose exec agent runs.
async fn relay_target(aws: &Aws, config: &StackConfig, services: &[String]) -> Result<ExecTarget> {
    let mut reasons = Vec::new();
    for service in services {
        match exec::find_target(aws, config, service, None, None).await {
            Ok(target) => return Ok(target),
            Err(err) => reasons.push(format!("{service}: {err:#}")),
        }
    }
    bail!(
        "no running task to tunnel through (or pass {VIA_DEBUG}):\n  {}",
        reasons.join("\n  ")
    )
}

/// StartSession through `target` and the plugin until the tunnel closes; its exit code.
async fn forward(
    aws: &Aws,
    plugin: &PluginContext,
    config: &StackConfig,
    store: DataStore,
    endpoint: &Endpoint,
    local_port: u16,
    target: &ExecTarget,
) -> Result<u8> {
    let session = start_session(aws, target, endpoint, local_port).await?;
    let args = session::plugin_args(
        &session,
        Origin::SsmStartSession,
        &aws.region,
        plugin.profile.as_deref(),
        &request_json(target, endpoint, local_port),
        &session::ssm_endpoint(&aws.region, plugin.endpoint_url.as_deref()),
    );
    eprintln!(
        "tunnel: localhost:{local_port} → {}:{} through task {} of {}; Ctrl-C closes it.\nIn another terminal:\n{}",
        endpoint.host,
        endpoint.port,
        target.task_id,
        target.container,
        local_hint(config, aws, store, endpoint, local_port)
    );
    session::launch(&plugin.plugin, &args).await
}

/// `provision tunnel redis|postgres [--local-port P] [--via SERVICE|debug]`: runs until the
/// plugin ends (Ctrl-C); the plugin's exit code. `poll` and `interrupted` apply while a
/// debug task starts (see `debug::debug`).
#[allow(clippy::too_many_arguments)]
pub async fn tunnel(
    aws: &Aws,
    plugin: &PluginContext,
    config: &StackConfig,
    store: DataStore,
    local_port: Option<u16>,
    via: Option<&str>,
    poll: Duration,
    interrupted: impl Future<Output = ()>,
) -> Result<u8> {
    let relay = relay(config, store, via)?;
    let endpoint = store_endpoint(aws, store).await?;
    let endpoint = &endpoint;
    let local_port = local_port.unwrap_or(endpoint.port);
    match relay {
        Relay::Services(services) => {
            let target = relay_target(aws, config, &services).await?;
            forward(aws, plugin, config, store, endpoint, local_port, &target).await
        }
        Relay::DebugTask => {
            // The debug task's security group is one the stores accept.
            let placement = run::placement(aws, &[ids::security_group(DEBUG)]).await?;
            let definition = aws.name(&ids::task_definition(DEBUG));
            debug::run_session(
                aws,
                &definition,
                &placement,
                poll,
                interrupted,
                |target| async move {
                    forward(aws, plugin, config, store, endpoint, local_port, &target).await
                },
            )
            .await
        }
    }
}

//! Operations on a running stack: `exec`, `logs`, `run`, `debug`, `tunnel`. Kept apart from the
//! provisioning commands; flattened into the CLI's subcommands.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};

use crate::aws::Aws;
use crate::config::{DataStore, StackConfig};
use crate::model::ids;
use crate::session::Session;

pub mod debug;
pub mod exec;
pub mod logs;
pub mod run;
pub mod session;
pub mod tasks;
pub mod tunnel;

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// ECS Exec into a running container (an interactive shell unless a command follows `--`);
    /// the service needs `exec` on in this environment (off in prod unless set).
    Exec {
        /// Service whose task to enter.
        service: String,
        /// Task id or ARN (default: a running task of the service).
        #[arg(long)]
        task: Option<String>,
        /// Container name (default: the service's container).
        #[arg(long)]
        container: Option<String>,
        /// Command to run instead of /bin/sh.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Print a service's CloudWatch logs (timestamp, stream, message).
    Logs {
        /// Service whose log group to read.
        service: String,
        /// Keep printing new events until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// How far back to start: 90s, 10m, 2h, 1d.
        #[arg(long, default_value = "10m", value_parser = logs::parse_since)]
        since: Duration,
    },
    /// Run a one-off task from config ([tasks.<name>], e.g. shop users-migrate) to completion;
    /// exits with its container's exit code.
    Run {
        /// Task name from the stack file.
        task: String,
    },
    /// Start a one-off debug task (ping, traceroute, dig, curl, nc, redis-cli, psql, with
    /// REDIS_URL / DATABASE_URL set) next to the data tier and open a shell in it (or run
    /// the command after `--`); the task is stopped when the session ends.
    Debug {
        /// Run this image instead of the stack's debug image (public, or in the stack's
        /// repositories); registered as a temporary revision, removed afterwards.
        #[arg(long)]
        image: Option<String>,
        /// Command to run instead of a login shell.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Forward a local port to the private Redis or Postgres through a running service task
    /// with ECS Exec on, or a temporary debug task (SSM port forwarding); runs until Ctrl-C.
    Tunnel {
        /// Data store to reach.
        store: TunnelStore,
        /// Local port (default: the store's port, 6379 or 5432).
        #[arg(long)]
        local_port: Option<u16>,
        /// Service whose task relays the traffic, or `debug` for a debug task started for
        /// the tunnel and stopped afterwards (default: the first service that uses the
        /// store, has ECS Exec on and a task whose exec agent runs).
        #[arg(long)]
        via: Option<String>,
    },
}

/// The data stores `provision tunnel` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TunnelStore {
    Redis,
    Postgres,
}

impl From<TunnelStore> for DataStore {
    fn from(store: TunnelStore) -> Self {
        match store {
            TunnelStore::Redis => DataStore::Redis,
            TunnelStore::Postgres => DataStore::Postgres,
        }
    }
}

/// The plugin and the connection details it is handed.
#[derive(Debug, Clone)]
pub struct PluginContext {
    pub plugin: PathBuf,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// `<stack>-<env>-cluster`.
pub fn cluster_name(aws: &Aws) -> String {
    aws.name("cluster")
}

/// `<stack>-<env>-service-<name>`.
pub fn service_name(aws: &Aws, service: &str) -> String {
    aws.name(&ids::service(service))
}

/// Writes a line to stdout; a closed pipe (`| head`) is not worth a panic.
pub(crate) fn print_line(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn stack_file(config: &StackConfig) -> String {
    format!("stack {} ({}.toml)", config.stack, config.stack)
}

fn known_service(config: &StackConfig, service: &str) -> Result<()> {
    if config.services.contains_key(service) {
        return Ok(());
    }
    let known: Vec<&String> = config.services.keys().collect();
    anyhow::bail!(
        "{} has no service {service}; known services: {}",
        stack_file(config),
        known
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The plugin (before any AWS call: without it a session could not be used) and the
/// connection details it is handed.
fn plugin_context(session: &Session) -> Result<PluginContext> {
    Ok(PluginContext {
        plugin: session::find_plugin()?,
        profile: session.connection.profile.clone(),
        endpoint_url: session.connection.endpoint_url.clone(),
    })
}

/// Runs an operations command; the returned code is the process exit code.
pub async fn run(session: &Session, command: &OpsCommand) -> Result<u8> {
    let config = session.config()?;
    match command {
        OpsCommand::Exec {
            service,
            task,
            container,
            command,
        } => {
            known_service(&config, service)?;
            let plugin = plugin_context(session)?;
            let aws = session.connect().await?;
            exec::exec(
                &aws,
                &plugin,
                &config,
                service,
                task.as_deref(),
                container.as_deref(),
                command,
            )
            .await
        }
        OpsCommand::Logs {
            service,
            follow,
            since,
        } => {
            known_service(&config, service)?;
            let aws = session.connect().await?;
            let group = aws.name(&ids::log_group(service));
            logs::logs(&aws, &group, *since, *follow).await
        }
        OpsCommand::Run { task } => {
            let declared = config.tasks.get(task).with_context(|| {
                format!(
                    "no task {task} in {}; declared tasks: {}",
                    stack_file(&config),
                    config.tasks.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            let aws = session.connect().await?;
            run::run(&aws, task, &declared.service, run::POLL_INTERVAL).await
        }
        OpsCommand::Debug { image, command } => {
            if !crate::constructs::has_debug_task(&config) {
                anyhow::bail!(
                    "{} has neither Redis nor Postgres, so `provision up` creates no debug task; use `provision exec <service>`",
                    stack_file(&config)
                );
            }
            let plugin = plugin_context(session)?;
            let aws = session.connect().await?;
            debug::debug(
                &aws,
                &plugin,
                image.as_deref(),
                command,
                debug::POLL_INTERVAL,
                debug::interrupted(),
            )
            .await
        }
        OpsCommand::Tunnel {
            store,
            local_port,
            via,
        } => {
            let store = DataStore::from(*store);
            if let Some(via) = via.as_deref().filter(|v| *v != crate::constructs::DEBUG) {
                known_service(&config, via)?;
            }
            tunnel::relay(&config, store, via.as_deref())?;
            let plugin = plugin_context(session)?;
            let aws = session.connect().await?;
            tunnel::tunnel(
                &aws,
                &plugin,
                &config,
                store,
                *local_port,
                via.as_deref(),
                debug::POLL_INTERVAL,
                debug::interrupted(),
            )
            .await
        }
    }
}

//! A command's session: which stack and environment, where its config lives, how to reach
//! AWS, how to answer (text or JSON, confirmations, detail) and how Ctrl-C is handled.
//! The command line ([`crate::cli`]) builds one; the commands (`cli`'s own, [`crate::deploy`],
//! [`crate::ops`]) take it, so no command module depends on the command line's types.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;

use crate::aws::{self, Aws, Connection};
use crate::config::StackConfig;
use crate::constructs::expand;
use crate::graph::Graph;
use crate::plan::Observed;
use crate::resources;

/// How commands answer on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Everything a command needs besides its own arguments.
#[derive(Debug, Clone)]
pub struct Session {
    /// Stack to work on (`<config_dir>/<stack>.toml`).
    pub stack: String,
    /// Environment (selects `[env.<name>]` overrides; part of every AWS name).
    pub env: String,
    /// Directory holding the stack files.
    pub config_dir: PathBuf,
    /// Where and how to reach AWS.
    pub connection: Connection,
    /// Text or JSON on stdout.
    pub output: Output,
    /// Answer yes to confirmations (non-interactive use).
    pub yes: bool,
    /// More detail (what each resource waits on, every AWS call count).
    pub verbose: u8,
    /// Longest wait for one resource to become usable or gone.
    pub wait_timeout: Duration,
    /// Take over the stack's lock from this holder.
    pub take_over_lock: Option<String>,
}

impl Session {
    /// JSON output was asked for.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// The stack's config for this environment.
    pub fn config(&self) -> Result<StackConfig> {
        Ok(StackConfig::load(&self.config_dir, &self.stack, &self.env)?)
    }

    /// The config and the resource graph it expands to (no AWS access).
    pub fn desired(&self) -> Result<(StackConfig, Graph)> {
        let config = self.config()?;
        let graph = Graph::new(expand(&config)).context("the stack's resource graph is invalid")?;
        Ok((config, graph))
    }

    /// The stack as `up` would make it in this account: like [`Session::desired`], with
    /// the availability zones chosen against the account and what the stack already has,
    /// and services without an image yet held back until their first release
    /// ([`crate::first_release`]).
    pub async fn desired_in(&self, aws: &Aws, observed: &[Observed]) -> Result<Graph> {
        let mut config = self.config()?;
        let zones =
            resources::choose_zones(aws, config.network.availability_zones.as_deref(), observed)
                .await?;
        config.network.availability_zones = Some(zones);
        let mut resources = expand(&config);
        crate::first_release::hold_unreleased(&mut resources, observed);
        Graph::new(resources).context("the stack's resource graph is invalid")
    }

    /// Takes the stack's lock for `command` (see [`crate::lock`]), with an SSM client of
    /// its own so lock calls stay out of the stack's call statistics.
    pub async fn lock(&self, command: &str) -> Result<crate::lock::Lock> {
        let sdk = aws::sdk_config(&self.connection).await?;
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        Ok(crate::lock::acquire(
            &ssm,
            &self.stack,
            &self.env,
            command,
            self.take_over_lock.as_deref(),
        )
        .await?)
    }

    /// The AWS clients for this stack and environment.
    pub async fn connect(&self) -> Result<Aws> {
        let sdk = aws::sdk_config(&self.connection).await?;
        Ok(Aws::new(&sdk, &self.stack, &self.env).with_wait_limit(self.wait_timeout))
    }

    /// Cancellation: from now on the running command handles Ctrl-C itself (deploy's
    /// watcher stops watching and says so); `main` then leaves the signal to it instead
    /// of exiting at once.
    pub fn handle_interrupts_in_command(&self) {
        INTERRUPT_HANDLED_BY_COMMAND.store(true, Ordering::SeqCst);
    }
}

/// Set while a command handles Ctrl-C itself (see [`Session::handle_interrupts_in_command`]).
static INTERRUPT_HANDLED_BY_COMMAND: AtomicBool = AtomicBool::new(false);

/// Whether the running command handles Ctrl-C itself (asked by `main` on Ctrl-C).
pub fn command_handles_interrupts() -> bool {
    INTERRUPT_HANDLED_BY_COMMAND.load(Ordering::SeqCst)
}

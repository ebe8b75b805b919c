//! A command's session: which stack and environment, where its config lives, how to reach
//! AWS, how to answer (text or JSON, confirmations, detail) and how Ctrl-C is handled.
//! The command line ([`crate::cli`]) builds one; the commands (`cli`'s own, [`crate::deploy`],
//! [`crate::ops`]) take it, so no command module depends on the command line's types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use crate::aws::{self, Aws, Connection};
use crate::config::StackConfig;
use crate::constructs::expand;
use crate::graph::Graph;
use crate::plan::Observed;
use crate::resources;
use crate::scope::{Stack, Target};

/// How a stack written in Rust is built for a target (environment and zones).
#[derive(Clone)]
pub struct DefineStack(Arc<dyn Fn(Target) -> Stack + Send + Sync>);

impl DefineStack {
    /// Wraps the function that builds the stack.
    pub fn new(define: impl Fn(Target) -> Stack + Send + Sync + 'static) -> Self {
        DefineStack(Arc::new(define))
    }
    /// Builds the stack for `target`.
    pub fn build(&self, target: Target) -> Stack {
        (self.0)(target)
    }
}

impl fmt::Debug for DefineStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefineStack(..)")
    }
}

/// Stacks defined in code (`provisioner::app::App::stack`), by name. A `--stack` that
/// names one of them is built by its function instead of read from `<config_dir>`.
#[derive(Clone, Default)]
pub struct CodeStacks(BTreeMap<String, DefineStack>);

impl fmt::Debug for CodeStacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl CodeStacks {
    /// Adds (or replaces) stack `name`.
    pub fn insert(&mut self, name: &str, define: DefineStack) {
        self.0.insert(name.to_owned(), define);
    }
    /// The stack named `name`, if it is defined in code.
    pub fn get(&self, name: &str) -> Option<&DefineStack> {
        self.0.get(name)
    }
    /// The names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
    /// The stack's definition when it is written in Rust (else it is the stack file).
    pub code: Option<DefineStack>,
}

impl Session {
    /// JSON output was asked for.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// The stack's config for this environment: its stack file, or for a stack written
    /// in Rust what its constructs declared ([`Stack::description`]).
    pub fn config(&self) -> Result<StackConfig> {
        match &self.code {
            Some(_) => Ok(self.desired()?.0),
            None => Ok(StackConfig::load(&self.config_dir, &self.stack, &self.env)?),
        }
    }

    /// The config and the resource graph it expands to (no AWS access).
    pub fn desired(&self) -> Result<(StackConfig, Graph)> {
        match &self.code {
            Some(define) => self.built(define, None),
            None => {
                let config = self.config()?;
                let graph =
                    Graph::new(expand(&config)).context("the stack's resource graph is invalid")?;
                Ok((config, graph))
            }
        }
    }

    /// A stack written in Rust, built for this environment and `zones`, synthesized and
    /// checked like a stack file (every AWS name it will send obeys AWS's rules).
    fn built(
        &self,
        define: &DefineStack,
        zones: Option<Vec<String>>,
    ) -> Result<(StackConfig, Graph)> {
        let stack = define.build(Target {
            env: self.env.clone(),
            zones,
        });
        if stack.name() != self.stack || stack.env() != self.env {
            bail!(
                "the definition of stack `{}` built `{}` for env `{}`: create it with Stack::new(\"{}\", target), passing on the target it is given",
                self.stack,
                stack.name(),
                stack.env(),
                self.stack
            );
        }
        let config = stack.description().clone();
        let resources = stack.synth().map_err(|errors| {
            let list: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
            anyhow::anyhow!(
                "stack `{}` (env {}) is inconsistent:\n{}",
                self.stack,
                self.env,
                list.join("\n")
            )
        })?;
        crate::stack::check_resource_names(&self.stack, &self.env, &resources)?;
        let graph = Graph::new(resources).context("the stack's resource graph is invalid")?;
        Ok((config, graph))
    }

    /// The stack as `up` would make it in this account: like [`Session::desired`], with
    /// the availability zones chosen against the account and what the stack already has,
    /// services without an image yet held back until their first release
    /// ([`crate::first_release`]), and a `[domain]`'s hosted zone found by name.
    pub async fn desired_in(&self, aws: &Aws, observed: &[Observed]) -> Result<Graph> {
        if let Some(define) = &self.code {
            let (config, _) = self.built(define, None)?;
            let zones = resources::choose_zones(
                aws,
                config.network.availability_zones.as_deref(),
                observed,
            )
            .await?;
            let mut resources = self.built(define, Some(zones))?.1.resources().to_vec();
            resources::route53_common::resolve_zone_lookups(aws, &mut resources).await?;
            return Graph::new(resources).context("the stack's resource graph is invalid");
        }
        let mut config = self.config()?;
        let zones =
            resources::choose_zones(aws, config.network.availability_zones.as_deref(), observed)
                .await?;
        config.network.availability_zones = Some(zones);
        let mut resources = expand(&config);
        crate::first_release::hold_unreleased(&mut resources, observed);
        // A `[domain]` without `zone_id`: its hosted zone, found by name.
        resources::route53_common::resolve_zone_lookups(aws, &mut resources).await?;
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

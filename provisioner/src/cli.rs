//! The `provision` command line: plan, up, down, status, outputs, cost, policy.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::apply::{apply, delete_all, Outcome, Ui};
use crate::aws::{self, Aws, Connection, DeleteOptions};
use crate::config::StackConfig;
use crate::graph::Graph;
use crate::model::{ids, Kind};
use crate::plan::{plan, Observed};
use crate::resources;
pub use crate::session::{command_handles_interrupts, Output};
use crate::session::{CodeStacks, Session};

/// What `provision synth` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SynthFormat {
    /// A CloudFormation template (JSON).
    Cloudformation,
}

/// Typed stacks turned into live AWS infrastructure: plan, apply, tear down.
#[derive(Debug, Parser)]
#[command(name = "provision", version)]
pub struct Cli {
    /// Stack to work on (config/<stack>.toml). Required unless the config directory
    /// holds exactly one stack file (there is no default stack). For `init`: the new
    /// stack's name.
    #[arg(
        long,
        global = true,
        default_value = "",
        hide_default_value = true,
        env = "SLIPWAY_STACK"
    )]
    pub stack: String,
    /// Environment (selects [env.<name>] overrides; part of every AWS name).
    #[arg(long, global = true, default_value = "dev", env = "SLIPWAY_ENV")]
    pub env: String,
    /// AWS region (default: AWS_REGION / profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (an emulator, a VPC endpoint).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: Output,
    /// Directory holding the stack files.
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "SLIPWAY_CONFIG_DIR"
    )]
    pub config_dir: PathBuf,
    /// Answer yes to confirmations (non-interactive use).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Longest wait, in seconds, for one resource to become usable or gone.
    #[arg(
        long,
        global = true,
        default_value_t = 1800,
        env = "SLIPWAY_WAIT_TIMEOUT"
    )]
    pub wait_timeout: u64,
    /// More detail (what each resource waits on, every AWS call count).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Take over the stack's lock from HOLDER (as the refusal names it, e.g.
    /// 'ana@laptop pid 4242') when that run is gone for good.
    #[arg(long, global = true, value_name = "HOLDER")]
    pub take_over_lock: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `up` would change, per resource and field.
    Plan {
        /// Print the full creation plan without contacting AWS (no credentials needed).
        #[arg(long)]
        offline: bool,
    },
    /// Create or update the stack until it matches its config.
    Up {
        /// Data stores (logical ids: postgres, redis) whose deletion or replacement this run
        /// may carry out, losing their data (comma-separated or repeated). Without it,
        /// `up` refuses every step `plan` marks `!! DESTROYS DATA`, whatever --yes says.
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        allow_data_loss: Vec<String>,
    },
    /// Delete everything the stack owns, then prove nothing tagged is left.
    Down {
        /// Skip the final snapshots of RDS and ElastiCache (refused outside dev).
        #[arg(long)]
        no_snapshot: bool,
        /// Data stores (postgres, redis) this teardown may delete; required outside dev
        /// (--yes alone never deletes a non-dev database). Lifts RDS deletion protection of
        /// the named instance.
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        allow_data_loss: Vec<String>,
    },
    /// Per-service desired/running/pending tasks, task definition, public URL.
    Status,
    /// Endpoints, ARNs and repository URIs (for CI).
    Outputs {
        /// JSON output (same as --output json).
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's dependency waves and critical path (no AWS access).
    Graph,
    /// Render the stack as a CloudFormation template, from the same expansion `up`
    /// applies (no AWS access): for review, for CloudFormation tooling, or to leave Slipway.
    Synth {
        /// Template format.
        #[arg(long, value_enum, default_value = "cloudformation")]
        format: SynthFormat,
        /// Write the template to FILE instead of stdout (`--output` is the global
        /// text/json switch).
        #[arg(long = "out", short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Estimated monthly cost of the stack (or, with --live, of what runs), per resource kind.
    Cost(crate::cost_report::CostArgs),
    /// The least-privilege IAM policy an operator needs to run `up` and `down` (no AWS access).
    Policy(crate::policy_report::PolicyArgs),
    /// Write a stack file from a Compose file (docker-compose.yml / compose.yaml) and
    /// list what it could not translate.
    Init(crate::init::cli::InitArgs),
    /// Build each service's image with docker buildx (`[services.<name>.build]`) and push
    /// it to the stack's ECR repositories as TAG (never the debug image); then `deploy`.
    Push(crate::push::PushArgs),
    #[command(flatten)]
    Ops(crate::ops::OpsCommand),
    #[command(flatten)]
    Release(crate::deploy::ReleaseCommand),
}

impl Cli {
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// The session the commands run in: everything but the subcommand.
    pub fn session(&self) -> Session {
        self.session_with(&CodeStacks::default())
    }

    /// [`Cli::session`], where `--stack` may name a stack defined in `code`.
    pub fn session_with(&self, code: &CodeStacks) -> Session {
        Session {
            stack: self.stack.clone(),
            env: self.env.clone(),
            config_dir: self.config_dir.clone(),
            connection: Connection {
                region: self.region.clone(),
                profile: self.profile.clone(),
                endpoint_url: self.endpoint_url.clone(),
            },
            output: self.output,
            yes: self.yes,
            verbose: self.verbose,
            wait_timeout: std::time::Duration::from_secs(self.wait_timeout),
            take_over_lock: self.take_over_lock.clone(),
            code: code.get(&self.stack).cloned(),
        }
    }
}

/// Runs the CLI; the returned code is the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    run_with(cli, &CodeStacks::default()).await
}

/// Runs the CLI with stacks defined in code besides the stack files: `--stack` picks
/// one of `code` when it names one (without `--stack`, the only one there is).
pub async fn run_with(mut cli: Cli, code: &CodeStacks) -> Result<u8> {
    // `init` names a new stack; every other command needs one that exists.
    if cli.stack.is_empty() && !matches!(cli.command, Command::Init(_)) {
        cli.stack = match code.names().as_slice() {
            [] => crate::stack_choice::default_stack(&cli.config_dir)?,
            [only] => only.to_string(),
            several => bail!(
                "which stack? this program defines {}: pass --stack NAME (or set SLIPWAY_STACK)",
                several.join(", ")
            ),
        };
    }
    let session = cli.session_with(code);
    match &cli.command {
        Command::Init(args) => crate::init::cli::run(&session, args),
        Command::Push(args) => crate::push::run(&session, args).await,
        Command::Plan { offline } => cmd_plan(&session, *offline).await,
        Command::Up { allow_data_loss } => cmd_up(&session, allow_data_loss).await,
        Command::Down {
            no_snapshot,
            allow_data_loss,
        } => cmd_down(&session, *no_snapshot, allow_data_loss).await,
        Command::Status => cmd_status(&session).await,
        Command::Outputs { json } => cmd_outputs(&session, *json).await,
        Command::Graph => cmd_graph(&session),
        Command::Synth { format, out } => cmd_synth(&session, *format, out.as_deref()),
        Command::Cost(args) => crate::cost_report::run(&session, args).await,
        Command::Policy(args) => crate::policy_report::run(&session, args),
        Command::Ops(ops) => crate::ops::run(&session, ops).await,
        // A release holds the stack's lock too: an `up` re-registering task definitions
        // meanwhile could put an older image back.
        Command::Release(release) => {
            let command = match release {
                crate::deploy::ReleaseCommand::Deploy { .. } => "deploy",
                crate::deploy::ReleaseCommand::Rollback { .. } => "rollback",
            };
            locked(&session, command, crate::deploy::run(&session, release)).await
        }
    }
}

/// Writes a line to stdout; a closed pipe (`| head`) is not an error worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn say_raw(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn observe(aws: &Aws) -> Result<Vec<Observed>> {
    Ok(resources::observe(aws).await?)
}

async fn cmd_plan(session: &Session, offline: bool) -> Result<u8> {
    let started = Instant::now();
    // Config errors first, before any AWS call.
    let (_, offline_graph) = session.desired()?;
    let mut duplicates = Vec::new();
    let mut observed = Vec::new();
    let (graph, plan, source) = if offline {
        let plan = plan(&offline_graph, &[]);
        (offline_graph, plan, "offline: assuming an empty account")
    } else {
        let aws = session.connect().await?;
        let found_twice;
        (observed, found_twice) = resources::observe_all(&aws).await?;
        duplicates = resources::duplicate_report(&observed, &found_twice);
        let graph = session.desired_in(&aws, &observed).await?;
        let plan = plan(&graph, &observed);
        warn_quotas(&aws, &plan).await;
        (graph, plan, "read from AWS")
    };
    let (cost, prices) = crate::cost_report::plan_difference(graph.resources(), &observed);
    for line in &duplicates {
        eprintln!("warning: {line}");
    }
    if session.json() {
        print_json(
            &json!({"stack": session.stack, "env": session.env, "plan": plan, "duplicates": duplicates,
                    "monthly_cost_difference": cost, "prices": prices}),
        )?;
    } else {
        say!(
            "Stack {}-{} ({source}, {} resources, {:.2?}):",
            session.stack,
            session.env,
            graph.resources().len(),
            started.elapsed()
        );
        say_raw(&plan.render(offline || session.verbose > 0));
        if plan.is_empty() {
            say!("No changes: the stack matches its config.");
        }
        say!("Monthly cost: {cost} (prices: {prices}; `provision cost` for the breakdown)");
    }
    Ok(0)
}

/// Says, on stderr, which account quotas the plan would exceed (a warning: `up` may
/// still be run, e.g. right after a quota increase).
async fn warn_quotas(aws: &Aws, plan: &crate::plan::Plan) {
    match aws::quotas::check(aws, plan).await {
        Ok(warnings) => {
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
        }
        Err(err) => eprintln!("warning: could not check account quotas: {err}"),
    }
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(session: &Session, question: &str, expected: &str) -> Result<bool> {
    if session.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} — no terminal to ask on; pass --yes to confirm non-interactively");
    }
    eprint!("{question} [type {expected}]: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == expected)
}

fn report(
    session: &Session,
    what: &str,
    outcome: &Outcome,
    extra: serde_json::Value,
) -> Result<()> {
    if session.json() {
        print_json(
            &json!({"stack": session.stack, "env": session.env, "command": what, "outcome": outcome, "details": extra}),
        )?;
    } else {
        eprintln!(
            "{what}: {} done, {} failed, {} not attempted in {:.1}s (peak {} concurrent AWS calls)",
            outcome.done.len(),
            outcome.failed.len(),
            outcome.skipped.len(),
            outcome.elapsed_secs,
            outcome.peak_concurrent_calls
        );
        for (id, reason) in outcome.failed.iter().chain(&outcome.skipped) {
            eprintln!("  {id}: {reason}");
        }
        if !outcome.failed.is_empty() {
            eprintln!("Fix the cause above and run the same command again: it continues from the current state.");
        }
    }
    Ok(())
}

/// Runs `body` holding the stack's lock; releases it whatever `body` returns (Ctrl-C is
/// `main`'s: it calls `lock::release_after_interrupt`).
async fn locked<F>(session: &Session, command: &str, body: F) -> Result<u8>
where
    F: std::future::Future<Output = Result<u8>>,
{
    let lock = session.lock(command).await?;
    let result = body.await;
    if let Err(err) = lock.release().await {
        eprintln!("warning: {err}");
    }
    result
}

/// Refuses data-destroying steps the operator did not name (`--allow-data-loss`), listing
/// each with what it destroys and the exact flag that would allow it.
fn refuse_unnamed_data_loss<'a>(
    what: &str,
    steps: impl IntoIterator<Item = &'a crate::plan::Step>,
    allowed: &[String],
) -> Result<()> {
    let refused = crate::plan::unapproved_data_loss(steps, allowed);
    if refused.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{what} would destroy data and the operator did not name it (--yes is not enough):\n"
    );
    for step in &refused {
        message.push_str(&format!(
            "  {} {}: {}\n",
            step.action.verb(),
            step.id,
            step.data_loss.as_deref().unwrap_or_default()
        ));
    }
    let ids: Vec<&str> = refused.iter().map(|s| s.id.as_str()).collect();
    message.push_str(&format!(
        "nothing was changed. If that is intended, run again with --allow-data-loss {}; \
         otherwise change the config back (or upgrade in place where AWS supports it).",
        ids.join(",")
    ));
    bail!(message)
}

async fn cmd_up(session: &Session, allow_data_loss: &[String]) -> Result<u8> {
    // Config errors first, before any AWS call.
    session.desired()?;
    locked(session, "up", up_locked(session, allow_data_loss)).await
}

async fn up_locked(session: &Session, allow_data_loss: &[String]) -> Result<u8> {
    let aws = session.connect().await?;
    let (observed, found_twice) = resources::observe_all(&aws).await?;
    let duplicates = resources::duplicate_report(&observed, &found_twice);
    if !duplicates.is_empty() {
        bail!(
            "{}-{} has resources that exist more than once; `up` changes nothing until only \
             one of each is left:\n  {}",
            session.stack,
            session.env,
            duplicates.join("\n  ")
        );
    }
    let graph = session.desired_in(&aws, &observed).await?;
    let plan = plan(&graph, &observed);
    let unreleased = crate::first_release::unreleased_services(graph.resources());
    if plan.is_empty() {
        if session.json() {
            print_json(&json!({
                "stack": session.stack, "env": session.env, "command": "up", "changes": 0,
                "details": {"mutating_calls": aws.stats.mutating_calls(), "awaiting_release": unreleased},
            }))?;
        } else {
            say!(
                "No changes: {}-{} matches its config.",
                session.stack,
                session.env
            );
            say_next_release_steps(session, &unreleased);
        }
        return Ok(0);
    }
    if !session.json() {
        say_raw(&plan.render(false));
    }
    refuse_unnamed_data_loss("this plan", &plan.steps, allow_data_loss)?;
    warn_quotas(&aws, &plan).await;
    if !confirm(session, "Apply these changes?", "yes")? {
        eprintln!("Nothing applied.");
        return Ok(1);
    }
    let ui = Ui::new(session.verbose > 0, session.json());
    aws.stats.reset_peak();
    // Replacements and deletions keep final snapshots, and secrets a recovery window
    // outside dev.
    let options = DeleteOptions::for_env(&session.env, false, allow_data_loss);
    let outcome = apply(&aws, &graph, &plan, &observed, &options, &ui).await;
    report(
        session,
        "up",
        &outcome,
        json!({"mutating_calls": aws.stats.mutating_calls(), "awaiting_release": unreleased}),
    )?;
    if outcome.succeeded() && !session.json() {
        say_next_release_steps(session, &unreleased);
    }
    Ok(if outcome.succeeded() { 0 } else { 1 })
}

/// After `up`: the services still waiting for their first image, and the two commands
/// that start them.
fn say_next_release_steps(session: &Session, unreleased: &[String]) {
    if unreleased.is_empty() {
        return;
    }
    let flags = format!("--stack {} --env {}", session.stack, session.env);
    say!(
        "Waiting for their first release (created with 0 tasks, no image pushed yet): {}.",
        unreleased.join(", ")
    );
    say!("Next, from the project root (TAG: a new tag, e.g. the commit: git rev-parse --short HEAD):");
    say!(
        "  provision {flags} push --tag TAG     # builds each service's image and pushes it to ECR"
    );
    say!("  provision {flags} deploy --tag TAG   # starts the services at their configured counts");
}

async fn cmd_down(session: &Session, no_snapshot: bool, allow_data_loss: &[String]) -> Result<u8> {
    if no_snapshot && !aws::is_dev(&session.env) {
        bail!(
            "--no-snapshot is refused outside dev: `down` of {}-{} keeps final snapshots of \
             PostgreSQL and Redis. Run it without --no-snapshot (delete the snapshots later \
             if you are sure).",
            session.stack,
            session.env
        );
    }
    locked(
        session,
        "down",
        down_locked(session, no_snapshot, allow_data_loss),
    )
    .await
}

async fn down_locked(
    session: &Session,
    no_snapshot: bool,
    allow_data_loss: &[String],
) -> Result<u8> {
    let aws = session.connect().await?;
    // Every copy goes, duplicates included (ids `<id>#2`…).
    let (mut observed, found_twice) = resources::observe_all(&aws).await?;
    observed.extend(found_twice);
    let teardown: Vec<crate::plan::Step> = observed
        .iter()
        .map(|o| crate::plan::Step::new(o.id.clone(), o.kind, crate::plan::Action::Delete))
        .collect();
    // Outside dev the data stores go only when named: --yes is never enough.
    if !aws::is_dev(&session.env) {
        refuse_unnamed_data_loss(
            &format!("`down` of {}-{}", session.stack, session.env),
            &teardown,
            allow_data_loss,
        )?;
    }
    if !observed.is_empty() {
        if !session.json() {
            say!(
                "Will delete {} resources of {}-{}{}:",
                observed.len(),
                session.stack,
                session.env,
                if no_snapshot {
                    ""
                } else {
                    " (PostgreSQL and Redis keep final snapshots)"
                }
            );
            for step in &teardown {
                let loss = step
                    .data_loss
                    .as_deref()
                    .map(|l| format!("   !! {l}"))
                    .unwrap_or_default();
                say!("  - {:<20} {}{loss}", step.kind.label(), step.id);
            }
        }
        // Production asks for the stack name itself, not a reflexive "yes".
        let expected = if session.env == "prod" {
            session.stack.as_str()
        } else {
            "yes"
        };
        let question = format!("Delete stack {}-{}?", session.stack, session.env);
        if !confirm(session, &question, expected)? {
            eprintln!("Nothing deleted.");
            return Ok(1);
        }
    }
    let ui = Ui::new(session.verbose > 0, session.json());
    let started = Instant::now();
    let mut outcome = Outcome::default();
    let doomed: Vec<&Observed> = observed.iter().collect();
    let options = DeleteOptions::for_env(&session.env, no_snapshot, allow_data_loss);
    delete_all(&aws, &doomed, &observed, &options, &ui, &mut outcome).await;
    // Elastic IPs are no resource of the plan: each NAT gateway's goes with it, and any
    // that an earlier interrupted run left behind (billed hourly) are released here.
    match resources::release_unused_addresses(&aws, &aws::Quiet).await {
        Ok(released) if !released.is_empty() && !session.json() => {
            eprintln!(
                "Released {} unused Elastic IP(s): {}",
                released.len(),
                released.join(", ")
            );
        }
        Ok(_) => {}
        Err(err) => eprintln!("warning: could not release the stack's unused Elastic IPs: {err}"),
    }
    outcome.elapsed_secs = started.elapsed().as_secs_f64();
    outcome.peak_concurrent_calls = aws.stats.peak_in_flight();
    let leftovers = resources::leftovers(&aws).await?;
    report(session, "down", &outcome, json!({"leftovers": leftovers}))?;
    if !session.json() {
        if leftovers.is_empty() {
            eprintln!(
                "Leftover scan: nothing tagged slipway:stack={} slipway:env={} remains.",
                session.stack, session.env
            );
        } else {
            eprintln!(
                "Leftover scan found {} resources still tagged as this stack:",
                leftovers.len()
            );
            for leftover in &leftovers {
                eprintln!(
                    "  {} ({})",
                    leftover.arn,
                    leftover.id.as_deref().unwrap_or("no slipway:id")
                );
            }
            eprintln!("Run `provision down` again; if they stay, delete them in the console.");
        }
    }
    Ok(if outcome.succeeded() && leftovers.is_empty() {
        0
    } else {
        1
    })
}

fn attrs_of<'a>(observed: &'a [Observed], id: &str) -> Option<&'a BTreeMap<String, String>> {
    observed.iter().find(|o| o.id == id).map(|o| &o.attrs)
}

/// The address a browser opens `service` at: `https://<its name>/` under the stack's
/// `[domain]` once its record exists, else `<scheme>://<alb-dns>:<port>/` on the
/// service's own listener when it has one ([`PublicConfig::listener_port`]), else the
/// shared listener with the service's first path (the default service: `/`).
///
/// [`PublicConfig::listener_port`]: slipway_cdk::config::PublicConfig::listener_port
fn public_url(config: &StackConfig, observed: &[Observed], service: &str) -> Option<String> {
    let dns = attrs_of(observed, "alb")?.get("dns")?;
    let settings = config.services.get(service)?;
    let public = settings.public.as_ref()?;
    if let Some(domain) = &config.domain {
        // Its own name, once the record exists (until then the ALB's name still works).
        let name = slipway_cdk::domain::record_name(public.subdomain_or(service), &domain.name);
        if attrs_of(observed, &slipway_cdk::domain::record_id(&name)).is_some() {
            return Some(format!("https://{name}/"));
        }
    }
    let scheme = if config.alb.certificate_arn.is_some() || config.domain.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(port) = public.listener_port(settings.port, config.domain.is_some()) {
        return Some(format!("{scheme}://{dns}:{port}/"));
    }
    let path = public
        .paths
        .first()
        .map(|p| p.trim_end_matches('*').to_owned())
        .unwrap_or_else(|| "/".into());
    // A route by host name and path: the path alone does not reach it.
    let host = public
        .hosts
        .first()
        .map(|h| format!(" (Host: {h})"))
        .unwrap_or_default();
    Some(format!("{scheme}://{dns}{path}{host}"))
}

async fn cmd_status(session: &Session) -> Result<u8> {
    let (config, _) = session.desired()?;
    let aws = session.connect().await?;
    let (observed, services, firing) = tokio::try_join!(
        resources::observe(&aws),
        resources::service_status(&aws),
        resources::alarm::firing_alarms(&aws)
    )?;
    let has_dashboard = observed.iter().any(|o| o.kind == Kind::Dashboard);
    let dashboard = has_dashboard.then(|| resources::dashboard::dashboard_url(&aws));
    let rows: Vec<serde_json::Value> = services
        .iter()
        .map(|s| {
            let name = s.id.strip_prefix("service-").unwrap_or(&s.id);
            json!({
                "service": name,
                "desired": s.desired,
                "running": s.running,
                "pending": s.pending,
                "task_definition": s.task_definition,
                "url": public_url(&config, &observed, name),
                "awaiting_release": crate::first_release::awaiting_release(&observed, name),
            })
        })
        .collect();
    if session.json() {
        print_json(&json!({
            "stack": session.stack, "env": session.env, "services": rows,
            "dashboard": dashboard, "alarms_firing": firing,
        }))?;
    } else if rows.is_empty() {
        say!(
            "{}-{} has no services running (run `provision up`).",
            session.stack,
            session.env
        );
    } else {
        say!(
            "{:<10} {:>7} {:>7} {:>7}  {:<40} url",
            "service",
            "desired",
            "running",
            "pending",
            "task definition"
        );
        for row in &rows {
            say!(
                "{:<10} {:>7} {:>7} {:>7}  {:<40} {}",
                row["service"].as_str().unwrap_or_default(),
                row["desired"].as_i64().unwrap_or_default(),
                row["running"].as_i64().unwrap_or_default(),
                row["pending"].as_i64().unwrap_or_default(),
                row["task_definition"].as_str().unwrap_or_default(),
                row["url"].as_str().unwrap_or("(private)")
            );
        }
        let unreleased: Vec<String> = rows
            .iter()
            .filter(|row| row["awaiting_release"] == true)
            .filter_map(|row| row["service"].as_str().map(str::to_owned))
            .collect();
        say_next_release_steps(session, &unreleased);
    }
    if !session.json() {
        match &dashboard {
            Some(url) => say!("dashboard: {url}"),
            None => say!("dashboard: none yet (run `provision up`)"),
        }
        if firing.is_empty() {
            say!("no alarms firing");
        } else {
            say!("alarms firing ({}):", firing.len());
            for alarm in &firing {
                say!("  {}: {}", alarm.name, alarm.reason);
            }
        }
    }
    Ok(0)
}

async fn cmd_outputs(session: &Session, json_flag: bool) -> Result<u8> {
    let (config, _) = session.desired()?;
    let aws = session.connect().await?;
    let observed = observe(&aws).await?;
    let get = |id: &str, key: &str| attrs_of(&observed, id).and_then(|a| a.get(key)).cloned();
    let services: BTreeMap<&String, serde_json::Value> = config
        .services
        .keys()
        .map(|name| {
            (
                name,
                json!({
                    "repository_uri": get(&ids::repository(name), "uri"),
                    "service": get(&ids::service(name), "name"),
                    "task_definition": get(&ids::task_definition(name), "arn"),
                    "log_group": get(&ids::log_group(name), "name"),
                    "url": public_url(&config, &observed, name),
                }),
            )
        })
        .collect();
    let outputs = json!({
        "stack": session.stack,
        "env": session.env,
        "region": aws.region,
        "cluster": get("cluster", "name"),
        "cluster_arn": get("cluster", "arn"),
        "load_balancer_dns": get("alb", "dns"),
        "domain": config.domain.as_ref().map(|d| d.name.clone()),
        "certificate_arn": config
            .domain
            .as_ref()
            .and_then(|d| get(&slipway_cdk::domain::certificate_id(&d.name), "arn")),
        "vpc_id": get("vpc", "id"),
        "private_subnets": [get("subnet-private-a", "id"), get("subnet-private-b", "id")],
        "services": services,
        "debug_repository_uri": get("repo-debug", "uri"),
        "tasks": config.tasks.keys().map(|t| (t.clone(), get(&ids::one_off_task(t), "arn"))).collect::<BTreeMap<_, _>>(),
        "redis_url_secret": get("redis-url", "arn"),
        "database_url_secret": get("database-url", "arn"),
        // The secret AWS_DEPLOY_ROLE_ARN of the GitHub environment `github_environment`,
        // where .github/workflows/deploy.yml's job for this stack and env reads it.
        "github_deploy_role_arn": get("role-github-deploy", "arn"),
        "github_environment": config.github.as_ref().map(|_| config.prefix()),
    });
    if json_flag || session.json() {
        print_json(&outputs)?;
    } else {
        for (key, value) in outputs.as_object().into_iter().flatten() {
            say!("{key}: {value}");
        }
    }
    Ok(0)
}

/// Waves and critical path of the stack's graph (the numbers `up` can at best achieve).
pub fn graph_report(graph: &Graph) -> serde_json::Value {
    let waves = graph.waves();
    let (path, total) = graph.critical_path(Kind::typical_create_time);
    let (steps, _) = graph.critical_path(|_| std::time::Duration::from_secs(1));
    json!({
        "resources": graph.resources().len(),
        "waves": waves.len(),
        "widest_wave": waves.iter().map(Vec::len).max().unwrap_or(0),
        "critical_path_by_steps": steps,
        "critical_path_by_typical_time": path,
        "critical_path_typical_secs": total.as_secs(),
        "slowest_kinds": [Kind::ReplicationGroup.label(), Kind::DbInstance.label(), Kind::LoadBalancer.label()],
    })
}

fn cmd_graph(session: &Session) -> Result<u8> {
    let (_, graph) = session.desired()?;
    let report = graph_report(&graph);
    if session.json() {
        print_json(&report)?;
    } else {
        for (index, wave) in graph.waves().iter().enumerate() {
            say!("wave {index:>2}: {}", wave.join(", "));
        }
        say!(
            "critical path (typical AWS times, ~{}s): {}",
            report["critical_path_typical_secs"],
            report["critical_path_by_typical_time"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        );
    }
    Ok(0)
}

fn cmd_synth(session: &Session, format: SynthFormat, out: Option<&std::path::Path>) -> Result<u8> {
    let (_, graph) = session.desired()?;
    let template = match format {
        SynthFormat::Cloudformation => {
            crate::synth::cloudformation(&session.stack, &session.env, graph.resources())
                .context("the stack cannot be rendered as CloudFormation")?
        }
    };
    let text = serde_json::to_string_pretty(&template)? + "\n";
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| {
                format!(
                    "cannot write the template to {}; check the directory exists and is writable",
                    path.display()
                )
            })?;
            eprintln!(
                "{}-{}: {} resources → {}",
                session.stack,
                session.env,
                template["Resources"].as_object().map_or(0, |r| r.len()),
                path.display()
            );
        }
        None => say_raw(&text),
    }
    Ok(0)
}

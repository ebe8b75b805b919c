//! A CDK-style app: a program of your own defines stacks in Rust and gets the whole
//! `provision` command line for them (plan, up, down, synth, status, outputs, deploy,
//! run, exec, …), with the same flags, output and exit codes.
//!
//! ```no_run
//! use provisioner::app::App;
//! use slipway_cdk::constructs::l2::Route;
//! use slipway_cdk::constructs::patterns::{Network, Platform, WebService};
//! use slipway_cdk::scope::{Stack, Target};
//!
//! fn web(target: Target) -> Stack {
//!     let mut stack = Stack::new("web", target);
//!     let vpc = Network::new(&mut stack, "10.90.0.0/16", 1);
//!     let platform = Platform::new(&mut stack, &vpc).public(Some("site")).build();
//!     WebService::new(&mut stack, &platform, "site", Route::catch_all()).port(8080).build();
//!     stack
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     // `my-app plan --offline`, `my-app --env prod up`, `my-app synth`…
//!     App::new().stack("web", web).run()
//! }
//! ```
//!
//! `--stack` picks a stack (without it: the only one the app defines); a name the app
//! does not define is looked up in `--config-dir` as a stack file, so an app can add
//! stacks to the TOML ones. The `provision` binary itself is an app without code stacks.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{command_handles_interrupts, run_with, Cli};
use crate::lock::release_after_interrupt;
use crate::scope::{Stack, Target};
use crate::session::{CodeStacks, DefineStack};

/// The stacks of a program, and the command line that works on them.
#[derive(Debug, Default, Clone)]
pub struct App {
    stacks: CodeStacks,
}

impl App {
    /// An app with no stack of its own: `--stack` names stack files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds stack `name`: `define` builds it for the environment (and zones) a command
    /// targets, starting from `Stack::new(name, target)`.
    pub fn stack(
        mut self,
        name: &str,
        define: impl Fn(Target) -> Stack + Send + Sync + 'static,
    ) -> Self {
        self.stacks.insert(name, DefineStack::new(define));
        self
    }

    /// Parses this process's arguments and runs the command; returns the exit code.
    pub fn run(self) -> ExitCode {
        self.run_args(std::env::args_os())
    }

    /// [`App::run`] with the given arguments (the first one is the program's name).
    pub fn run_args(self, args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
        let cli = Cli::parse_from(args);
        init_logging(cli.verbose);
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                eprintln!("error: cannot start the async runtime: {err}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(self.execute(cli))
    }

    /// Runs one parsed command line to its exit code, leaving Ctrl-C to commands that
    /// handle it themselves and otherwise releasing the stack's lock on the way out.
    pub async fn execute(self, cli: Cli) -> ExitCode {
        let command = run_with(cli, &self.stacks);
        tokio::pin!(command);
        loop {
            tokio::select! {
                // Commands that handle Ctrl-C themselves (deploy's watcher) get to finish first.
                biased;
                result = &mut command => {
                    return match result {
                        Ok(code) => ExitCode::from(code),
                        Err(err) => {
                            // Display chain only: never a Debug dump of SDK internals.
                            eprintln!("error: {err:#}");
                            ExitCode::FAILURE
                        }
                    };
                }
                _ = tokio::signal::ctrl_c() => {
                    if command_handles_interrupts() {
                        // Its own handler saw the same signal and is wrapping up.
                        continue;
                    }
                    eprintln!("\ninterrupted: resources already created are kept and tagged; run the same command again to finish");
                    // The stack's lock goes back, so that next run needs no takeover.
                    release_after_interrupt().await;
                    return ExitCode::from(130);
                }
            }
        }
    }
}

/// Logs to stderr: warnings by default, more with `-v`.
fn init_logging(verbose: u8) {
    let filter = match verbose {
        // The SDK's own warnings (IMDS probes and the like) are Debug dumps; errors that
        // matter reach the user through the provisioner's messages instead.
        0 => "warn,aws_config=error,aws_smithy_runtime=error",
        1 => "info,aws_config=error,aws_smithy_runtime=error",
        _ => "debug,hyper=info,h2=info,rustls=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

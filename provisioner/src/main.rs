use std::process::ExitCode;

use clap::Parser;
use provisioner::cli::{command_handles_interrupts, run, Cli};
use provisioner::lock::release_after_interrupt;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
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
    let command = run(cli);
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

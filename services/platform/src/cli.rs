//! The subcommands of services that own database tables: serve (the default), apply their
//! migrations, or load their demo data. Migrations run only when asked, never implicitly at
//! start, so that several replicas never race a schema change and a deployment decides when
//! it happens (a one-off task before the new version serves).

use tokio::net::TcpListener;

use crate::startup;
use crate::{CommonConfig, ConfigError, Env, Shutdown, StartupError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum DatabaseCommand {
    /// Serve HTTP (the default).
    Serve,
    /// Apply this service's embedded migrations, then exit.
    Migrate,
    /// Load this service's demo data (idempotent: a second run changes nothing), then exit.
    Seed,
}

#[derive(Debug, clap::Parser)]
pub struct DatabaseCli {
    #[command(subcommand)]
    command: Option<DatabaseCommand>,
}

impl DatabaseCli {
    /// Parses the process arguments for the binary `name` described by `about` (`--help`
    /// and errors print and exit, as usual with clap).
    pub fn command_from_args(name: &'static str, about: &'static str) -> DatabaseCommand {
        let matches = <Self as clap::CommandFactory>::command()
            .name(name)
            .about(about)
            .get_matches();
        <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|err| err.exit())
            .command
            .unwrap_or(DatabaseCommand::Serve)
    }
}

/// The whole `main` of a service that owns tables: `db-roles` and `--probe` (each runs and
/// exits; see [`crate::startup::main`] for `default_port` and `from_env`), then the subcommand: `serve` runs `run` on `PORT` until SIGTERM ([`startup::serve`]),
/// `migrate` and `seed` run their step once. The binary `name` and `about` are what
/// `--help` shows.
pub async fn database_main<C: AsRef<CommonConfig>>(
    name: &'static str,
    about: &'static str,
    default_port: u16,
    from_env: impl FnOnce(&Env) -> Result<C, ConfigError>,
    run: impl AsyncFnOnce(C, TcpListener, Shutdown) -> Result<(), StartupError>,
    migrate: impl AsyncFnOnce(&C) -> Result<(), StartupError>,
    seed: impl AsyncFnOnce(&C) -> Result<(), StartupError>,
) -> Result<(), StartupError> {
    crate::db::roles::exit_if_requested().await;
    crate::probe::exit_if_requested(default_port);
    let command = DatabaseCli::command_from_args(name, about);
    let config = startup::load(from_env)?;
    match command {
        DatabaseCommand::Serve => startup::serve(name, config, run).await,
        DatabaseCommand::Migrate => migrate(&config).await,
        DatabaseCommand::Seed => seed(&config).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_to_serve_and_parses_subcommands() {
        let parse = |args: &[&str]| DatabaseCli::try_parse_from(args).map(|cli| cli.command);
        assert_eq!(parse(&["svc"]).unwrap(), None);
        assert_eq!(
            parse(&["svc", "migrate"]).unwrap(),
            Some(DatabaseCommand::Migrate)
        );
        assert_eq!(
            parse(&["svc", "seed"]).unwrap(),
            Some(DatabaseCommand::Seed)
        );
        assert!(parse(&["svc", "drop-everything"]).is_err());
    }
}

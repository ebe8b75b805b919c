//! The subcommands of services that own database tables: serve (the default), apply their
//! migrations, or load their demo data. Migrations run only when asked, never implicitly at
//! start, so that several replicas never race a schema change and a deployment decides when
//! it happens (a one-off task before the new version serves).

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

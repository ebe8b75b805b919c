use anyhow::Context;
use platform::cli::{DatabaseCli, DatabaseCommand};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    platform::probe::exit_if_requested(shop_users::DEFAULT_PORT);
    let command = DatabaseCli::command_from_args("shop-users", "Shop users service");
    let env = platform::Env::from_process();
    let config = shop_users::Config::from_env(&env).context("invalid configuration")?;
    platform::telemetry::init(config.log_format);
    match command {
        DatabaseCommand::Serve => {
            let listener = platform::http::listen(config.port).await?;
            let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
            // CloudWatch metrics (EMF lines on stdout) when METRICS_NAMESPACE is set.
            platform::emf::start(&env, "users", &shutdown).context("invalid configuration")?;
            shop_users::run(config, listener, shutdown).await?;
        }
        DatabaseCommand::Migrate => shop_users::migrate(&config).await?,
        DatabaseCommand::Seed => {
            let inserted = shop_users::seed(&config).await?;
            tracing::info!(inserted, "demo users seeded");
        }
    }
    Ok(())
}

use anyhow::Context;
use platform::cli::{DatabaseCli, DatabaseCommand};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    platform::probe::exit_if_requested(shop_users::DEFAULT_PORT);
    let command = DatabaseCli::command_from_args("shop-users", "Shop users service");
    let config = shop_users::Config::from_env(&platform::Env::from_process())
        .context("invalid configuration")?;
    platform::telemetry::init(config.log_format);
    match command {
        DatabaseCommand::Serve => {
            let listener = platform::http::listen(config.port).await?;
            let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
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

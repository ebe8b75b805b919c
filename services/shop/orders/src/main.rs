use anyhow::Context;
use platform::cli::{DatabaseCli, DatabaseCommand};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    platform::probe::exit_if_requested(shop_orders::DEFAULT_PORT);
    let command = DatabaseCli::command_from_args("shop-orders", "Shop orders service");
    let env = platform::Env::from_process();
    let config = shop_orders::Config::from_env(&env).context("invalid configuration")?;
    platform::telemetry::init(config.log_format);
    match command {
        DatabaseCommand::Serve => {
            let listener = platform::http::listen(config.port).await?;
            let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
            // CloudWatch metrics (EMF lines on stdout) when METRICS_NAMESPACE is set.
            platform::emf::start(&env, "orders", &shutdown).context("invalid configuration")?;
            shop_orders::run(config, listener, shutdown).await?;
        }
        DatabaseCommand::Migrate => shop_orders::migrate(&config).await?,
        // Orders are data users create; there is no demo data to load. The subcommand
        // exists so that every shop service answers the same setup commands.
        DatabaseCommand::Seed => tracing::info!(
            "orders have no demo data: they are created through POST /orders; nothing to do"
        ),
    }
    Ok(())
}

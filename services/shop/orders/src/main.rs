use shop_orders::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Orders are data users create; there is no demo data to load. The subcommand exists
    // so that every shop service answers the same setup commands.
    let seed = async |_: &Config| {
        tracing::info!(
            "orders have no demo data: they are created through POST /orders; nothing to do"
        );
        Ok(())
    };
    platform::cli::database_main(
        "shop-orders",
        "Shop orders service",
        shop_orders::DEFAULT_PORT,
        Config::from_env,
        shop_orders::run,
        shop_orders::migrate,
        seed,
    )
    .await?;
    Ok(())
}

use shop_products::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seed = async |config: &Config| {
        let inserted = shop_products::seed(config).await?;
        tracing::info!(inserted, "demo products seeded");
        Ok(())
    };
    platform::cli::database_main(
        "shop-products",
        "Shop products service",
        shop_products::DEFAULT_PORT,
        Config::from_env,
        shop_products::run,
        shop_products::migrate,
        seed,
    )
    .await?;
    Ok(())
}

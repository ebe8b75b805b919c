use shop_users::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seed = async |config: &Config| {
        let inserted = shop_users::seed(config).await?;
        tracing::info!(inserted, "demo users seeded");
        Ok(())
    };
    platform::cli::database_main(
        "shop-users",
        "Shop users service",
        shop_users::DEFAULT_PORT,
        Config::from_env,
        shop_users::run,
        shop_users::migrate,
        seed,
    )
    .await?;
    Ok(())
}

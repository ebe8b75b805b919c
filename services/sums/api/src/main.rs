#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(platform::startup::main(
        "api",
        sums_api::DEFAULT_PORT,
        sums_api::Config::from_env,
        sums_api::run,
    )
    .await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(platform::startup::main(
        "client",
        sums_client::DEFAULT_PORT,
        sums_client::Config::from_env,
        sums_client::run,
    )
    .await?)
}

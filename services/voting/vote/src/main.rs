#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(platform::startup::main(
        "vote",
        vote::DEFAULT_PORT,
        vote::Config::from_env,
        vote::run,
    )
    .await?)
}

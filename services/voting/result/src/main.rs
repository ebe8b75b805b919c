#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    Ok(platform::startup::main(
        "result",
        result::DEFAULT_PORT,
        result::Config::from_env,
        result::run,
    )
    .await?)
}

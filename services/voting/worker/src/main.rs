#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    Ok(platform::startup::main(
        worker::SERVICE,
        worker::DEFAULT_PORT,
        worker::Config::from_env,
        worker::run,
    )
    .await?)
}

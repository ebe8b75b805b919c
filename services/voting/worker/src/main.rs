use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    platform::probe::exit_if_requested(worker::DEFAULT_PORT);
    let config = worker::Config::from_env(&platform::Env::from_process())
        .context("invalid configuration")?;
    platform::telemetry::init(config.common.log_format);
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    let listener = platform::http::listen(config.common.port).await?;
    worker::run(config, listener, shutdown).await?;
    Ok(())
}

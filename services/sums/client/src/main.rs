use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::probe::exit_if_requested(sums_client::DEFAULT_PORT);
    let config = sums_client::Config::from_env(&platform::Env::from_process())
        .context("invalid configuration")?;
    platform::telemetry::init(config.log_format);
    let listener = platform::http::listen(config.port).await?;
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    sums_client::run(config, listener, shutdown).await?;
    Ok(())
}

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::probe::exit_if_requested(vote::DEFAULT_PORT);
    let config =
        vote::Config::from_env(&platform::Env::from_process()).context("invalid configuration")?;
    platform::telemetry::init(config.common.log_format);
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    let listener = platform::http::listen(config.common.port).await?;
    vote::run(config, listener, shutdown).await?;
    Ok(())
}

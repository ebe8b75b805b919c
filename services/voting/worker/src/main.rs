use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::db::roles::exit_if_requested().await;
    platform::probe::exit_if_requested(worker::DEFAULT_PORT);
    let env = platform::Env::from_process();
    let config = worker::Config::from_env(&env).context("invalid configuration")?;
    platform::telemetry::init(config.common.log_format);
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    platform::emf::start(&env, worker::SERVICE, &shutdown).context("invalid configuration")?;
    let listener = platform::http::listen(config.common.port).await?;
    worker::run(config, listener, shutdown).await?;
    Ok(())
}

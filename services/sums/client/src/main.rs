use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::probe::exit_if_requested(sums_client::DEFAULT_PORT);
    let env = platform::Env::from_process();
    let config = sums_client::Config::from_env(&env).context("invalid configuration")?;
    platform::telemetry::init(config.log_format);
    let listener = platform::http::listen(config.port).await?;
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    // CloudWatch metrics (EMF lines on stdout) when METRICS_NAMESPACE is set.
    platform::emf::start(&env, "client", &shutdown).context("invalid configuration")?;
    sums_client::run(config, listener, shutdown).await?;
    Ok(())
}

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::probe::exit_if_requested(sums_api::DEFAULT_PORT);
    let env = platform::Env::from_process();
    let config = sums_api::Config::from_env(&env).context("invalid configuration")?;
    platform::telemetry::init(config.log_format);
    let listener = platform::http::listen(config.port).await?;
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    // CloudWatch metrics (EMF lines on stdout) when METRICS_NAMESPACE is set.
    platform::emf::start(&env, "api", &shutdown).context("invalid configuration")?;
    sums_api::run(config, listener, shutdown).await?;
    Ok(())
}

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::probe::exit_if_requested(vote::DEFAULT_PORT);
    let env = platform::Env::from_process();
    let config = vote::Config::from_env(&env).context("invalid configuration")?;
    platform::telemetry::init(config.common.log_format);
    let shutdown = platform::Shutdown::on_signals(platform::shutdown::DEFAULT_DRAIN);
    // CloudWatch metrics (EMF lines on stdout) when METRICS_NAMESPACE is set.
    platform::emf::start(&env, "vote", &shutdown).context("invalid configuration")?;
    let listener = platform::http::listen(config.common.port).await?;
    vote::run(config, listener, shutdown).await?;
    Ok(())
}

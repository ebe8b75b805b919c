use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = seed::Args::parse();
    platform::telemetry::init(platform::telemetry::LogFormat::Text);
    match seed::run(args).await {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("seed failed: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

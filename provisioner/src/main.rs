use std::path::Path;
use std::process::ExitCode;

use provisioner::config::StackConfig;

/// `provision <stack> <env>`: validates a stack file and prints it resolved for the env.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (stack, env) = match args.as_slice() {
        [stack, env] => (stack.as_str(), env.as_str()),
        _ => {
            eprintln!("usage: provision <stack> <env>");
            return ExitCode::FAILURE;
        }
    };
    match StackConfig::load(Path::new("config"), stack, env) {
        Ok(config) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&config).expect("config serializes")
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

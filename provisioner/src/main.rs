use std::process::ExitCode;

/// `provision`: an app without stacks of its own, so every `--stack` is a stack file in
/// `--config-dir` (see `provisioner::app`).
fn main() -> ExitCode {
    provisioner::app::App::new().run()
}

//! The voting stack, defined in Rust, with the `provision` command line:
//! `voting plan --offline`, `voting --env prod synth`, `voting up`…

use std::process::ExitCode;

fn main() -> ExitCode {
    provisioner::app::App::new()
        .stack("voting", slipway_examples::voting)
        .run()
}

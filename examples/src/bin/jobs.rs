//! The jobs stack (two workers sharing one Postgres), defined in Rust, with the
//! `provision` command line: `jobs plan --offline`, `jobs synth`, `jobs up`, `jobs down`…

use std::process::ExitCode;

fn main() -> ExitCode {
    provisioner::app::App::new()
        .stack("jobs", slipway_examples::jobs)
        .run()
}

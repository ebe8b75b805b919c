//! `provision init`: reads the compose file, writes the stack file (never over an
//! existing one without `--force`) and prints what was not translated, one per line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::{translate, InitOptions};
use crate::session::Session;

/// Compose file names in the order `docker compose` looks for them.
pub const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// `provision init` options (the stack's name is the global `--stack`).
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The compose file (default: compose.yaml, compose.yml, docker-compose.yaml or
    /// docker-compose.yml in the current directory, as `docker compose` looks for them).
    #[arg(long, value_name = "FILE")]
    pub compose: Option<PathBuf>,
    /// Take the services of this compose profile and what they depend on (repeatable).
    /// Without it: the services that have no profile. (`--profile` is the AWS profile.)
    #[arg(long = "compose-profile", value_name = "PROFILE")]
    pub compose_profiles: Vec<String>,
    /// Where to write the stack file (default: <config-dir>/<stack>.toml).
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing stack file.
    #[arg(long)]
    pub force: bool,
}

fn find_compose(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    COMPOSE_FILES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no compose file here (looked for {}); pass --compose FILE",
                COMPOSE_FILES.join(", ")
            )
        })
}

/// Runs `provision init`; exit code 0 when the file was written.
pub fn run(session: &Session, args: &InitArgs) -> Result<u8> {
    let compose = find_compose(args.compose.as_deref())?;
    let text = std::fs::read_to_string(&compose)
        .with_context(|| format!("cannot read {} (pass --compose FILE)", compose.display()))?;
    let options = InitOptions {
        source: compose.display().to_string(),
        profiles: args.compose_profiles.clone(),
        stack: (!session.stack.is_empty()).then(|| session.stack.clone()),
    };
    let translation = translate(&text, &options)?;
    let out = args.out.clone().unwrap_or_else(|| {
        session
            .config_dir
            .join(format!("{}.toml", translation.stack))
    });
    if out.exists() && !args.force {
        bail!(
            "{} exists; pass --force to replace it, or --out FILE / --stack NAME to write another",
            out.display()
        );
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&out, &translation.text)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let stack_flag = if out
        == session
            .config_dir
            .join(format!("{}.toml", translation.stack))
    {
        format!("--stack {}", translation.stack)
    } else {
        let dir = out.parent().map(Path::display).map(|d| d.to_string());
        format!(
            "--config-dir {} --stack {}",
            dir.filter(|d| !d.is_empty()).unwrap_or_else(|| ".".into()),
            out.file_stem().and_then(|s| s.to_str()).unwrap_or_default()
        )
    };
    if session.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "stack": translation.stack,
                "file": out,
                "not_translated": translation.notes,
            }))?
        );
    } else {
        println!(
            "Wrote {} (stack `{}`) from {}.",
            out.display(),
            translation.stack,
            compose.display()
        );
        if !translation.notes.is_empty() {
            println!(
                "Not translated or translated differently ({}; also comments at the top of the file):",
                translation.notes.len()
            );
            for note in &translation.notes {
                println!("  {note}");
            }
        }
        if let Some(note) = build_paths_note(&compose, &out, &translation.text) {
            println!("{note}");
        }
        println!(
            "Next: review it, then `provision {stack_flag} plan --offline` and `provision {stack_flag} up`."
        );
    }
    Ok(0)
}

/// Build contexts in the stack file are relative to the project root (the directory that
/// holds the stack file's directory: `provision push`), compose's to the compose file's
/// directory: when the two differ, say so (init copies compose's paths as they are).
fn build_paths_note(compose: &Path, out: &Path, text: &str) -> Option<String> {
    if !text.contains(".build]") {
        return None;
    }
    let absolute = |p: &Path| std::path::absolute(p).ok();
    let compose_dir = absolute(compose)?.parent()?.to_owned();
    let root = crate::push::project_root(absolute(out)?.parent()?);
    (compose_dir != root).then(|| {
        format!(
            "Note: `provision push` reads each [services.<name>.build] context relative to {}, \
             but compose's are relative to {}: adjust `context` in {} before pushing.",
            root.display(),
            compose_dir.display(),
            out.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_paths_are_noted_only_when_the_compose_file_is_elsewhere() {
        let text = "[services.web.build]\ncontext = \"./web\"\n";
        assert_eq!(
            build_paths_note(
                Path::new("/app/compose.yaml"),
                Path::new("/app/config/web.toml"),
                text
            ),
            None
        );
        let note = build_paths_note(
            Path::new("/app/deploy/compose.yaml"),
            Path::new("/app/config/web.toml"),
            text,
        )
        .unwrap();
        assert!(
            note.contains("relative to /app,") && note.contains("/app/deploy"),
            "{note}"
        );
        assert_eq!(
            build_paths_note(
                Path::new("/elsewhere/compose.yaml"),
                Path::new("/app/config/web.toml"),
                ""
            ),
            None
        );
    }
}

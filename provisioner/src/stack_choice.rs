//! Which stack a command works on when `--stack` is not given: there is no default
//! stack, so a forgotten flag can never run `down` on some other stack. Without
//! `--stack` the stack directory must hold exactly one stack file.

use std::path::Path;

/// Why no stack could be chosen; every message says what to pass instead.
#[derive(Debug, thiserror::Error)]
pub enum StackChoiceError {
    #[error("cannot list the stack files in {dir} ({source}): pass --stack NAME, and --config-dir if the stacks live elsewhere")]
    Read {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no stack file in {dir}: write one from your compose file with `provision init`, or pass --config-dir")]
    None { dir: String },
    #[error("which stack? {dir} holds {count} stack files: {stacks}; pass --stack NAME (or set SLIPWAY_STACK)", count = .stacks.split(", ").count())]
    Ambiguous { dir: String, stacks: String },
}

/// The stack names in `dir` (`<name>.toml`), sorted.
pub fn stacks_in(dir: &Path) -> Result<Vec<String>, StackChoiceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StackChoiceError::Read {
        dir: dir.display().to_string(),
        source,
    })?;
    let mut stacks: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "toml")
                .then(|| path.file_stem()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    stacks.sort();
    Ok(stacks)
}

/// The stack to use when `--stack` was not given: the only stack file in `dir`.
pub fn default_stack(dir: &Path) -> Result<String, StackChoiceError> {
    let mut stacks = stacks_in(dir)?;
    match stacks.len() {
        0 => Err(StackChoiceError::None {
            dir: dir.display().to_string(),
        }),
        1 => Ok(stacks.remove(0)),
        _ => Err(StackChoiceError::Ambiguous {
            dir: dir.display().to_string(),
            stacks: stacks.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stack_file_is_the_default_and_several_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            default_stack(dir.path()),
            Err(StackChoiceError::None { .. })
        ));
        std::fs::write(dir.path().join("web.toml"), "").unwrap();
        std::fs::write(dir.path().join("notes.md"), "").unwrap();
        std::fs::create_dir(dir.path().join("old.toml")).unwrap();
        assert_eq!(default_stack(dir.path()).unwrap(), "web");
        std::fs::write(dir.path().join("api.toml"), "").unwrap();
        let message = default_stack(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("holds 2 stack files: api, web"),
            "{message}"
        );
        assert!(message.contains("pass --stack NAME"), "{message}");
        let missing = default_stack(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing.to_string().contains("pass --stack NAME"),
            "{missing}"
        );
    }
}

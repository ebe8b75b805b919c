//! `[services.<name>.build]`: how `provision push` builds a service's image with
//! `docker buildx build` — the Dockerfile, its stage and the build context. Paths are
//! relative as in Compose: `context` to the project root (the directory that holds the
//! config directory), `dockerfile` to the context.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Build arguments `provision push` always passes: the image tag and the git commit it
/// was built from (the repository's Dockerfile labels the image with both).
pub const AUTOMATIC_BUILD_ARGS: [&str; 2] = ["VERSION", "REVISION"];

/// `[services.<name>.build]`: every key optional.
///
/// ```
/// use slipway_cdk::config::BuildConfig;
///
/// let build: BuildConfig = toml::from_str("target = \"vote\"").unwrap();
/// assert_eq!((build.context.as_str(), build.dockerfile.as_str()), (".", "Dockerfile"));
/// assert_eq!(build.target.as_deref(), Some("vote"));
/// assert!(build.validate("vote").is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// Build context, relative to the project root (default `.`).
    #[serde(default = "default_context")]
    pub context: String,
    /// The Dockerfile, relative to the context as in Compose (default `Dockerfile`).
    #[serde(default = "default_dockerfile")]
    pub dockerfile: String,
    /// The stage to build (`--target`); unset: the Dockerfile's last stage.
    pub target: Option<String>,
    /// Extra build arguments (`--build-arg NAME=VALUE`); VERSION and REVISION are set
    /// by `provision push` itself.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            context: default_context(),
            dockerfile: default_dockerfile(),
            target: None,
            args: BTreeMap::new(),
        }
    }
}

fn default_context() -> String {
    ".".into()
}
fn default_dockerfile() -> String {
    "Dockerfile".into()
}

/// A Dockerfile stage name as BuildKit accepts it after `AS`: a letter, then letters,
/// digits, `_`, `.` or `-` (case-insensitive).
pub fn is_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The stage names a Dockerfile declares (`FROM <image> AS <name>`), lowercased as
/// BuildKit compares them, in order. Continuation lines and comments are not stages.
///
/// ```
/// let stages = slipway_cdk::config::build::dockerfile_stages("FROM alpine AS Base\nRUN true\nfrom base as web\n");
/// assert_eq!(stages, ["base", "web"]);
/// ```
pub fn dockerfile_stages(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let from = words.first()?.eq_ignore_ascii_case("FROM");
            let as_at = words.iter().position(|w| w.eq_ignore_ascii_case("AS"))?;
            let name = words.get(as_at + 1)?;
            (from && as_at >= 2).then(|| name.to_ascii_lowercase())
        })
        .collect()
}

impl BuildConfig {
    /// Checks the values of service `service`'s build table; the message names the key.
    pub fn validate(&self, service: &str) -> Result<(), String> {
        let at = format!("services.{service}.build");
        for (key, value) in [("context", &self.context), ("dockerfile", &self.dockerfile)] {
            if value.trim().is_empty() || value.trim() != value || value.contains(['\n', '\0']) {
                return Err(format!(
                    "{at}.{key} `{value}` must be a path without surrounding spaces or line breaks (context: relative to the project root; dockerfile: relative to the context)"
                ));
            }
        }
        if let Some(target) = &self.target {
            if !is_stage_name(target) {
                return Err(format!(
                    "{at}.target `{target}` is not a Dockerfile stage name (a letter, then letters, digits, `_`, `.` or `-`); leave it out to build the last stage"
                ));
            }
        }
        for (name, value) in &self.args {
            let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                return Err(format!(
                    "{at}.args: `{name}` is not a build argument name (letters, digits and `_`, not starting with a digit)"
                ));
            }
            if AUTOMATIC_BUILD_ARGS.contains(&name.as_str()) {
                return Err(format!(
                    "{at}.args: `{name}` is set by `provision push` itself (VERSION is the pushed tag, REVISION the git commit); remove it"
                ));
            }
            if value.contains(['\n', '\0']) {
                return Err(format!(
                    "{at}.args.{name} must be one line (it is passed as --build-arg {name}=…)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> BuildConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_fit_a_dockerfile_at_the_project_root() {
        let b = build("");
        assert_eq!(b, BuildConfig::default());
        assert_eq!(b.context, ".");
        assert_eq!(b.dockerfile, "Dockerfile");
        assert_eq!(b.target, None);
        assert!(b.validate("web").is_ok());
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            ("context = \"\"", "services.web.build.context"),
            (
                "dockerfile = \" Dockerfile\"",
                "services.web.build.dockerfile",
            ),
            ("target = \"1st\"", "not a Dockerfile stage name"),
            ("target = \"a b\"", "not a Dockerfile stage name"),
            (
                "args = { \"A-B\" = \"x\" }",
                "`A-B` is not a build argument name",
            ),
            (
                "args = { VERSION = \"1\" }",
                "set by `provision push` itself",
            ),
            ("args = { A = \"x\\ny\" }", "must be one line"),
        ];
        for (text, expected) in cases {
            let err = build(text).validate("web").unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!(build("target = \"shop-users\"\nargs = { _X1 = \"a b\" }")
            .validate("web")
            .is_ok());
        assert!(toml::from_str::<BuildConfig>("targt = \"x\"").is_err());
    }

    #[test]
    fn every_shipped_stack_builds_a_stage_of_the_repository_dockerfile() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let stages = dockerfile_stages(&std::fs::read_to_string(root.join("Dockerfile")).unwrap());
        assert!(stages.contains(&"vote".to_owned()), "{stages:?}");
        assert!(!stages.contains(&"alpine".to_owned()), "{stages:?}");
        for stack in crate::config::STACKS {
            for (name, service) in
                crate::config::StackConfig::load(&root.join("config"), stack, "dev")
                    .unwrap()
                    .services
            {
                let build = &service.build;
                assert_eq!(
                    (build.context.as_str(), build.dockerfile.as_str()),
                    (".", "Dockerfile")
                );
                let target = build
                    .target
                    .as_deref()
                    .unwrap_or_else(|| panic!("{stack}/{name}: no target"));
                assert!(
                    stages.contains(&target.to_owned()),
                    "{stack}/{name}: {target} not in {stages:?}"
                );
                // The binary the health check runs is the one that stage holds.
                assert_eq!(
                    service.health_command[1],
                    format!("/usr/local/bin/{target}"),
                    "{stack}/{name}"
                );
            }
        }
    }
}

//! Static views of the container build for the property tests in `tests/`: the stages of
//! a Dockerfile with what each one effectively ends up with (a stage built `FROM` another
//! inherits its user, labels, health check and command, as Docker does), and the
//! workspace's packages. The compose side is `testkit::compose`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parse_dockerfile::{Command, HealthcheckArguments, Instruction};

pub use testkit::compose::{workspace_root, ComposeFile};

/// What one stage of a Dockerfile declares, after inheriting from its parent stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stage {
    /// `AS` name, if any.
    pub name: Option<String>,
    /// The `FROM` argument as written (an image reference or an earlier stage's name).
    pub from: String,
    /// The external image at the root of the inheritance chain.
    pub base_image: String,
    /// The effective `USER` (None: root by default).
    pub user: Option<String>,
    /// Effective `HEALTHCHECK CMD` in exec form; `None` when there is none.
    pub healthcheck: Option<Vec<String>>,
    /// Effective `CMD` in exec form.
    pub cmd: Option<Vec<String>>,
    /// Effective `ENTRYPOINT` in exec form.
    pub entrypoint: Option<Vec<String>>,
    /// Effective labels.
    pub labels: BTreeMap<String, String>,
    /// Effective `ENV` and declared `ARG` names with their values as written.
    pub env: BTreeMap<String, String>,
    /// `ARG` names declared in this stage with their defaults.
    pub args: BTreeMap<String, String>,
    /// This stage's own `EXPOSE` ports.
    pub exposes: Vec<String>,
    /// This stage's own `RUN` commands (shell form text).
    pub runs: Vec<String>,
    /// This stage's own `COPY` instructions as (`--from` stage, sources, destination).
    pub copies: Vec<Copy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub from: Option<String>,
    pub sources: Vec<String>,
    pub destination: String,
}

/// A parsed Dockerfile: its stages in order.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub path: PathBuf,
    pub text: String,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Reads and parses a Dockerfile relative to the workspace root.
    pub fn load(relative: &str) -> Result<Self, String> {
        let path = workspace_root().join(relative);
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let stages = parse_stages(&text).map_err(|err| format!("{relative}: {err}"))?;
        Ok(Self { path, text, stages })
    }

    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|stage| stage.name.as_deref() == Some(name))
    }

    /// The last stage: what `docker build` without `--target` produces.
    pub fn final_stage(&self) -> &Stage {
        self.stages.last().expect("a Dockerfile has a FROM")
    }

    /// Stages no other stage builds `FROM` or copies from: the images that are shipped.
    pub fn final_stages(&self) -> Vec<&Stage> {
        self.stages
            .iter()
            .filter(|stage| match &stage.name {
                None => true,
                Some(name) => !self.stages.iter().any(|other| {
                    other.from == *name
                        || other
                            .copies
                            .iter()
                            .any(|copy| copy.from.as_deref() == Some(name))
                }),
            })
            .collect()
    }
}

/// Splits shell-like words the way Docker reads `LABEL`/`RUN` text: line continuations
/// removed, quotes honoured.
pub fn words(text: &str) -> Vec<String> {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    shlex::split(&joined).unwrap_or_else(|| {
        joined
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    })
}

/// `key=value` pairs of a `LABEL`/`ENV`/`ARG` argument.
fn pairs(text: &str) -> Vec<(String, String)> {
    words(text)
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.to_owned()),
            None => (word, String::new()),
        })
        .collect()
}

fn exec_form(command: &Command<'_>) -> Vec<String> {
    match command {
        Command::Exec(arguments) => arguments
            .value
            .iter()
            .map(|argument| argument.value.to_string())
            .collect(),
        // Shell form runs under /bin/sh -c, as Docker does.
        Command::Shell(text) => vec!["/bin/sh".into(), "-c".into(), text.value.to_owned()],
        _ => Vec::new(),
    }
}

fn shell_text(command: &Command<'_>) -> String {
    match command {
        Command::Exec(arguments) => arguments
            .value
            .iter()
            .map(|argument| argument.value.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        Command::Shell(text) => text.value.to_owned(),
        _ => String::new(),
    }
}

/// Parses the Dockerfile text into stages with inherited settings resolved.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let dockerfile = parse_dockerfile::parse(text).map_err(|err| err.to_string())?;
    let mut stages: Vec<Stage> = Vec::new();
    for parsed in dockerfile.stages() {
        let from = parsed.from.image.value.to_string();
        let name = parsed
            .from
            .as_
            .as_ref()
            .map(|(_, name)| name.value.to_string());
        let mut stage = match stages
            .iter()
            .find(|earlier| earlier.name.as_deref() == Some(from.as_str()))
        {
            // Built on an earlier stage: inherit what the image config carries.
            Some(parent) => Stage {
                base_image: parent.base_image.clone(),
                user: parent.user.clone(),
                healthcheck: parent.healthcheck.clone(),
                cmd: parent.cmd.clone(),
                entrypoint: parent.entrypoint.clone(),
                labels: parent.labels.clone(),
                env: parent.env.clone(),
                ..Stage::default()
            },
            None => Stage {
                base_image: from.clone(),
                ..Stage::default()
            },
        };
        stage.name = name;
        stage.from = from;
        for instruction in parsed.instructions {
            match instruction {
                Instruction::User(user) => stage.user = Some(user.arguments.value.to_string()),
                Instruction::Healthcheck(check) => {
                    stage.healthcheck = match &check.arguments {
                        HealthcheckArguments::Cmd { arguments, .. } => Some(exec_form(arguments)),
                        _ => None,
                    }
                }
                Instruction::Cmd(cmd) => stage.cmd = Some(exec_form(&cmd.arguments)),
                Instruction::Entrypoint(entrypoint) => {
                    stage.entrypoint = Some(exec_form(&entrypoint.arguments));
                }
                Instruction::Label(label) => stage.labels.extend(pairs(&label.arguments.value)),
                Instruction::Env(env) => stage.env.extend(pairs(&env.arguments.value)),
                Instruction::Arg(arg) => stage.args.extend(pairs(&arg.arguments.value)),
                Instruction::Expose(expose) => stage
                    .exposes
                    .extend(expose.arguments.iter().map(|port| port.value.to_string())),
                Instruction::Run(run) => stage.runs.push(shell_text(&run.arguments)),
                Instruction::Copy(copy) => {
                    let from = copy
                        .options
                        .iter()
                        .find(|flag| flag.name.value == "from")
                        .and_then(|flag| flag.value.as_ref())
                        .map(|value| value.value.to_string());
                    let sources = copy
                        .src
                        .iter()
                        .filter_map(|source| match source {
                            parse_dockerfile::Source::Path(path) => Some(path.value.to_string()),
                            _ => None,
                        })
                        .collect();
                    stage.copies.push(Copy {
                        from,
                        sources,
                        destination: copy.dest.value.to_string(),
                    });
                }
                _ => {}
            }
        }
        stages.push(stage);
    }
    Ok(stages)
}

/// Whether a `USER` value denotes an unprivileged user (not root by name or uid 0).
pub fn is_non_root(user: Option<&str>) -> bool {
    match user {
        None => false,
        Some(user) => {
            let name = user.split(':').next().unwrap_or_default().trim();
            !name.is_empty() && name != "root" && name != "0"
        }
    }
}

/// `name:tag@sha256:<64 hex>`: a version tag for people and a digest for the build, so
/// a re-pushed tag changes nothing until the digest is bumped on purpose.
pub fn is_pinned_by_digest(image: &str) -> bool {
    let Some((reference, digest)) = image.split_once("@sha256:") else {
        return false;
    };
    digest.len() == 64
        && digest
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && is_pinned(reference)
}

/// Whether an image reference names an explicit version tag: a tag (or digest) that
/// contains a digit and is not a moving tag such as `latest`.
pub fn is_pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// The packages named by `apk add` in a `RUN` text.
pub fn apk_packages(run: &str) -> Vec<String> {
    let words = words(run);
    let mut packages = Vec::new();
    let mut index = 0;
    while index + 1 < words.len() {
        if words[index] == "apk" && words[index + 1] == "add" {
            for word in &words[index + 2..] {
                if matches!(word.as_str(), "&&" | ";" | "||" | "|") {
                    break;
                }
                // shlex keeps a `;` glued to the word before it.
                let (package, ends_command) = match word.strip_suffix(';') {
                    Some(package) => (package, true),
                    None => (word.as_str(), false),
                };
                if !package.starts_with('-') && !package.is_empty() {
                    packages.push(package.to_owned());
                }
                if ends_command {
                    break;
                }
            }
        }
        index += 1;
    }
    packages
}

/// A workspace package: its name, directory and the names of its (non-dev) dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub dir: PathBuf,
    pub dependencies: Vec<String>,
}

/// The packages listed as members of the root Cargo.toml.
pub fn workspace_packages() -> Result<Vec<Package>, String> {
    let root = workspace_root();
    let read_toml = |path: &Path| -> Result<toml::Table, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        text.parse::<toml::Table>()
            .map_err(|err| format!("{}: {err}", path.display()))
    };
    let manifest = read_toml(&root.join("Cargo.toml"))?;
    let members = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("members"))
        .and_then(toml::Value::as_array)
        .ok_or("Cargo.toml has no [workspace] members")?;
    members
        .iter()
        .filter_map(toml::Value::as_str)
        .map(|member| {
            let dir = root.join(member);
            let package = read_toml(&dir.join("Cargo.toml"))?;
            let name = package
                .get("package")
                .and_then(|package| package.get("name"))
                .and_then(toml::Value::as_str)
                .ok_or_else(|| format!("{member}/Cargo.toml has no package name"))?
                .to_owned();
            let dependencies = package
                .get("dependencies")
                .and_then(toml::Value::as_table)
                .map(|table| table.keys().cloned().collect())
                .unwrap_or_default();
            Ok(Package {
                name,
                dir,
                dependencies,
            })
        })
        .collect()
}

/// The Rust sources (src/**.rs) of a package and of the workspace libraries it depends
/// on (e.g. `platform`, which reads `DATABASE_URL` for the services that use its
/// database helpers): to check which variable names a binary can read.
pub fn source_with_workspace_dependencies(package: &Package, workspace: &[Package]) -> String {
    let mut text = package_source(package);
    for dependency in &package.dependencies {
        if let Some(library) = workspace.iter().find(|other| &other.name == dependency) {
            text.push_str(&package_source(library));
        }
    }
    text
}

/// All Rust source text of a package (src/**.rs).
pub fn package_source(package: &Package) -> String {
    fn collect(dir: &Path, text: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                collect(&path, text);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                text.push('\n');
            }
        }
    }
    let mut text = String::new();
    collect(&package.dir.join("src"), &mut text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# syntax=docker/dockerfile:1.7
FROM rust:1.95-alpine3.23 AS build
RUN apk add --no-cache musl-dev \
    && cargo install cargo-chef
FROM alpine:3.23.3 AS runtime
LABEL org.opencontainers.image.vendor="Slipway Inc" \
      org.opencontainers.image.licenses=MIT
ENV LOG_FORMAT=json
USER 10001:10001
FROM runtime AS web
COPY --from=build /out/web /usr/local/bin/web
EXPOSE 8080
HEALTHCHECK --interval=5s CMD ["/usr/local/bin/web", "--probe"]
CMD ["/usr/local/bin/web"]
FROM alpine:3.23.3
RUN apk add curl redis; echo done
"#;

    #[test]
    fn stages_inherit_user_labels_and_env_from_their_parent() {
        let stages = parse_stages(SAMPLE).unwrap();
        assert_eq!(stages.len(), 4);
        let web = &stages[2];
        assert_eq!(web.name.as_deref(), Some("web"));
        assert_eq!(web.base_image, "alpine:3.23.3");
        assert_eq!(web.user.as_deref(), Some("10001:10001"));
        assert_eq!(web.labels["org.opencontainers.image.vendor"], "Slipway Inc");
        assert_eq!(web.labels["org.opencontainers.image.licenses"], "MIT");
        assert_eq!(web.env["LOG_FORMAT"], "json");
        assert_eq!(
            web.healthcheck.as_deref(),
            Some(&["/usr/local/bin/web".to_owned(), "--probe".to_owned()][..])
        );
        assert_eq!(web.exposes, ["8080"]);
        assert_eq!(web.copies[0].from.as_deref(), Some("build"));
        assert_eq!(web.copies[0].destination, "/usr/local/bin/web");
        assert_eq!(stages[3].user, None, "a fresh FROM starts as root");
    }

    #[test]
    fn final_stages_are_those_nothing_builds_on() {
        let dockerfile = Dockerfile {
            path: PathBuf::new(),
            text: SAMPLE.into(),
            stages: parse_stages(SAMPLE).unwrap(),
        };
        let finals: Vec<_> = dockerfile
            .final_stages()
            .iter()
            .map(|stage| stage.name.clone())
            .collect();
        assert_eq!(finals, [Some("web".to_owned()), None]);
    }

    #[test]
    fn apk_packages_stop_at_the_next_command() {
        let stages = parse_stages(SAMPLE).unwrap();
        assert_eq!(apk_packages(&stages[0].runs[0]), ["musl-dev"]);
        assert_eq!(
            apk_packages("apk add curl redis; echo done"),
            ["curl", "redis"]
        );
    }

    #[test]
    fn pinning_and_users() {
        assert!(is_pinned("alpine:3.23.3"));
        assert!(is_pinned("rust:1.95-alpine3.23"));
        assert!(is_pinned("postgres:15-alpine"));
        assert!(is_pinned("alpine@sha256:abc"));
        assert!(!is_pinned("alpine"));
        assert!(!is_pinned("alpine:latest"));
        assert!(!is_pinned("localhost:5000/alpine"));
        let digest = "25109184c71bdad752c8312a8623239686a9a2071e8825f20acb8f2198c3f659";
        assert!(is_pinned_by_digest(&format!(
            "alpine:3.23.3@sha256:{digest}"
        )));
        assert!(!is_pinned_by_digest("alpine:3.23.3"));
        assert!(!is_pinned_by_digest(&format!("alpine@sha256:{digest}")));
        assert!(!is_pinned_by_digest("alpine:3.23.3@sha256:abc"));
        assert!(!is_pinned_by_digest(&format!(
            "alpine:3.23.3@sha256:{}",
            digest.to_uppercase()
        )));
        assert!(is_non_root(Some("10001:10001")));
        assert!(is_non_root(Some("app")));
        assert!(!is_non_root(Some("0:0")));
        assert!(!is_non_root(Some("root")));
        assert!(!is_non_root(None));
    }
}

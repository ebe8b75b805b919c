//! `provision push`: builds each service's image from its `[services.<name>.build]`
//! settings with `docker buildx build` and pushes it to the stack's ECR repositories as
//! one tag, logged in with an ECR token from the SDK. Everything is checked before the
//! first build: the tag (ECR repositories here are immutable: a pushed tag never moves),
//! the Dockerfiles and their stages, docker and buildx, the repositories. The debug image
//! is never pushed here: it runs as root next to the master database URL and the deploy
//! role may not push it (`ci/push-debug-image.sh`, with an operator's credentials).

pub mod docker;
pub mod registry;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::config::{build::dockerfile_stages, StackConfig};
use crate::model::ids::{self, DEBUG};
use crate::resources::{image_tag, ImageTag};
use crate::session::Session;
use docker::BuildRequest;

/// `provision push` options.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image tag to push (CI uses the commit SHA); must not exist yet in any of the
    /// repositories (their tags are immutable).
    #[arg(long)]
    pub tag: String,
    /// Services to build and push (repeatable; default: all of the stack's services).
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
}

/// The directory build contexts are relative to: the one that holds the config directory
/// (`config/..`: the repository root for `provision` run there).
pub fn project_root(config_dir: &Path) -> PathBuf {
    let absolute = std::path::absolute(config_dir).unwrap_or_else(|_| config_dir.to_owned());
    absolute
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// A tag Docker and ECR both accept: 1-128 characters, letters, digits, `_`, `.` and `-`,
/// not starting with `.` or `-` (Docker's reference grammar, `tag := [\w][\w.-]{0,127}`;
/// ECR allows longer tags, docker does not).
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!(
            "--tag `{tag}` is not an image tag: 1-128 letters, digits, `_`, `.` or `-`, not \
             starting with `.` or `-` (e.g. the commit: git rev-parse --short HEAD)"
        );
    }
    Ok(())
}

/// One image of the push: which services run it, where it goes and how it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedImage {
    /// The services whose containers run this image (several when they share `image_repo`).
    pub services: Vec<String>,
    /// The stack's logical repository id (`repo-<name>`).
    pub repository_id: String,
    pub build: BuildRequest,
}

/// What `push` will build, one image per repository, checked against the files: the
/// Dockerfile exists and has the target stage. `image` of each build is only the tag
/// (`:TAG`) until the repository URI is known.
pub fn plan_images(
    config: &StackConfig,
    names: &[String],
    root: &Path,
    tag: &str,
    revision: &str,
) -> Result<Vec<PlannedImage>> {
    let mut planned: Vec<PlannedImage> = Vec::new();
    for name in names {
        let service = &config.services[name];
        let repository = service.image_repo.as_deref().unwrap_or(name);
        if repository == DEBUG {
            bail!(
                "services.{name}.image_repo is `{DEBUG}`: `provision push` never pushes the debug \
                 image (it runs as root with the master database URL); use the service's own \
                 repository"
            );
        }
        let settings = &service.build;
        let context = root.join(&settings.context);
        let dockerfile = context.join(&settings.dockerfile);
        let text = std::fs::read_to_string(&dockerfile).with_context(|| {
            format!(
                "services.{name}.build: cannot read the Dockerfile {} (context `{}` is relative \
                 to {}, dockerfile `{}` to the context); fix [services.{name}.build] in the \
                 stack file",
                dockerfile.display(),
                settings.context,
                root.display(),
                settings.dockerfile
            )
        })?;
        if let Some(target) = &settings.target {
            let stages = dockerfile_stages(&text);
            if !stages.contains(&target.to_ascii_lowercase()) {
                bail!(
                    "services.{name}.build.target `{target}` is not a stage of {} (its stages: \
                     {}); fix [services.{name}.build]",
                    dockerfile.display(),
                    if stages.is_empty() {
                        "none named".to_owned()
                    } else {
                        stages.join(", ")
                    }
                );
            }
        }
        let mut args = vec![
            ("VERSION".to_owned(), tag.to_owned()),
            ("REVISION".to_owned(), revision.to_owned()),
        ];
        args.extend(settings.args.iter().map(|(k, v)| (k.clone(), v.clone())));
        let build = BuildRequest {
            context,
            dockerfile,
            target: settings.target.clone(),
            args,
            image: format!(":{tag}"),
        };
        let repository_id = ids::repository(repository);
        match planned
            .iter_mut()
            .find(|p| p.repository_id == repository_id)
        {
            Some(shared) if shared.build == build => shared.services.push(name.clone()),
            Some(shared) => bail!(
                "services {} and {name} share the repository `{repository}` but build different \
                 images; give them the same [services.<name>.build] or their own repositories",
                shared.services.join(", ")
            ),
            None => planned.push(PlannedImage {
                services: vec![name.clone()],
                repository_id,
                build,
            }),
        }
    }
    Ok(planned)
}

/// Runs `provision push`; exit code 0 when every image was pushed.
pub async fn run(session: &Session, args: &PushArgs) -> Result<u8> {
    check_tag(&args.tag)?;
    let config = session.config()?;
    let names = crate::deploy::select(&config, &args.services)?;
    let root = project_root(&session.config_dir);
    let revision = docker::revision(&root);
    let mut images = plan_images(&config, &names, &root, &args.tag, &revision)?;
    docker::check_available()?;
    let aws = session.connect().await?;
    // Every repository exists and none has the tag yet, before anything is built.
    for image in &mut images {
        let repository = aws.name(&image.repository_id);
        let uri = registry::repository_uri(&aws, &repository)
            .await?
            .with_context(|| {
                format!(
                    "ECR repository {repository} (services {}) does not exist: run `provision \
                     --stack {} --env {} up` first",
                    image.services.join(", "),
                    session.stack,
                    session.env
                )
            })?;
        match image_tag(&aws, &repository, &args.tag).await? {
            ImageTag::Missing => {}
            ImageTag::Present => bail!(
                "{repository} already has an image tagged {tag}, and its tags are immutable: \
                 nothing was pushed. Push a new tag (e.g. the commit: git rev-parse --short \
                 HEAD), or deploy the one that is there: `provision --stack {} --env {} deploy \
                 --tag {tag}`",
                session.stack,
                session.env,
                tag = args.tag
            ),
            ImageTag::NoRepository => bail!(
                "ECR repository {repository} disappeared while checking it: run `provision up`"
            ),
        }
        image.build.image = format!("{uri}:{}", args.tag);
    }
    let credentials = registry::login_credentials(&aws).await?;
    let mut registries: Vec<&str> = images
        .iter()
        .map(|i| registry::host(&i.build.image))
        .collect();
    registries.sort_unstable();
    registries.dedup();
    for host in registries {
        docker::login(host, &credentials.username, &credentials.password)?;
    }
    let mut pushed: Vec<String> = Vec::new();
    for image in &images {
        progress(
            session,
            &format!(
                "==> {}: building {} as {}",
                image.services.join(", "),
                image.build.target.as_deref().unwrap_or("the last stage"),
                image.build.image
            ),
        );
        if let Err(err) = docker::build_and_push(&image.build) {
            let rest: Vec<&String> = images
                .iter()
                .flat_map(|i| &i.services)
                .filter(|s| !pushed.contains(s))
                .collect();
            let again: Vec<String> = rest.iter().map(|s| format!("--service {s}")).collect();
            return Err(err.context(format!(
                "pushed so far: {}. After fixing it, push the rest with `provision --stack {} \
                 --env {} push --tag {} {}` (the tag already exists where it was pushed)",
                if pushed.is_empty() {
                    "nothing".to_owned()
                } else {
                    pushed.join(", ")
                },
                session.stack,
                session.env,
                args.tag,
                again.join(" ")
            )));
        }
        pushed.extend(image.services.iter().cloned());
    }
    let flags = format!("--stack {} --env {}", session.stack, session.env);
    if session.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "stack": session.stack,
                "env": session.env,
                "tag": args.tag,
                "images": images.iter().map(|i| json!({
                    "services": i.services,
                    "image": i.build.image,
                    "target": i.build.target,
                })).collect::<Vec<_>>(),
                "next": format!("provision {flags} deploy --tag {}", args.tag),
            }))?
        );
    } else {
        println!(
            "Pushed {} image(s) tagged {}: {}.",
            images.len(),
            args.tag,
            pushed.join(", ")
        );
        println!(
            "Next: provision {flags} deploy --tag {}{}",
            args.tag,
            if args.services.is_empty() {
                String::new()
            } else {
                names.iter().map(|s| format!(" --service {s}")).collect()
            }
        );
    }
    Ok(0)
}

/// Progress for people: stdout, or stderr when stdout carries `--output json`.
fn progress(session: &Session, line: &str) {
    if session.json() {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn tags_follow_dockers_grammar() {
        for good in ["v1", "abc1234", "1.2.3-rc_1", "_x", &"a".repeat(128)] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", "a b", &"a".repeat(129)] {
            let err = check_tag(bad).unwrap_err().to_string();
            assert!(err.contains("is not an image tag"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_project_root_holds_the_config_directory() {
        let root = project_root(Path::new("/srv/app/config"));
        assert_eq!(root, Path::new("/srv/app"));
        let relative = project_root(Path::new("config"));
        assert_eq!(relative, std::env::current_dir().unwrap());
    }

    #[test]
    fn the_voting_stack_builds_one_stage_per_service_with_version_and_revision() {
        let root = repo_root();
        let config = StackConfig::load(&root.join("config"), "voting", "dev").unwrap();
        let names: Vec<String> = config.services.keys().cloned().collect();
        let images = plan_images(&config, &names, &root, "v7", "c0ffee").unwrap();
        assert_eq!(images.len(), 3);
        let vote = images.iter().find(|i| i.services == ["vote"]).unwrap();
        assert_eq!(vote.repository_id, "repo-vote");
        assert_eq!(vote.build.target.as_deref(), Some("vote"));
        assert_eq!(vote.build.dockerfile, root.join("./Dockerfile"));
        assert_eq!(
            vote.build.args,
            [
                ("VERSION".to_owned(), "v7".to_owned()),
                ("REVISION".to_owned(), "c0ffee".to_owned())
            ]
        );
    }

    #[test]
    fn missing_dockerfiles_stages_and_the_debug_repository_are_refused_before_building() {
        let root = repo_root();
        let mut config = StackConfig::load(&root.join("config"), "sums", "dev").unwrap();
        let names = vec!["api".to_owned()];
        config.services.get_mut("api").unwrap().build.target = Some("sums-apii".into());
        let err = plan_images(&config, &names, &root, "v1", "r")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`sums-apii` is not a stage of") && err.contains("sums-api, sums-client"),
            "{err}"
        );
        config.services.get_mut("api").unwrap().build.dockerfile = "Nope.Dockerfile".into();
        let err = format!(
            "{:#}",
            plan_images(&config, &names, &root, "v1", "r").unwrap_err()
        );
        assert!(
            err.contains("cannot read the Dockerfile") && err.contains("Nope.Dockerfile"),
            "{err}"
        );
        config.services.get_mut("api").unwrap().image_repo = Some(DEBUG.into());
        let err = plan_images(&config, &names, &root, "v1", "r")
            .unwrap_err()
            .to_string();
        assert!(err.contains("never pushes the debug image"), "{err}");
    }

    #[test]
    fn services_sharing_a_repository_share_one_build_or_are_refused() {
        let root = repo_root();
        let mut config = StackConfig::load(&root.join("config"), "sums", "dev").unwrap();
        config.services.get_mut("client").unwrap().image_repo = Some("api".into());
        let names = vec!["api".to_owned(), "client".to_owned()];
        let err = plan_images(&config, &names, &root, "v1", "r")
            .unwrap_err()
            .to_string();
        assert!(err.contains("share the repository `api`"), "{err}");
        let api_build = config.services["api"].build.clone();
        config.services.get_mut("client").unwrap().build = api_build;
        let images = plan_images(&config, &names, &root, "v1", "r").unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].services, ["api", "client"]);
    }
}

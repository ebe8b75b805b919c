//! Properties of the root Dockerfile (one target per service) and the debug image.

mod common;

use std::collections::BTreeSet;

use common::{binary_path, APPS};
use deploy_checks::{
    apk_packages, is_non_root, is_pinned_by_digest, words, workspace_packages, workspace_root,
    Dockerfile,
};

fn root_dockerfile() -> Dockerfile {
    Dockerfile::load("Dockerfile").unwrap()
}

fn debug_dockerfile() -> Dockerfile {
    Dockerfile::load("services/debug/Dockerfile").unwrap()
}

const OCI_LABELS: &[&str] = &[
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.vendor",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.base.name",
];

#[test]
fn every_external_base_image_is_pinned() {
    for dockerfile in [root_dockerfile(), debug_dockerfile()] {
        let stage_names: BTreeSet<_> = dockerfile
            .stages
            .iter()
            .filter_map(|stage| stage.name.clone())
            .collect();
        for stage in &dockerfile.stages {
            if !stage_names.contains(&stage.from) {
                // Tag and digest (bump procedure: the comment atop the root Dockerfile).
                assert!(
                    is_pinned_by_digest(&stage.from),
                    "{}: FROM {} is not pinned by version tag and sha256 digest",
                    dockerfile.path.display(),
                    stage.from
                );
            }
        }
    }
}

#[test]
fn the_shipped_stages_are_exactly_the_service_targets() {
    let dockerfile = root_dockerfile();
    let finals: BTreeSet<_> = dockerfile
        .final_stages()
        .iter()
        .map(|stage| stage.name.clone().unwrap_or_default())
        .collect();
    let targets: BTreeSet<_> = APPS.iter().map(|app| app.target.to_owned()).collect();
    assert_eq!(finals, targets);
}

#[test]
fn final_images_are_alpine_and_run_as_an_unprivileged_user() {
    let dockerfile = root_dockerfile();
    for stage in dockerfile.final_stages() {
        let name = stage.name.as_deref().unwrap_or("?");
        assert!(
            stage.base_image.starts_with("alpine:"),
            "{name} ships on {} instead of Alpine",
            stage.base_image
        );
        assert!(
            is_non_root(stage.user.as_deref()),
            "{name} runs as {:?}: set a non-root USER",
            stage.user
        );
    }
}

#[test]
fn long_running_images_probe_themselves_and_one_off_jobs_do_not() {
    let dockerfile = root_dockerfile();
    for app in APPS {
        let stage = dockerfile.stage(app.target).unwrap();
        let binary = binary_path(app.binaries[0]);
        if app.long_running() {
            assert_eq!(
                stage.healthcheck,
                Some(vec![binary.clone(), "--probe".to_owned()]),
                "{}: HEALTHCHECK must be the binary's own --probe (no curl in the image)",
                app.target
            );
            assert_eq!(
                stage.cmd,
                Some(vec![binary]),
                "{}: CMD must be the binary (exec form, absolute path for ECS overrides)",
                app.target
            );
            assert_eq!(
                stage.exposes,
                [app.port.unwrap().to_string()],
                "{}: EXPOSE",
                app.target
            );
        } else {
            assert_eq!(
                stage.healthcheck, None,
                "{}: a job has no health",
                app.target
            );
            let command = stage.cmd.as_ref().expect("a CMD").join(" ");
            for binary in app.binaries {
                assert!(command.contains(binary), "{}: CMD {command}", app.target);
            }
        }
        // ENTRYPOINT would turn an ECS command override into arguments of it.
        assert_eq!(stage.entrypoint, None, "{}: use CMD only", app.target);
    }
}

#[test]
fn images_carry_oci_labels_with_a_title_each() {
    let dockerfile = root_dockerfile();
    let mut titles = BTreeSet::new();
    for stage in dockerfile.final_stages() {
        for label in OCI_LABELS.iter().chain(&[
            "org.opencontainers.image.version",
            "org.opencontainers.image.revision",
        ]) {
            let value = stage.labels.get(*label).map(String::as_str).unwrap_or("");
            assert!(!value.is_empty(), "{:?} lacks label {label}", stage.name);
        }
        assert!(
            titles.insert(stage.labels["org.opencontainers.image.title"].clone()),
            "duplicate title in {:?}",
            stage.name
        );
    }
    let debug = debug_dockerfile();
    for label in OCI_LABELS {
        assert!(
            debug.final_stage().labels.contains_key(*label),
            "debug lacks {label}"
        );
    }
}

#[test]
fn dependencies_are_built_in_their_own_cached_layer_with_cargo_chef() {
    let dockerfile = root_dockerfile();
    let planner = dockerfile.stage("planner").expect("a planner stage");
    assert!(
        planner
            .runs
            .iter()
            .any(|run| run.contains("cargo chef prepare")),
        "planner must run `cargo chef prepare`"
    );
    let builder = dockerfile.stage("builder").expect("a builder stage");
    let recipe = builder
        .copies
        .iter()
        .position(|copy| copy.from.as_deref() == Some("planner"))
        .expect("builder copies the recipe from the planner");
    let sources = builder
        .copies
        .iter()
        .position(|copy| copy.from.is_none() && copy.sources == ["."])
        .expect("builder copies the sources");
    assert!(recipe < sources, "the recipe must come before the sources");
    assert!(
        builder
            .runs
            .iter()
            .any(|run| run.contains("cargo chef cook") && run.contains("--release")),
        "builder cooks the dependencies in release mode"
    );
    assert!(
        builder
            .runs
            .iter()
            .any(|run| run.contains("cargo build --release")),
        "builder builds the release binaries"
    );
    let text = &dockerfile.text[dockerfile.text.find(" AS builder").unwrap()..];
    assert!(
        text.find("cargo chef cook").unwrap() < text.find("COPY . .").unwrap(),
        "`cargo chef cook` must run before the sources are copied"
    );
}

#[test]
fn the_builder_builds_every_shipped_binary_and_each_is_a_workspace_package() {
    let dockerfile = root_dockerfile();
    let builder = dockerfile.stage("builder").unwrap();
    let built: BTreeSet<String> = words(&builder.args["PACKAGES"]).into_iter().collect();
    let shipped: BTreeSet<String> = APPS
        .iter()
        .flat_map(|app| app.binaries.iter().map(|binary| (*binary).to_owned()))
        .collect();
    assert_eq!(built, shipped, "ARG PACKAGES of the builder");
    for app in APPS {
        let stage = dockerfile.stage(app.target).unwrap();
        let copied: BTreeSet<String> = stage
            .copies
            .iter()
            .filter(|copy| copy.from.as_deref() == Some("builder"))
            .flat_map(|copy| copy.sources.clone())
            .collect();
        let expected: BTreeSet<String> = app
            .binaries
            .iter()
            .map(|binary| format!("/out/{binary}"))
            .collect();
        assert_eq!(
            copied, expected,
            "{}: binaries copied from the builder",
            app.target
        );
    }
    let packages = workspace_packages().unwrap();
    for binary in &shipped {
        let package = packages.iter().find(|package| &package.name == binary);
        let package = package.unwrap_or_else(|| {
            panic!("{binary} is shipped in an image but is not a workspace package")
        });
        assert!(
            package.dir.join("src/main.rs").is_file(),
            "{binary} has no src/main.rs: it must build a binary of that name"
        );
    }
}

#[test]
fn no_secret_is_baked_into_an_image() {
    for dockerfile in [root_dockerfile(), debug_dockerfile()] {
        for stage in &dockerfile.stages {
            for name in stage.env.keys().chain(stage.args.keys()) {
                let upper = name.to_ascii_uppercase();
                for word in ["PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "REDIS_URL"] {
                    assert!(
                        !upper.contains(word),
                        "{}: {name} would bake configuration or a secret into an image",
                        dockerfile.path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_build_context_leaves_out_build_output_history_and_secrets() {
    let ignore = std::fs::read_to_string(workspace_root().join(".dockerignore")).unwrap();
    let patterns: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for required in ["**/target", ".git", ".env", ".env.*"] {
        assert!(
            patterns.contains(required),
            ".dockerignore lacks {required}"
        );
    }
}

#[test]
fn the_debug_image_has_the_network_and_data_tier_tools_and_a_shell() {
    let debug = debug_dockerfile();
    let stage = debug.final_stage();
    assert!(
        stage.base_image.starts_with("alpine:"),
        "{}",
        stage.base_image
    );
    let packages: BTreeSet<String> = stage
        .runs
        .iter()
        .flat_map(|run| apk_packages(run))
        .collect();
    // ping/traceroute/nslookup/nc also exist as busybox applets; these are the real tools.
    for package in [
        "iputils",
        "bind-tools",
        "curl",
        "netcat-openbsd",
        "redis",
        "postgresql-client",
    ] {
        assert!(
            packages.contains(package),
            "debug image lacks {package}: {packages:?}"
        );
    }
    let shell = stage.cmd.as_ref().expect("a CMD");
    assert_eq!(
        shell[0], "/bin/sh",
        "the default command is an interactive shell"
    );
    assert!(
        stage
            .copies
            .iter()
            .any(|copy| copy.sources == ["motd"] && copy.destination == "/etc/motd"),
        "the motd is installed"
    );
    let motd = std::fs::read_to_string(workspace_root().join("services/debug/motd")).unwrap();
    for mention in [
        "ping",
        "traceroute",
        "nslookup",
        "dig",
        "curl",
        "nc ",
        "redis-cli -u \"$REDIS_URL\"",
        "psql \"$DATABASE_URL\"",
    ] {
        assert!(motd.contains(mention), "motd does not mention {mention}");
    }
}

/// `cargo chef prepare` and `cargo build` need every workspace member (manifests,
/// sources, embedded migrations, templates) in the build context.
#[test]
fn the_build_context_keeps_every_file_of_every_workspace_member() {
    let root = workspace_root();
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let patterns: Vec<(String, glob::Pattern)> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .map(|line| {
            let pattern = line.trim_start_matches('/');
            (line.to_owned(), glob::Pattern::new(pattern).unwrap())
        })
        .collect();
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::default()
    };
    // Docker excludes a path when a pattern matches it or one of its parent directories.
    let excluded_by = |relative: &std::path::Path| -> Option<String> {
        relative.ancestors().find_map(|path| {
            let text = path.to_str()?;
            patterns
                .iter()
                .find(|(_, pattern)| !text.is_empty() && pattern.matches_with(text, options))
                .map(|(line, _)| format!("{line} (matches {text})"))
        })
    };
    fn files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == "target") {
                continue;
            }
            if path.is_dir() {
                files(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut needed = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    for package in workspace_packages().unwrap() {
        files(&package.dir, &mut needed);
    }
    for path in needed {
        let relative = path.strip_prefix(&root).unwrap();
        if let Some(pattern) = excluded_by(relative) {
            panic!(
                "{} is needed to build the workspace but .dockerignore excludes it: {pattern}",
                relative.display()
            );
        }
    }
    assert!(
        excluded_by(std::path::Path::new("services/platform/target/debug")).is_some(),
        "the matcher must see build output as excluded"
    );
}

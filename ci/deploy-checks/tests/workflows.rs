//! The GitHub Actions workflows' delivery guarantees, checked on the files themselves
//! (actionlint, run by ci/test.sh, checks their syntax and expressions):
//! - every action is pinned by full commit SHA with its version in a comment, and every
//!   job container image by tag and digest;
//! - deploy.yml deploys only a commit whose CI passed (workflow_run of `ci`, green, a
//!   push to main, checking out exactly the commit CI tested), and a manual deploy that
//!   builds its own commit first asks ci/require-green-ci.sh;
//! - only deploy.yml's deploy job (and the manual live smoke) may request an OIDC token,
//!   and the deploy job runs in the GitHub environment `<stack>-<env>` whose protection
//!   rules gate prod.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(".github/workflows"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

fn load(path: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let value = serde_norway::from_str(&text).unwrap();
    (text, value)
}

fn deploy_workflow() -> Value {
    load(&workspace_root().join(".github/workflows/deploy.yml")).1
}

/// `owner/repo[/path]@<40 lowercase hex> # vX.Y.Z`.
fn pinned_uses(line: &str) -> Result<(), String> {
    let uses = line.trim_start().trim_start_matches("- ").trim_start();
    let Some(rest) = uses.strip_prefix("uses:") else {
        return Err("not a uses line".into());
    };
    let (reference, comment) = rest
        .split_once('#')
        .ok_or_else(|| format!("no `# vX.Y.Z` comment: {line}"))?;
    let (action, sha) = reference
        .trim()
        .split_once('@')
        .ok_or_else(|| format!("no @ref: {line}"))?;
    if action.starts_with("./") {
        return Ok(());
    }
    if sha.len() != 40 || !sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(format!("not pinned by a full commit SHA: {line}"));
    }
    let version = comment.trim();
    let semver = version
        .strip_prefix('v')
        .map(|v| v.split('.').collect::<Vec<_>>())
        .is_some_and(|parts| {
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        });
    if !semver {
        return Err(format!(
            "the comment must name the exact version (vX.Y.Z): {line}"
        ));
    }
    Ok(())
}

#[test]
fn the_pin_check_refuses_tags_short_shas_and_missing_versions() {
    let sha = "11d5960a326750d5838078e36cf38b85af677262";
    assert!(pinned_uses(&format!("      - uses: actions/checkout@{sha} # v4.4.0")).is_ok());
    for bad in [
        "      - uses: actions/checkout@v4".to_owned(),
        "      - uses: actions/checkout@v4 # v4.4.0".to_owned(),
        format!("      - uses: actions/checkout@{} # v4.4.0", &sha[..12]),
        format!("      - uses: actions/checkout@{sha}"),
        format!("      - uses: actions/checkout@{sha} # v4"),
        format!(
            "      - uses: actions/checkout@{} # v4.4.0",
            sha.to_uppercase()
        ),
    ] {
        assert!(pinned_uses(&bad).is_err(), "{bad}");
    }
}

#[test]
fn every_action_is_pinned_by_commit_sha_and_every_container_by_digest() {
    let mut problems = Vec::new();
    let mut pinned = 0;
    for path in workflow_files() {
        let (text, workflow) = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in text.lines() {
            if line
                .trim_start()
                .trim_start_matches("- ")
                .starts_with("uses:")
            {
                match pinned_uses(line) {
                    Ok(()) => pinned += 1,
                    Err(problem) => problems.push(format!("{name}: {problem}")),
                }
            }
        }
        for (job_name, job) in workflow["jobs"].as_mapping().unwrap() {
            let image = match &job["container"] {
                Value::String(image) => Some(image.as_str()),
                container => container["image"].as_str(),
            };
            if let Some(image) = image {
                if !deploy_checks::is_pinned_by_digest(image) {
                    problems.push(format!(
                        "{name}: job {job_name:?} runs in {image}, not pinned by tag and digest"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(pinned >= 10, "only {pinned} pinned actions found");
}

#[test]
fn deploy_runs_only_after_green_ci_of_a_push_to_main_and_deploys_that_commit() {
    let workflow = deploy_workflow();
    let on = &workflow["on"];
    assert!(
        on.get("push").is_none() && on.get("pull_request").is_none(),
        "deploy.yml must not run on pushes (CI may be red): {on:?}"
    );
    let run = &on["workflow_run"];
    assert_eq!(
        run["workflows"],
        serde_norway::from_str::<Value>("[ci]").unwrap()
    );
    assert_eq!(
        run["types"],
        serde_norway::from_str::<Value>("[completed]").unwrap()
    );
    assert_eq!(
        run["branches"],
        serde_norway::from_str::<Value>("[main]").unwrap()
    );
    // The workflow it waits for is ci.yml's.
    let ci = load(&workspace_root().join(".github/workflows/ci.yml")).1;
    assert_eq!(ci["name"].as_str(), Some("ci"));

    let job = &workflow["jobs"]["deploy"];
    let condition = job["if"].as_str().unwrap();
    for needed in [
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.event == 'push'",
        "github.event.workflow_run.head_branch == 'main'",
        "github.event.workflow_run.head_repository.full_name == github.repository",
    ] {
        assert!(
            condition.contains(needed),
            "the job's `if` lacks {needed}: {condition}"
        );
    }
    // Exactly the commit CI tested, also as the image tag.
    assert!(job["env"]["COMMIT"]
        .as_str()
        .unwrap()
        .starts_with("${{ github.event.workflow_run.head_sha"));
    assert!(job["env"]["TAG"]
        .as_str()
        .unwrap()
        .contains("github.event.workflow_run.head_sha"));
    let steps = job["steps"].as_sequence().unwrap();
    let checkout = &steps[0];
    assert!(checkout["uses"]
        .as_str()
        .unwrap()
        .starts_with("actions/checkout@"));
    assert_eq!(checkout["with"]["ref"].as_str(), Some("${{ env.COMMIT }}"));
    assert_eq!(
        checkout["with"]["persist-credentials"].as_bool(),
        Some(false)
    );

    // A manual deploy that builds its own commit asks CI first, before any credentials.
    let position = |needle: &str| {
        steps
            .iter()
            .position(|step| serde_norway::to_string(step).unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no step with {needle}"))
    };
    let green = position("ci/require-green-ci.sh");
    assert!(green < position("aws-actions/configure-aws-credentials"));
    assert!(green < position("ci/push-images.sh"));
    let green_if = steps[green]["if"].as_str().unwrap();
    assert!(
        green_if.contains("workflow_dispatch") && green_if.contains("inputs.tag == ''"),
        "{green_if}"
    );
}

/// The stacks deployed come from config/ (ci/stacks.sh in the `stacks` job), never from a
/// list in the workflow: a new stack file is deployed like the others.
#[test]
fn the_stack_list_comes_from_config_not_from_the_workflow() {
    let workflow = deploy_workflow();
    let stacks = &workflow["jobs"]["stacks"];
    let deploy = &workflow["jobs"]["deploy"];
    assert_eq!(deploy["needs"].as_str(), Some("stacks"));
    assert_eq!(
        deploy["strategy"]["matrix"]["stack"].as_str(),
        Some("${{ fromJSON(needs.stacks.outputs.stacks) }}")
    );
    assert_eq!(
        stacks["outputs"]["stacks"].as_str(),
        Some("${{ steps.list.outputs.stacks }}")
    );
    let list = serde_norway::to_string(&stacks["steps"]).unwrap();
    assert!(list.contains("bash ci/stacks.sh \"$STACK\""), "{list}");
    // It runs exactly when the deploy job may (green CI of a push to main, or by hand).
    assert_eq!(stacks["if"], deploy["if"]);
    assert!(stacks["permissions"].get("id-token").is_none());
    // A manual run names any stack file; no list of choices to keep in step.
    let input = &workflow["on"]["workflow_dispatch"]["inputs"]["stack"];
    assert_eq!(input["type"].as_str(), Some("string"));
    assert_eq!(input["required"].as_bool(), Some(true));
    let text =
        std::fs::read_to_string(workspace_root().join(".github/workflows/deploy.yml")).unwrap();
    for name in ["voting", "sums", "shop"] {
        assert!(
            !text.contains(&format!("\"{name}\"")) && !text.contains(&format!("[{name},")),
            "deploy.yml names the stack {name}"
        );
    }
}

#[test]
fn only_the_deploy_job_may_request_an_oidc_token_and_it_runs_in_the_stacks_environment() {
    for path in workflow_files() {
        let (_, workflow) = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let top = &workflow["permissions"];
        if name != "live-smoke.yml" {
            assert!(
                top.get("id-token").is_none(),
                "{name}: id-token at workflow level reaches every job"
            );
        }
        for (job_name, job) in workflow["jobs"].as_mapping().unwrap() {
            let wants_token = job["permissions"].get("id-token").is_some();
            let allowed = (name == "deploy.yml" && job_name.as_str() == Some("deploy"))
                || name == "live-smoke.yml";
            assert!(
                !wants_token || allowed,
                "{name}: job {job_name:?} must not request an OIDC token"
            );
        }
    }
    let job = &deploy_workflow()["jobs"]["deploy"];
    assert_eq!(job["permissions"]["id-token"].as_str(), Some("write"));
    // The role trusts only this environment's jobs (sub repo:…:environment:<stack>-<env>),
    // so `*-prod`'s required reviewers gate AWS access itself.
    assert_eq!(
        job["environment"].as_str(),
        Some("${{ matrix.stack }}-${{ inputs.environment || 'dev' }}")
    );
}

/// Runs ci/require-green-ci.sh with a stand-in `gh` that records its arguments and
/// answers `count` successful runs.
fn require_green(commit: &str, count: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    common::recording_stand_in(dir.path(), "gh", count, 0);
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/require-green-ci.sh"))
        .args(["acme/slipway", commit])
        .env("PATH", path)
        .output()
        .unwrap();
    (
        output.status.code(),
        common::recorded_argv(dir.path()),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_manual_deploy_needs_a_green_ci_push_run_of_exactly_that_commit() {
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let (code, argv, _) = require_green(commit, "1");
    assert_eq!(code, Some(0));
    let query = argv.lines().nth(1).unwrap();
    assert!(
        query.starts_with("repos/acme/slipway/actions/workflows/ci.yml/runs?")
            && query.contains(&format!("head_sha={commit}"))
            && query.contains("event=push")
            && query.contains("status=success"),
        "{argv}"
    );
    let (code, _, stderr) = require_green(commit, "0");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("CI has not passed"), "{stderr}");
    // An abbreviated or symbolic ref is refused before asking anything.
    let (code, argv, _) = require_green("main", "1");
    assert_eq!(code, Some(2));
    assert!(argv.is_empty());
}

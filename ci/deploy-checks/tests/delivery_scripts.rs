//! ci/deploy.sh, the step deploy.yml runs: it must hand `provision` exactly the deploy or
//! rollback command, with `--yes`, and pass its exit code through (a rolled-back release
//! must fail the workflow). Checked with a stand-in `provision` that records its argv.

use std::path::Path;
use std::process::Command;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// Runs ci/deploy.sh with a fake provision that records its arguments and exits `code`.
fn deploy_sh(args: &[&str], code: i32) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("argv");
    let fake = dir.path().join("provision");
    std::fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{}'\nexit {code}\n",
            record.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let status = Command::new("bash")
        .arg(workspace_root().join("ci/deploy.sh"))
        .args(args)
        .env("PROVISION", &fake)
        .status()
        .unwrap();
    let argv = std::fs::read_to_string(&record).unwrap_or_default();
    (status.code(), argv.lines().collect::<Vec<_>>().join(" "))
}

#[test]
fn deploy_runs_provision_deploy_with_the_tag_non_interactively() {
    let (code, argv) = deploy_sh(&["voting", "prod", "deploy", "0123abc"], 0);
    assert_eq!(code, Some(0));
    assert_eq!(argv, "--stack voting --env prod --yes deploy --tag 0123abc");
}

#[test]
fn a_rolled_back_release_fails_the_step() {
    // provision deploy exits 3 when ECS rolled the release back.
    let (code, _) = deploy_sh(&["sums", "dev", "deploy", "feed"], 3);
    assert_eq!(code, Some(3));
}

#[test]
fn rollback_of_one_service_or_all() {
    let (_, argv) = deploy_sh(&["shop", "dev", "rollback", "orders"], 0);
    assert_eq!(
        argv,
        "--stack shop --env dev --yes rollback --service orders"
    );
    let (_, argv) = deploy_sh(&["shop", "dev", "rollback"], 0);
    assert_eq!(argv, "--stack shop --env dev --yes rollback");
}

#[test]
fn bad_usage_is_refused_before_calling_provision() {
    let (code, argv) = deploy_sh(&["voting", "dev", "promote"], 0);
    assert_eq!(code, Some(2));
    assert!(argv.is_empty());
    let (code, argv) = deploy_sh(&["voting", "dev", "deploy"], 0);
    assert_ne!(code, Some(0));
    assert!(argv.is_empty());
}

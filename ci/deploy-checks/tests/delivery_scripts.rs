//! ci/deploy.sh, the step deploy.yml runs: it must hand `provision` exactly the deploy or
//! rollback command, with `--yes`, and pass its exit code through (a rolled-back release
//! must fail the workflow). Checked with a stand-in `provision` that records its argv.

mod common;

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
    let fake = common::recording_stand_in(dir.path(), "provision", "", code);
    let status = Command::new("bash")
        .arg(workspace_root().join("ci/deploy.sh"))
        .args(args)
        .env("PROVISION", &fake)
        .status()
        .unwrap();
    let argv = common::recorded_argv(dir.path());
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

/// ci/push-images.sh (deploy.yml's build step) hands the whole job to `provision push`:
/// the stack's build settings live in config/, nothing here names a stack or a target.
#[test]
fn push_images_is_provision_push_with_the_tag_and_its_exit_code() {
    for (stack, code) in [("voting", 0), ("notes", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let fake = common::recording_stand_in(dir.path(), "provision", "", code);
        let status = Command::new("bash")
            .arg(workspace_root().join("ci/push-images.sh"))
            .args([stack, "prod", "0123abc"])
            .env("PROVISION", &fake)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code));
        let argv = common::recorded_argv(dir.path());
        assert_eq!(
            argv.lines().collect::<Vec<_>>().join(" "),
            format!("--stack {stack} --env prod push --tag 0123abc")
        );
    }
    let script = std::fs::read_to_string(workspace_root().join("ci/push-images.sh")).unwrap();
    for hard_coded in ["voting", "sums", "shop", "--target"] {
        assert!(
            !script
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.contains(hard_coded)),
            "{hard_coded} in ci/push-images.sh"
        );
    }
}

/// Runs ci/stacks.sh over a config directory; (exit code, stdout, stderr).
fn stacks_sh(config_dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/stacks.sh"))
        .args(args)
        .env("SLIPWAY_CONFIG_DIR", config_dir)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_deploy_matrix_is_every_stack_file_of_config_or_the_one_asked_for() {
    let (code, stdout, _) = stacks_sh(&workspace_root().join("config"), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "[\"shop\",\"sums\",\"voting\"]\n");

    // A new stack file is deployed without touching the workflow; other files are not stacks.
    let dir = tempfile::tempdir().unwrap();
    for file in ["notes.toml", "api-2.toml", "README.md"] {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    std::fs::create_dir(dir.path().join("old.toml")).unwrap();
    let (code, stdout, _) = stacks_sh(dir.path(), &[]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "[\"api-2\",\"notes\"]\n")
    );
    let (code, stdout, _) = stacks_sh(dir.path(), &["notes"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "[\"notes\"]\n"));
    let (code, stdout, stderr) = stacks_sh(dir.path(), &["voting"]);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert!(
        stderr.contains("no stack `voting`") && stderr.contains("its stacks: api-2 notes"),
        "{stderr}"
    );
    // A name that cannot be a stack, and an empty directory, fail with what to do.
    std::fs::write(dir.path().join("My Stack.toml"), "").unwrap();
    let (code, _, stderr) = stacks_sh(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("rename the file"), "{stderr}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = stacks_sh(empty.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("provision init"), "{stderr}");
}

/// Runs ci/check-deploy-role.sh; its exit code and what it printed to stderr.
fn check_deploy_role(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/check-deploy-role.sh"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const VOTING_DEV_ROLE: &str =
    "arn:aws:iam::123456789012:role/slipway/voting/dev/voting-dev-role-github-deploy";

#[test]
fn each_stack_and_environment_deploys_with_its_own_role() {
    let (code, _) = check_deploy_role(&["voting", "dev", VOTING_DEV_ROLE, "eu-west-1"]);
    assert_eq!(code, Some(0));
    // The voting role in the sums job: IAM would refuse every call of it halfway through.
    let (code, stderr) = check_deploy_role(&["sums", "dev", VOTING_DEV_ROLE, "eu-west-1"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("voting-dev-role-github-deploy")
            && stderr.contains("sums-dev-role-github-deploy")
            && stderr.contains("GitHub environment `sums-dev`"),
        "{stderr}"
    );
    // dev's role for prod.
    let (code, _) = check_deploy_role(&["voting", "prod", VOTING_DEV_ROLE, "eu-west-1"]);
    assert_eq!(code, Some(1));
}

#[test]
fn a_missing_role_or_region_says_what_to_set_where() {
    let (code, stderr) = check_deploy_role(&["shop", "prod", "", "eu-west-1"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("`shop-prod` has no secret AWS_DEPLOY_ROLE_ARN")
            && stderr.contains("provision --stack shop --env prod outputs"),
        "{stderr}"
    );
    let (code, stderr) = check_deploy_role(&["shop", "prod", VOTING_DEV_ROLE, ""]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no secret AWS_REGION"), "{stderr}");
    let (code, stderr) = check_deploy_role(&["voting", "dev", "voting-dev-role", "eu-west-1"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not an IAM role ARN"), "{stderr}");
}

/// deploy.yml: the deploy job runs in the GitHub environment `<stack>-<env>` (where each
/// stack's own role ARN lives) and checks that role before it assumes it.
#[test]
fn the_deploy_workflow_takes_the_role_from_the_stacks_own_environment() {
    let text =
        std::fs::read_to_string(workspace_root().join(".github/workflows/deploy.yml")).unwrap();
    let workflow: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let job = &workflow["jobs"]["deploy"];
    assert_eq!(
        job["environment"].as_str(),
        Some("${{ matrix.stack }}-${{ inputs.environment || 'dev' }}")
    );
    let steps = job["steps"].as_sequence().unwrap();
    let position = |needle: &str| {
        steps
            .iter()
            .position(|step| serde_norway::to_string(step).unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no step with {needle}"))
    };
    let check = position("ci/check-deploy-role.sh");
    let assume = position("aws-actions/configure-aws-credentials");
    assert!(check < assume, "the role is checked before it is assumed");
    let assume_step = serde_norway::to_string(&steps[assume]).unwrap();
    assert!(assume_step.contains("secrets.AWS_DEPLOY_ROLE_ARN"));
    let check_step = serde_norway::to_string(&steps[check]).unwrap();
    assert!(check_step.contains("secrets.AWS_DEPLOY_ROLE_ARN") && check_step.contains("$STACK"));
}

/// Runs ci/smoke-check.sh with a fake `provision` whose `outputs` names `dns` as the load
/// balancer (one try, so a failure is quick).
fn smoke_check(dns: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("provision");
    std::fs::write(
        &fake,
        format!("#!/usr/bin/env bash\necho '{{\"load_balancer_dns\": \"{dns}\"}}'\n"),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/smoke-check.sh"))
        .args(["sums", "smoke", "1"])
        .env("PROVISION", &fake)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn the_live_smoke_check_asks_the_public_health_path_of_the_load_balancer() {
    // A stand-in load balancer on loopback that answers one request 200, and records it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let read = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
            .unwrap();
        String::from_utf8_lossy(&request[..read]).into_owned()
    });
    let (code, output) = smoke_check(&address.to_string());
    assert_eq!(code, Some(0), "{output}");
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /healthcheck "), "{request}");

    // Nothing listening there: the check fails (one try here).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, output) = smoke_check(&closed.to_string());
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("did not answer"), "{output}");
    // No load balancer in the outputs: said so.
    let (code, output) = smoke_check("");
    assert_eq!(code, Some(1));
    assert!(output.contains("has no load balancer"), "{output}");
}

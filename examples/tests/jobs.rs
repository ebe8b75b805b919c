//! The jobs stack, defined in Rust (`src/lib.rs`) and run as its own program
//! (`src/bin/jobs.rs`): planned offline and synthesized without AWS, then brought up,
//! observed per service and torn down against the moto AWS emulator on loopback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use testkit::TestMoto;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `jobs ARGS` with the AWS settings `aws` (and none from the caller's environment).
fn jobs(aws: &[(&str, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobs"))
        .args(args)
        .current_dir(repo_root())
        .envs(aws.iter().map(|(k, v)| (k, v)))
        // moto answers unimplemented APIs with HTTP 500: don't retry those for long.
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("SLIPWAY_WAIT_TIMEOUT", "5")
        .env_remove("AWS_PROFILE")
        .env_remove("SLIPWAY_STACK")
        .env_remove("SLIPWAY_ENV")
        .env_remove("SLIPWAY_CONFIG_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("the jobs program runs")
}

/// Nothing listens on port 9: a command that tried AWS would fail.
fn no_aws() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn expected_ids() -> BTreeSet<String> {
    slipway_examples::jobs("dev".into())
        .synth()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[test]
fn jobs_plans_offline_and_synthesizes_without_aws() {
    let plan = ok_json(&jobs(&no_aws(), &["--output", "json", "plan", "--offline"]));
    assert_eq!(
        (plan["stack"].as_str(), plan["env"].as_str()),
        (Some("jobs"), Some("dev"))
    );
    let steps = plan["plan"]["steps"].as_array().unwrap();
    let planned: BTreeSet<String> = steps
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(planned, expected_ids());
    assert!(steps.iter().all(|s| s["action"] == "create"), "{steps:?}");
    for id in [
        "service-ingest",
        "service-report",
        "task-db-setup",
        "postgres",
    ] {
        assert!(planned.contains(id), "{id} missing from {planned:?}");
    }
    let template = ok_json(&jobs(&no_aws(), &["--env", "prod", "synth"]));
    let resources = template["Resources"].as_object().unwrap();
    assert!(
        resources.len() >= expected_ids().len() - 2,
        "{}",
        resources.len()
    );
    let text = template.to_string();
    assert!(text.contains("jobs-prod"), "names carry the environment");
    // What only Rust can say: report scales on memory from 50% (ingest at the usual 75%).
    for target in ["\"TargetValue\":50.0", "\"TargetValue\":75.0"] {
        assert!(text.contains(target), "{target} not in the template");
    }
}

#[test]
fn jobs_rejects_a_stack_it_does_not_define_like_provision_does() {
    let out = jobs(
        &no_aws(),
        &[
            "--stack",
            "nope",
            "--config-dir",
            "config",
            "plan",
            "--offline",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

#[test]
fn jobs_goes_up_reports_its_services_and_comes_down_against_moto() {
    let moto = TestMoto::start_for_provisioner();
    let run = |command: &[&str]| {
        let mut args = vec!["--yes", "--output", "json"];
        args.extend(command);
        jobs(&moto.env(), &args)
    };

    let up = ok_json(&run(&["up"]));
    assert!(
        up["outcome"]["failed"].as_object().unwrap().is_empty(),
        "{up}"
    );
    // Converged: a second `up` changes nothing.
    assert_eq!(ok_json(&run(&["up"]))["changes"], 0);

    // Per-service commands read the code stack's description.
    let status = ok_json(&run(&["status"]));
    let services: BTreeSet<&str> = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, BTreeSet::from(["ingest", "report"]), "{status}");

    let down = ok_json(&run(&["down"]));
    assert_eq!(
        down["details"]["leftovers"],
        serde_json::json!([]),
        "{down}"
    );
    // Gone: everything is to be created again.
    let plan = ok_json(&run(&["plan"]));
    let steps = plan["plan"]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["action"] == "create"), "{plan}");
    assert_eq!(steps.len(), expected_ids().len());
}

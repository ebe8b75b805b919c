//! The CLI without AWS: offline plans, and the errors a user sees.

mod common;

use common::{config_copy, edit_config};

/// `provision ARGS` with no AWS configuration at all.
fn provision_bare(args: &[&str]) -> std::process::Output {
    common::bare_command(args).output().expect("provision runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn offline_plan_needs_no_account_and_lists_every_resource() {
    for stack in ["voting", "sums", "shop"] {
        let out = provision_bare(&["--stack", stack, "plan", "--offline"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("+ create   vpc"), "{stdout}");
        assert!(
            stdout.contains("to create, 0 to update, 0 to replace, 0 to delete"),
            "{stdout}"
        );
    }
    let json = provision_bare(&[
        "--stack",
        "voting",
        "--env",
        "prod",
        "--output",
        "json",
        "plan",
        "--offline",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let nats = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "NatGateway")
        .count();
    assert_eq!(nats, 2, "prod has a NAT gateway per AZ");
    // result (routed by host name) gets a listener of its own on 8081, with the rule that
    // keeps /ready and /metrics off it (issue 13 item 2).
    let mut listeners: Vec<&str> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "Listener" || s["kind"] == "ListenerRule")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    listeners.sort();
    assert_eq!(
        listeners,
        [
            "listener-http",
            "listener-port-result",
            "rule-internal",
            "rule-internal-port-result",
            "rule-result",
            "rule-vote"
        ]
    );
    let text_plan = text(&provision_bare(&["--stack", "voting", "plan", "--offline"]).stdout);
    assert!(
        text_plan.contains("listener             listener-port-result"),
        "{text_plan}"
    );
    assert!(
        text_plan.contains("listener-rule        rule-internal-port-result"),
        "{text_plan}"
    );
}

#[test]
fn names_aws_would_refuse_fail_before_any_aws_call() {
    // 33 characters: ELB allows 32 in a target group name.
    let out = provision_bare(&[
        "--stack",
        "voting",
        "--env",
        "preprod-east",
        "plan",
        "--offline",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    for expected in [
        "config/voting.toml: ",
        "tg-result-alt: target group name `voting-preprod-east-tg-result-alt` is 33 characters, AWS allows at most 32",
        "CreateTargetGroup Name",
        "use an --env of at most 11 characters",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    // `up` stops at the same point: no credentials were looked for, nothing was sent.
    let out = provision_bare(&[
        "--stack",
        "voting",
        "--env",
        "preprod-east",
        "--region",
        "eu-west-1",
        "up",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("tg-result-alt") && !stderr.contains("credentials"),
        "{stderr}"
    );
    // Every shipped stack in both environments passes.
    for stack in ["voting", "sums", "shop"] {
        for env in ["dev", "prod"] {
            let out = provision_bare(&["--stack", stack, "--env", env, "plan", "--offline"]);
            assert!(out.status.success(), "{stack}/{env}: {}", text(&out.stderr));
        }
    }
}

#[test]
fn bad_config_reports_file_line_and_expected_keys() {
    let config = config_copy();
    edit_config(config.path(), "sums", "cpu = 256\nmemory = 512\ndesired = 2\nmin = 2\nmax = 6\nhealth_command = [\"CMD\", \"/usr/local/bin/sums-api\"", "cpu = 256\nmemroy = 512\ndesired = 2\nmin = 2\nmax = 6\nhealth_command = [\"CMD\", \"/usr/local/bin/sums-api\"");
    let dir = config.path().to_str().unwrap();
    let out = provision_bare(&["--stack", "sums", "--config-dir", dir, "plan", "--offline"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let edited = std::fs::read_to_string(config.path().join("sums.toml")).unwrap();
    let line = edited
        .lines()
        .position(|l| l.starts_with("memroy"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!(
            "sums.toml:{line}:1: unknown field `memroy`, expected one of"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("`memory`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_region_and_credentials_are_explained() {
    let out = provision_bare(&["--stack", "voting", "plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: no AWS region: pass --region or set AWS_REGION"
    );
    let out = provision_bare(&["--stack", "voting", "--region", "eu-west-1", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: no AWS credentials found"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Error {"),
        "{stderr}"
    );
}

#[test]
fn graph_reports_waves_and_the_critical_path() {
    let out = provision_bare(&["--stack", "voting", "--output", "json", "graph"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path: Vec<&str> = report["critical_path_by_typical_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(path.first(), Some(&"vpc"));
    assert!(
        path.contains(&"redis"),
        "ElastiCache dominates the voting stack: {path:?}"
    );
}

#[test]
fn synth_writes_a_cloudformation_template_without_an_account() {
    let out = provision_bare(&["--stack", "sums", "--env", "prod", "synth"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let template: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
    let resources = template["Resources"].as_object().unwrap();
    assert_eq!(resources["ServiceApi"]["Type"], "AWS::ECS::Service");
    assert_eq!(
        resources["ServiceApi"]["Properties"]["ServiceName"],
        "sums-prod-service-api"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sums-prod.json");
    let out = provision_bare(&[
        "--stack",
        "sums",
        "--env",
        "prod",
        "synth",
        "--format",
        "cloudformation",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written, template);
    assert!(text(&out.stderr).contains("sums-prod.json"));

    let missing = dir.path().join("no/such/dir/t.json");
    let out = provision_bare(&[
        "--stack",
        "voting",
        "synth",
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("check the directory exists"),
        "{}",
        text(&out.stderr)
    );
}

//! `provision deploy` and `rollback` end to end against moto, as far as moto goes: the
//! image check, the new revision (only the image changed), UpdateService, and rollback to
//! the previous revision, Ctrl-C while watching (exit 130, the release stays). moto
//! drops deploymentConfiguration and never runs tasks, so every other watch here ends at
//! its timeout (exit 5); the blue/green requests are covered in `deploy_requests.rs`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use common::Moto;

async fn revisions(aws: &provisioner::aws::Aws, family: &str) -> Vec<String> {
    aws.ecs
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .to_vec()
}

async fn service_definition(aws: &provisioner::aws::Aws) -> String {
    aws.ecs
        .describe_services()
        .cluster("sums-dev-cluster")
        .services("sums-dev-service-api")
        .send()
        .await
        .unwrap()
        .services()[0]
        .task_definition()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn deploy_registers_a_revision_with_the_new_image_and_rollback_returns_to_the_previous_one() {
    let moto = Moto::start();
    moto.provision(&["--stack", "sums", "--yes", "up"]).ok();
    let aws = moto.aws("sums", "dev").await;
    let family = "sums-dev-taskdef-api";
    assert_eq!(revisions(&aws, family).await.len(), 1);
    let first = service_definition(&aws).await;
    assert!(first.ends_with(":1"), "{first}");

    // A tag that was never pushed: nothing is registered or updated.
    let missing = moto.provision(&[
        "--stack",
        "sums",
        "--yes",
        "deploy",
        "--tag",
        "v2",
        "--service",
        "api",
    ]);
    assert_eq!(missing.code(), 1, "{}", missing.stderr());
    assert!(
        missing
            .stderr()
            .contains("image tag v2 is not in ECR repository sums-dev-repo-api"),
        "{}",
        missing.stderr()
    );
    assert_eq!(revisions(&aws, family).await.len(), 1);

    common::push_test_image(&aws, "sums-dev-repo-api", "v2").await;
    let deployed = moto.provision(&[
        "--stack",
        "sums",
        "--yes",
        "deploy",
        "--tag",
        "v2",
        "--service",
        "api",
        "--timeout",
        "1",
    ]);
    // moto never starts tasks: the watch ends at its timeout, the release stays in place.
    assert_eq!(
        deployed.code(),
        5,
        "{}\n{}",
        deployed.stdout(),
        deployed.stderr()
    );
    assert!(
        deployed.stdout().contains("(rolling)"),
        "a private service rolls: {}",
        deployed.stdout()
    );
    assert!(deployed
        .stdout()
        .contains("still in progress at the timeout"));

    let second = service_definition(&aws).await;
    assert!(second.ends_with(":2"), "{second}");
    let describe = |arn: String| {
        let aws = aws.clone();
        async move {
            aws.ecs
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .unwrap()
                .task_definition()
                .unwrap()
                .clone()
        }
    };
    let (old, new) = (describe(first.clone()).await, describe(second).await);
    let mut expected = old.container_definitions().to_vec();
    let image = expected[0].image().unwrap().replace(":latest", ":v2");
    assert!(image.ends_with("/sums-dev-repo-api:v2"), "{image}");
    expected[0].image = Some(image);
    assert_eq!(new.container_definitions(), expected.as_slice());
    assert_eq!(
        (
            new.cpu(),
            new.memory(),
            new.task_role_arn(),
            new.execution_role_arn()
        ),
        (
            old.cpu(),
            old.memory(),
            old.task_role_arn(),
            old.execution_role_arn()
        )
    );

    // No deployment API on moto, so rollback takes the previous-revision path. moto lists
    // a service's deployments once, at creation, and never again: `up` created this one
    // with 0 tasks (no image yet), so its only deployment is revision 1 with 0 of 0 tasks
    // running, COMPLETED. Back on revision 1 the watch sees that finished deployment and
    // reports success (exit 0) instead of waiting for tasks moto never runs.
    let rolled_back = moto.provision(&[
        "--stack",
        "sums",
        "--yes",
        "rollback",
        "--service",
        "api",
        "--timeout",
        "1",
    ]);
    assert_eq!(
        rolled_back.code(),
        0,
        "{}\n{}",
        rolled_back.stdout(),
        rolled_back.stderr()
    );
    assert!(
        rolled_back
            .stdout()
            .contains("api: sums-dev-taskdef-api:2 → sums-dev-taskdef-api:1"),
        "{}",
        rolled_back.stdout()
    );
    assert_eq!(service_definition(&aws).await, first);

    // Ctrl-C while watching: the watcher says so and exits 130; the release stays.
    let mut watching = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args([
            "--stack",
            "sums",
            "--yes",
            "deploy",
            "--tag",
            "v2",
            "--service",
            "api",
        ])
        .current_dir(common::repo_root())
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", common::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(watching.stdout.take().unwrap());
    let mut printed = String::new();
    // The first progress line comes from the watcher: interrupt it there.
    while !printed.contains("[api] IN_PROGRESS") {
        assert_ne!(stdout.read_line(&mut printed).unwrap(), 0, "{printed}");
    }
    let pid = watching.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    stdout.read_to_string(&mut printed).unwrap();
    let status = watching.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{printed}");
    assert!(
        printed.contains("[api] stopped watching (Ctrl-C); the deployment continues in ECS"),
        "{printed}"
    );
    assert!(service_definition(&aws).await.ends_with(":3"));

    // Unknown services are refused before anything is looked up.
    let unknown = moto.provision(&["--stack", "sums", "--yes", "rollback", "--service", "nope"]);
    assert_eq!(unknown.code(), 1);
    assert!(unknown
        .stderr()
        .contains("has no service `nope`; its services: api, client"));
}

#[tokio::test]
async fn with_output_json_deploy_and_rollback_report_each_service_on_stdout() {
    let moto = Moto::start();
    moto.provision(&["--stack", "sums", "--yes", "up"]).ok();
    let aws = moto.aws("sums", "dev").await;
    common::push_test_image(&aws, "sums-dev-repo-api", "v2").await;
    let json_run = |args: &[&str]| {
        let base = ["--stack", "sums", "--yes", "--output", "json"];
        let run = moto.provision(&[&base[..], args].concat());
        let report: serde_json::Value = serde_json::from_str(&run.stdout())
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", run.stdout()));
        (run, report)
    };

    let (deployed, report) = json_run(&[
        "deploy",
        "--tag",
        "v2",
        "--service",
        "api",
        "--timeout",
        "1",
    ]);
    assert_eq!(deployed.code(), 5, "{}", deployed.stderr());
    assert_eq!(report["command"], "deploy");
    assert_eq!(report["exit_code"], 5);
    let api = &report["services"][0];
    assert_eq!(report["services"].as_array().unwrap().len(), 1);
    assert_eq!(api["service"], "api");
    assert_eq!(api["strategy"], "rolling");
    assert_eq!(api["outcome"], "timed_out");
    assert_eq!(api["exit_code"], 5);
    assert!(
        api["image"]
            .as_str()
            .unwrap()
            .ends_with("/sums-dev-repo-api:v2"),
        "{api}"
    );
    assert!(
        api["task_definition"]
            .as_str()
            .unwrap()
            .ends_with("/sums-dev-taskdef-api:2"),
        "{api}"
    );
    // The progress people read went to stderr.
    assert!(
        deployed.stderr().contains("api: sums-dev-taskdef-api:1 → "),
        "{}",
        deployed.stderr()
    );

    // Back on revision 1, moto's only (creation-time, 0 of 0 tasks) deployment: COMPLETED
    // (see the test above).
    let (rolled_back, report) = json_run(&["rollback", "--service", "api", "--timeout", "1"]);
    assert_eq!(rolled_back.code(), 0, "{}", rolled_back.stderr());
    let api = &report["services"][0];
    assert_eq!(report["command"], "rollback");
    assert_eq!(api["action"], "previous_revision");
    assert!(
        api["task_definition"]
            .as_str()
            .unwrap()
            .ends_with("/sums-dev-taskdef-api:1"),
        "{api}"
    );
    assert_eq!(api["outcome"], "succeeded");
}

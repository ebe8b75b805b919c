//! Issue 13, item 4: a first deploy that works. `up` on a new stack holds its services at
//! 0 tasks (no image yet) and says what to run next; `provision push` builds and pushes
//! each service's image with docker buildx — here a fake `docker` first on PATH that
//! records its arguments and stdin (there is no Docker engine on these machines) — against
//! moto's ECR; `deploy` then starts the services at their configured counts, and a later
//! `up` leaves them there.

mod common;

use std::collections::BTreeMap;

use common::{push_test_image, run_with_path, FakeDocker, Moto};
use provisioner::aws::Aws;

/// (desired count, autoscaling min, max, tags) of each sums service.
async fn counts(aws: &Aws) -> BTreeMap<String, (i32, i32, i32, BTreeMap<String, String>)> {
    let services = aws
        .ecs
        .describe_services()
        .cluster("sums-dev-cluster")
        .services("sums-dev-service-api")
        .services("sums-dev-service-client")
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let bounds = common::ecs_scaling_bounds(aws).await;
    services
        .services()
        .iter()
        .map(|s| {
            let name = s.service_name().unwrap().to_owned();
            let (min, max) = bounds[&name];
            let tags = s
                .tags()
                .iter()
                .filter(|t| t.key().is_some_and(|k| k.starts_with("slipway:")))
                .map(|t| {
                    (
                        t.key().unwrap().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .filter(|(k, _)| k == "slipway:desired-count" || k == "slipway:awaiting-release")
                .collect();
            (
                name.trim_start_matches("sums-dev-service-").to_owned(),
                (s.desired_count(), min, max, tags),
            )
        })
        .collect()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn up_holds_new_services_push_builds_and_pushes_and_the_first_deploy_starts_them() {
    let moto = Moto::start();
    let docker = FakeDocker::new();

    // Before `up`: no repositories, nothing is built.
    let early = docker.provision(&moto, &["--stack", "sums", "push", "--tag", "v1"], None);
    assert_eq!(early.code(), 1, "{}", early.stderr());
    assert!(
        early.stderr().contains("ECR repository sums-dev-repo-")
            && early
                .stderr()
                .contains("run `provision --stack sums --env dev up` first"),
        "{}",
        early.stderr()
    );
    assert!(!docker.log().contains("buildx build"), "{}", docker.log());

    // `up` on a new stack: both services wait for their first release, with 0 tasks.
    let up = moto.provision(&["--stack", "sums", "--yes", "up"]);
    let stdout = up.ok();
    assert!(
        stdout.contains("Waiting for their first release (created with 0 tasks, no image pushed yet): api, client."),
        "{stdout}"
    );
    assert!(
        stdout.contains("provision --stack sums --env dev push --tag TAG")
            && stdout.contains("provision --stack sums --env dev deploy --tag TAG"),
        "{stdout}"
    );
    let aws = moto.aws("sums", "dev").await;
    let held = tags(&[
        ("slipway:awaiting-release", "true"),
        ("slipway:desired-count", "0"),
    ]);
    let before = counts(&aws).await;
    assert_eq!(before["api"], (0, 0, 0, held.clone()));
    assert_eq!(before["client"], (0, 0, 0, held));
    let status = moto.provision(&["--stack", "sums", "--output", "json", "status"]);
    let status = status.json();
    for service in status["services"].as_array().unwrap() {
        assert_eq!(service["desired"], 0, "{service}");
        assert_eq!(service["awaiting_release"], true, "{service}");
    }
    // Held is a state the plan knows: nothing to change, and the reminder again.
    let again = moto.provision(&["--stack", "sums", "--yes", "up"]);
    let again = again.ok();
    assert!(again.contains("No changes"), "{again}");
    assert!(again.contains("Waiting for their first release"), "{again}");

    // No docker on PATH: a helpful error before any AWS or docker call.
    let empty = tempfile::tempdir().unwrap();
    let missing = run_with_path(
        &moto,
        &["--stack", "sums", "push", "--tag", "v1"],
        empty.path().to_str().unwrap(),
        &docker.log_path(),
        None,
    );
    assert_eq!(missing.code(), 1);
    assert!(
        missing.stderr().contains("`docker` is not on PATH") && missing.stderr().contains("buildx"),
        "{}",
        missing.stderr()
    );
    // docker without buildx.
    let no_buildx = docker.provision(
        &moto,
        &["--stack", "sums", "push", "--tag", "v1"],
        Some("version"),
    );
    assert_eq!(no_buildx.code(), 1);
    assert!(
        no_buildx.stderr().contains("needs the buildx plugin"),
        "{}",
        no_buildx.stderr()
    );
    // A tag docker would refuse, before anything else.
    let bad = docker.provision(&moto, &["--stack", "sums", "push", "--tag=.x"], None);
    assert!(
        bad.stderr().contains("is not an image tag"),
        "{}",
        bad.stderr()
    );
    assert!(!docker.log().contains("login"), "{}", docker.log());

    // The push: one login with the ECR token's password on stdin, one build per service.
    let token = aws.ecr.get_authorization_token().send().await.unwrap();
    let token = token.authorization_data()[0].authorization_token().unwrap();
    let password = provisioner::push::registry::decode_token(token)
        .unwrap()
        .password;
    let repositories = aws
        .ecr
        .describe_repositories()
        .repository_names("sums-dev-repo-api")
        .send()
        .await
        .unwrap();
    let api_uri = repositories.repositories()[0]
        .repository_uri()
        .unwrap()
        .to_owned();
    let uri = |repo: &str| api_uri.replace("sums-dev-repo-api", &format!("sums-dev-repo-{repo}"));
    let _ = std::fs::remove_file(docker.log_path());
    let push = docker.provision(&moto, &["--stack", "sums", "push", "--tag", "v1"], None);
    let stdout = push.ok();
    assert!(
        stdout.contains("Next: provision --stack sums --env dev deploy --tag v1"),
        "{stdout}"
    );
    let log = docker.log();
    let lines: Vec<&str> = log.lines().collect();
    let registry = uri("api").split('/').next().unwrap().to_owned();
    let revision = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(common::repo_root())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    // provision runs in the repository root: config/.. is where contexts start.
    let root = std::fs::canonicalize(common::repo_root()).unwrap();
    let build = |target: &str, repo: &str| {
        format!(
            "argv: buildx build --platform linux/amd64 --file {root}/./Dockerfile --target {target} \
             --build-arg VERSION=v1 --build-arg REVISION={revision} --tag {}:v1 --push {root}/.",
            uri(repo),
            root = root.display()
        )
    };
    assert_eq!(
        lines,
        [
            "argv: buildx version".to_owned(),
            format!("argv: login --username AWS --password-stdin {registry}"),
            format!("stdin: {password}"),
            build("sums-api", "api"),
            build("sums-client", "client"),
        ],
        "{log}"
    );
    assert!(!log.contains("debug"), "never the debug image: {log}");

    // The fake pushed nothing: put the images into ECR as the push would have.
    push_test_image(&aws, "sums-dev-repo-api", "v1").await;
    push_test_image(&aws, "sums-dev-repo-client", "v1").await;
    // The tag exists now, and tags are immutable: refused before any build.
    let _ = std::fs::remove_file(docker.log_path());
    let twice = docker.provision(
        &moto,
        &["--stack", "sums", "push", "--tag", "v1", "--service", "api"],
        None,
    );
    assert_eq!(twice.code(), 1);
    assert!(
        twice.stderr().contains(
            "sums-dev-repo-api already has an image tagged v1, and its tags are immutable"
        ),
        "{}",
        twice.stderr()
    );
    assert!(!docker.log().contains("buildx build"), "{}", docker.log());

    // A failing build stops the push and says how to push the rest.
    let failed = docker.provision(
        &moto,
        &["--stack", "sums", "push", "--tag", "v2"],
        Some("sums-client"),
    );
    assert_eq!(failed.code(), 1);
    assert!(
        failed.stderr().contains("pushed so far: api")
            && failed.stderr().contains("push --tag v2 --service client"),
        "{}",
        failed.stderr()
    );

    // --service: only the named service's image, and the deploy command names it too.
    let _ = std::fs::remove_file(docker.log_path());
    let rest = docker.provision(
        &moto,
        &[
            "--stack",
            "sums",
            "push",
            "--tag",
            "v2",
            "--service",
            "client",
        ],
        None,
    );
    assert!(
        rest.ok()
            .contains("Next: provision --stack sums --env dev deploy --tag v2 --service client"),
        "{}",
        rest.stdout()
    );
    let builds: Vec<String> = docker
        .log()
        .lines()
        .filter(|l| l.starts_with("argv: buildx build"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        builds,
        [build("sums-client", "client")
            .replace(":v1", ":v2")
            .replace("VERSION=v1", "VERSION=v2")]
    );

    // The first deploy starts both at their configured counts (moto runs no tasks: the
    // watch ends at its timeout, exit 5).
    let deploy = moto.provision(&[
        "--stack",
        "sums",
        "--yes",
        "deploy",
        "--tag",
        "v1",
        "--timeout",
        "1",
    ]);
    assert_eq!(deploy.code(), 5, "{}\n{}", deploy.stdout(), deploy.stderr());
    assert!(
        deploy
            .stdout()
            .contains("api: first release: starts 2 task(s), autoscaling 2-6"),
        "{}",
        deploy.stdout()
    );
    let released = tags(&[("slipway:desired-count", "2")]);
    let after = counts(&aws).await;
    assert_eq!(after["api"], (2, 2, 6, released.clone()));
    assert_eq!(after["client"], (2, 2, 6, released));

    // A later `up` holds nothing back and leaves the counts alone. (On moto the plan is not
    // empty after a real deploy: once a deploymentConfiguration is set, moto reports
    // enableExecuteCommand and Service Connect as off, which it never stores — see
    // common::release_held_services. Those two fields are all it may show.)
    let plan = moto.provision(&["--stack", "sums", "--output", "json", "plan"]);
    let plan = plan.json();
    for step in plan["plan"]["steps"].as_array().unwrap() {
        if step["action"] == "no_op" {
            continue;
        }
        assert_eq!(step["kind"], "Service", "{step:#}");
        for change in step["changes"].as_array().unwrap() {
            assert!(
                ["enable_execute_command", "service_connect"]
                    .contains(&change["path"].as_str().unwrap()),
                "{step:#}"
            );
        }
    }
    let up = moto.provision(&["--stack", "sums", "--yes", "up"]);
    let stdout = up.ok();
    assert!(
        !stdout.contains("Waiting for their first release"),
        "{stdout}"
    );
    let status = moto.provision(&["--stack", "sums", "status"]);
    assert!(
        !status.ok().contains("Waiting for their first release"),
        "{}",
        status.stdout()
    );
    assert_eq!(counts(&aws).await, after);
}

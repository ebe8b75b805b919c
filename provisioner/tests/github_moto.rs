//! `[github]` end to end against moto: `up` creates GitHub's OIDC provider and a deploy
//! role only one repository's jobs in the stack's GitHub environment can assume, a second environment reuses the
//! provider, `down` leaves it to whoever still trusts it, and the role's policy allows
//! every AWS call the deploy workflow's commands make (recorded by moto) and no more.

mod common;

use std::collections::BTreeSet;

use common::{config_copy, Moto};
use serde_json::Value;

const GITHUB: &str = "\n[github]\nrepository = \"acme/slipway\"\n";

/// A copy of config/ whose sums stack has `[github]` (and `extra`).
fn github_config(extra: &str) -> tempfile::TempDir {
    let dir = config_copy();
    let path = dir.path().join("sums.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(GITHUB);
    text.push_str(extra);
    std::fs::write(path, text).unwrap();
    dir
}

async fn role_documents(aws: &provisioner::aws::Aws, name: &str) -> (Value, Value) {
    let role = aws.iam.get_role().role_name(name).send().await.unwrap();
    let trust = common::decode_policy(role.role().unwrap().assume_role_policy_document().unwrap());
    (trust, common::role_policy(aws, name).await)
}

async fn providers(aws: &provisioner::aws::Aws) -> Vec<String> {
    aws.iam
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap()
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn up_creates_the_oidc_provider_and_a_deploy_role_for_one_environment_which_other_envs_share()
{
    let moto = Moto::start();
    let dir = github_config(
        "\n[env.prod.github]\nrepository = \"acme/slipway\"\n\
         oidc_provider_arn = \"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com\"\n",
    );
    let config_dir = dir.path().to_str().unwrap();
    let up = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "--yes", "up"]);
    up.ok();
    let aws = moto.aws("sums", "dev").await;

    let arns = providers(&aws).await;
    assert_eq!(
        arns,
        vec!["arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]
    );
    let provider = aws
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arns[0])
        .send()
        .await
        .unwrap();
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);
    let tags: BTreeSet<(String, String)> = provider
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert!(
        tags.contains(&("slipway:id".into(), "github-oidc".into())),
        "{tags:?}"
    );

    let (trust, policy) = role_documents(&aws, "sums-dev-role-github-deploy").await;
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Principal"]["Federated"], arns[0].as_str());
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    let equals = &statement["Condition"]["StringEquals"];
    assert_eq!(
        equals["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    let subjects = equals["token.actions.githubusercontent.com:sub"].to_string();
    // The job must run in the GitHub environment `sums-dev` (whose protection rules then
    // gate AWS access): a branch subject never matches a job that names an environment.
    assert_eq!(subjects, r#"["repo:acme/slipway:environment:sums-dev"]"#);
    // Repository-scoped pushes and service-scoped updates use this stack's ARNs.
    let text = policy.to_string();
    assert!(text.contains("repository/sums-dev-repo-api"), "{text}");
    assert!(
        text.contains("service/sums-dev-cluster/sums-dev-service-api"),
        "{text}"
    );
    assert!(!text.contains("GetSecretValue"), "{text}");

    let outputs = moto.json_command("sums", Some(config_dir), "outputs");
    let outputs: Value = serde_json::from_str(&outputs.stdout()).unwrap();
    assert!(outputs["github_deploy_role_arn"]
        .as_str()
        .unwrap()
        .ends_with("role/slipway/sums/dev/sums-dev-role-github-deploy"));
    // deploy.yml's job for sums in dev reads the ARN from this GitHub environment.
    assert_eq!(outputs["github_environment"], "sums-dev");

    let plan = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "plan"]);
    assert!(
        plan.stdout().contains("No changes"),
        "{}\n{}",
        plan.stdout(),
        plan.stderr()
    );

    // prod names the provider dev created (one per account): no second provider, and
    // its role trusts only its own environment's jobs.
    let prod = moto.provision(&[
        "--config-dir",
        config_dir,
        "--stack",
        "sums",
        "--env",
        "prod",
        "--yes",
        "up",
    ]);
    prod.ok();
    assert_eq!(providers(&aws).await.len(), 1);
    let (trust, _) = role_documents(&aws, "sums-prod-role-github-deploy").await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]
            ["token.actions.githubusercontent.com:sub"]
            .to_string(),
        r#"["repo:acme/slipway:environment:sums-prod"]"#
    );

    // dev goes away, but prod's role still trusts the provider: it stays, no longer dev's.
    // (moto cannot delete ElastiCache, so sums' `down` ends with the Redis leftovers the
    // README's moto gaps table lists; the IAM side is what is checked here.)
    let down = moto.provision(&[
        "--config-dir",
        config_dir,
        "--stack",
        "sums",
        "--yes",
        "down",
    ]);
    let said = format!("{}\n{}", down.stdout(), down.stderr());
    assert!(said.contains("kept the OIDC provider"), "{said}");
    assert!(said.contains("✓ delete   github-oidc"), "{said}");
    assert!(said.contains("✓ delete   role-github-deploy"), "{said}");
    assert!(
        !said
            .lines()
            .any(|l| l.trim_start().starts_with("arn:aws:iam::")),
        "no IAM leftovers expected: {said}"
    );
    assert_eq!(providers(&aws).await.len(), 1);
    let untagged = aws
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arns[0])
        .send()
        .await
        .unwrap();
    assert!(untagged
        .tags()
        .iter()
        .all(|t| !t.key().starts_with("slipway:")));
}

#[tokio::test]
async fn a_second_provider_for_the_same_issuer_is_refused_with_what_to_set() {
    let moto = Moto::start();
    let dir = github_config("");
    let config_dir = dir.path().to_str().unwrap();
    let aws = moto.aws("sums", "dev").await;
    aws.iam
        .create_open_id_connect_provider()
        .url("https://token.actions.githubusercontent.com")
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    let up = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "--yes", "up"]);
    assert_ne!(up.code(), 0);
    assert!(
        up.stdout().contains("set github.oidc_provider_arn")
            || up.stderr().contains("set github.oidc_provider_arn"),
        "{}\n{}",
        up.stdout(),
        up.stderr()
    );
}

/// The IAM actions a role policy allows (no wildcards are used in it).
fn allowed_actions(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(items) => items
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect(),
            _ => vec![],
        })
        .collect()
}

#[tokio::test]
async fn the_deploy_role_allows_every_call_of_outputs_deploy_and_rollback() {
    let moto = Moto::start();
    let dir = github_config("");
    let config_dir = dir.path().to_str().unwrap();
    let up = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "--yes", "up"]);
    up.ok();
    let aws = moto.aws("sums", "dev").await;
    for repository in ["sums-dev-repo-api", "sums-dev-repo-client"] {
        common::push_test_image(&aws, repository, "v2").await;
    }
    let (_, policy) = role_documents(&aws, "sums-dev-role-github-deploy").await;
    let allowed = allowed_actions(&policy);

    // What the deploy workflow runs (ci/push-images.sh, ci/deploy.sh).
    let base = ["--config-dir", config_dir, "--stack", "sums", "--yes"];
    // ci/push-images.sh is `provision push` (docker itself is a stand-in here). Build
    // contexts start at the config directory's parent: a project with this config and
    // the repository's Dockerfile.
    let docker = common::FakeDocker::new();
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("config")).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            project.path().join("config").join(entry.file_name()),
        )
        .unwrap();
    }
    std::fs::copy(
        common::repo_root().join("Dockerfile"),
        project.path().join("Dockerfile"),
    )
    .unwrap();
    let project_config = project.path().join("config");
    let push_args = [
        "--config-dir",
        project_config.to_str().unwrap(),
        "--stack",
        "sums",
        "push",
        "--tag",
        "v3",
    ];
    let recorded = moto.recorded_actions(|| {
        let outputs = moto.provision(&[&base[..], &["outputs", "--json"]].concat());
        outputs.ok();
        let push = docker.provision(&moto, &push_args, None);
        push.ok();
        assert!(docker.log().contains("buildx build"), "{}", docker.log());
        // moto never runs tasks: both watches end at their timeout (exit 5).
        let deploy =
            moto.provision(&[&base[..], &["deploy", "--tag", "v2", "--timeout", "1"]].concat());
        assert_eq!(deploy.code(), 5, "{}\n{}", deploy.stdout(), deploy.stderr());
        let rollback = moto.provision(&[&base[..], &["rollback", "--timeout", "1"]].concat());
        assert!(
            [0, 5].contains(&rollback.code()),
            "{}\n{}",
            rollback.stdout(),
            rollback.stderr()
        );
    });
    for expected in [
        "ecr:GetAuthorizationToken",
        "ecs:UpdateService",
        "ecs:RegisterTaskDefinition",
        "ecr:DescribeImages",
        "ssm:PutParameter",
        "ssm:DeleteParameter",
    ] {
        assert!(
            recorded.contains(&expected.to_owned()),
            "the recording misses {expected}: {recorded:?}"
        );
    }
    let missing: Vec<&String> = recorded.iter().filter(|a| !allowed.contains(*a)).collect();
    assert!(
        missing.is_empty(),
        "the deploy role lacks {missing:?} (add them to the kind's `reads` in the kinds! table of model.rs, or to the scoped statements in constructs.rs)"
    );
    // Nothing that changes infrastructure or reads secret values. The exceptions are
    // scoped: pushing to this stack's repositories, and re-pointing its request-count
    // scaling policies after a blue/green swap (target tracking manages its own alarms).
    let scoped_writes = [
        "application-autoscaling:PutScalingPolicy",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:PutMetricAlarm",
        "ecr:PutImage",
        // The stack's lock parameter only (`deploy` and `rollback` hold it).
        "ssm:DeleteParameter",
        "ssm:PutParameter",
    ];
    let forbidden: Vec<&String> = allowed
        .iter()
        .filter(|a| {
            let operation = a.split(':').nth(1).unwrap_or_default();
            [
                "Create",
                "Delete",
                "Modify",
                "Authorize",
                "Revoke",
                "Put",
                "Attach",
            ]
            .iter()
            .any(|verb| operation.starts_with(verb))
                && !scoped_writes.contains(&a.as_str())
                || a.as_str() == "secretsmanager:GetSecretValue"
        })
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:?}");
    for statement in policy["Statement"].as_array().unwrap() {
        let actions = statement["Action"].to_string();
        if scoped_writes.iter().any(|w| actions.contains(w)) {
            assert!(
                !statement["Resource"].to_string().contains("\"*\""),
                "{statement}"
            );
        }
    }
}

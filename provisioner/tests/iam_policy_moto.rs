//! Least privilege, proved by evaluating IAM requests against the policies `up` really
//! wrote (read back from IAM on moto) with an IAM policy evaluator (`tests/iam_eval.py`:
//! principalmapper's local simulation of AWS's evaluation logic, conditions included;
//! why that one is said there). Not only the calls deploy makes: what the GitHub deploy
//! role and each execution role may do is checked against requests on this stack, on the
//! same stack's other environment and on another stack.

mod common;

use std::collections::BTreeSet;

use common::iam_eval::{assert_outcomes, request, Request};
use common::{config_copy, Moto};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const REGION: &str = common::REGION;

/// The role's ARN and its inline policy, as IAM holds them.
async fn role(aws: &provisioner::aws::Aws, name: &str) -> (String, Value) {
    let role = aws.iam.get_role().role_name(name).send().await.unwrap();
    (
        role.role().unwrap().arn().to_owned(),
        common::role_policy(aws, name).await,
    )
}

fn ecs_arn(rest: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:{rest}")
}

fn role_arn(stack: &str, env: &str, id: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/slipway/{stack}/{env}/{stack}-{env}-{id}")
}

fn repository_arn(stack_env: &str, service: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{stack_env}-repo-{service}")
}

/// The request context of a RegisterTaskDefinition carrying these ownership tags.
fn tagged(stack: &str, env: &str) -> Value {
    json!({"aws:RequestTag/slipway:stack": stack, "aws:RequestTag/slipway:env": env,
           "aws:TagKeys": ["managed-by", "slipway:env", "slipway:id", "slipway:stack"]})
}

#[tokio::test]
async fn the_deploy_role_and_execution_roles_reach_only_their_own_stack_and_service() {
    let moto = Moto::start();
    let dir = config_copy();
    let path = dir.path().join("voting.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[github]\nrepository = \"acme/slipway\"\n");
    std::fs::write(&path, text).unwrap();
    let config_dir = dir.path().to_str().unwrap();
    moto.provision(&[
        "--config-dir",
        config_dir,
        "--stack",
        "voting",
        "--yes",
        "up",
    ])
    .ok();
    let aws = moto.aws("voting", "dev").await;

    // --- The GitHub deploy role.
    let (deploy_arn, deploy) = role(&aws, "voting-dev-role-github-deploy").await;
    let own_service = ecs_arn("service/voting-dev-cluster/voting-dev-service-vote");
    let own_family = ecs_arn("task-definition/voting-dev-taskdef-vote:7");
    let to_tasks = json!({"iam:PassedToService": "ecs-tasks.amazonaws.com"});
    let on_register = {
        let mut context = tagged("voting", "dev");
        context["ecs:CreateAction"] = json!("RegisterTaskDefinition");
        context
    };
    let none = json!({});
    assert_outcomes(
        &deploy_arn,
        &deploy,
        vec![
            // What a deploy of this stack does.
            (true, request("ecs:UpdateService", &own_service, none.clone())),
            (true, request("ecs:RegisterTaskDefinition", &own_family, tagged("voting", "dev"))),
            (true, request("ecs:TagResource", &own_family, on_register.clone())),
            (true, request("iam:PassRole", role_arn("voting", "dev", "role-execution-vote"), to_tasks.clone())),
            (true, request("iam:PassRole", role_arn("voting", "dev", "role-vote"), to_tasks.clone())),
            (true, request("iam:PassRole", role_arn("voting", "dev", "role-ecs-blue-green"),
                json!({"iam:PassedToService": "ecs.amazonaws.com"}))),
            (true, request("ecr:PutImage", repository_arn("voting-dev", "vote"), none.clone())),
            (true, request("ecs:StopServiceDeployment",
                ecs_arn("service-deployment/voting-dev-cluster/voting-dev-service-vote/aBcD1234"), none.clone())),
            // Another environment of the stack, and another stack.
            (false, request("ecs:UpdateService", ecs_arn("service/voting-prod-cluster/voting-prod-service-vote"), none.clone())),
            (false, request("ecs:UpdateService", ecs_arn("service/sums-dev-cluster/sums-dev-service-api"), none.clone())),
            (false, request("ecs:RegisterTaskDefinition", ecs_arn("task-definition/voting-prod-taskdef-vote:3"), tagged("voting", "dev"))),
            (false, request("ecs:RegisterTaskDefinition", ecs_arn("task-definition/sums-dev-taskdef-api:3"), tagged("voting", "dev"))),
            // Its own family, but claiming another environment's tags, or none.
            (false, request("ecs:RegisterTaskDefinition", &own_family, tagged("voting", "prod"))),
            (false, request("ecs:RegisterTaskDefinition", &own_family, none.clone())),
            // Tagging outside a registration (re-tagging an existing revision).
            (false, request("ecs:TagResource", &own_family, tagged("voting", "dev"))),
            // Not the debug task's family: its execution role reads the master DATABASE_URL.
            (false, request("ecs:RegisterTaskDefinition", ecs_arn("task-definition/voting-dev-taskdef-debug:2"), tagged("voting", "dev"))),
            (false, request("iam:PassRole", role_arn("voting", "dev", "role-execution-debug"), to_tasks.clone())),
            // The database setup task's roles inject and read the master password.
            (false, request("iam:PassRole", role_arn("voting", "dev", "role-execution-db-setup"), to_tasks.clone())),
            (false, request("iam:PassRole", role_arn("voting", "dev", "role-db-admin"), to_tasks.clone())),
            (false, request("iam:PassRole", role_arn("voting", "prod", "role-execution-vote"), to_tasks.clone())),
            (false, request("iam:PassRole", role_arn("sums", "dev", "role-execution-api"), to_tasks.clone())),
            // Its own roles, but to another service (an instance profile, a Lambda).
            (false, request("iam:PassRole", role_arn("voting", "dev", "role-execution-vote"),
                json!({"iam:PassedToService": "ec2.amazonaws.com"}))),
            (false, request("iam:PassRole", role_arn("voting", "dev", "role-github-deploy"), to_tasks.clone())),
            // No debug image from CI, no other stack's images.
            (false, request("ecr:PutImage", repository_arn("voting-dev", "debug"), none.clone())),
            (false, request("ecr:InitiateLayerUpload", repository_arn("voting-dev", "debug"), none.clone())),
            (false, request("ecr:PutImage", repository_arn("voting-prod", "vote"), none.clone())),
            (false, request("ecs:StopServiceDeployment",
                ecs_arn("service-deployment/sums-dev-cluster/sums-dev-service-api/aBcD1234"), none.clone())),
            (false, request("ecs:StopServiceDeployment",
                ecs_arn("service-deployment/voting-prod-cluster/voting-prod-service-vote/aBcD1234"), none.clone())),
            // Nothing that runs code or reads secrets outside a deploy.
            (false, request("ecs:RunTask", &own_family, none.clone())),
            (false, request("secretsmanager:GetSecretValue",
                format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:voting-dev-database-url-AbCdEf"), none.clone())),
        ],
    );

    // --- Execution roles: each reads exactly the secrets its task definition references
    // (whatever they are), and pulls only its own image.
    let listed = aws.secrets.list_secrets().send().await.unwrap();
    let stack_secrets: BTreeSet<String> = listed
        .secret_list()
        .iter()
        .filter(|s| s.name().is_some_and(|n| n.starts_with("voting-dev-")))
        .filter_map(|s| s.arn().map(str::to_owned))
        .collect();
    assert!(stack_secrets.len() >= 2, "{stack_secrets:?}");
    for (name, family) in [
        ("vote", "voting-dev-taskdef-vote"),
        ("result", "voting-dev-taskdef-result"),
        ("worker", "voting-dev-taskdef-worker"),
        ("debug", "voting-dev-taskdef-debug"),
    ] {
        let definition = aws
            .ecs
            .describe_task_definition()
            .task_definition(family)
            .send()
            .await
            .unwrap();
        let definition = definition.task_definition().unwrap();
        let execution_role = definition.execution_role_arn().unwrap();
        assert!(
            execution_role.ends_with(&format!("/voting-dev-role-execution-{name}")),
            "{family} runs with {execution_role}"
        );
        let referenced: BTreeSet<String> = definition
            .container_definitions()
            .iter()
            .flat_map(|c| c.secrets())
            .map(|s| s.value_from().to_owned())
            .collect();
        let (arn, policy) = role(&aws, &format!("voting-dev-role-execution-{name}")).await;
        let mut cases: Vec<(bool, Request)> = stack_secrets
            .iter()
            .map(|secret| {
                (
                    referenced.contains(secret),
                    request("secretsmanager:GetSecretValue", secret, json!({})),
                )
            })
            .collect();
        for other in ["vote", "result", "worker", "debug"] {
            cases.push((
                other == name,
                request(
                    "ecr:BatchGetImage",
                    repository_arn("voting-dev", other),
                    json!({}),
                ),
            ));
        }
        cases.push((
            false,
            request(
                "ecr:BatchGetImage",
                repository_arn("voting-prod", name),
                json!({}),
            ),
        ));
        assert_outcomes(&arn, &policy, cases);
    }
}

//! `provision policy` against what `up` and `down` really call: for each shipped stack
//! (with a `[github]` section, so the OIDC provider and the deploy role are made too),
//! moto's request recorder lists the AWS actions of an `up`, an `up` after a config
//! change, and a `down`; every one must be allowed by the policy `provision policy`
//! prints for that stack, and the policy may hold no action beyond those, the observing
//! reads and the extras listed (with why) in [`NOT_RECORDED`]. The scoping (names, tags,
//! conditions) is checked with the IAM policy evaluator (`tests/iam_eval.py`) on requests
//! of this stack, of its other environment and of another stack.

mod common;

use std::collections::BTreeSet;

use common::iam_eval::{assert_outcomes, request};
use common::{config_copy, edit_config, Moto};
use serde_json::{json, Value};

/// Actions the policy grants that moto's recorder cannot show, each with its reason.
const NOT_RECORDED: &[(&str, &str)] = &[
    // IAM authorizes these as part of another call; no request of their own is made.
    ("ec2:CreateTags", "tag-on-create (TagSpecifications of every EC2 create)"),
    ("elasticloadbalancing:AddTags", "tag-on-create (Tags of every ELB create)"),
    ("ecs:TagResource", "tag-on-create (CreateCluster/CreateService/RegisterTaskDefinition tags)"),
    ("ecr:TagResource", "tag-on-create (CreateRepository tags)"),
    ("logs:TagResource", "tag-on-create (CreateLogGroup tags)"),
    ("iam:TagRole", "tag-on-create (CreateRole tags)"),
    ("iam:TagOpenIDConnectProvider", "tag-on-create (CreateOpenIDConnectProvider tags)"),
    ("secretsmanager:TagResource", "tag-on-create (CreateSecret tags, RDS's managed secret)"),
    ("elasticache:AddTagsToResource", "tag-on-create (Create* tags)"),
    ("rds:AddTagsToResource", "tag-on-create (Create* tags)"),
    ("sns:TagResource", "tag-on-create (CreateTopic tags)"),
    ("cloudwatch:TagResource", "tag-on-create (PutMetricAlarm tags)"),
    ("servicediscovery:TagResource", "tag-on-create (CreateHttpNamespace tags)"),
    ("application-autoscaling:TagResource", "tag-on-create (RegisterScalableTarget tags)"),
    ("iam:PassRole", "CreateService and RegisterTaskDefinition pass the stack's roles to ECS"),
    ("iam:CreateServiceLinkedRole", "ECS, ELB, RDS, ElastiCache and ECS autoscaling make their service-linked role on first use in an account"),
    // Final snapshots are kept outside dev only; the recording is of dev.
    ("rds:CreateDBSnapshot", "the final snapshot `down` keeps outside dev"),
    ("elasticache:CreateSnapshot", "the final snapshot `down` keeps outside dev"),
    // Update paths the recorded change does not take (each is a field AWS changes in place).
    ("ec2:ReplaceRoute", "a route's target changes (NAT gateway replaced)"),
    ("ec2:AuthorizeSecurityGroupEgress", "egress is opened on an existing group"),
    ("ec2:RevokeSecurityGroupIngress", "an ingress rule is removed"),
    ("ecs:UpdateClusterSettings", "container_insights changes"),
    ("elasticloadbalancing:SetSecurityGroups", "the ALB's security groups change"),
    ("elasticloadbalancing:SetSubnets", "the ALB's subnets change"),
    ("elasticloadbalancing:ModifyTargetGroup", "a health check path changes"),
    ("elasticloadbalancing:ModifyListener", "a listener's certificate or default action changes"),
    ("elasticloadbalancing:ModifyRule", "a rule's paths, hosts or targets change"),
    ("elasticloadbalancing:SetRulePriorities", "a rule's priority changes"),
    ("elasticache:ModifyReplicationGroup", "the node type or engine version changes"),
    ("elasticache:IncreaseReplicaCount", "replicas go up"),
    ("elasticache:DecreaseReplicaCount", "replicas go down"),
    ("rds:ModifyDBInstance", "the instance class, storage or backups change"),
    ("rds:ModifyDBSubnetGroup", "the subnets change"),
    ("ecr:PutImageScanningConfiguration", "scan_on_push changes"),
    ("ecr:PutImageTagMutability", "immutable_tags changes"),
    ("iam:UpdateAssumeRolePolicy", "a role's trust changes"),
    ("iam:AddClientIDToOpenIDConnectProvider", "the provider's audiences change"),
    ("iam:RemoveClientIDFromOpenIDConnectProvider", "the provider's audiences change"),
    ("iam:UntagOpenIDConnectProvider", "`down` leaves a provider other stacks use, untagged"),
    ("secretsmanager:UpdateSecret", "a secret's description changes"),
    ("secretsmanager:RestoreSecret", "a secret scheduled for deletion is brought back"),
    ("ecs:UpdateService", "a service's desired count changes (voting's recorded change is log retention)"),
];

/// Reads and stack-wide calls the policy grants which a given run may not need.
fn optional(action: &str) -> bool {
    let op = action.split_once(':').map_or("", |(_, op)| op);
    ["Describe", "List", "Get"]
        .iter()
        .any(|r| op.starts_with(r))
        || action.starts_with("ssm:")
        || action == "tag:GetResources"
}

/// `dir`'s stack file of `stack` with a `[github]` section added.
fn with_github(dir: &tempfile::TempDir, stack: &str) {
    let path = dir.path().join(format!("{stack}.toml"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[github]\nrepository = \"acme/slipway\"\n");
    std::fs::write(path, text).unwrap();
}

fn actions_of(document: &Value) -> BTreeSet<String> {
    document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Records `up`, `up` after replacing `change.0` by `change.1` in the stack file, and
/// `down` of `stack` (from `dir`, a config copy) on moto, and checks the recording against
/// `provision policy`. `clean_down`: `down` removes everything (moto cannot delete an
/// ElastiCache replication group or cache subnet group, so stacks with Redis leave those
/// and `down` exits 1 naming them; what it called is recorded all the same).
fn recorded_against_policy(
    dir: tempfile::TempDir,
    stack: &str,
    change: (&str, &str),
    clean_down: bool,
) {
    with_github(&dir, stack);
    let moto = Moto::start();
    let config_dir = dir.path().to_str().unwrap();
    let base = ["--config-dir", config_dir, "--stack", stack, "--yes"];
    let policy = moto.provision(&[&base[..], &["policy", "--json"]].concat());
    let document: Value = serde_json::from_str(&policy.ok()).unwrap();
    let allowed = actions_of(&document);

    let recorded = moto.recorded_actions(|| {
        moto.provision(&[&base[..], &["up"]].concat()).ok();
        edit_config(dir.path(), stack, change.0, change.1);
        moto.provision(&[&base[..], &["up"]].concat()).ok();
        let down = moto.provision(&[&base[..], &["down"]].concat());
        let expected = if clean_down { 0 } else { 1 };
        assert_eq!(
            down.code(),
            expected,
            "{}\n{}",
            down.stdout(),
            down.stderr()
        );
    });
    let mut expected = vec![
        "ec2:CreateVpc",
        "ecs:CreateService",
        "iam:DeleteRole",
        "ecs:DeleteService",
    ];
    if clean_down {
        expected.extend(["ec2:DeleteVpc", "rds:DeleteDBInstance"]);
    }
    for action in expected {
        assert!(
            recorded.contains(&action.to_owned()),
            "{stack}: no {action} in {recorded:?}"
        );
    }
    let missing: Vec<&String> = recorded.iter().filter(|a| !allowed.contains(*a)).collect();
    assert!(
        missing.is_empty(),
        "{stack}: `up`/`down` called {missing:?}, which `provision policy` does not grant \
         (add them to the kind's `writes` in the kinds! table of model.rs, or to STACK_READS \
         in cdk/src/policy.rs)"
    );
    let mut justified: BTreeSet<&str> = NOT_RECORDED.iter().map(|(a, _)| *a).collect();
    if !clean_down {
        // The VPC outlives moto's undeletable Redis subnet group (its private subnets
        // stay); shop_without_redis records its deletion.
        justified.insert("ec2:DeleteVpc");
    }
    let extra: Vec<&String> = allowed
        .iter()
        .filter(|a| !recorded.contains(a) && !optional(a) && !justified.contains(a.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "{stack}: the policy grants {extra:?}, which neither up nor down called; remove \
         them from the kinds! table or say why in NOT_RECORDED"
    );
}

#[test]
fn voting_up_and_down_call_only_what_the_policy_allows() {
    let change = ("[logs]\nretention_days = 14", "[logs]\nretention_days = 30");
    recorded_against_policy(config_copy(), "voting", change, false);
}

#[test]
fn sums_up_and_down_call_only_what_the_policy_allows() {
    let change = (
        "[services.api]\nbuild = { target = \"sums-api\" }\nport = 4567\ncpu = 256\nmemory = 512\ndesired = 2",
        "[services.api]\nbuild = { target = \"sums-api\" }\nport = 4567\ncpu = 256\nmemory = 512\ndesired = 3",
    );
    recorded_against_policy(config_copy(), "sums", change, false);
}

/// One more users task.
const SHOP_CHANGE: (&str, &str) = (
    "port = 3001\ncpu = 256\nmemory = 512\ndesired = 2",
    "port = 3001\ncpu = 256\nmemory = 512\ndesired = 3",
);

#[test]
fn shop_up_and_down_call_only_what_the_policy_allows() {
    recorded_against_policy(config_copy(), "shop", SHOP_CHANGE, false);
}

#[test]
fn shop_without_redis_is_torn_down_with_the_policys_actions_only() {
    recorded_against_policy(common::shop_without_redis(), "shop", SHOP_CHANGE, true);
}

const ACCOUNT: &str = "123456789012";

fn tags(key: &str, stack: &str, env: &str) -> Value {
    json!({format!("{key}/slipway:stack"): stack, format!("{key}/slipway:env"): env})
}

#[test]
fn the_policy_reaches_this_stack_and_environment_only() {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(["--stack", "voting", "--env", "dev", "policy", "--json"])
        .current_dir(common::repo_root())
        .env_remove("SLIPWAY_CONFIG_DIR")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let policy: Value = serde_json::from_slice(&run.stdout).unwrap();
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:us-east-1:{ACCOUNT}:{rest}");
    let vpc = arn("ec2", "vpc/vpc-0123");
    let none = json!({});
    let role = |stack: &str, env: &str| {
        format!("arn:aws:iam::{ACCOUNT}:role/slipway/{stack}/{env}/{stack}-{env}-role-task-vote")
    };
    let mut create_vpc = tags("aws:RequestTag", "voting", "dev");
    create_vpc["ec2:CreateAction"] = json!("CreateVpc");
    let pass = json!({"iam:PassedToService": "ecs-tasks.amazonaws.com"});
    let cases = vec![
        // EC2 by tag: create with this stack's tags, change what carries them.
        (
            true,
            request(
                "ec2:CreateVpc",
                vpc.clone(),
                tags("aws:RequestTag", "voting", "dev"),
            ),
        ),
        (
            false,
            request(
                "ec2:CreateVpc",
                vpc.clone(),
                tags("aws:RequestTag", "voting", "prod"),
            ),
        ),
        (false, request("ec2:CreateVpc", vpc.clone(), none.clone())),
        (
            true,
            request(
                "ec2:DeleteVpc",
                vpc.clone(),
                tags("aws:ResourceTag", "voting", "dev"),
            ),
        ),
        (
            false,
            request(
                "ec2:DeleteVpc",
                vpc.clone(),
                tags("aws:ResourceTag", "shop", "dev"),
            ),
        ),
        (false, request("ec2:DeleteVpc", vpc.clone(), none.clone())),
        (true, request("ec2:CreateTags", vpc.clone(), create_vpc)),
        (
            false,
            request(
                "ec2:CreateTags",
                vpc.clone(),
                tags("aws:RequestTag", "voting", "dev"),
            ),
        ),
        // Load balancers likewise.
        (
            true,
            request(
                "elasticloadbalancing:DeleteLoadBalancer",
                arn("elasticloadbalancing", "loadbalancer/app/voting-dev-alb/1"),
                tags("aws:ResourceTag", "voting", "dev"),
            ),
        ),
        (
            false,
            request(
                "elasticloadbalancing:DeleteLoadBalancer",
                arn("elasticloadbalancing", "loadbalancer/app/voting-prod-alb/1"),
                tags("aws:ResourceTag", "voting", "prod"),
            ),
        ),
        // By name: roles under the stack's path, passed to ECS tasks only.
        (
            true,
            request("iam:DeleteRole", role("voting", "dev"), none.clone()),
        ),
        (
            false,
            request("iam:DeleteRole", role("voting", "prod"), none.clone()),
        ),
        (
            false,
            request(
                "iam:DeleteRole",
                format!("arn:aws:iam::{ACCOUNT}:role/admin"),
                none.clone(),
            ),
        ),
        (
            true,
            request("iam:PassRole", role("voting", "dev"), pass.clone()),
        ),
        (
            false,
            request("iam:PassRole", role("shop", "dev"), pass.clone()),
        ),
        (
            true,
            request(
                "logs:DeleteLogGroup",
                arn("logs", "log-group:voting-dev-logs-vote"),
                none.clone(),
            ),
        ),
        (
            false,
            request(
                "logs:DeleteLogGroup",
                arn("logs", "log-group:shop-dev-logs-users"),
                none.clone(),
            ),
        ),
        (
            true,
            request(
                "rds:DeleteDBInstance",
                arn("rds", "db:voting-dev-postgres"),
                none.clone(),
            ),
        ),
        (
            false,
            request(
                "rds:DeleteDBInstance",
                arn("rds", "db:production-db"),
                none.clone(),
            ),
        ),
        (
            true,
            request(
                "secretsmanager:DeleteSecret",
                arn("secretsmanager", "secret:voting-dev-redis-auth-AbCdEf"),
                none.clone(),
            ),
        ),
        (
            false,
            request(
                "secretsmanager:GetSecretValue",
                arn("secretsmanager", "secret:other-AbCdEf"),
                none.clone(),
            ),
        ),
        (
            true,
            request(
                "ecs:DeleteService",
                arn("ecs", "service/voting-dev-cluster/voting-dev-service-vote"),
                none.clone(),
            ),
        ),
        (
            false,
            request(
                "ecs:DeleteService",
                arn("ecs", "service/prod/api"),
                none.clone(),
            ),
        ),
        (
            true,
            request(
                "ssm:PutParameter",
                arn("ssm", "parameter/slipway/voting/dev/lock"),
                none.clone(),
            ),
        ),
        (
            false,
            request(
                "ssm:PutParameter",
                arn("ssm", "parameter/slipway/voting/prod/lock"),
                none.clone(),
            ),
        ),
        // RDS's managed master secret: this stack's instance only.
        (
            true,
            request(
                "secretsmanager:GetSecretValue",
                arn("secretsmanager", "secret:rds!db-1234-AbCdEf"),
                json!({"aws:ResourceTag/aws:rds:primaryDBInstanceArn": arn("rds", "db:voting-dev-postgres")}),
            ),
        ),
        (
            false,
            request(
                "secretsmanager:GetSecretValue",
                arn("secretsmanager", "secret:rds!db-9999-AbCdEf"),
                json!({"aws:ResourceTag/aws:rds:primaryDBInstanceArn": arn("rds", "db:billing")}),
            ),
        ),
    ];
    assert_outcomes(
        &format!("arn:aws:iam::{ACCOUNT}:role/operator"),
        &policy,
        cases,
    );
}

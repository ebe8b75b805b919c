use super::*;
use crate::config::{repo_config_dir, StackConfig};
use crate::constructs::expand;

fn policy(stack: &str, env: &str) -> (OperatorPolicy, Vec<Resource>) {
    let resources = expand(&StackConfig::load(&repo_config_dir(), stack, env).unwrap());
    (operator_policy(stack, env, &resources), resources)
}

#[test]
fn the_policy_holds_the_writes_of_the_kinds_used_and_no_other() {
    for stack in ["voting", "sums", "shop"] {
        let (policy, resources) = policy(stack, "dev");
        let used: BTreeSet<Kind> = resources.iter().map(Resource::kind).collect();
        let mut expected: BTreeSet<&str> = STACK_READS.iter().copied().collect();
        expected.extend(LOCK_ACTIONS);
        expected.extend(SCOPED_READS);
        expected.extend(Kind::all_read_actions());
        for kind in &used {
            expected.extend(kind.write_actions());
        }
        if used.contains(&Kind::DbInstance) {
            // The RDS-managed master secret (created on the caller's behalf).
            expected.extend(["secretsmanager:CreateSecret", "secretsmanager:TagResource"]);
            expected.insert("secretsmanager:GetSecretValue");
        }
        expected.insert("iam:CreateServiceLinkedRole");
        assert_eq!(policy.actions(), expected, "{stack}");
        // Nothing of a kind the stack does not use.
        for kind in Kind::ALL.iter().filter(|k| !used.contains(k)) {
            for action in kind.write_actions() {
                let elsewhere = used.iter().any(|k| k.write_actions().contains(action))
                    || (used.contains(&Kind::DbInstance) && action.starts_with("secretsmanager:"));
                assert!(
                    elsewhere || !policy.allows_action(action),
                    "{stack}: {action} of unused {kind:?}"
                );
            }
        }
    }
    // sums has Redis and no Postgres: RDS reads only (observing looks for every kind).
    let (sums, _) = policy("sums", "dev");
    let rds: Vec<&str> = sums
        .actions()
        .into_iter()
        .filter(|a| a.starts_with("rds:"))
        .collect();
    assert_eq!(
        rds,
        [
            "rds:DescribeDBInstances",
            "rds:DescribeDBSubnetGroups",
            "rds:ListTagsForResource"
        ]
    );
}

#[test]
fn no_write_is_allowed_on_everything_without_a_condition() {
    for stack in ["voting", "sums", "shop"] {
        for env in ["dev", "prod"] {
            let (policy, _) = policy(stack, env);
            for statement in &policy.statements {
                if statement.sid == "Read" {
                    let writes: Vec<&String> = statement
                        .actions
                        .iter()
                        .filter(|a| {
                            let op = a.split_once(':').unwrap().1;
                            !["Describe", "List", "Get"]
                                .iter()
                                .any(|r| op.starts_with(r))
                        })
                        .collect();
                    assert!(
                        writes.is_empty(),
                        "{stack}-{env}: {writes:?} among the reads"
                    );
                    continue;
                }
                let everything = statement.resources.iter().any(|r| r == "*");
                if everything && statement.conditions.is_empty() {
                    assert!(
                        statement
                            .actions
                            .iter()
                            .all(|a| RESOURCELESS.contains(&a.as_str())),
                        "{stack}-{env}: {statement:?}"
                    );
                }
                for resource in &statement.resources {
                    // Named scopes carry the stack and environment in the name.
                    let named = resource.contains(&format!("{stack}-{env}"))
                        || resource.contains(&format!("/slipway/{stack}/{env}/"));
                    assert!(
                        named
                            || resource == "*"
                            || resource.contains(":og:default*")
                            || resource.contains(":pg:default*")
                            || resource.contains(":parametergroup:default*")
                            || resource.contains("secret:rds!*")
                            || resource.contains("aws-service-role")
                            || resource
                                .contains("oidc-provider/token.actions.githubusercontent.com")
                            || resource.starts_with("arn:aws:sns:"),
                        "{stack}-{env}: {resource} is not scoped to the stack"
                    );
                }
            }
        }
    }
}

#[test]
fn tag_scoped_services_create_with_and_change_only_under_the_stacks_tags() {
    let (policy, _) = policy("voting", "dev");
    let by_sid = |sid: &str| {
        policy
            .statements
            .iter()
            .find(|s| s.sid == sid)
            .unwrap_or_else(|| panic!("no statement {sid}: {:#?}", policy.statements))
    };
    let create = by_sid("Ec2CreateTagged");
    assert!(create.actions.contains(&"ec2:CreateVpc".to_owned()));
    assert!(!create.actions.contains(&"ec2:CreateRoute".to_owned()));
    assert!(!create.actions.contains(&"ec2:CreateTags".to_owned()));
    assert_eq!(
        create.conditions["StringEquals"]["aws:RequestTag/slipway:stack"],
        ["voting"]
    );
    assert_eq!(
        create.conditions["StringEquals"]["aws:RequestTag/slipway:env"],
        ["dev"]
    );
    let change = by_sid("Ec2ChangeTagged");
    assert!(change.actions.contains(&"ec2:DeleteVpc".to_owned()));
    assert!(change.actions.contains(&"ec2:CreateRoute".to_owned()));
    assert_eq!(
        change.conditions["StringEquals"]["aws:ResourceTag/slipway:stack"],
        ["voting"]
    );
    let tag = by_sid("Ec2TagOnCreate");
    assert_eq!(tag.actions, ["ec2:CreateTags"]);
    let creates = &tag.conditions["StringEquals"]["ec2:CreateAction"];
    assert!(creates.contains(&"CreateVpc".to_owned()), "{creates:?}");
    let elb = by_sid("ElasticloadbalancingTagOnCreate");
    assert!(
        elb.conditions["StringEquals"]["elasticloadbalancing:CreateAction"]
            .contains(&"CreateLoadBalancer".to_owned())
    );
    let roles = by_sid("IamStackRoles");
    assert_eq!(
        roles.resources,
        ["arn:aws:iam::*:role/slipway/voting/dev/*"]
    );
    let pass = by_sid("IamPassStackRolesToEcs");
    assert_eq!(pass.resources, roles.resources);
    assert_eq!(
        by_sid("StackLock").resources,
        ["arn:aws:ssm:*:*:parameter/slipway/voting/dev/lock"]
    );
    // The document is what IAM takes.
    let document = policy.document();
    assert_eq!(document["Version"], "2012-10-17");
    let statements = document["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), policy.statements.len());
    assert!(statements.iter().all(|s| s["Effect"] == "Allow"));
    let sids: BTreeSet<&str> = statements
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids.len(), statements.len(), "Sids are unique");
    assert!(sids
        .iter()
        .all(|s| s.chars().all(|c| c.is_ascii_alphanumeric())));
}

#[test]
fn another_stack_or_environment_gets_another_policy() {
    let (dev, _) = policy("voting", "dev");
    let (prod, _) = policy("voting", "prod");
    let text = |p: &OperatorPolicy| p.document().to_string();
    assert!(!text(&dev).contains("voting-prod") && !text(&dev).contains("\"prod\""));
    assert!(!text(&prod).contains("voting-dev") && !text(&prod).contains("\"dev\""));
}

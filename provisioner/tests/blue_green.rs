//! The ECS blue/green resources `up` creates, and that what ECS does to them during a
//! deployment is not drift — against moto. moto has no ECS blue/green deployments, so the
//! test does to the listener rules, the service and the scaling policy what ECS (and
//! `deploy` after it) does, then plans.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Rule, TargetGroupTuple,
};
use common::{config_copy, edit_config, Moto};
use provisioner::aws::Aws;
use serde_json::Value;

/// Target group name → ARN for this stack.
async fn target_groups(aws: &Aws) -> BTreeMap<String, String> {
    let out = aws.elb.describe_target_groups().send().await.unwrap();
    out.target_groups()
        .iter()
        .filter_map(|g| {
            Some((
                g.target_group_name()?.to_owned(),
                g.target_group_arn()?.to_owned(),
            ))
        })
        .filter(|(name, _)| name.starts_with("voting-dev-"))
        .collect()
}

/// Listener port → (default action type, non-default rules).
async fn listeners(aws: &Aws) -> BTreeMap<i32, (ActionTypeEnum, Vec<Rule>)> {
    let (_, listeners) = common::load_balancer_listeners(aws, "voting-dev-alb").await;
    let mut found = BTreeMap::new();
    for (listener, rules) in listeners {
        let rules = rules
            .into_iter()
            .filter(|r| !r.is_default().unwrap_or(false))
            .collect();
        let default = listener.default_actions()[0].r#type().unwrap().clone();
        found.insert(listener.port().unwrap(), (default, rules));
    }
    found
}

/// (priority, conditions' values, forward weights by target group name).
fn describe(
    rule: &Rule,
    names: &BTreeMap<String, String>,
) -> (String, Vec<String>, Vec<(String, i32)>) {
    let name_of = |arn: &str| {
        names
            .iter()
            .find(|(_, a)| a.as_str() == arn)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| arn.to_owned())
    };
    let mut values: Vec<String> = rule
        .conditions()
        .iter()
        .flat_map(|c| {
            c.path_pattern_config()
                .map(|p| p.values().to_vec())
                .or_else(|| c.host_header_config().map(|h| h.values().to_vec()))
                .unwrap_or_else(|| c.values().to_vec())
        })
        .collect();
    values.sort();
    let weights = provisioner::resources::forward_groups(rule.actions())
        .into_iter()
        .map(|(arn, weight)| (name_of(&arn), weight))
        .collect();
    (rule.priority().unwrap().to_owned(), values, weights)
}

fn steps_changed(plan: &Value) -> BTreeSet<String> {
    plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .map(|s| {
            format!(
                "{} {}",
                s["action"].as_str().unwrap(),
                s["id"].as_str().unwrap()
            )
        })
        .collect()
}

fn forward(groups: &[(&str, i32)]) -> Action {
    let mut config = ForwardActionConfig::builder();
    for (arn, weight) in groups {
        config = config.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(*arn)
                .weight(*weight)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(config.build())
        .build()
}

#[tokio::test]
async fn up_creates_blue_green_resources_and_ecs_swapping_groups_is_not_drift() {
    let moto = Moto::start();
    let config = config_copy();
    edit_config(
        config.path(),
        "voting",
        "\n[logs]\n",
        "\n[alb]\ntest_listener_port = 8443\ntest_cidrs = [\"203.0.113.0/24\"]\n\n[logs]\n",
    );
    let dir = config.path().to_str().unwrap();
    let run = |command: &str| moto.json_command("voting", Some(dir), command);
    run("up").ok();
    let aws = moto.aws("voting", "dev").await;

    // Both groups of each pair; every public service behind a rule forwarding to its pair
    // (all traffic on the primary); the listeners themselves answer 404.
    let names = target_groups(&aws).await;
    assert_eq!(
        names.keys().cloned().collect::<Vec<_>>(),
        [
            "voting-dev-tg-internal",
            "voting-dev-tg-result",
            "voting-dev-tg-result-alt",
            "voting-dev-tg-vote",
            "voting-dev-tg-vote-alt"
        ]
    );
    let found = listeners(&aws).await;
    // 8081: result's own listener (it is routed by host name alone, so without a DNS
    // name of its own a browser reaches it on a port of the ALB's).
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), [80, 8081, 8443]);
    for (port, (default, rules)) in &found {
        // Forward only: ECS blue/green refuses listeners that mix forward and
        // non-forward (fixed-response, redirect) actions.
        assert_eq!(default, &ActionTypeEnum::Forward, "listener {port}");
        let mut described: Vec<_> = rules.iter().map(|r| describe(r, &names)).collect();
        described.sort();
        let pair = |svc: &str| {
            vec![
                (format!("voting-dev-tg-{svc}"), 100),
                (format!("voting-dev-tg-{svc}-alt"), 0),
            ]
        };
        // /ready and /metrics go to the empty internal group (a forward too), on
        // every listener.
        let mut expected = vec![(
            "1".to_owned(),
            vec!["*/metrics".to_owned(), "*/ready".to_owned()],
            vec![("voting-dev-tg-internal".to_owned(), 1)],
        )];
        match port {
            80 => expected.push(("50000".to_owned(), vec!["/*".to_owned()], pair("vote"))),
            // Everything on result's own port is result's, whatever the Host header.
            8081 => expected.push(("50000".to_owned(), vec!["/*".to_owned()], pair("result"))),
            // The test listener keeps each route's own conditions.
            _ => expected.extend([
                ("10".to_owned(), vec!["result.*".to_owned()], pair("result")),
                ("50000".to_owned(), vec!["/*".to_owned()], pair("vote")),
            ]),
        }
        assert_eq!(described, expected, "listener {port}");
    }

    // The test listener only from test_cidrs.
    let groups = aws
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("voting-dev-sg-alb")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let test_sources: Vec<String> = groups.security_groups()[0]
        .ip_permissions()
        .iter()
        .filter(|p| p.from_port() == Some(8443))
        .flat_map(|p| {
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip().map(str::to_owned))
        })
        .collect();
    assert_eq!(test_sources, ["203.0.113.0/24"]);

    // ECS's role: assumable by ECS only.
    let role = aws
        .iam
        .get_role()
        .role_name("voting-dev-role-ecs-blue-green")
        .send()
        .await
        .unwrap();
    let trust = percent_encoding::percent_decode_str(
        role.role().unwrap().assume_role_policy_document().unwrap(),
    )
    .decode_utf8()
    .unwrap()
    .into_owned();
    assert!(trust.contains("ecs.amazonaws.com"), "{trust}");
    // Its permissions: AWS's managed policy for ECS blue/green, attached (AWS keeps it
    // current as ECS needs more), and no inline policy of ours beside it.
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name("voting-dev-role-ecs-blue-green")
        .send()
        .await
        .unwrap();
    let attached: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(
        attached,
        ["arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"]
    );
    let inline = aws
        .iam
        .list_role_policies()
        .role_name("voting-dev-role-ecs-blue-green")
        .send()
        .await
        .unwrap();
    assert!(
        inline.policy_names().is_empty(),
        "{:?}",
        inline.policy_names()
    );

    // What a blue/green deployment of vote and result leaves: ECS moved the production
    // and test rules to the alternate groups (weighted, or a plain forward)...
    let alt = |svc: &str| names[&format!("voting-dev-tg-{svc}-alt")].as_str();
    let primary = |svc: &str| names[&format!("voting-dev-tg-{svc}")].as_str();
    for (_, rules) in found.values() {
        for rule in rules {
            // ECS moves only the rules a service's advancedConfiguration names (vote's
            // and result's); the internal-paths rule is nobody's and stays as it is.
            if rule.priority() == Some("1") {
                continue;
            }
            let svc = if describe(rule, &names).2[0].0.contains("result") {
                "result"
            } else {
                "vote"
            };
            let action = if svc == "vote" {
                forward(&[(primary(svc), 0), (alt(svc), 100)])
            } else {
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(alt(svc))
                    .build()
            };
            aws.elb
                .modify_rule()
                .rule_arn(rule.rule_arn().unwrap())
                .actions(action)
                .send()
                .await
                .unwrap();
        }
    }
    // ...ECS put vote's service on the alternate group (moto stores what UpdateService
    // sends)...
    aws.ecs
        .update_service()
        .cluster("voting-dev-cluster")
        .service("voting-dev-service-vote")
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(alt("vote"))
                .container_name("vote")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vote = aws
        .ecs
        .describe_services()
        .cluster("voting-dev-cluster")
        .services("voting-dev-service-vote")
        .send()
        .await
        .unwrap();
    assert_eq!(
        vote.services()[0].load_balancers()[0].target_group_arn(),
        Some(alt("vote"))
    );
    // ...and `deploy` pointed vote's request-count policy at the group now serving.
    let observed = provisioner::resources::observe(&aws).await.unwrap();
    let attrs = |id: &str| observed.iter().find(|o| o.id == id).unwrap().attrs.clone();
    let label = format!(
        "{}/{}",
        attrs("alb")["label"],
        attrs("tg-vote-alt")["label"]
    );
    let policy = attrs("scaling-vote-requests");
    assert!(provisioner::resources::repoint_requests_policy(
        &aws,
        "scaling-vote-requests",
        &policy,
        &label
    )
    .await
    .unwrap());
    let policies = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .policy_names("voting-dev-scaling-vote-requests")
        .send()
        .await
        .unwrap();
    let tracking = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_name() == "voting-dev-scaling-vote-requests")
        .unwrap()
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    assert_eq!(
        tracking
            .predefined_metric_specification()
            .unwrap()
            .resource_label(),
        Some(label.as_str())
    );
    assert_eq!(tracking.target_value(), 500.0, "the target value stays");

    // None of that is drift.
    let plan = run("plan");
    assert_eq!(
        steps_changed(&plan.json()),
        BTreeSet::new(),
        "{}",
        plan.stdout()
    );

    // An `up` for another reason (result's rule priority, which only its rule on the
    // test listener has: on its own listener it is the catch-all) keeps the rules on the
    // group ECS chose, and the policy on the serving group.
    edit_config(
        config.path(),
        "voting",
        "priority = 10, sticky = true",
        "priority = 11, sticky = true",
    );
    let plan = run("plan");
    assert_eq!(
        steps_changed(&plan.json()),
        ["update rule-result-test"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "{}",
        plan.stdout()
    );
    run("up").ok();
    for (port, (_, rules)) in listeners(&aws).await {
        let priority = match port {
            80 => continue,
            8081 => "50000",
            _ => "11",
        };
        let result = rules
            .iter()
            .find(|r| r.priority() == Some(priority))
            .unwrap_or_else(|| panic!("listener {port}: result rule at priority {priority}"));
        // The rule `up` updated (priority) says so with weights; the one it left alone
        // (the catch-all on result's own listener) keeps ECS's plain forward.
        let expected = if port == 8081 {
            vec![("voting-dev-tg-result-alt".to_owned(), 1)]
        } else {
            vec![
                ("voting-dev-tg-result-alt".to_owned(), 100),
                ("voting-dev-tg-result".to_owned(), 0),
            ]
        };
        assert_eq!(
            describe(result, &names).2,
            expected,
            "listener {port}: result keeps being served by the group ECS moved it to"
        );
    }
    let plan = run("plan");
    assert_eq!(
        steps_changed(&plan.json()),
        BTreeSet::new(),
        "{}",
        plan.stdout()
    );
}

//! CDK-style constructs and the TOML front-end.
//!
//! - [`l2`]: one AWS concept each (`Vpc`, `SecurityGroup`, `Redis`, `Postgres`,
//!   `LoadBalancer`, `FargateService`, `OneOffTask`…) with the house rules as defaults,
//!   returning typed handles with grants (`redis.allow_from(&mut stack, &worker)`).
//! - [`patterns`]: L3, the concepts a stack file speaks in (`Network`, `WebService`,
//!   `Worker`, `PrivateApi`, `DataTier`, `Observability`, `GithubDeploy`).
//! - [`expand`]: the TOML front-end, a translation of a [`StackConfig`] into those
//!   patterns on a [`Stack`]. A stack written in Rust and the same stack written in TOML
//!   build the same resources (`examples/` checks this for the voting stack).
//!
//! L1 is the model itself: any [`Spec`] can be added with [`Stack::add`].
//!
//! ```
//! use slipway_cdk::config::{repo_config_dir, StackConfig};
//! let config = StackConfig::load(&repo_config_dir(), "sums", "dev").unwrap();
//! let resources = slipway_cdk::constructs::expand(&config);
//! assert!(resources.iter().any(|r| r.id == "service-api"));
//! ```

use std::collections::BTreeMap;

use crate::config::{GithubConfig, StackConfig, GITHUB_OIDC_HOST};
use crate::model::*;
use crate::scope::{conditional, statement, Section, Stack};

pub mod l2;
pub mod observability;
pub mod patterns;

pub use crate::config::{consumers, has_debug_task};
pub use crate::model::ids::{self, DEBUG};
pub use l2::{
    CONTAINER_USER, DEBUG_IDLE_SECONDS, DEBUG_IMAGE_TAG, ECS_LOAD_BALANCERS_POLICY, INTERNAL_PATHS,
    INTERNAL_PATHS_PRIORITY, INTERNAL_TARGET_GROUP,
};

/// The resources of a stack, in listing order (see [`crate::scope`]).
///
/// The config has been validated ([`StackConfig::load`]), so the stack it builds is
/// consistent; a problem here is a bug in the front-end and panics with the reasons.
pub fn expand(config: &StackConfig) -> Vec<Resource> {
    build(config).synth().unwrap_or_else(|errors| {
        panic!(
            "the constructs of {}-{} are inconsistent: {errors:?}",
            config.stack, config.env
        )
    })
}

/// The TOML front-end: the [`Stack`] a config describes, built from the L3 patterns,
/// before synthesis (add aspects or overrides to it, then [`Stack::synth`]).
pub fn build(config: &StackConfig) -> Stack {
    patterns::from_config(config)
}

/// What `provision deploy`, `rollback` and `outputs` read (they observe the whole stack
/// to find its resources). Read-only, and none reads a secret's value; Describe/List
/// calls mostly cannot be scoped to resources, so they apply to `*`. Kept in step with
/// the code by `tests/github_moto.rs`, which records every call those commands make.
const DEPLOY_READ_ACTIONS: &[&str] = &[
    // The stack's certificate (found by its tags) and, with a `[domain]`, its records.
    "acm:DescribeCertificate",
    "acm:ListCertificates",
    "acm:ListTagsForCertificate",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListDashboards",
    "cloudwatch:ListTagsForResource",
    "ec2:DescribeAddresses",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:ListImages",
    "ecr:ListTagsForResource",
    "ecs:DescribeClusters",
    "ecs:DescribeTaskDefinition",
    "ecs:ListServices",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:ListTaskDefinitions",
    "elasticache:DescribeCacheClusters",
    "elasticache:DescribeCacheSubnetGroups",
    "elasticache:DescribeReplicationGroups",
    "elasticache:ListTagsForResource",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRoles",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
    "logs:DescribeLogGroups",
    "logs:DescribeMetricFilters",
    "logs:ListTagsForResource",
    "rds:DescribeDBInstances",
    "rds:DescribeDBSubnetGroups",
    "rds:ListTagsForResource",
    "route53:ListResourceRecordSets",
    "secretsmanager:ListSecrets",
    "servicediscovery:GetNamespace",
    "servicediscovery:ListNamespaces",
    "servicediscovery:ListTagsForResource",
    // With `[alarms] topic`, observing the topic also reads its tags.
    "sns:ListTagsForResource",
    "sns:ListTopics",
];

/// ECR actions `docker push` (and `buildx` cache reads) need on a repository.
const IMAGE_PUSH_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

/// `[github]`: GitHub's OIDC provider (unless the account's existing one is named) and
/// the role its workflow runs on one branch of one repository assume to push images and
/// deploy — and nothing else: no infrastructure changes, no secret values, nothing of
/// another stack (or environment), not the debug image.
///
/// What is scoped, and how (resource types and condition keys as the Service
/// Authorization Reference lists them: "Actions, resources, and condition keys for
/// Amazon Elastic Container Service", list_amazonelasticcontainerservice.html, and
/// "… for AWS Identity and Access Management" for `iam:PassRole`):
/// - `ecs:RegisterTaskDefinition` takes the resource type `task-definition`
///   (`task-definition/<family>:<revision>`) and the condition key
///   `aws:RequestTag/${TagKey}`: only the families of this stack's services, and only
///   with this stack's and environment's ownership tags on the new revision (deploy
///   copies them from the revision it replaces). `ecs:TagResource` likewise, and only
///   as part of that registration (`ecs:CreateAction`).
/// - `iam:PassRole` only of the roles those task definitions name (each service's own
///   execution role, which reads only that service's secrets, and its task role), and
///   only to ECS tasks (`iam:PassedToService`); the blue/green role only to ECS. The
///   debug task's execution role (it reads the master `DATABASE_URL`) is never passable.
/// - Service deployments (`service-deployment/<cluster>/<service>/<id>`) only of this
///   stack's services; `UpdateService` and friends only on its service ARNs.
/// - ECR pushes only to the repositories its services' images come from: never the
///   debug image's repository (that image runs as root; operators push it).
///
/// Region and account stay `*` in the patterns built from names: the names carry the
/// stack and environment, and IAM role names (which carry them too) are account-wide,
/// so no second copy of this stack can exist in the account under the same names.
/// - The stack's lock parameter (the provisioner's `lock` module): `deploy` and `rollback` take,
///   read and release it, and no other parameter.
pub(crate) fn github_deploy_role(
    stack: &mut Stack,
    config: &StackConfig,
    github: &GithubConfig,
    lock: &str,
) {
    let provider = match &github.oidc_provider_arn {
        Some(arn) => Ref::physical(arn.clone()),
        None => {
            stack.add(
                Section::Deploy,
                "github-oidc",
                Spec::OidcProvider(OidcProviderSpec {
                    url: format!("https://{GITHUB_OIDC_HOST}"),
                    client_ids: vec!["sts.amazonaws.com".into()],
                }),
            );
            Ref::to("github-oidc")
        }
    };
    let name = |id: &str| crate::names::resource_name(&config.stack, &config.env, id);
    let mut repositories: Vec<String> = Vec::new();
    let mut services: Vec<String> = Vec::new();
    let mut scalable_targets: Vec<String> = Vec::new();
    let mut families: Vec<String> = Vec::new();
    let mut deployments: Vec<String> = Vec::new();
    // Roles deploys hand over: those of the services' task definitions (new revisions
    // keep them) and the role ECS blue/green uses to move traffic.
    let mut task_roles: Vec<String> = Vec::new();
    for resource in stack.resources() {
        let Spec::Service(service) = &resource.spec else {
            continue;
        };
        services.push(format!("${{{}}}", resource.id));
        if let Some(name) = resource.id.strip_prefix("service-") {
            scalable_targets.push(Ref::to(&ids::scalable_target(name)).0);
        }
        let cluster = service.cluster.logical_id().unwrap_or_default();
        deployments.push(format!(
            "arn:aws:ecs:*:*:service-deployment/{}/{}/*",
            name(cluster),
            name(&resource.id)
        ));
        let Some(definition_id) = service.task_definition.logical_id() else {
            continue;
        };
        families.push(format!(
            "arn:aws:ecs:*:*:task-definition/{}:*",
            name(definition_id)
        ));
        let definition = stack.resource(definition_id);
        if let Some(Spec::TaskDefinition(definition)) = definition.map(|r| &r.spec) {
            task_roles.push(definition.execution_role.0.clone());
            task_roles.push(definition.task_role.0.clone());
            repositories.push(definition.container.image_repository.0.clone());
        }
    }
    // The new revision must carry this stack's and environment's ownership tags.
    let stack_tag = format!("aws:RequestTag/{}", crate::settings::tags::STACK);
    let env_tag = format!("aws:RequestTag/{}", crate::settings::tags::ENV);
    let own_tags = || {
        vec![
            (
                "StringEquals",
                stack_tag.as_str(),
                vec![config.stack.clone()],
            ),
            ("StringEquals", env_tag.as_str(), vec![config.env.clone()]),
        ]
    };
    let mut tag_on_register = own_tags();
    tag_on_register.push((
        "StringEquals",
        "ecs:CreateAction",
        vec!["RegisterTaskDefinition".into()],
    ));
    let mut statements = vec![
        statement(DEPLOY_READ_ACTIONS, vec!["*".into()]),
        statement(&["ecr:GetAuthorizationToken"], vec!["*".into()]),
        statement(IMAGE_PUSH_ACTIONS, repositories),
        conditional(
            &["ecs:RegisterTaskDefinition"],
            families.clone(),
            &own_tags(),
        ),
        conditional(&["ecs:TagResource"], families, &tag_on_register),
        statement(
            &[
                "ecs:DescribeServices",
                "ecs:ListServiceDeployments",
                "ecs:UpdateService",
            ],
            services.clone(),
        ),
        // The first release of a service `up` created before its image existed
        // (provisioner `first_release`): its autoscaling range back to the configured one,
        // and its two bookkeeping tags, no other tag.
        statement(
            &["application-autoscaling:RegisterScalableTarget"],
            scalable_targets,
        ),
        conditional(
            &["ecs:TagResource", "ecs:UntagResource"],
            services,
            &[(
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                vec![
                    crate::settings::ecs::CONFIGURED_DESIRED_TAG.into(),
                    crate::settings::ecs::AWAITING_RELEASE_TAG.into(),
                ],
            )],
        ),
        statement(
            &[
                "ecs:DescribeServiceDeployments",
                "ecs:StopServiceDeployment",
            ],
            deployments,
        ),
        conditional(
            &["iam:PassRole"],
            task_roles,
            &[(
                "StringEquals",
                "iam:PassedToService",
                vec!["ecs-tasks.amazonaws.com".into()],
            )],
        ),
    ];
    if stack.contains(l2::BLUE_GREEN_ROLE) {
        statements.push(conditional(
            &["iam:PassRole"],
            vec![Ref::to(l2::BLUE_GREEN_ROLE).0],
            &[(
                "StringEquals",
                "iam:PassedToService",
                vec!["ecs.amazonaws.com".into()],
            )],
        ));
    }
    // One operator at a time: deploy and rollback take, read and release the stack's lock.
    statements.push(statement(
        &[
            "ssm:DeleteParameter",
            "ssm:GetParameter",
            "ssm:PutParameter",
        ],
        vec![lock.to_owned()],
    ));
    // After a blue/green swap `deploy` points the request-count scaling policy at the
    // group now serving (PutScalingPolicy on that service's scalable target only); target
    // tracking makes the caller manage its TargetTracking-* CloudWatch alarms.
    let request_scaled: Vec<String> = stack
        .resources()
        .filter_map(|r| match &r.spec {
            Spec::ScalingPolicy(policy) => match policy.metric {
                ScalingMetric::AlbRequestsPerTarget { .. } => Some(policy.target.0.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if !request_scaled.is_empty() {
        statements.push(statement(
            &["application-autoscaling:PutScalingPolicy"],
            request_scaled,
        ));
        statements.push(statement(
            &["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm"],
            vec!["arn:aws:cloudwatch:*:*:alarm:TargetTracking-*".into()],
        ));
    }
    statements.sort();
    let mut role = RoleSpec::for_service("", statements);
    role.web_identity = Some(WebIdentityTrust {
        provider,
        audience: "sts.amazonaws.com".into(),
        subjects: vec![github.subject(&config.stack, &config.env)],
    });
    stack.add(Section::Deploy, "role-github-deploy", Spec::Role(role));
}

/// Text rendering of an expansion: one block per resource (kind, dependencies, spec).
pub fn describe(resources: &[Resource]) -> String {
    let mut out = String::new();
    for resource in resources {
        out.push_str(&format!(
            "{} ({})\n  after: {}\n  {}\n",
            resource.id,
            resource.kind().label(),
            resource.dependencies().join(", "),
            serde_json::to_string(&sorted_keys(resource.spec_json())).expect("specs serialize")
        ));
    }
    out
}

/// Keys in sorted order whatever serde_json's `preserve_order` feature says (it depends on
/// which workspace crates are built together), so snapshots are stable.
fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted_keys).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::l2::{DB_ADMIN_ROLE, SSM_MESSAGES_ACTIONS, TEST_LISTENER, TLS_POLICY};
    use super::*;
    use crate::config::{repo_config_dir, STACKS};
    use crate::graph::Graph;

    #[test]
    fn expansion_snapshots() {
        for stack in STACKS {
            for env in ["dev", "prod"] {
                let config = StackConfig::load(&repo_config_dir(), stack, env).unwrap();
                let resources = expand(&config);
                Graph::new(resources.clone()).expect("expansion is a valid graph");
                insta::assert_snapshot!(format!("{stack}-{env}"), describe(&resources));
            }
        }
    }

    #[test]
    fn data_stores_accept_only_their_consumers_and_have_no_egress() {
        let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        let resources = expand(&config);
        let sg = |id: &str| match &resources.iter().find(|r| r.id == id).unwrap().spec {
            Spec::SecurityGroup(sg) => sg.clone(),
            other => panic!("{id} is {other:?}"),
        };
        let redis = sg("sg-redis");
        assert!(!redis.egress_all);
        let sources: Vec<&str> = redis.ingress.iter().map(|r| r.source.0.as_str()).collect();
        // The debug task (`provision debug`) is a declared consumer of each store.
        assert_eq!(sources, vec!["${sg-debug}", "${sg-vote}", "${sg-worker}"]);
        let postgres = sg("sg-postgres");
        assert!(!postgres.egress_all);
        assert!(postgres.ingress.iter().all(|r| r.port == 5432));
        assert!(postgres.ingress.contains(&IngressRule {
            port: 5432,
            source: Ref::to("sg-debug")
        }));
        let debug = sg("sg-debug");
        assert!(debug.ingress.is_empty() && debug.egress_all);
        let accepting_debug: Vec<&str> = resources
            .iter()
            .filter(|r| match &r.spec {
                Spec::SecurityGroup(g) => g.ingress.iter().any(|i| i.source == Ref::to("sg-debug")),
                _ => false,
            })
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(accepting_debug, ["sg-redis", "sg-postgres"]);
        assert_eq!(sg("sg-worker").ingress, vec![]);
        assert_eq!(
            sg("sg-vote").ingress,
            vec![IngressRule {
                port: 8080,
                source: Ref::to("sg-alb")
            }]
        );
    }

    #[test]
    fn internal_paths_answer_before_every_service_rule_on_every_serving_listener() {
        for stack in STACKS {
            let mut config = StackConfig::load(&repo_config_dir(), stack, "prod").unwrap();
            config.alb.test_listener_port = Some(8443);
            let resources = expand(&config);
            let rules: Vec<(&str, &ListenerRuleSpec)> = resources
                .iter()
                .filter_map(|r| match &r.spec {
                    Spec::ListenerRule(rule) => Some((r.id.as_str(), rule)),
                    _ => None,
                })
                .collect();
            // Every listener serves (no certificate here): the shared one, the test
            // listener and the listeners services have to themselves.
            let listeners: Vec<&str> = resources
                .iter()
                .filter(|r| matches!(r.spec, Spec::Listener(_)))
                .map(|r| r.id.as_str())
                .collect();
            assert!(listeners.contains(&TEST_LISTENER), "{stack}: {listeners:?}");
            if stack == "voting" {
                assert!(listeners.contains(&"listener-port-result"), "{listeners:?}");
            }
            for listener in listeners {
                let on_listener: Vec<_> = rules
                    .iter()
                    .filter(|(_, rule)| rule.listener == Ref::to(listener))
                    .collect();
                let (id, first) = on_listener
                    .iter()
                    .min_by_key(|(_, rule)| rule.priority)
                    .unwrap();
                assert!(id.starts_with("rule-internal"), "{stack} {listener}: {id}");
                assert_eq!(first.priority, INTERNAL_PATHS_PRIORITY);
                assert_eq!(first.paths, ["*/ready", "*/metrics"]);
                assert!(first.hosts.is_empty());
                assert_eq!(first.target_group, Ref::to(INTERNAL_TARGET_GROUP));
                assert_eq!(first.alternate_target_group, None);
                assert!(on_listener
                    .iter()
                    .filter(|(other, _)| other != id)
                    .all(|(_, rule)| rule.priority > INTERNAL_PATHS_PRIORITY));
            }
            // Nothing registers in the internal group: no ECS service points at it.
            assert!(resources.iter().all(|r| match &r.spec {
                Spec::Service(s) => s.target_group != Some(Ref::to(INTERNAL_TARGET_GROUP)),
                _ => true,
            }));
            // Every rule the stack sends is one ALB accepts.
            for (id, rule) in &rules {
                assert_eq!(
                    crate::settings::elb::path_condition_problem(&rule.paths),
                    None,
                    "{stack} {id}"
                );
            }
        }
        assert!(crate::settings::elb::path_condition_problem(
            &["/a", "/b", "/c", "/d"].map(String::from)
        )
        .unwrap()
        .contains("at most 3 per condition"));
        assert!(crate::settings::elb::path_condition_problem(
            &["*/*/*", "*/*/*"].map(String::from)
        )
        .unwrap()
        .contains("6 wildcards"));
    }

    #[test]
    fn services_learn_their_redis_replicas_and_where_to_report_queues() {
        let environment = |env: &str, service: &str| {
            let config = StackConfig::load(&repo_config_dir(), "voting", env).unwrap();
            let resources = expand(&config);
            let id = format!("taskdef-{service}");
            match &resources.iter().find(|r| r.id == id).unwrap().spec {
                Spec::TaskDefinition(t) => t.container.environment.clone(),
                other => panic!("{other:?}"),
            }
        };
        // prod has a replica: vote (and the worker, which ignores it) wait for it.
        assert_eq!(environment("prod", "vote")["REDIS_REPLICAS"], "1");
        assert!(!environment("prod", "result").contains_key("REDIS_REPLICAS"));
        assert!(!environment("dev", "vote").contains_key("REDIS_REPLICAS"));
        assert_eq!(
            environment("dev", "worker")["METRICS_NAMESPACE"],
            "Slipway/voting-dev"
        );
        // Every service reports its own metrics, under its name.
        assert_eq!(
            environment("dev", "vote")["METRICS_NAMESPACE"],
            "Slipway/voting-dev"
        );
        assert_eq!(environment("dev", "vote")["METRICS_SERVICE"], "vote");
        assert_eq!(environment("prod", "result")["METRICS_SERVICE"], "result");
    }

    #[test]
    fn private_api_accepts_only_its_callers_over_service_connect() {
        let config = StackConfig::load(&repo_config_dir(), "sums", "dev").unwrap();
        let resources = expand(&config);
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::SecurityGroup(api) = find("sg-api") else {
            panic!()
        };
        assert_eq!(
            api.ingress,
            vec![IngressRule {
                port: 4567,
                source: Ref::to("sg-client")
            }]
        );
        let Spec::Service(service) = find("service-api") else {
            panic!()
        };
        assert!(!service.assign_public_ip && service.target_group.is_none());
        assert_eq!(
            service.service_connect.unwrap().server_name.as_deref(),
            Some("api")
        );
        assert!(resources.iter().all(|r| r.id != "tg-api"));
    }

    #[test]
    fn a_certificate_turns_on_https_with_a_redirect_from_http() {
        let mut config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        config.alb.certificate_arn = Some("arn:aws:acm:us-east-1:1:certificate/abc".into());
        let resources = expand(&config);
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::Listener(http) = find("listener-http") else {
            panic!()
        };
        assert_eq!(http.default_action, DefaultAction::RedirectHttps);
        let Spec::Listener(https) = find("listener-https") else {
            panic!()
        };
        assert_eq!((https.port, https.protocol.as_str()), (443, "HTTPS"));
        // TLS 1.2 and 1.3 only; the redirecting HTTP listener has no policy.
        assert_eq!(https.ssl_policy.as_deref(), Some(TLS_POLICY));
        assert_eq!(TLS_POLICY, "ELBSecurityPolicy-TLS13-1-2-2021-06");
        assert_eq!(http.ssl_policy, None);
        // Every service is served by a rule (ECS blue/green shifts rules only), and the
        // listener's default action forwards too (no fixed-response beside forwards).
        assert_eq!(
            https.default_action,
            DefaultAction::Forward(Ref::to("tg-vote"))
        );
        // result's own listener serves HTTPS with the same certificate.
        let Spec::ListenerRule(rule) = find("rule-result") else {
            panic!()
        };
        assert_eq!(rule.listener, Ref::to("listener-port-result"));
        let Spec::Listener(own) = find("listener-port-result") else {
            panic!()
        };
        assert_eq!(
            (own.port, own.protocol.as_str(), own.certificate_arn),
            (8081, "HTTPS", config.alb.certificate_arn.clone())
        );
        assert_eq!(own.ssl_policy.as_deref(), Some(TLS_POLICY));
        let Spec::ListenerRule(catch_all) = find("rule-vote") else {
            panic!()
        };
        assert_eq!(catch_all.listener, Ref::to("listener-https"));
        let Spec::SecurityGroup(alb) = find("sg-alb") else {
            panic!()
        };
        let ports: Vec<u16> = alb.ingress.iter().map(|r| r.port).collect();
        assert_eq!(ports, vec![80, 443, 8081]);
    }

    #[test]
    fn every_public_service_gets_a_blue_green_pair_and_a_rule() {
        let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        let resources = expand(&config);
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap();
        let Spec::ListenerRule(vote) = &find("rule-vote").spec else {
            panic!()
        };
        // The default service: a catch-all that every other rule outranks.
        assert_eq!(
            (vote.priority, vote.paths.clone()),
            (50_000, vec!["/*".into()])
        );
        assert_eq!(vote.target_group, Ref::to("tg-vote"));
        assert_eq!(vote.alternate_target_group, Some(Ref::to("tg-vote-alt")));
        // result is routed by host name alone: a listener of its own on its container's
        // port (8081), reachable on the ALB's DNS name; its rule there is a catch-all
        // with no host condition (a browser sends the ALB's name), the internal-paths
        // rule outranks it, and the ALB security group opens the port.
        let Spec::ListenerRule(result) = &find("rule-result").spec else {
            panic!()
        };
        assert_eq!(result.listener, Ref::to("listener-port-result"));
        assert_eq!(
            (
                result.priority,
                result.paths.clone(),
                result.hosts.is_empty()
            ),
            (50_000, vec!["/*".into()], true)
        );
        assert_eq!(result.target_group, Ref::to("tg-result"));
        assert_eq!(
            result.alternate_target_group,
            Some(Ref::to("tg-result-alt"))
        );
        let Spec::Listener(own) = &find("listener-port-result").spec else {
            panic!()
        };
        assert_eq!(
            (own.port, own.protocol.as_str(), &own.default_action),
            (8081, "HTTP", &DefaultAction::Forward(Ref::to("tg-result")))
        );
        let Spec::ListenerRule(internal) = &find("rule-internal-port-result").spec else {
            panic!()
        };
        assert_eq!(
            (internal.listener.clone(), internal.priority),
            (Ref::to("listener-port-result"), INTERNAL_PATHS_PRIORITY)
        );
        let Spec::SecurityGroup(alb) = &find("sg-alb").spec else {
            panic!()
        };
        assert!(alb
            .ingress
            .iter()
            .any(|r| r.port == 8081 && r.source == Ref::physical("0.0.0.0/0")));
        assert_eq!(find("tg-vote-alt").spec, find("tg-vote").spec);
        // The service waits for its rule (its groups must be attached to the listener).
        assert!(find("service-vote").after.contains(&"rule-vote".to_owned()));
        let Spec::Listener(http) = &find("listener-http").spec else {
            panic!()
        };
        assert_eq!(
            http.default_action,
            DefaultAction::Forward(Ref::to("tg-vote"))
        );
        assert!(resources.iter().all(|r| r.id != "listener-test"));
        // voting has a default service: no empty group for unmatched requests.
        assert!(resources.iter().all(|r| r.id != "tg-unmatched"));
        let Spec::Role(role) = &find("role-ecs-blue-green").spec else {
            panic!()
        };
        assert_eq!(role.principal, "ecs.amazonaws.com");
        // AWS's managed policy, not a copy that goes stale; no inline policy beside it.
        assert_eq!(role.managed_policies, [ECS_LOAD_BALANCERS_POLICY]);
        assert!(role.statements.is_empty());
    }

    #[test]
    fn listeners_of_a_stack_without_a_default_service_forward_to_an_empty_group() {
        // shop routes by path only: what no rule matches goes to `tg-unmatched`, which
        // nothing registers in, never to a fixed response (ECS blue/green refuses
        // listeners that mix forward and non-forward actions).
        let config = StackConfig::load(&repo_config_dir(), "shop", "dev").unwrap();
        let resources = expand(&config);
        Graph::new(resources.clone()).expect("valid graph");
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::Listener(http) = find("listener-http") else {
            panic!()
        };
        assert_eq!(
            http.default_action,
            DefaultAction::Forward(Ref::to("tg-unmatched"))
        );
        assert!(matches!(find("tg-unmatched"), Spec::TargetGroup(_)));
        assert!(resources.iter().all(|r| match &r.spec {
            Spec::Listener(l) => !matches!(l.default_action, DefaultAction::NotFound),
            _ => true,
        }));
    }

    #[test]
    fn a_test_listener_gets_a_rule_per_service_and_only_the_test_cidrs() {
        let mut config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        config.alb.test_listener_port = Some(8443);
        config.alb.test_cidrs = vec!["203.0.113.0/24".into()];
        let resources = expand(&config);
        Graph::new(resources.clone()).expect("valid graph");
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::Listener(test) = find("listener-test") else {
            panic!()
        };
        assert_eq!(
            (test.port, test.default_action),
            (8443, DefaultAction::Forward(Ref::to("tg-vote")))
        );
        for svc in ["vote", "result"] {
            let (Spec::ListenerRule(test), Spec::ListenerRule(production)) = (
                find(&format!("rule-{svc}-test")),
                find(&format!("rule-{svc}")),
            ) else {
                panic!()
            };
            assert_eq!(test.listener, Ref::to("listener-test"));
            assert_eq!(
                (test.target_group, test.alternate_target_group),
                (production.target_group, production.alternate_target_group)
            );
            // On the shared test listener each keeps its route's own conditions (result's
            // production rule is the catch-all of its own listener).
            let route = config.services[svc].public.clone().unwrap();
            assert_eq!(test.hosts, route.hosts);
            assert_eq!(
                test.priority,
                route.priority.unwrap_or(crate::config::CATCH_ALL_PRIORITY)
            );
        }
        let Spec::SecurityGroup(alb) = find("sg-alb") else {
            panic!()
        };
        let test_sources: Vec<&str> = alb
            .ingress
            .iter()
            .filter(|r| r.port == 8443)
            .map(|r| r.source.0.as_str())
            .collect();
        assert_eq!(test_sources, ["203.0.113.0/24"]);
    }

    /// CreateSecurityGroup (EC2 API reference): "Constraints: Up to 255 characters in
    /// length. Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*". The
    /// descriptions are fixed text around service names, which config validation limits
    /// to lowercase letters, digits and hyphens. moto accepts anything; cfn-lint found it.
    #[test]
    fn security_group_descriptions_use_only_what_ec2_accepts() {
        let allowed = |c: char| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c);
        for stack in STACKS {
            for env in ["dev", "prod"] {
                let config = StackConfig::load(&repo_config_dir(), stack, env).unwrap();
                for resource in expand(&config) {
                    if let Spec::SecurityGroup(group) = &resource.spec {
                        let description = &group.description;
                        assert!(
                            description.len() <= 255 && description.chars().all(allowed),
                            "{stack}-{env} {}: {description:?}",
                            resource.id
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn exec_trades_the_read_only_root_and_the_ssm_permissions_per_environment() {
        let spec = |resources: &[Resource], id: &str| {
            resources
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("no {id}"))
                .spec
                .clone()
        };
        let ssm = vec![statement(&SSM_MESSAGES_ACTIONS, vec!["*".into()])];
        let check = |config: &StackConfig, service: &str, exec: bool| {
            let resources = expand(config);
            let Spec::TaskDefinition(definition) = spec(&resources, &format!("taskdef-{service}"))
            else {
                panic!()
            };
            assert_eq!(definition.container.read_only_root, !exec, "{service}");
            let Spec::Service(ecs) = spec(&resources, &format!("service-{service}")) else {
                panic!()
            };
            assert_eq!(ecs.enable_execute_command, exec, "{service}");
            let Spec::Role(role) = spec(&resources, &format!("role-{service}")) else {
                panic!()
            };
            // Every shop service reads its own database password secret at run time.
            let mut expected = vec![statement(
                &["secretsmanager:GetSecretValue"],
                vec![format!("${{db-{service}-password}}")],
            )];
            if exec {
                expected.extend(ssm.clone());
            }
            expected.sort();
            assert_eq!(role.statements, expected, "{service}");
            // The debug task is exec'd into in every environment.
            let Spec::TaskDefinition(debug) = spec(&resources, "taskdef-debug") else {
                panic!()
            };
            assert!(!debug.container.read_only_root);
            let Spec::Role(debug_role) = spec(&resources, "role-debug") else {
                panic!()
            };
            assert_eq!(debug_role.statements, ssm);
        };
        let dev = StackConfig::load(&repo_config_dir(), "shop", "dev").unwrap();
        let mut prod = StackConfig::load(&repo_config_dir(), "shop", "prod").unwrap();
        for service in ["orders", "products", "users"] {
            check(&dev, service, true);
            check(&prod, service, false);
        }
        // An incident: exec on for orders in prod only.
        prod.services.get_mut("orders").unwrap().exec = Some(true);
        check(&prod, "orders", true);
        check(&prod, "users", false);
        // One-off tasks are never exec'd into: read-only root wherever their service runs.
        for config in [&dev, &prod] {
            let Spec::TaskDefinition(migrate) = spec(&expand(config), "task-orders-migrate") else {
                panic!()
            };
            assert!(migrate.container.read_only_root);
        }
    }

    #[test]
    fn prod_gets_a_nat_gateway_per_az() {
        let count = |env| {
            let config = StackConfig::load(&repo_config_dir(), "voting", env).unwrap();
            expand(&config)
                .iter()
                .filter(|r| r.kind() == Kind::NatGateway)
                .count()
        };
        assert_eq!((count("dev"), count("prod")), (1, 2));
    }

    #[test]
    fn services_log_in_as_their_own_roles_and_the_setup_task_as_the_master_user() {
        let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        let resources = expand(&config);
        let find = |id: &str| {
            resources
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("no {id}"))
        };
        let Spec::TaskDefinition(result) = &find("taskdef-result").spec else {
            panic!()
        };
        let env = &result.container.environment;
        assert_eq!(env["DATABASE_HOST"], "${postgres}");
        assert_eq!(env["DATABASE_USER"], "result");
        assert_eq!(env["DATABASE_PASSWORD_SECRET"], "${db-result-password}");
        // No copy of a password in the task definition: nothing to go stale.
        assert!(result.container.secrets.is_empty());
        let Spec::Secret(secret) = &find("db-result-password").spec else {
            panic!()
        };
        assert_eq!(
            secret.value,
            SecretValue::DatabaseRole {
                username: "result".into()
            }
        );
        let Spec::TaskDefinition(setup) = &find("task-db-setup").spec else {
            panic!()
        };
        assert_eq!(setup.task_role, Ref::to(DB_ADMIN_ROLE));
        assert_eq!(
            setup.container.secrets,
            BTreeMap::from([("DATABASE_PASSWORD".to_owned(), Ref::to("postgres"))])
        );
        assert_eq!(setup.container.environment["DATABASE_USER"], "slipway");
        assert!(!setup
            .container
            .environment
            .contains_key("DATABASE_PASSWORD_SECRET"));
        let Spec::Role(admin) = &find(DB_ADMIN_ROLE).spec else {
            panic!()
        };
        assert_eq!(
            admin.statements,
            vec![statement(
                &["secretsmanager:GetSecretValue"],
                vec![
                    "${db-result-password}".into(),
                    "${db-worker-password}".into()
                ]
            )]
        );
        // vote uses no Postgres: no password secret, no database settings.
        assert!(resources.iter().all(|r| r.id != "db-vote-password"));
        let Spec::TaskDefinition(vote) = &find("taskdef-vote").spec else {
            panic!()
        };
        assert!(!vote.container.environment.contains_key("DATABASE_HOST"));
        // The setup task waits for the instance and the secrets it names.
        let dependencies = find("task-db-setup").dependencies();
        for id in ["postgres", "role-db-admin"] {
            assert!(dependencies.contains(&id.to_owned()), "{dependencies:?}");
        }
    }
}

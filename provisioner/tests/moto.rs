//! End to end against the moto AWS emulator: `provision up/plan/down` as a user runs
//! them, then the result checked through the SDK.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{IpPermission, SecurityGroup};
use common::{config_copy, edit_config, Moto};
use provisioner::aws::Aws;
use serde_json::Value;

use common::ownership_filters as ownership;

fn slipway_id(tags: &[aws_sdk_ec2::types::Tag]) -> String {
    tags.iter()
        .find(|t| t.key() == Some("slipway:id"))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_owned()
}

async fn security_groups(aws: &Aws) -> BTreeMap<String, SecurityGroup> {
    let out = aws
        .ec2
        .describe_security_groups()
        .set_filters(Some(ownership(aws)))
        .send()
        .await
        .unwrap();
    out.security_groups()
        .iter()
        .map(|g| (slipway_id(g.tags()), g.clone()))
        .collect()
}

/// (port, source group ids) of each rule; panics on CIDR sources.
fn group_sources(permissions: &[IpPermission]) -> BTreeSet<(i32, String)> {
    let mut sources = BTreeSet::new();
    for permission in permissions {
        assert!(
            permission.ip_ranges().is_empty() && permission.ipv6_ranges().is_empty(),
            "only security-group sources expected, got {permission:?}"
        );
        for pair in permission.user_id_group_pairs() {
            sources.insert((
                permission.from_port().unwrap(),
                pair.group_id().unwrap().to_owned(),
            ));
        }
    }
    sources
}

fn steps_changed(plan: &Value) -> BTreeMap<String, Vec<String>> {
    plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .map(|s| {
            let paths = s["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c["path"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (
                format!(
                    "{} {}",
                    s["action"].as_str().unwrap(),
                    s["id"].as_str().unwrap()
                ),
                paths,
            )
        })
        .collect()
}

/// What a release does: a new revision of `<service>`'s task definition with another
/// image tag, and the service moved onto it.
async fn simulate_deploy(aws: &Aws, service: &str, tag: &str) {
    let current = aws
        .ecs
        .describe_task_definition()
        .task_definition(format!("voting-dev-taskdef-{service}"))
        .send()
        .await
        .unwrap();
    let current = current.task_definition().unwrap();
    let mut container = current.container_definitions()[0].clone();
    let image = container.image().unwrap();
    let repository = image.rsplit_once(':').unwrap().0.to_owned();
    container.image = Some(format!("{repository}:{tag}"));
    let registered = aws
        .ecs
        .register_task_definition()
        .family(current.family().unwrap())
        .set_requires_compatibilities(Some(current.requires_compatibilities().to_vec()))
        .set_network_mode(current.network_mode().cloned())
        .set_cpu(current.cpu().map(str::to_owned))
        .set_memory(current.memory().map(str::to_owned))
        .set_execution_role_arn(current.execution_role_arn().map(str::to_owned))
        .set_task_role_arn(current.task_role_arn().map(str::to_owned))
        .container_definitions(container)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("slipway:stack")
                .value("voting")
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("slipway:env")
                .value("dev")
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("slipway:id")
                .value(format!("taskdef-{service}"))
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("managed-by")
                .value("slipway")
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.ecs
        .update_service()
        .cluster("voting-dev-cluster")
        .service(format!("voting-dev-service-{service}"))
        .task_definition(
            registered
                .task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The load balancer and the rules of all its listeners.
async fn load_balancer_rules(
    aws: &Aws,
    name: &str,
) -> (
    aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    Vec<aws_sdk_elasticloadbalancingv2::types::Rule>,
) {
    let (lb, listeners) = common::load_balancer_listeners(aws, name).await;
    (
        lb,
        listeners.into_iter().flat_map(|(_, rules)| rules).collect(),
    )
}

async fn db_secret_arn(aws: &Aws) -> String {
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("voting-dev-postgres")
        .send()
        .await
        .unwrap();
    db.db_instances()[0]
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .unwrap()
        .to_owned()
}

fn mutating_calls(run: &Value) -> Vec<String> {
    let mut calls: Vec<String> = run["details"]["mutating_calls"]
        .as_array()
        .unwrap_or_else(|| panic!("no mutating_calls in {run}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    calls.sort();
    calls
}

#[tokio::test]
async fn voting_up_builds_a_private_least_privilege_stack_and_is_idempotent() {
    let moto = Moto::start();
    let up = moto.provision(&["--stack", "voting", "--yes", "--output", "json", "up"]);
    up.ok();
    assert!(up.json()["outcome"]["failed"]
        .as_object()
        .unwrap()
        .is_empty());
    let aws = moto.aws("voting", "dev").await;

    // Data stores: ingress only from their consumers' groups (the debug task's among
    // them), and no egress at all.
    let groups = security_groups(&aws).await;
    let gid = |id: &str| groups[id].group_id().unwrap().to_owned();
    for (store, port, consumers) in [
        ("sg-redis", 6379, ["sg-debug", "sg-vote", "sg-worker"]),
        ("sg-postgres", 5432, ["sg-debug", "sg-result", "sg-worker"]),
    ] {
        let group = &groups[store];
        assert!(
            group.ip_permissions_egress().is_empty(),
            "{store} has egress"
        );
        let expected: BTreeSet<(i32, String)> = consumers.iter().map(|c| (port, gid(c))).collect();
        assert_eq!(group_sources(group.ip_permissions()), expected, "{store}");
    }
    assert!(
        groups["sg-worker"].ip_permissions().is_empty(),
        "worker takes no inbound traffic"
    );
    for (service, port) in [("sg-vote", 8080), ("sg-result", 8081)] {
        let expected: BTreeSet<(i32, String)> = [(port, gid("sg-alb"))].into();
        assert_eq!(group_sources(groups[service].ip_permissions()), expected);
    }

    // Issue 13 item 2: every public page opens in a browser without a DNS name of ours.
    // vote (the default) on the ALB's port 80, result (routed by host name) on a listener
    // of its own on 8081, which the ALB's group opens to everyone; `status` and `outputs`
    // print both as clickable URLs.
    let alb_sources: BTreeSet<(i32, String)> = groups["sg-alb"]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges()
                .iter()
                .filter_map(|r| Some((p.from_port()?, r.cidr_ip()?.to_owned())))
        })
        .collect();
    assert_eq!(
        alb_sources,
        [(80, "0.0.0.0/0".to_owned()), (8081, "0.0.0.0/0".to_owned())].into()
    );
    let outputs = moto.json_command("voting", None, "outputs").json();
    let dns = outputs["load_balancer_dns"].as_str().unwrap().to_owned();
    assert!(!dns.is_empty());
    let urls = |services: &Value, name: &str| services[name]["url"].clone();
    assert_eq!(urls(&outputs["services"], "vote"), format!("http://{dns}/"));
    assert_eq!(
        urls(&outputs["services"], "result"),
        format!("http://{dns}:8081/")
    );
    assert_eq!(urls(&outputs["services"], "worker"), Value::Null);
    let status = moto.json_command("voting", None, "status").json();
    let rows: BTreeMap<String, Value> = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["service"].as_str().unwrap().to_owned(),
                row["url"].clone(),
            )
        })
        .collect();
    assert_eq!(rows["vote"], format!("http://{dns}/"));
    assert_eq!(rows["result"], format!("http://{dns}:8081/"));
    assert_eq!(rows["worker"], Value::Null);
    let text = moto.provision(&["--stack", "voting", "status"]);
    text.ok();
    assert!(
        text.stdout().contains(&format!("http://{dns}:8081/")),
        "{}",
        text.stdout()
    );
    assert!(!text.stdout().contains("Host:"), "{}", text.stdout());

    // Services sit in the private subnets, without public IPs.
    let subnets = aws
        .ec2
        .describe_subnets()
        .set_filters(Some(ownership(&aws)))
        .send()
        .await
        .unwrap();
    let private: BTreeSet<String> = subnets
        .subnets()
        .iter()
        .filter(|s| slipway_id(s.tags()).starts_with("subnet-private"))
        .map(|s| {
            assert_eq!(s.map_public_ip_on_launch(), Some(false));
            s.subnet_id().unwrap().to_owned()
        })
        .collect();
    assert_eq!(private.len(), 2);
    let listed = aws
        .ecs
        .list_services()
        .cluster("voting-dev-cluster")
        .send()
        .await
        .unwrap();
    let services = aws
        .ecs
        .describe_services()
        .cluster("voting-dev-cluster")
        .set_services(Some(listed.service_arns().to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(services.services().len(), 3);
    for service in services.services() {
        let network = service
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .unwrap();
        assert_eq!(
            network.assign_public_ip(),
            Some(&aws_sdk_ecs::types::AssignPublicIp::Disabled)
        );
        let used: BTreeSet<String> = network.subnets().iter().cloned().collect();
        assert_eq!(used, private, "{:?}", service.service_name());
        assert_eq!(
            service.launch_type(),
            Some(&aws_sdk_ecs::types::LaunchType::Fargate)
        );
    }

    // Scalable targets with config bounds, and both target-tracking policies each. No
    // image was pushed yet: every service waits for its first release at 0 tasks, and
    // that release starts it within the config's bounds.
    let bounds = || async {
        common::ecs_scaling_bounds(&aws)
            .await
            .into_iter()
            .map(|(service, range)| (service.rsplit('-').next().unwrap().to_owned(), range))
            .collect::<BTreeMap<String, (i32, i32)>>()
    };
    assert_eq!(
        bounds().await,
        [
            ("result".into(), (0, 0)),
            ("vote".into(), (0, 0)),
            ("worker".into(), (0, 0))
        ]
        .into()
    );
    assert!(services.services().iter().all(|s| s.desired_count() == 0));
    common::release_held_services(&aws, &common::repo_root().join("config")).await;
    assert_eq!(
        bounds().await,
        [
            ("result".into(), (2, 4)),
            ("vote".into(), (2, 6)),
            ("worker".into(), (1, 4))
        ]
        .into()
    );
    let policies = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    let mut metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for policy in policies.scaling_policies() {
        let config = policy
            .target_tracking_scaling_policy_configuration()
            .unwrap();
        let metric = config
            .predefined_metric_specification()
            .unwrap()
            .predefined_metric_type()
            .as_str()
            .to_owned();
        let service = policy.resource_id().rsplit('-').next().unwrap().to_owned();
        metrics.entry(service).or_default().insert(metric);
    }
    let both = |a: &str, b: &str| -> BTreeSet<String> { [a.to_owned(), b.to_owned()].into() };
    assert_eq!(
        metrics["vote"],
        both(
            "ALBRequestCountPerTarget",
            "ECSServiceAverageCPUUtilization"
        )
    );
    assert_eq!(
        metrics["result"],
        both(
            "ALBRequestCountPerTarget",
            "ECSServiceAverageCPUUtilization"
        )
    );
    assert_eq!(
        metrics["worker"],
        both(
            "ECSServiceAverageCPUUtilization",
            "ECSServiceAverageMemoryUtilization"
        )
    );

    // Repositories: scan on push, immutable tags, keep the newest 20.
    let repos = aws.ecr.describe_repositories().send().await.unwrap();
    assert_eq!(
        repos.repositories().len(),
        4,
        "three services and the debug image"
    );
    for repo in repos.repositories() {
        assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
        // The debug image's `latest` moves with each push; release tags never do.
        let mutability = if repo.repository_name() == Some("voting-dev-repo-debug") {
            aws_sdk_ecr::types::ImageTagMutability::Mutable
        } else {
            aws_sdk_ecr::types::ImageTagMutability::Immutable
        };
        assert_eq!(repo.image_tag_mutability(), Some(&mutability));
        let policy = aws
            .ecr
            .get_lifecycle_policy()
            .repository_name(repo.repository_name().unwrap())
            .send()
            .await
            .unwrap();
        let policy: Value = serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
        assert_eq!(policy["rules"][0]["selection"]["countNumber"], 20);
    }

    // Task definitions: hardened container, URLs only as secrets.
    let definition = task_definition(&aws, "voting-dev-taskdef-worker").await;
    assert_eq!(definition.cpu(), Some("256"));
    let container = &definition.container_definitions()[0];
    // ECS Exec is on in dev (the default outside prod) and needs a writable root; the
    // read-only root of exec-off services is checked in
    // `exec_off_restores_the_read_only_root_and_drops_the_ssm_permissions`.
    assert_eq!(container.readonly_root_filesystem(), Some(false));
    assert_eq!(container.user(), Some("10001"));
    assert_eq!(
        container
            .linux_parameters()
            .and_then(|l| l.init_process_enabled()),
        Some(true)
    );
    assert_eq!(
        container.health_check().unwrap().command(),
        ["CMD", "/usr/local/bin/worker", "--probe"]
    );
    let secrets: BTreeMap<&str, &str> = container
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    // Redis' URL as a secret; Postgres' password is no copy injected at start (it would
    // go stale when rotated) but read at run time from the worker's own secret.
    assert_eq!(secrets.keys().copied().collect::<Vec<_>>(), ["REDIS_URL"]);
    assert!(secrets["REDIS_URL"].contains(":secret:voting-dev-redis-url"));
    assert!(container
        .environment()
        .iter()
        .all(|kv| !kv.name().unwrap().ends_with("_URL")));
    check_database_credentials(&aws, container).await;

    // The URL secrets carry TLS URLs built from the live endpoints.
    let redis_url = aws
        .secrets
        .get_secret_value()
        .secret_id("voting-dev-redis-url")
        .send()
        .await
        .unwrap();
    assert!(redis_url.secret_string().unwrap().starts_with("rediss://:"));
    let database_url = aws
        .secrets
        .get_secret_value()
        .secret_id("voting-dev-database-url")
        .send()
        .await
        .unwrap();
    let database_url = database_url.secret_string().unwrap();
    // User and password come from the RDS-managed master secret, percent-encoded.
    let master = aws
        .secrets
        .get_secret_value()
        .secret_id(db_secret_arn(&aws).await)
        .send()
        .await
        .unwrap();
    let master: Value = serde_json::from_str(master.secret_string().unwrap()).unwrap();
    let user = master["username"].as_str().unwrap();
    let password = master["password"].as_str().unwrap();
    let encoded: String =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    assert!(
        database_url.starts_with(&format!("postgres://{user}:{encoded}@voting-dev-postgres.")),
        "{database_url}"
    );
    assert!(
        database_url.ends_with("/votes?sslmode=require"),
        "{database_url}"
    );

    // Data tier: encrypted, private, AUTH on, managed master password.
    let redis = aws
        .elasticache
        .describe_replication_groups()
        .replication_group_id("voting-dev-redis")
        .send()
        .await
        .unwrap();
    let redis = &redis.replication_groups()[0];
    assert_eq!(redis.transit_encryption_enabled(), Some(true));
    assert_eq!(redis.at_rest_encryption_enabled(), Some(true));
    assert_eq!(redis.auth_token_enabled(), Some(true));
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("voting-dev-postgres")
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert!(db.master_user_secret().is_some());

    // Cluster with Container Insights; log groups with the configured retention.
    let cluster = aws
        .ecs
        .describe_clusters()
        .clusters("voting-dev-cluster")
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .unwrap();
    let settings = cluster.clusters()[0].settings();
    assert!(
        settings.iter().any(|s| s.value() == Some("enabled")),
        "{settings:?}"
    );
    let logs = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("voting-dev-")
        .send()
        .await
        .unwrap();
    assert_eq!(
        logs.log_groups().len(),
        4,
        "three services and the debug task"
    );
    assert!(logs
        .log_groups()
        .iter()
        .all(|g| g.retention_in_days() == Some(14)));

    // Sticky sessions for result (socket.io) only.
    for (group, sticky) in [
        ("voting-dev-tg-result", "true"),
        ("voting-dev-tg-vote", "false"),
    ] {
        let tgs = aws
            .elb
            .describe_target_groups()
            .names(group)
            .send()
            .await
            .unwrap();
        let attributes = aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(tgs.target_groups()[0].target_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        let enabled = attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some("stickiness.enabled"))
            .and_then(|a| a.value());
        assert_eq!(enabled, Some(sticky), "{group}");
    }

    // Each execution role reaches only its own task's repository and log group, and
    // secrets of this stack only (which ones: tests/iam_policy_moto.rs); the database
    // setup task (worker's image and log group) alone also reads the RDS-managed master
    // secret of the instance.
    let master_secret = db_secret_arn(&aws).await;
    for (name, image) in [
        ("vote", "vote"),
        ("worker", "worker"),
        ("result", "result"),
        ("debug", "debug"),
        ("db-setup", "worker"),
    ] {
        let document =
            common::role_policy(&aws, &format!("voting-dev-role-execution-{name}")).await;
        for statement in document["Statement"].as_array().unwrap() {
            for resource in statement["Resource"].as_array().unwrap() {
                let resource = resource.as_str().unwrap();
                let scoped = resource.ends_with(&format!(":repository/voting-dev-repo-{image}"))
                    || resource.ends_with(&format!(":log-group:voting-dev-logs-{image}:*"))
                    || resource.contains(":secret:voting-dev-")
                    || (name == "db-setup" && resource == master_secret);
                let token = statement["Action"] == serde_json::json!(["ecr:GetAuthorizationToken"]);
                assert!(scoped || (token && resource == "*"), "{name}: {statement}");
            }
        }
    }

    check_debug_task(&aws, &groups).await;

    // A second `up` changes nothing and calls nothing that mutates.
    let again = moto.provision(&["--stack", "voting", "--yes", "--output", "json", "up"]);
    again.ok();
    assert_eq!(again.json()["changes"], 0);
    assert_eq!(mutating_calls(&again.json()), Vec::<String>::new());

    // Performance target: planning an up-to-date voting stack takes under 3 s.
    let plan = moto.provision(&["--stack", "voting", "plan"]);
    assert!(plan.ok().contains("No changes"));
    assert!(
        plan.took < std::time::Duration::from_secs(3),
        "plan took {:?}",
        plan.took
    );
}

#[tokio::test]
async fn config_changes_update_exactly_what_changed() {
    let moto = Moto::start();
    let config = config_copy();
    let dir = config.path().to_str().unwrap();
    let base = [
        "--stack",
        "voting",
        "--config-dir",
        dir,
        "--yes",
        "--output",
        "json",
    ];
    let run = |command: &str| {
        let mut args = base.to_vec();
        args.push(command);
        moto.provision(&args)
    };
    run("up").ok();
    let aws = moto.aws("voting", "dev").await;
    // The services run: their first release started them (until then `up` holds them
    // at 0 tasks).
    common::release_held_services(&aws, config.path()).await;

    // A release (issue 6's `deploy`) moves the worker to image tag v2: not drift.
    simulate_deploy(&aws, "worker", "v2").await;
    assert!(steps_changed(&run("plan").json()).is_empty());

    edit_config(
        config.path(),
        "voting",
        "desired = 2\nmin = 2\nmax = 6\nhealth_command = [\"CMD\", \"/usr/local/bin/vote\"",
        "desired = 3\nmin = 2\nmax = 6\nhealth_command = [\"CMD\", \"/usr/local/bin/vote\"",
    );
    edit_config(
        config.path(),
        "voting",
        "cpu = 256\nmemory = 512\ndesired = 1",
        "cpu = 512\nmemory = 1024\ndesired = 1",
    );
    let plan = run("plan");
    plan.ok();
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "update service-vote".to_owned(),
            vec!["desired_count".to_owned()],
        ),
        (
            "update taskdef-worker".to_owned(),
            vec!["cpu".to_owned(), "memory".to_owned()],
        ),
        (
            "update service-worker".to_owned(),
            vec!["task_definition".to_owned()],
        ),
    ]
    .into();
    assert_eq!(steps_changed(&plan.json()), expected);

    let up = run("up");
    up.ok();
    assert_eq!(
        mutating_calls(&up.json()),
        [
            "ECS.RegisterTaskDefinition",
            // Records the newly configured desired count on the vote service.
            "ECS.TagResource",
            "ECS.UpdateService",
            "ECS.UpdateService"
        ]
    );
    let services = aws
        .ecs
        .describe_services()
        .cluster("voting-dev-cluster")
        .services("voting-dev-service-vote")
        .services("voting-dev-service-worker")
        .send()
        .await
        .unwrap();
    let by_name: BTreeMap<&str, &aws_sdk_ecs::types::Service> = services
        .services()
        .iter()
        .map(|s| (s.service_name().unwrap(), s))
        .collect();
    assert_eq!(by_name["voting-dev-service-vote"].desired_count(), 3);
    let worker_definition = by_name["voting-dev-service-worker"]
        .task_definition()
        .unwrap();
    assert!(
        worker_definition.ends_with("voting-dev-taskdef-worker:3"),
        "{worker_definition}"
    );
    let definition = aws
        .ecs
        .describe_task_definition()
        .task_definition(worker_definition)
        .send()
        .await
        .unwrap();
    let definition = definition.task_definition().unwrap();
    assert_eq!(definition.cpu(), Some("512"));
    let image = definition.container_definitions()[0].image().unwrap();
    assert!(
        image.ends_with("voting-dev-repo-worker:v2"),
        "the released tag stays: {image}"
    );

    let settled = run("plan");
    assert!(
        steps_changed(&settled.json()).is_empty(),
        "{}",
        settled.stdout()
    );

    // Autoscaling moves the live count: that is not drift, and a later `up` that
    // updates the service for another reason keeps the autoscaled count.
    aws.ecs
        .update_service()
        .cluster("voting-dev-cluster")
        .service("voting-dev-service-vote")
        .desired_count(5)
        .send()
        .await
        .unwrap();
    let plan = run("plan");
    assert!(steps_changed(&plan.json()).is_empty(), "{}", plan.stdout());
    edit_config(
        config.path(),
        "voting",
        "port = 8080\ncpu = 256\nmemory = 512",
        "port = 8080\ncpu = 512\nmemory = 1024",
    );
    run("up").ok();
    let vote = aws
        .ecs
        .describe_services()
        .cluster("voting-dev-cluster")
        .services("voting-dev-service-vote")
        .send()
        .await
        .unwrap();
    assert_eq!(
        vote.services()[0].desired_count(),
        5,
        "a rollout for another change keeps the autoscaled count"
    );
}

/// Issue 11, item 1: per-service database roles with passwords read at run time. The
/// worker's settings point at the instance and its own secret; the secrets hold JSON
/// credentials; each task role reads only its own secret; the setup task logs in as the
/// master user with the RDS-managed secret (injected when it starts, so always current)
/// and creates the roles from `DATABASE_ROLES`.
async fn check_database_credentials(aws: &Aws, worker: &aws_sdk_ecs::types::ContainerDefinition) {
    let environment =
        |container: &aws_sdk_ecs::types::ContainerDefinition| -> BTreeMap<String, String> {
            container
                .environment()
                .iter()
                .map(|kv| {
                    (
                        kv.name().unwrap().to_owned(),
                        kv.value().unwrap().to_owned(),
                    )
                })
                .collect()
        };
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("voting-dev-postgres")
        .send()
        .await
        .unwrap();
    let endpoint = db.db_instances()[0]
        .endpoint()
        .unwrap()
        .address()
        .unwrap()
        .to_owned();
    let secret_arn = |name: &str| {
        let name = name.to_owned();
        async move {
            aws.secrets
                .describe_secret()
                .secret_id(&name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                .arn()
                .unwrap()
                .to_owned()
        }
    };
    let worker_secret = secret_arn("voting-dev-db-worker-password").await;
    let result_secret = secret_arn("voting-dev-db-result-password").await;
    let env = environment(worker);
    assert_eq!(env["DATABASE_HOST"], endpoint);
    assert_eq!(env["DATABASE_PORT"], "5432");
    assert_eq!(env["DATABASE_NAME"], "votes");
    assert_eq!(env["DATABASE_USER"], "worker");
    assert_eq!(env["DATABASE_SSLMODE"], "require");
    assert_eq!(env["DATABASE_PASSWORD_SECRET"], worker_secret);
    for (role, arn) in [("worker", &worker_secret), ("result", &result_secret)] {
        let value = aws
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .unwrap();
        let value: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
        assert_eq!(value["username"], role);
        let password = value["password"].as_str().unwrap();
        assert_eq!(password.len(), 48);
        assert!(
            password.chars().all(|c| c.is_ascii_alphanumeric()),
            "{password}"
        );
    }
    let policy = |role: &str| {
        let role = role.to_owned();
        async move {
            let out = aws
                .iam
                .get_role_policy()
                .role_name(&role)
                .policy_name("slipway")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{role}: {e:?}"));
            let document = percent_encoding::percent_decode_str(out.policy_document())
                .decode_utf8()
                .unwrap()
                .into_owned();
            serde_json::from_str::<Value>(&document).unwrap()
        }
    };
    let secret_statements = |policy: &Value| -> Vec<Value> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"] == serde_json::json!(["secretsmanager:GetSecretValue"]))
            .map(|s| s["Resource"].clone())
            .collect()
    };
    // Each service's task role reads its own password secret, nothing else.
    assert_eq!(
        secret_statements(&policy("voting-dev-role-worker").await),
        [serde_json::json!([worker_secret])]
    );
    assert_eq!(
        secret_statements(&policy("voting-dev-role-result").await),
        [serde_json::json!([result_secret])]
    );
    let result = task_definition(aws, "voting-dev-taskdef-result").await;
    let env = environment(&result.container_definitions()[0]);
    assert_eq!(env["DATABASE_USER"], "result");
    assert_eq!(env["DATABASE_PASSWORD_SECRET"], result_secret);
    assert!(result.container_definitions()[0].secrets().is_empty());

    // The setup task: master user, master secret injected, the roles to create.
    let setup = task_definition(aws, "voting-dev-task-db-setup").await;
    let container = &setup.container_definitions()[0];
    assert_eq!(container.command(), ["/usr/local/bin/worker", "db-roles"]);
    let master_secret = db_secret_arn(aws).await;
    let secrets: Vec<(&str, &str)> = container
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert_eq!(secrets, [("DATABASE_PASSWORD", master_secret.as_str())]);
    let env = environment(container);
    assert_eq!(env["DATABASE_USER"], "slipway");
    assert_eq!(env["DATABASE_HOST"], endpoint);
    assert!(!env.contains_key("DATABASE_PASSWORD_SECRET"));
    assert!(!env.contains_key("REDIS_URL"));
    let roles: Value = serde_json::from_str(&env["DATABASE_ROLES"]).unwrap();
    assert_eq!(
        roles,
        serde_json::json!([
            {"role": "result", "secret": "voting-dev-db-result-password", "owns": [], "reads": ["public"], "updates": []},
            {"role": "worker", "secret": "voting-dev-db-worker-password", "owns": ["public"], "reads": [], "updates": []},
        ])
    );
    assert!(setup
        .task_role_arn()
        .unwrap()
        .ends_with("/voting-dev-role-db-admin"));
    let mut admin = secret_statements(&policy("voting-dev-role-db-admin").await);
    let mut expected = vec![result_secret.clone(), worker_secret.clone()];
    expected.sort();
    assert_eq!(admin.len(), 1);
    let mut granted: Vec<String> = serde_json::from_value(admin.remove(0)).unwrap();
    granted.sort();
    assert_eq!(granted, expected);
    // The setup task's own execution role injects the master secret; no service's
    // execution role (which deploys may pass) can.
    let execution = policy("voting-dev-role-execution-db-setup").await;
    assert_eq!(
        secret_statements(&execution),
        [serde_json::json!([master_secret])]
    );
    assert!(setup
        .execution_role_arn()
        .unwrap()
        .ends_with("/voting-dev-role-execution-db-setup"));
    for service in ["vote", "worker", "result"] {
        let execution = policy(&format!("voting-dev-role-execution-{service}")).await;
        assert!(
            !execution.to_string().contains(&master_secret),
            "{service}: {execution}"
        );
    }
}

/// The worker's task role inline policy, if it has one.
async fn worker_role_policy(aws: &Aws) -> Option<Value> {
    match aws
        .iam
        .get_role_policy()
        .role_name("voting-dev-role-worker")
        .policy_name("slipway")
        .send()
        .await
    {
        Ok(policy) => {
            let document = percent_encoding::percent_decode_str(policy.policy_document())
                .decode_utf8()
                .unwrap()
                .into_owned();
            Some(serde_json::from_str(&document).unwrap())
        }
        Err(err) => {
            assert!(
                err.as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()),
                "{err:?}"
            );
            None
        }
    }
}

/// The active revision of a task definition family (or the given revision).
async fn task_definition(aws: &Aws, name: &str) -> aws_sdk_ecs::types::TaskDefinition {
    aws.ecs
        .describe_task_definition()
        .task_definition(name)
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .clone()
}

async fn worker_root_is_read_only(aws: &Aws) -> Option<bool> {
    task_definition(aws, "voting-dev-taskdef-worker")
        .await
        .container_definitions()[0]
        .readonly_root_filesystem()
}

#[tokio::test]
async fn exec_off_restores_the_read_only_root_and_drops_the_ssm_permissions() {
    let moto = Moto::start();
    let config = config_copy();
    let dir = config.path().to_str().unwrap();
    let run = |command: &str| moto.json_command("voting", Some(dir), command);
    run("up").ok();
    let aws = moto.aws("voting", "dev").await;
    assert_eq!(worker_root_is_read_only(&aws).await, Some(false));
    let policy = worker_role_policy(&aws)
        .await
        .expect("exec on: SSM channels");
    assert!(policy.to_string().contains("ssmmessages:OpenDataChannel"));

    edit_config(
        config.path(),
        "voting",
        "[env.prod.services.worker]",
        "[env.dev.services.worker]\nexec = false\n\n[env.prod.services.worker]",
    );
    let plan = run("plan");
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "update taskdef-worker".to_owned(),
            vec!["container.read_only_root".to_owned()],
        ),
        // enableExecuteCommand is sent too; moto does not report it back.
        (
            "update service-worker".to_owned(),
            vec!["task_definition".to_owned()],
        ),
        (
            "update role-worker".to_owned(),
            vec!["statements".to_owned()],
        ),
    ]
    .into();
    assert_eq!(steps_changed(&plan.json()), expected, "{}", plan.stdout());
    let up = run("up");
    up.ok();
    let calls = mutating_calls(&up.json());
    // The worker's role keeps reading its database password secret: the policy is
    // rewritten without the SSM statement, not deleted.
    assert!(calls.contains(&"IAM.PutRolePolicy".to_owned()), "{calls:?}");
    assert_eq!(worker_root_is_read_only(&aws).await, Some(true));
    let policy = worker_role_policy(&aws).await.expect("the password secret");
    assert!(!policy.to_string().contains("ssmmessages"), "{policy}");
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{policy}");
    assert_eq!(
        statements[0]["Action"],
        serde_json::json!(["secretsmanager:GetSecretValue"])
    );
    let settled = run("plan");
    assert!(
        steps_changed(&settled.json()).is_empty(),
        "{}",
        settled.stdout()
    );

    // And back on for an incident.
    edit_config(config.path(), "voting", "exec = false", "exec = true");
    run("up").ok();
    assert_eq!(worker_root_is_read_only(&aws).await, Some(false));
    assert!(worker_role_policy(&aws).await.is_some());
}

#[tokio::test]
async fn drift_and_half_finished_state_are_repaired_by_the_next_up() {
    let moto = Moto::start();
    let run = |command: &str| moto.json_command("voting", None, command);
    run("up").ok();
    let aws = moto.aws("voting", "dev").await;

    // As if an `up` had been interrupted before these, plus a leaked egress rule.
    let (_, rules) = load_balancer_rules(&aws, "voting-dev-alb").await;
    // result's rule (the catch-all of its own listener); vote's stays.
    let rule = rules
        .iter()
        .find(|r| {
            r.priority() == Some("50000")
                && provisioner::resources::forward_groups(r.actions())
                    .iter()
                    .any(|(arn, _)| arn.contains("/voting-dev-tg-result/"))
        })
        .unwrap();
    aws.elb
        .delete_rule()
        .rule_arn(rule.rule_arn().unwrap())
        .send()
        .await
        .unwrap();
    aws.autoscaling
        .delete_scaling_policy()
        .policy_name("voting-dev-scaling-worker-cpu")
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id("service/voting-dev-cluster/voting-dev-service-worker")
        .scalable_dimension(
            aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
        )
        .send()
        .await
        .unwrap();
    let redis_group = security_groups(&aws).await["sg-redis"]
        .group_id()
        .unwrap()
        .to_owned();
    aws.ec2
        .authorize_security_group_egress()
        .group_id(&redis_group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Someone lets malformed header names through to the services again.
    let (lb, _) = load_balancer_rules(&aws, "voting-dev-alb").await;
    let alb_arn = lb.load_balancer_arn().unwrap().to_owned();
    let drop_invalid_headers = |value: &str| {
        aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
            .key("routing.http.drop_invalid_header_fields.enabled")
            .value(value)
            .build()
    };
    aws.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(&alb_arn)
        .attributes(drop_invalid_headers("false"))
        .send()
        .await
        .unwrap();

    let plan = run("plan");
    let changed = steps_changed(&plan.json());
    assert_eq!(
        changed.keys().cloned().collect::<Vec<_>>(),
        [
            "create rule-result",
            "create scaling-worker-cpu",
            "update alb",
            "update sg-redis"
        ]
    );
    assert_eq!(changed["update sg-redis"], ["egress_all"]);
    assert_eq!(changed["update alb"], ["drop_invalid_headers"]);
    run("up").ok();
    assert!(steps_changed(&run("plan").json()).is_empty());
    let attributes = aws
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&alb_arn)
        .send()
        .await
        .unwrap();
    assert!(attributes
        .attributes()
        .contains(&drop_invalid_headers("true")));
    assert!(security_groups(&aws).await["sg-redis"]
        .ip_permissions_egress()
        .is_empty());
}

#[tokio::test]
async fn shop_down_leaves_zero_tagged_resources_and_can_be_rerun() {
    let moto = Moto::start();
    // Without its Redis cache: moto cannot delete ElastiCache (see README), and this test
    // proves a complete teardown, Postgres included.
    let config = common::shop_without_redis();
    let dir = config.path().to_str().unwrap();
    let run = |command: &str| moto.json_command("shop", Some(dir), command);
    run("up").ok();
    let aws = moto.aws("shop", "dev").await;

    // Path rules per service; one-off task definitions for migrate and seed.
    let (lb, rules) = load_balancer_rules(&aws, "shop-dev-alb").await;
    assert_eq!(
        lb.scheme(),
        Some(&aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::InternetFacing)
    );
    let mut patterns: Vec<String> = rules
        .iter()
        .flat_map(|r| r.conditions())
        .flat_map(|c| {
            c.path_pattern_config()
                .map(|p| p.values().to_vec())
                .unwrap_or_else(|| c.values().to_vec())
        })
        .collect();
    patterns.sort();
    assert_eq!(
        patterns,
        [
            // The internal-paths rule (priority 1) that keeps /ready and /metrics private.
            "*/metrics",
            "*/ready",
            "/orders",
            "/orders/*",
            "/products",
            "/products/*",
            "/users",
            "/users/*"
        ]
    );
    for (service, task) in [
        ("users", "migrate"),
        ("products", "seed"),
        ("orders", "migrate"),
    ] {
        let definition = aws
            .ecs
            .describe_task_definition()
            .task_definition(format!("shop-dev-task-{service}-{task}"))
            .send()
            .await
            .unwrap();
        let container = &definition
            .task_definition()
            .unwrap()
            .container_definitions()[0];
        let binary = format!("/usr/local/bin/shop-{service}");
        assert_eq!(container.command(), [binary.as_str(), task]);
    }

    let down = run("down");
    down.ok();
    assert_eq!(down.json()["details"]["leftovers"], serde_json::json!([]));
    let tagged = aws
        .tagging
        .get_resources()
        .tag_filters(
            aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                .key("slipway:stack")
                .values("shop")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let live: Vec<&str> = tagged
        .resource_tag_mapping_list()
        .iter()
        .filter_map(|m| m.resource_arn())
        .filter(|arn| !arn.contains(":task-definition/") && !arn.contains(":natgateway/"))
        .filter(|arn| !arn.contains(":service/") && !arn.contains(":cluster/"))
        .collect();
    assert!(live.is_empty(), "still tagged: {live:?}");
    assert!(aws
        .ec2
        .describe_vpcs()
        .set_filters(Some(ownership(&aws)))
        .send()
        .await
        .unwrap()
        .vpcs()
        .is_empty());
    let roles = aws
        .iam
        .list_roles()
        .path_prefix("/slipway/shop/dev/")
        .send()
        .await
        .unwrap();
    assert!(roles.roles().is_empty());

    // Safe to re-run: nothing to delete, still a clean scan.
    run("down").ok();
}

#[tokio::test]
async fn sums_api_is_private_and_reachable_only_from_the_client() {
    let moto = Moto::start();
    // Without a terminal to confirm on, `up` refuses unless told --yes, and changes nothing.
    let unconfirmed = moto.provision(&["--stack", "sums", "up"]);
    assert_eq!(unconfirmed.code(), 1);
    assert!(
        unconfirmed.stderr().contains("pass --yes"),
        "{}",
        unconfirmed.stderr()
    );
    assert!(
        moto.json_command("sums", None, "plan").json()["plan"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "create")
    );
    moto.provision(&["--stack", "sums", "--yes", "up"]).ok();
    let aws = moto.aws("sums", "dev").await;
    let groups = security_groups(&aws).await;
    let expected: BTreeSet<(i32, String)> =
        [(4567, groups["sg-client"].group_id().unwrap().to_owned())].into();
    assert_eq!(group_sources(groups["sg-api"].ip_permissions()), expected);
    let services = aws
        .ecs
        .describe_services()
        .cluster("sums-dev-cluster")
        .services("sums-dev-service-api")
        .send()
        .await
        .unwrap();
    assert!(services.services()[0].load_balancers().is_empty());
    let groups = aws.elb.describe_target_groups().send().await.unwrap();
    let names: Vec<&str> = groups
        .target_groups()
        .iter()
        .filter_map(|g| g.target_group_name())
        .collect();
    // The client's blue/green pair and the empty group internal paths are sent to; the
    // private API has none.
    assert_eq!(
        names,
        [
            "sums-dev-tg-client",
            "sums-dev-tg-client-alt",
            "sums-dev-tg-internal"
        ]
    );
    let namespaces = aws.discovery.list_namespaces().send().await.unwrap();
    assert!(namespaces
        .namespaces()
        .iter()
        .any(|n| n.name() == Some("sums-dev.internal")));
}

#[tokio::test]
async fn voting_down_reports_what_it_could_not_remove() {
    let moto = Moto::start();
    moto.provision(&["--stack", "voting", "--yes", "up"]).ok();
    let down = moto.provision(&["--stack", "voting", "--yes", "--output", "json", "down"]);
    // moto never finishes deleting an ElastiCache replication group and has no
    // DeleteCacheSubnetGroup: `down` must say so and fail, naming exactly what is left.
    assert_eq!(down.code(), 1, "{}", down.stderr());
    let leftovers: BTreeSet<String> = down.json()["details"]["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert!(leftovers.contains("redis"), "{leftovers:?}");
    let allowed: BTreeSet<String> = [
        "redis",
        "redis-subnets",
        "subnet-private-a",
        "subnet-private-b",
        "vpc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(
        leftovers.is_subset(&allowed),
        "unexpected leftovers: {leftovers:?}"
    );
}

/// What `provision debug` runs: the debug task definition, its roles, its security group
/// (accepted by the data stores and nothing else), and `--image`'s temporary revision.
async fn check_debug_task(aws: &Aws, groups: &BTreeMap<String, SecurityGroup>) {
    let definition = aws
        .ecs
        .describe_task_definition()
        .task_definition("voting-dev-taskdef-debug")
        .send()
        .await
        .unwrap();
    let definition = definition.task_definition().unwrap();
    assert_eq!(
        (definition.cpu(), definition.memory()),
        (Some("256"), Some("512"))
    );
    assert!(definition
        .task_role_arn()
        .unwrap()
        .ends_with("/voting-dev-role-debug"));
    assert!(definition
        .execution_role_arn()
        .unwrap()
        .ends_with("/voting-dev-role-execution-debug"));
    let [container] = definition.container_definitions() else {
        panic!("one container: {definition:?}");
    };
    assert_eq!(container.name(), Some("debug"));
    assert!(
        container
            .image()
            .unwrap()
            .ends_with("/voting-dev-repo-debug:latest"),
        "{:?}",
        container.image()
    );
    assert_eq!(container.command(), ["sleep", "28800"]);
    assert_eq!(container.user(), Some("root"), "ping/traceroute need root");
    assert_eq!(
        container
            .linux_parameters()
            .and_then(|l| l.init_process_enabled()),
        Some(true)
    );
    assert!(container.port_mappings().is_empty() && container.health_check().is_none());
    let secrets: BTreeMap<&str, &str> = container
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert_eq!(
        secrets.keys().copied().collect::<Vec<_>>(),
        ["DATABASE_URL", "REDIS_URL"]
    );
    assert!(secrets["REDIS_URL"].contains(":secret:voting-dev-redis-url"));
    assert!(secrets["DATABASE_URL"].contains(":secret:voting-dev-database-url"));

    // The task role may only open ECS Exec channels.
    let document = common::role_policy(aws, "voting-dev-role-debug").await;
    for statement in document["Statement"].as_array().unwrap() {
        for action in statement["Action"].as_array().unwrap() {
            assert!(
                action.as_str().unwrap().starts_with("ssmmessages:"),
                "{statement}"
            );
        }
    }

    // sg-debug takes nothing in, and only the data stores accept it.
    let debug = &groups["sg-debug"];
    assert!(debug.ip_permissions().is_empty());
    assert!(!debug.ip_permissions_egress().is_empty());
    let debug_id = debug.group_id().unwrap();
    let accepting: BTreeSet<&str> = groups
        .iter()
        .filter(|(_, g)| {
            g.ip_permissions().iter().any(|p| {
                p.user_id_group_pairs()
                    .iter()
                    .any(|pair| pair.group_id() == Some(debug_id))
            })
        })
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(accepting, BTreeSet::from(["sg-postgres", "sg-redis"]));

    // `debug --image`: a temporary revision with only the image changed, then gone.
    let image = "public.ecr.aws/docker/library/alpine:3.20";
    let arn = provisioner::ops::debug::register_custom_image(aws, image)
        .await
        .unwrap();
    let custom = aws
        .ecs
        .describe_task_definition()
        .task_definition(&arn)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<&str, &str> = custom
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert_eq!(tags.get("slipway:id"), Some(&"taskdef-debug-image"));
    let custom = custom.task_definition().unwrap();
    assert_eq!(custom.family(), Some("voting-dev-taskdef-debug-image"));
    assert_eq!(custom.container_definitions()[0].image(), Some(image));
    assert_eq!(
        custom.container_definitions()[0].secrets(),
        container.secrets()
    );
    assert_eq!(custom.task_role_arn(), definition.task_role_arn());
    provisioner::ops::debug::discard_revision(aws, &arn)
        .await
        .unwrap();
    let active = aws
        .ecs
        .list_task_definitions()
        .family_prefix("voting-dev-taskdef-debug-image")
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert!(
        active.task_definition_arns().is_empty(),
        "{:?}",
        active.task_definition_arns()
    );
}

/// The request check's parser and validator, on requests botocore itself serializes:
/// missing required members, unknown members and enum values, lengths, ranges and
/// patterns are reported; what the models do not encode (EC2's characters in a
/// security group description, ELBv2's 32-character target group names) is asserted
/// to pass, so our own validation must hold those rules.
#[test]
fn request_check_self_test() {
    let out = std::process::Command::new(common::python3())
        .arg(common::request_check_script())
        .arg("--self-test")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("request_check self-test: ok"),
        "request_check.py --self-test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Invalid requests in each wire protocol the SDK speaks (query, JSON 1.1, CBOR) reach
/// the violation list that fails every moto test on drop.
#[tokio::test]
async fn request_check_reports_requests_aws_would_reject() {
    let moto = Moto::start();
    let aws = moto.aws("voting", "dev").await;
    let _ = aws
        .elb
        .create_target_group()
        .name("request-check")
        .health_check_interval_seconds(1)
        .send()
        .await;
    create_log_group_with_a_space(&aws).await;
    let _ = aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name("")
        .send()
        .await;
    let found: BTreeSet<[String; 4]> = moto
        .take_request_violations()
        .iter()
        .map(|v| {
            ["service", "operation", "path", "rule"]
                .map(|field| v[field].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let expected: BTreeSet<[String; 4]> = [
        [
            "elbv2",
            "CreateTargetGroup",
            "HealthCheckIntervalSeconds",
            "min",
        ],
        ["logs", "CreateLogGroup", "logGroupName", "pattern"],
        ["cloudwatch", "PutMetricAlarm", "AlarmName", "min-length"],
    ]
    .into_iter()
    .map(|row| row.map(String::from))
    .collect();
    assert_eq!(found, expected);
    // Taken: dropping the server now finds nothing more to report.
    moto.assert_requests_valid();
}

/// The check fails a test by itself: a `Moto` dropped after an invalid request panics.
#[tokio::test]
#[should_panic(expected = "request(s) sent to moto break botocore's service models")]
async fn a_moto_that_received_an_invalid_request_fails_the_test_on_drop() {
    let moto = Moto::start();
    let aws = moto.aws("voting", "dev").await;
    create_log_group_with_a_space(&aws).await;
}

/// CreateLogGroup with a name outside the model's pattern (`[\.\-_/#A-Za-z0-9]+`).
async fn create_log_group_with_a_space(aws: &Aws) {
    let _ = aws
        .logs
        .create_log_group()
        .log_group_name("no spaces allowed")
        .send()
        .await;
}

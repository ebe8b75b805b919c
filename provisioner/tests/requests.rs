//! The exact ECS requests for what moto drops (deploymentConfiguration,
//! enableExecuteCommand, Service Connect), checked with aws-smithy-mocks: the provisioner's
//! own create/update code runs against mocked ECS and ECR clients and the request it
//! sends is captured.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::operation::create_service::{CreateServiceInput, CreateServiceOutput};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::update_service::{UpdateServiceInput, UpdateServiceOutput};
use aws_sdk_ecs::types::{
    AssignPublicIp, ContainerDefinition, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentStrategy, LaunchType, PropagateTags, Service,
    TaskDefinition,
};
use aws_smithy_mocks::{mock, Rule, RuleMode};
use provisioner::aws::{self, Aws, Quiet, Resolved};
use provisioner::config::{repo_config_dir, StackConfig};
use provisioner::constructs::expand;
use provisioner::model::Resource;
use provisioner::plan::Attrs;
use provisioner::resources;

const NAMESPACE_ARN: &str = "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1";
const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/sums-dev-tg-client/1";

const REGION: &str = "us-east-1";

fn ecs_client(rules: &[&Rule]) -> aws_sdk_ecs::Client {
    common::mocks::client!(aws_sdk_ecs, REGION, rules.iter().copied())
}

/// ECR answering "no such image": the provisioner then skips waiting for tasks.
fn ecr_without_images() -> (aws_sdk_ecr::Client, Rule) {
    let rule = mock!(aws_sdk_ecr::Client::describe_images).then_error(|| {
        aws_sdk_ecr::operation::describe_images::DescribeImagesError::ImageNotFoundException(
            aws_sdk_ecr::types::error::ImageNotFoundException::builder()
                .message("not pushed yet")
                .meta(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("ImageNotFoundException")
                        .message("not pushed yet")
                        .build(),
                )
                .build(),
        )
    });
    let client = common::mocks::client!(aws_sdk_ecr, REGION, [&rule]);
    (client, rule)
}

fn mocked_aws(ecs: aws_sdk_ecs::Client, ecr: aws_sdk_ecr::Client) -> Aws {
    let mut aws = common::mocks::aws(REGION, "sums", "dev");
    aws.ecs = ecs;
    aws.ecr = ecr;
    aws
}

fn sums_resource(id: &str, desired: Option<i32>) -> Resource {
    let mut config = StackConfig::load(&repo_config_dir(), "sums", "dev").unwrap();
    if let Some(desired) = desired {
        config.services.get_mut("api").unwrap().desired = desired;
    }
    expand(&config).into_iter().find(|r| r.id == id).unwrap()
}

/// What the rest of the stack resolved to, as `up` would know it.
fn resolved() -> Resolved {
    let attrs = |pairs: &[(&str, &str)]| -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut all = BTreeMap::new();
    all.insert(
        "cluster".into(),
        attrs(&[
            ("name", "sums-dev-cluster"),
            ("arn", "arn:aws:ecs:us-east-1:1:cluster/sums-dev-cluster"),
        ]),
    );
    for service in ["api", "client"] {
        all.insert(
            format!("taskdef-{service}"),
            attrs(&[(
                "arn",
                &format!("arn:aws:ecs:us-east-1:1:task-definition/sums-dev-taskdef-{service}:1"),
            )]),
        );
        all.insert(
            format!("sg-{service}"),
            attrs(&[("id", &format!("sg-{service}0001"))]),
        );
    }
    all.insert("subnet-private-a".into(), attrs(&[("id", "subnet-pa")]));
    all.insert("subnet-private-b".into(), attrs(&[("id", "subnet-pb")]));
    all.insert("namespace".into(), attrs(&[("arn", NAMESPACE_ARN)]));
    all.insert("tg-client".into(), attrs(&[("arn", TG_ARN)]));
    Resolved::new(all)
}

fn describe_task_definition_rule() -> Rule {
    mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(|| {
        DescribeTaskDefinitionOutput::builder()
            .task_definition(
                TaskDefinition::builder()
                    .container_definitions(
                        ContainerDefinition::builder()
                            .image("1.dkr.ecr.us-east-1.amazonaws.com/sums-dev-repo-api:latest")
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

fn service_output(name: &str) -> Service {
    Service::builder()
        .service_name(name)
        .service_arn(format!(
            "arn:aws:ecs:us-east-1:1:service/sums-dev-cluster/{name}"
        ))
        .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/sums-dev-cluster")
        .build()
}

async fn create_request(id: &str) -> CreateServiceInput {
    let captured: Arc<Mutex<Option<CreateServiceInput>>> = Arc::default();
    let sink = captured.clone();
    let create = mock!(aws_sdk_ecs::Client::create_service)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        .then_output(|| {
            CreateServiceOutput::builder()
                .service(service_output("created"))
                .build()
        });
    let describe = describe_task_definition_rule();
    let (ecr, images) = ecr_without_images();
    let aws = mocked_aws(ecs_client(&[&create, &describe]), ecr);
    let attrs = resources::create(&aws, &sums_resource(id, None), &resolved(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        attrs["_cluster"],
        "arn:aws:ecs:us-east-1:1:cluster/sums-dev-cluster"
    );
    assert_eq!(create.num_calls(), 1);
    assert_eq!(
        images.num_calls(),
        1,
        "checks for the image before waiting on tasks"
    );
    let input = captured.lock().unwrap().take().unwrap();
    input
}

#[tokio::test]
async fn private_api_service_request_has_exec_circuit_breaker_and_service_connect() {
    let input = create_request("service-api").await;
    assert_eq!(input.cluster(), Some("sums-dev-cluster"));
    assert_eq!(input.service_name(), Some("sums-dev-service-api"));
    assert_eq!(input.launch_type(), Some(&LaunchType::Fargate));
    assert_eq!(input.desired_count(), Some(2));
    assert_eq!(input.enable_execute_command(), Some(true));
    assert_eq!(input.propagate_tags(), Some(&PropagateTags::Service));

    let deployment = input.deployment_configuration().unwrap();
    let breaker = deployment.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(deployment.minimum_healthy_percent(), Some(100));
    assert_eq!(deployment.maximum_percent(), Some(200));

    let network = input
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(network.assign_public_ip(), Some(&AssignPublicIp::Disabled));
    assert_eq!(network.subnets(), ["subnet-pa", "subnet-pb"]);
    assert_eq!(network.security_groups(), ["sg-api0001"]);

    let connect = input.service_connect_configuration().unwrap();
    assert!(connect.enabled());
    assert_eq!(connect.namespace(), Some(NAMESPACE_ARN));
    let server = &connect.services()[0];
    assert_eq!(server.port_name(), "api");
    assert_eq!(server.discovery_name(), Some("api"));
    let alias = &server.client_aliases()[0];
    assert_eq!((alias.port(), alias.dns_name()), (4567, Some("api")));

    assert!(
        input.load_balancers().is_empty(),
        "a private API has no load balancer"
    );
    let tags: BTreeMap<&str, &str> = input
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags["slipway:id"], "service-api");
    assert_eq!(tags["managed-by"], "slipway");
}

#[tokio::test]
async fn public_client_service_request_joins_the_mesh_as_a_client_behind_the_alb() {
    let input = create_request("service-client").await;
    let balancer = &input.load_balancers()[0];
    assert_eq!(balancer.target_group_arn(), Some(TG_ARN));
    assert_eq!(balancer.container_name(), Some("client"));
    assert_eq!(balancer.container_port(), Some(4567));
    assert_eq!(input.health_check_grace_period_seconds(), Some(60));
    assert_eq!(input.enable_execute_command(), Some(true));
    let connect = input.service_connect_configuration().unwrap();
    assert!(connect.enabled());
    assert!(
        connect.services().is_empty(),
        "the client only calls, it serves nothing in the mesh"
    );
}

/// What `resources::update` sent for the sums API service asked to run `desired` tasks, when the
/// count last applied from config (its `slipway:desired-count` tag) was `last_configured`.
struct ServiceUpdate {
    input: UpdateServiceInput,
    /// Tags written with ECS TagResource, in order.
    tagged: Vec<(String, String)>,
    tag_calls: usize,
}

async fn update_api_service(last_configured: &str, desired: i32) -> ServiceUpdate {
    update_live_api_service(last_configured, desired, None).await
}

/// Like `update_api_service`, with the deploymentConfiguration DescribeServices reports
/// for the live service (what the last release set).
async fn update_live_api_service(
    last_configured: &str,
    desired: i32,
    live: Option<DeploymentConfiguration>,
) -> ServiceUpdate {
    let live_service = mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
        let mut service = service_output("sums-dev-service-api");
        service.deployment_configuration = live.clone();
        aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder()
            .services(service)
            .build()
    });
    let captured: Arc<Mutex<Option<UpdateServiceInput>>> = Arc::default();
    let sink = captured.clone();
    let update = mock!(aws_sdk_ecs::Client::update_service)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        .then_output(|| {
            UpdateServiceOutput::builder()
                .service(service_output("sums-dev-service-api"))
                .build()
        });
    let tagged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let tag_sink = tagged.clone();
    let tag = mock!(aws_sdk_ecs::Client::tag_resource)
        .match_requests(move |input| {
            for t in input.tags() {
                tag_sink.lock().unwrap().push((
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ));
            }
            true
        })
        .then_output(|| aws_sdk_ecs::operation::tag_resource::TagResourceOutput::builder().build());
    let describe = describe_task_definition_rule();
    let (ecr, _) = ecr_without_images();
    let aws = mocked_aws(ecs_client(&[&update, &tag, &describe, &live_service]), ecr);
    let mut resolved = resolved();
    resolved.insert(
        "service-api",
        [
            ("name".to_string(), "sums-dev-service-api".to_string()),
            (
                "arn".to_string(),
                "arn:aws:ecs:us-east-1:1:service/sums-dev-cluster/sums-dev-service-api".to_string(),
            ),
            (
                "_configured_desired".to_string(),
                last_configured.to_string(),
            ),
            (
                "_cluster".to_string(),
                "arn:aws:ecs:us-east-1:1:cluster/sums-dev-cluster".to_string(),
            ),
        ]
        .into(),
    );
    resources::update(
        &aws,
        &sums_resource("service-api", Some(desired)),
        &resolved,
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(update.num_calls(), 1);
    let input = captured.lock().unwrap().take().unwrap();
    let tagged = tagged.lock().unwrap().clone();
    ServiceUpdate {
        input,
        tagged,
        tag_calls: tag.num_calls(),
    }
}

#[tokio::test]
async fn update_request_keeps_exec_and_circuit_breaker_when_desired_count_changes() {
    let ServiceUpdate {
        input,
        tagged,
        tag_calls,
    } = update_api_service("2", 3).await;
    assert_eq!(input.service(), Some("sums-dev-service-api"));
    assert_eq!(input.desired_count(), Some(3));
    assert_eq!(
        input.task_definition(),
        Some("arn:aws:ecs:us-east-1:1:task-definition/sums-dev-taskdef-api:1")
    );
    assert_eq!(input.enable_execute_command(), Some(true));
    let breaker = input
        .deployment_configuration()
        .and_then(|d| d.deployment_circuit_breaker())
        .unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert!(input.service_connect_configuration().unwrap().enabled());
    // The newly configured count is recorded for the next plan.
    assert_eq!(tag_calls, 1);
    assert_eq!(
        tagged,
        vec![("slipway:desired-count".to_owned(), "3".to_owned())]
    );
}

#[tokio::test]
async fn up_keeps_the_release_strategy_bake_time_and_alarms_a_deploy_set() {
    // After a blue/green `deploy`, the live service runs BLUE_GREEN with a bake time and
    // rollback alarms. UpdateService replaces the whole deploymentConfiguration: an `up`
    // that sent only the circuit breaker would make the service rolling again.
    let live = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .bake_time_in_minutes(10)
        .alarms(
            DeploymentAlarms::builder()
                .alarm_names("sums-dev-alarm-client-5xx")
                .enable(true)
                .rollback(true)
                .build()
                .unwrap(),
        )
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    let ServiceUpdate { input, .. } = update_live_api_service("2", 3, Some(live)).await;
    let sent = input.deployment_configuration().unwrap();
    assert_eq!(sent.strategy(), Some(&DeploymentStrategy::BlueGreen));
    assert_eq!(sent.bake_time_in_minutes(), Some(10));
    assert_eq!(
        sent.alarms().unwrap().alarm_names(),
        ["sums-dev-alarm-client-5xx"]
    );
    let breaker = sent.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());
}

#[tokio::test]
async fn update_request_leaves_an_autoscaled_count_alone_when_the_configured_one_is_unchanged() {
    // Last applied from config: 3, while autoscaling runs more tasks now.
    let ServiceUpdate {
        input, tag_calls, ..
    } = update_api_service("3", 3).await;
    assert_eq!(input.desired_count(), None, "the live count is not reset");
    assert_eq!(tag_calls, 0);
}

#[tokio::test]
async fn deletion_waits_while_aws_still_reports_the_resource_in_use() {
    let busy = mock!(aws_sdk_ecs::Client::delete_cluster).then_error(|| {
        aws_sdk_ecs::operation::delete_cluster::DeleteClusterError::ClusterContainsTasksException(
            aws_sdk_ecs::types::error::ClusterContainsTasksException::builder()
                .meta(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("ClusterContainsTasksException")
                        .message("tasks are still stopping")
                        .build(),
                )
                .build(),
        )
    });
    let done = mock!(aws_sdk_ecs::Client::delete_cluster).then_output(|| {
        aws_sdk_ecs::operation::delete_cluster::DeleteClusterOutput::builder().build()
    });
    let ecs = common::mocks::client!(aws_sdk_ecs, REGION, [&busy, &done], RuleMode::Sequential);
    let (ecr, _) = ecr_without_images();
    let aws = mocked_aws(ecs, ecr);
    let cluster = provisioner::plan::Observed {
        id: "cluster".into(),
        kind: provisioner::model::Kind::Cluster,
        spec: serde_json::json!({}),
        attrs: [("name".to_string(), "sums-dev-cluster".to_string())].into(),
    };
    resources::delete(&aws, &cluster, &aws::DeleteOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!((busy.num_calls(), done.num_calls()), (1, 1));
}

/// Runs the provisioner's Redis update from `current` to `spec` against a mocked
/// ElastiCache and returns the operations it called, in order.
async fn redis_update_calls(
    current: &[(&str, &str)],
    replicas: u8,
    node_type: &str,
) -> Vec<String> {
    use aws_sdk_elasticache::operation;
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = |name: &'static str| {
        let calls = calls.clone();
        move || calls.lock().unwrap().push(name.to_owned())
    };
    let (increase_log, modify_log, decrease_log) = (
        log("IncreaseReplicaCount"),
        log("ModifyReplicationGroup"),
        log("DecreaseReplicaCount"),
    );
    let increase = mock!(aws_sdk_elasticache::Client::increase_replica_count)
        .match_requests(move |input| {
            increase_log();
            input.new_replica_count() == Some(1) && input.apply_immediately() == Some(true)
        })
        .then_output(|| {
            operation::increase_replica_count::IncreaseReplicaCountOutput::builder().build()
        });
    let wanted_type = node_type.to_owned();
    let modify = mock!(aws_sdk_elasticache::Client::modify_replication_group)
        .match_requests(move |input| {
            modify_log();
            input.cache_node_type() == Some(wanted_type.as_str())
                && input.multi_az_enabled() == input.automatic_failover_enabled()
                && input.apply_immediately() == Some(true)
        })
        .then_output(|| {
            operation::modify_replication_group::ModifyReplicationGroupOutput::builder().build()
        });
    let decrease = mock!(aws_sdk_elasticache::Client::decrease_replica_count)
        .match_requests(move |input| {
            decrease_log();
            input.new_replica_count() == Some(0)
        })
        .then_output(|| {
            operation::decrease_replica_count::DecreaseReplicaCountOutput::builder().build()
        });
    let describe =
        mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
            operation::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    aws_sdk_elasticache::types::ReplicationGroup::builder()
                        .replication_group_id("sums-dev-redis")
                        .status("available")
                        .build(),
                )
                .build()
        });
    let (ecr, _) = ecr_without_images();
    let mut aws = mocked_aws(ecs_client(&[]), ecr);
    aws.elasticache = common::mocks::client!(
        aws_sdk_elasticache,
        REGION,
        [&increase, &modify, &decrease, &describe]
    );
    let mut config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
    let redis = config.redis.as_mut().unwrap();
    redis.replicas = replicas;
    redis.node_type = node_type.into();
    let resource = expand(&config)
        .into_iter()
        .find(|r| r.id == "redis")
        .unwrap();
    let mut resolved = Resolved::default();
    resolved.insert(
        "redis",
        current
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    resources::update(&aws, &resource, &resolved, &Quiet)
        .await
        .unwrap();
    let calls = calls.lock().unwrap().clone();
    calls
}

#[tokio::test]
async fn redis_gains_a_replica_before_multi_az_and_loses_it_after() {
    let dev = [
        ("name", "voting-dev-redis"),
        ("_replicas", "0"),
        ("_node_type", "cache.t4g.micro"),
        ("_multi_az", "disabled"),
    ];
    assert_eq!(
        redis_update_calls(&dev, 1, "cache.t4g.small").await,
        ["IncreaseReplicaCount", "ModifyReplicationGroup"]
    );
    let prod = [
        ("name", "voting-dev-redis"),
        ("_replicas", "1"),
        ("_node_type", "cache.t4g.small"),
        ("_multi_az", "enabled"),
    ];
    assert_eq!(
        redis_update_calls(&prod, 0, "cache.t4g.micro").await,
        ["ModifyReplicationGroup", "DecreaseReplicaCount"]
    );
}

/// Redis's teardown, request by request, where moto cannot show it: moto marks a deleted
/// replication group `deleting` for ever and has no DeleteCacheSubnetGroup (HTTP 500), so
/// `down` on moto always leaves both (tests/moto.rs, tests/init.rs). Here ElastiCache
/// answers as its API reference says: DeleteReplicationGroup with a final snapshot, the
/// group `deleting` for a while, then ReplicationGroupNotFoundFault once it is gone;
/// only then DeleteCacheSubnetGroup (AWS refuses to delete a subnet group a group still
/// uses: CacheSubnetGroupInUse).
#[tokio::test]
async fn redis_teardown_keeps_a_final_snapshot_waits_until_gone_then_deletes_its_subnet_group() {
    use aws_sdk_elasticache::operation;
    use aws_smithy_types::error::ErrorMetadata;
    let delete = mock!(aws_sdk_elasticache::Client::delete_replication_group)
        .match_requests(|input| {
            input.replication_group_id() == Some("voting-dev-redis")
                && input
                    .final_snapshot_identifier()
                    .is_some_and(|s| s.starts_with("voting-dev-redis-final-"))
        })
        .then_output(|| {
            operation::delete_replication_group::DeleteReplicationGroupOutput::builder().build()
        });
    let deleting = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
        .match_requests(|input| input.replication_group_id() == Some("voting-dev-redis"))
        .then_output(|| {
            operation::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    aws_sdk_elasticache::types::ReplicationGroup::builder()
                        .replication_group_id("voting-dev-redis")
                        .status("deleting")
                        .build(),
                )
                .build()
        });
    let gone = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
        .match_requests(|input| input.replication_group_id() == Some("voting-dev-redis"))
        .then_error(|| {
            operation::describe_replication_groups::DescribeReplicationGroupsError::ReplicationGroupNotFoundFault(
                aws_sdk_elasticache::types::error::ReplicationGroupNotFoundFault::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("ReplicationGroupNotFoundFault")
                            .message("ReplicationGroup voting-dev-redis not found.")
                            .build(),
                    )
                    .build(),
            )
        });
    let delete_subnets = mock!(aws_sdk_elasticache::Client::delete_cache_subnet_group)
        .match_requests(|input| input.cache_subnet_group_name() == Some("voting-dev-redis-subnets"))
        .then_output(|| {
            operation::delete_cache_subnet_group::DeleteCacheSubnetGroupOutput::builder().build()
        });
    let (ecr, _) = ecr_without_images();
    let mut aws = mocked_aws(ecs_client(&[]), ecr);
    aws.elasticache = common::mocks::client!(
        aws_sdk_elasticache,
        REGION,
        [&delete, &deleting, &gone, &delete_subnets],
        RuleMode::Sequential
    );
    let observed = |id: &str, kind, attrs: &[(&str, &str)]| provisioner::plan::Observed {
        id: id.into(),
        kind,
        spec: serde_json::json!({}),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let redis = observed(
        "redis",
        provisioner::model::Kind::ReplicationGroup,
        &[
            ("name", "voting-dev-redis"),
            ("_node_type", "cache.t4g.micro"),
        ],
    );
    let subnets = observed(
        "redis-subnets",
        provisioner::model::Kind::CacheSubnetGroup,
        &[("name", "voting-dev-redis-subnets")],
    );
    let options = aws::DeleteOptions::default();
    resources::delete(&aws, &redis, &options, &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (delete.num_calls(), deleting.num_calls(), gone.num_calls()),
        (1, 1, 1),
        "one delete, then describe until ReplicationGroupNotFoundFault"
    );
    resources::delete(&aws, &subnets, &options, &Quiet)
        .await
        .unwrap();
    assert_eq!(delete_subnets.num_calls(), 1);
}

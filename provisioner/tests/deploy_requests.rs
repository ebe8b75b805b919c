//! The exact `provision deploy` / `rollback` requests, checked with aws-smithy-mocks:
//! moto drops deploymentConfiguration (strategy, bake time, canary/linear, alarms) and the
//! load balancer's advancedConfiguration, and has no service-deployments API, so these
//! fields are only verifiable on the request.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::operation::register_task_definition::{
    RegisterTaskDefinitionInput, RegisterTaskDefinitionOutput,
};
use aws_sdk_ecs::operation::stop_service_deployment::{
    StopServiceDeploymentInput, StopServiceDeploymentOutput,
};
use aws_sdk_ecs::operation::update_service::{UpdateServiceInput, UpdateServiceOutput};
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, DeploymentStrategy, KeyValuePair, NetworkMode,
    StopServiceDeploymentStopType, Tag, TaskDefinition,
};
use aws_smithy_mocks::{mock, Rule, RuleMode};
use provisioner::aws::Aws;
use provisioner::deploy::strategy::live_strategy;
use provisioner::deploy::{
    release, BlueGreenTargets, DeployConfig, LiveService, Rollout, Strategy,
};
use provisioner::model::Kind;
use provisioner::plan::Observed;

fn mocked_aws(ecs_rules: &[&Rule], ecr_rules: &[&Rule]) -> Aws {
    let sdk = common::mocks::sdk_config("us-east-1");
    let mut aws = Aws::new(&sdk, "voting", "dev");
    aws.ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&sdk)
            .interceptor(interceptor(ecs_rules))
            .build(),
    );
    aws.ecr = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&sdk)
            .interceptor(interceptor(ecr_rules))
            .build(),
    );
    aws
}

fn interceptor(rules: &[&Rule]) -> aws_smithy_mocks::MockResponseInterceptor {
    common::mocks::interceptor(rules.iter().copied(), RuleMode::MatchAny)
}

const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/voting-dev-tg-vote/8f2c1a0b9d3e4f56";
const TG_ALT: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/voting-dev-tg-vote-alt/1a2b3c4d5e6f7081";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/voting-dev-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
const TEST_RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/voting-dev-alb/50dc6c495c0c9188/0467ef3c8400ae65/3b4c5d6e7f809a1b";
const ROLE: &str =
    "arn:aws:iam::123456789012:role/slipway/voting/dev/voting-dev-role-ecs-blue-green";

/// The resources `provision up` creates for vote's blue/green deployments, as observed
/// (logical ids from their tags, ARNs as AWS reports them); `serving` is the group the
/// production rule weights highest.
fn observed(serving: &str) -> Vec<Observed> {
    let resource = |id: &str, kind: Kind, arn: &str, spec: serde_json::Value| Observed {
        id: id.into(),
        kind,
        spec,
        attrs: [("arn".to_string(), arn.to_string())].into_iter().collect(),
    };
    let other = if serving == TG { TG_ALT } else { TG };
    let rule = serde_json::json!({"target_group": serving, "alternate_target_group": other});
    vec![
        resource("tg-vote", Kind::TargetGroup, TG, serde_json::json!({})),
        resource(
            "tg-vote-alt",
            Kind::TargetGroup,
            TG_ALT,
            serde_json::json!({}),
        ),
        resource("rule-vote", Kind::ListenerRule, RULE, rule.clone()),
        resource("rule-vote-test", Kind::ListenerRule, TEST_RULE, rule),
        resource(
            "role-ecs-blue-green",
            Kind::Role,
            ROLE,
            serde_json::json!({}),
        ),
    ]
}

fn targets() -> BlueGreenTargets {
    provisioner::deploy::blue_green_targets(&observed(TG), "vote")
        .expect("up created every blue/green resource")
}

/// Sends the UpdateService a deploy would send for `config` and returns the request.
async fn update_request(config: &str, load_balanced: bool) -> UpdateServiceInput {
    let config: DeployConfig = toml::from_str(config).unwrap();
    config.validate("vote", load_balanced).unwrap();
    let (rollout, warning) = Rollout::choose(
        &config,
        load_balanced,
        load_balanced.then(targets),
        "vote",
        8080,
    );
    assert_eq!(warning, None);
    send_update(&rollout).await
}

/// Sends the UpdateService a deploy sends for `rollout` and returns the request.
async fn send_update(rollout: &Rollout) -> UpdateServiceInput {
    let captured: Arc<Mutex<Option<UpdateServiceInput>>> = Arc::default();
    let sink = captured.clone();
    let update = mock!(aws_sdk_ecs::Client::update_service)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        .then_output(|| UpdateServiceOutput::builder().build());
    let aws = mocked_aws(&[&update], &[]);
    release::update_service_request(
        &aws,
        "voting-dev-cluster",
        "voting-dev-service-vote",
        "arn:aws:ecs:us-east-1:1:task-definition/voting-dev-taskdef-vote:8",
        rollout,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(update.num_calls(), 1);
    let input = captured.lock().unwrap().take().unwrap();
    input
}

/// What `up` created for vote's generated alarms, as `deploy` observes it.
fn observed_alarms(ids: &[&str]) -> Vec<provisioner::plan::Observed> {
    ids.iter()
        .map(|id| provisioner::plan::Observed {
            id: id.to_string(),
            kind: provisioner::model::Kind::Alarm,
            spec: serde_json::Value::Null,
            attrs: [("name".to_string(), format!("voting-dev-{id}"))].into(),
        })
        .collect()
}

#[tokio::test]
async fn blue_green_request_has_bake_time_alarms_and_advanced_configuration() {
    // The configured alarm plus the three `up` generated for vote (5xx rate, p95,
    // unhealthy hosts); the worker's CPU alarm is not vote's.
    let mut stack = provisioner::config::StackConfig::load(
        &provisioner::config::repo_config_dir(),
        "voting",
        "dev",
    )
    .unwrap();
    stack.services.get_mut("vote").unwrap().deploy = toml::from_str(
        r#"
        strategy = "blue_green"
        bake_minutes = 15
        alarms = ["voting-dev-custom"]
        "#,
    )
    .unwrap();
    let observed = observed_alarms(&[
        "alarm-vote-5xx",
        "alarm-vote-p95",
        "alarm-vote-unhealthy",
        "alarm-worker-cpu",
    ]);
    let config = provisioner::deploy::with_generated_alarms(&stack, "vote", &observed);
    let (rollout, warning) = Rollout::choose(&config, true, Some(targets()), "vote", 8080);
    assert_eq!(warning, None);
    let input = send_update(&rollout).await;
    assert_eq!(input.cluster(), Some("voting-dev-cluster"));
    assert_eq!(input.service(), Some("voting-dev-service-vote"));
    assert_eq!(
        input.task_definition(),
        Some("arn:aws:ecs:us-east-1:1:task-definition/voting-dev-taskdef-vote:8")
    );
    let deployment = input.deployment_configuration().unwrap();
    assert_eq!(deployment.strategy(), Some(&DeploymentStrategy::BlueGreen));
    assert_eq!(deployment.bake_time_in_minutes(), Some(15));
    assert!(deployment.canary_configuration().is_none());
    assert!(deployment.linear_configuration().is_none());
    let alarms = deployment.alarms().unwrap();
    assert!(alarms.enable() && alarms.rollback());
    assert_eq!(
        alarms.alarm_names(),
        [
            "voting-dev-custom",
            "voting-dev-alarm-vote-5xx",
            "voting-dev-alarm-vote-p95",
            "voting-dev-alarm-vote-unhealthy"
        ]
    );
    let breaker = deployment.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());

    let [lb] = input.load_balancers() else {
        panic!("one load balancer block: {:?}", input.load_balancers());
    };
    assert_eq!(lb.target_group_arn(), Some(TG));
    assert_eq!(lb.container_name(), Some("vote"));
    assert_eq!(lb.container_port(), Some(8080));
    let advanced = lb.advanced_configuration().unwrap();
    assert_eq!(advanced.alternate_target_group_arn(), Some(TG_ALT));
    assert_eq!(advanced.production_listener_rule(), Some(RULE));
    assert_eq!(advanced.test_listener_rule(), Some(TEST_RULE));
    assert_eq!(advanced.role_arn(), Some(ROLE));
}

#[tokio::test]
async fn the_first_blue_green_release_of_a_rolling_service_is_a_rolling_one_with_advanced_configuration(
) {
    // ECS's migration path from rolling to blue/green: a completed rolling deployment that
    // carries the load balancer's advancedConfiguration first, then the strategy switch.
    let config: DeployConfig = toml::from_str("strategy = \"blue_green\"").unwrap();
    let (wanted, _) = Rollout::choose(&config, true, Some(targets()), "vote", 8080);
    let rolling = LiveService {
        strategy: Strategy::Rolling,
        advanced_configuration: false,
        unfinished_deployments: 1,
    };
    let (rollout, note) = wanted.clone().from_live(&rolling);
    assert_eq!(rollout.strategy, Strategy::Rolling);
    assert!(note
        .unwrap()
        .contains("the first `deploy` after it has finished is blue/green"));
    let input = send_update(&rollout).await;
    let deployment = input.deployment_configuration().unwrap();
    assert_eq!(deployment.strategy(), Some(&DeploymentStrategy::Rolling));
    assert_eq!(deployment.bake_time_in_minutes(), None);
    let [lb] = input.load_balancers() else {
        panic!("one load balancer block: {:?}", input.load_balancers());
    };
    let advanced = lb.advanced_configuration().unwrap();
    assert_eq!(advanced.alternate_target_group_arn(), Some(TG_ALT));
    assert_eq!(advanced.production_listener_rule(), Some(RULE));
    assert_eq!(advanced.role_arn(), Some(ROLE));

    // That rolling deployment still running: the next release rolls too.
    let migrating = LiveService {
        advanced_configuration: true,
        ..rolling
    };
    let (rollout, note) = wanted.clone().from_live(&migrating);
    assert_eq!(rollout.strategy, Strategy::Rolling);
    assert!(note.unwrap().contains("has not finished"));
    // Finished: now the strategy switches.
    let migrated = LiveService {
        unfinished_deployments: 0,
        ..migrating
    };
    let (rollout, note) = wanted.clone().from_live(&migrated);
    assert_eq!((rollout.strategy, note), (Strategy::BlueGreen, None));
    // A blue/green service stays blue/green, whatever is in flight.
    let blue_green = LiveService {
        strategy: Strategy::BlueGreen,
        ..rolling
    };
    let (rollout, note) = wanted.from_live(&blue_green);
    assert_eq!((rollout.strategy, note), (Strategy::BlueGreen, None));
    // Canary from a blue/green service needs no migration either.
    let canary: DeployConfig = toml::from_str("strategy = \"canary\"").unwrap();
    let (wanted, _) = Rollout::choose(&canary, true, Some(targets()), "vote", 8080);
    assert_eq!(wanted.from_live(&blue_green).0.strategy, Strategy::Canary);
    assert_eq!(live_strategy(None), Strategy::Rolling);
    assert_eq!(
        live_strategy(Some(&DeploymentStrategy::Linear)),
        Strategy::Linear
    );
}

#[test]
fn after_a_deployment_the_next_one_starts_in_the_group_that_went_idle() {
    // The previous deployment moved production to tg-vote-alt: the next one names that
    // group as the service's and starts the new revision in tg-vote.
    let swapped = provisioner::deploy::blue_green_targets(&observed(TG_ALT), "vote").unwrap();
    let (rollout, warning) =
        Rollout::choose(&DeployConfig::default(), true, Some(swapped), "vote", 8080);
    assert_eq!(warning, None);
    let lb = rollout.load_balancer().unwrap();
    assert_eq!(lb.target_group_arn(), Some(TG_ALT));
    let advanced = lb.advanced_configuration().unwrap();
    assert_eq!(advanced.alternate_target_group_arn(), Some(TG));
    assert_eq!(advanced.production_listener_rule(), Some(RULE));
}

#[tokio::test]
async fn canary_request_has_percentage_and_interval() {
    let input = update_request(
        "strategy = \"canary\"\ncanary_percent = 20.0\ncanary_bake_minutes = 7",
        true,
    )
    .await;
    let deployment = input.deployment_configuration().unwrap();
    assert_eq!(deployment.strategy(), Some(&DeploymentStrategy::Canary));
    assert_eq!(deployment.bake_time_in_minutes(), Some(5), "default bake");
    let canary = deployment.canary_configuration().unwrap();
    assert_eq!(canary.canary_percent(), Some(20.0));
    assert_eq!(canary.canary_bake_time_in_minutes(), Some(7));
    assert!(deployment.alarms().is_none(), "no alarms configured");
    assert!(input.load_balancers()[0].advanced_configuration().is_some());
}

#[tokio::test]
async fn linear_request_has_step_and_interval() {
    let input = update_request(
        "strategy = \"linear\"\nlinear_step_percent = 20.0\nlinear_step_bake_minutes = 2\nbake_minutes = 10",
        true,
    )
    .await;
    let deployment = input.deployment_configuration().unwrap();
    assert_eq!(deployment.strategy(), Some(&DeploymentStrategy::Linear));
    assert_eq!(deployment.bake_time_in_minutes(), Some(10));
    let linear = deployment.linear_configuration().unwrap();
    assert_eq!(linear.step_percent(), Some(20.0));
    assert_eq!(linear.step_bake_time_in_minutes(), Some(2));
}

#[tokio::test]
async fn generated_alarms_not_created_yet_are_not_attached() {
    let stack = provisioner::config::StackConfig::load(
        &provisioner::config::repo_config_dir(),
        "voting",
        "dev",
    )
    .unwrap();
    // Before `up` created them (an older stack), ECS would reject unknown alarm names.
    let config = provisioner::deploy::with_generated_alarms(
        &stack,
        "vote",
        &observed_alarms(&["alarm-vote-p95"]),
    );
    assert_eq!(config.alarms, ["voting-dev-alarm-vote-p95"]);
    let config = provisioner::deploy::with_generated_alarms(
        &stack,
        "worker",
        &observed_alarms(&["alarm-vote-p95"]),
    );
    assert!(config.alarms.is_empty());
}

#[tokio::test]
async fn services_without_a_load_balancer_roll_with_the_circuit_breaker() {
    let input = update_request("alarms = [\"voting-dev-worker-restarts\"]", false).await;
    let deployment = input.deployment_configuration().unwrap();
    assert_eq!(deployment.strategy(), Some(&DeploymentStrategy::Rolling));
    assert_eq!(deployment.bake_time_in_minutes(), None);
    let breaker = deployment.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(
        (
            deployment.minimum_healthy_percent(),
            deployment.maximum_percent()
        ),
        (Some(100), Some(200))
    );
    assert_eq!(
        deployment.alarms().unwrap().alarm_names(),
        ["voting-dev-worker-restarts"]
    );
    assert!(
        input.load_balancers().is_empty(),
        "the service keeps its load balancer settings"
    );
}

fn running_definition() -> TaskDefinition {
    let container = |name: &str, image: &str| {
        ContainerDefinition::builder()
            .name(name)
            .image(image)
            .essential(name == "vote")
            .environment(
                KeyValuePair::builder()
                    .name("OPTION_A")
                    .value("Cats")
                    .build(),
            )
            .readonly_root_filesystem(true)
            .user("10001")
            .build()
    };
    TaskDefinition::builder()
        .task_definition_arn("arn:aws:ecs:us-east-1:1:task-definition/voting-dev-taskdef-vote:7")
        .family("voting-dev-taskdef-vote")
        .revision(7)
        .task_role_arn("arn:role/task")
        .execution_role_arn("arn:role/execution")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container(
            "vote",
            "1.dkr.ecr.us-east-1.amazonaws.com/voting-dev-repo-vote:abc123",
        ))
        .container_definitions(container("sidecar", "public.ecr.aws/x/sidecar:1"))
        .build()
}

#[tokio::test]
async fn a_new_revision_differs_from_the_running_one_only_in_the_image() {
    let captured: Arc<Mutex<Option<RegisterTaskDefinitionInput>>> = Arc::default();
    let sink = captured.clone();
    let register = mock!(aws_sdk_ecs::Client::register_task_definition)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        .then_output(|| RegisterTaskDefinitionOutput::builder().build());
    let aws = mocked_aws(&[&register], &[]);
    let definition = running_definition();
    let tags = vec![Tag::builder()
        .key("slipway:id")
        .value("taskdef-vote")
        .build()];
    let image = release::image_with_tag(&definition, "vote", "def456").unwrap();
    assert_eq!(
        image,
        "1.dkr.ecr.us-east-1.amazonaws.com/voting-dev-repo-vote:def456"
    );
    release::register_revision_request(&aws, &definition, &tags, "vote", &image)
        .send()
        .await
        .unwrap();
    let input = captured.lock().unwrap().take().unwrap();
    assert_eq!(input.family(), Some("voting-dev-taskdef-vote"));
    assert_eq!(input.task_role_arn(), Some("arn:role/task"));
    assert_eq!(input.execution_role_arn(), Some("arn:role/execution"));
    assert_eq!(input.network_mode(), Some(&NetworkMode::Awsvpc));
    assert_eq!(input.requires_compatibilities(), [Compatibility::Fargate]);
    assert_eq!((input.cpu(), input.memory()), (Some("256"), Some("512")));
    assert_eq!(input.tags(), tags.as_slice());
    // Every container field equal to the running revision's, except vote's image.
    let mut expected = definition.container_definitions().to_vec();
    expected[0].image = Some(image);
    assert_eq!(input.container_definitions(), expected.as_slice());
    assert_eq!(
        input.container_definitions()[1].image(),
        Some("public.ecr.aws/x/sidecar:1")
    );
}

#[tokio::test]
async fn a_missing_image_is_an_error_naming_repository_and_tag() {
    let missing = mock!(aws_sdk_ecr::Client::describe_images)
        .match_requests(|input| {
            input.repository_name() == Some("voting-dev-repo-vote")
                && input.image_ids()[0].image_tag() == Some("nope")
        })
        .then_error(|| {
            aws_sdk_ecr::operation::describe_images::DescribeImagesError::ImageNotFoundException(
                aws_sdk_ecr::types::error::ImageNotFoundException::builder()
                    .message("not found")
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("ImageNotFoundException")
                            .message("not found")
                            .build(),
                    )
                    .build(),
            )
        });
    let present = mock!(aws_sdk_ecr::Client::describe_images)
        .match_requests(|input| input.image_ids()[0].image_tag() == Some("abc123"))
        .then_output(|| {
            aws_sdk_ecr::operation::describe_images::DescribeImagesOutput::builder()
                .image_details(
                    aws_sdk_ecr::types::ImageDetail::builder()
                        .image_tags("abc123")
                        .build(),
                )
                .build()
        });
    let aws = mocked_aws(&[], &[&missing, &present]);
    let err = release::check_image(&aws, "voting-dev-repo-vote", "nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("image tag nope is not in ECR repository voting-dev-repo-vote"),
        "{err}"
    );
    release::check_image(&aws, "voting-dev-repo-vote", "abc123")
        .await
        .unwrap();
    assert_eq!((missing.num_calls(), present.num_calls()), (1, 1));
}

#[tokio::test]
async fn rollback_of_an_in_flight_deployment_stops_it_with_rollback() {
    let captured: Arc<Mutex<Option<StopServiceDeploymentInput>>> = Arc::default();
    let sink = captured.clone();
    let stop = mock!(aws_sdk_ecs::Client::stop_service_deployment)
        .match_requests(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            true
        })
        .then_output(|| StopServiceDeploymentOutput::builder().build());
    let listed = mock!(aws_sdk_ecs::Client::list_service_deployments)
        .match_requests(|input| {
            input.service() == Some("voting-dev-service-vote")
                && input.status().len() == 2
                && input.created_at().and_then(|c| c.after())
                    == Some(&aws_smithy_types::DateTime::from_secs(150))
        })
        .then_output(|| {
            aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput::builder(
            )
            .service_deployments(
                aws_sdk_ecs::types::ServiceDeploymentBrief::builder()
                    .service_deployment_arn("arn:deployment/old")
                    .created_at(aws_smithy_types::DateTime::from_secs(100))
                    .build(),
            )
            .service_deployments(
                aws_sdk_ecs::types::ServiceDeploymentBrief::builder()
                    .service_deployment_arn("arn:deployment/new")
                    .created_at(aws_smithy_types::DateTime::from_secs(200))
                    .build(),
            )
            .build()
        });
    let aws = mocked_aws(&[&stop, &listed], &[]);
    let in_flight = release::in_flight_deployment(
        &aws,
        "voting-dev-cluster",
        "voting-dev-service-vote",
        Some(aws_smithy_types::DateTime::from_secs(150)),
    )
    .await
    .unwrap();
    assert_eq!(in_flight.as_deref(), Some("arn:deployment/new"));
    release::stop_deployment_request(&aws, "arn:deployment/new")
        .send()
        .await
        .unwrap();
    let input = captured.lock().unwrap().take().unwrap();
    assert_eq!(input.service_deployment_arn(), Some("arn:deployment/new"));
    assert_eq!(
        input.stop_type(),
        Some(&StopServiceDeploymentStopType::Rollback)
    );
}

//! Listings longer than one page, against moto where moto pages like AWS: load balancers
//! and listener rules (moto answers 50 a page when no PageSize is sent), and scaling
//! policies (moto pages DescribeScalingPolicies when MaxResults is sent; AWS's maximum
//! and default page is 10). Each test puts the stack's own resource after a full first
//! page of someone else's, then observes. moto's EC2 never pages: the EC2 listings are
//! covered with aws-smithy-mocks in `src/resources/ec2_common.rs` (scaling policies there too, in
//! `src/resources/scaling_policy.rs`, for a request that sends no page size).

mod common;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum, RuleCondition, Tag,
};
use common::Moto;
use provisioner::aws::Aws;

/// The ownership tags `up` puts on `id`, for ELB.
fn elb_tags(aws: &Aws, id: &str) -> Vec<Tag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A VPC with two subnets in different zones, as a load balancer needs.
async fn subnets(aws: &Aws) -> (String, Vec<String>) {
    let vpc = aws
        .ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    for (cidr, zone) in [("10.9.1.0/24", "us-east-1a"), ("10.9.2.0/24", "us-east-1b")] {
        let subnet = aws
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        ids.push(subnet.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    (vpc, ids)
}

#[tokio::test]
async fn observe_finds_the_load_balancer_and_rule_past_the_first_page() {
    let moto = Moto::start();
    let aws = moto.aws("voting", "dev").await;
    let (vpc, subnets) = subnets(&aws).await;
    // A full first page of other load balancers, then the stack's.
    for i in 0..50 {
        aws.elb
            .create_load_balancer()
            .name(format!("other-{i}"))
            .set_subnets(Some(subnets.clone()))
            .send()
            .await
            .unwrap();
    }
    let alb = aws
        .elb
        .create_load_balancer()
        .name("voting-dev-alb")
        .set_subnets(Some(subnets.clone()))
        .set_tags(Some(elb_tags(&aws, "alb")))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    let target_group = aws
        .elb
        .create_target_group()
        .name("voting-dev-tg-vote")
        .vpc_id(&vpc)
        .port(8080)
        .protocol(ProtocolEnum::Http)
        .set_tags(Some(elb_tags(&aws, "tg-vote")))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    let listener = aws
        .elb
        .create_listener()
        .load_balancer_arn(&alb)
        .port(80)
        .protocol(ProtocolEnum::Http)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build(),
        )
        .set_tags(Some(elb_tags(&aws, "listener-http")))
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_owned();
    let forward = || {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(&target_group)
            .build()
    };
    let path = |pattern: &str| {
        RuleCondition::builder()
            .field("path-pattern")
            .values(pattern)
            .build()
    };
    // A full first page of other rules on the listener, then the stack's.
    for priority in 1..=50 {
        aws.elb
            .create_rule()
            .listener_arn(&listener)
            .priority(priority)
            .conditions(path(&format!("/other-{priority}")))
            .actions(forward())
            .send()
            .await
            .unwrap();
    }
    aws.elb
        .create_rule()
        .listener_arn(&listener)
        .priority(50000)
        .conditions(path("/*"))
        .actions(forward())
        .set_tags(Some(elb_tags(&aws, "rule-vote")))
        .send()
        .await
        .unwrap();

    // moto does page both listings: without paging, the stack's would be missed.
    let first = aws.elb.describe_load_balancers().send().await.unwrap();
    assert!(first.next_marker().is_some());
    assert!(first
        .load_balancers()
        .iter()
        .all(|lb| lb.load_balancer_name() != Some("voting-dev-alb")));
    let rules = aws
        .elb
        .describe_rules()
        .listener_arn(&listener)
        .send()
        .await
        .unwrap();
    assert!(rules.next_marker().is_some());

    let observed = provisioner::resources::observe(&aws).await.unwrap();
    let ids: Vec<&str> = observed.iter().map(|o| o.id.as_str()).collect();
    for id in ["alb", "listener-http", "rule-vote", "tg-vote"] {
        assert!(ids.contains(&id), "{id} not observed: {ids:?}");
    }
    let rule = observed.iter().find(|o| o.id == "rule-vote").unwrap();
    assert_eq!(rule.spec["priority"], 50000);
}

#[tokio::test]
async fn observe_and_deploy_find_the_scaling_policy_past_the_first_page() {
    let moto = Moto::start();
    let aws = moto.aws("voting", "dev").await;
    // moto registers a scalable target only for an existing ECS service.
    aws.ecs
        .create_cluster()
        .cluster_name("voting-dev-cluster")
        .send()
        .await
        .unwrap();
    aws.ecs
        .register_task_definition()
        .family("voting-dev-taskdef-vote")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("vote")
                .image("vote:1")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.ecs
        .create_service()
        .cluster("voting-dev-cluster")
        .service_name("voting-dev-service-vote")
        .task_definition("voting-dev-taskdef-vote")
        .desired_count(1)
        .send()
        .await
        .unwrap();
    let resource = "service/voting-dev-cluster/voting-dev-service-vote";
    let dimension = ScalableDimension::EcsServiceDesiredCount;
    aws.autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource)
        .scalable_dimension(dimension.clone())
        .min_capacity(1)
        .max_capacity(4)
        .send()
        .await
        .unwrap();
    let put = |name: String, metric: PredefinedMetricSpecification| {
        aws.autoscaling
            .put_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource)
            .scalable_dimension(dimension.clone())
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(500.0)
                    .predefined_metric_specification(metric)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    // A full page (10, AWS's maximum) of other policies on the service, then the stack's.
    for i in 0..10 {
        put(
            format!("other-{i}"),
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    }
    let serving = "app/voting-dev-alb/1/targetgroup/voting-dev-tg-vote/2";
    let requests = |label: &str| {
        PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::AlbRequestCountPerTarget)
            .resource_label(label)
            .build()
            .unwrap()
    };
    put(
        "voting-dev-scaling-vote-requests".to_owned(),
        requests(serving),
    )
    .await
    .unwrap();

    // moto pages at AWS's page size: the stack's policy is on page 2.
    let first = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .max_results(10)
        .send()
        .await
        .unwrap();
    assert!(first.next_token().is_some());
    assert!(first
        .scaling_policies()
        .iter()
        .all(|p| p.policy_name() != "voting-dev-scaling-vote-requests"));

    let observed = provisioner::resources::observe(&aws).await.unwrap();
    let policy = observed
        .iter()
        .find(|o| o.id == "scaling-vote-requests")
        .expect("the policy on page 2 is observed");
    assert_eq!(policy.attrs["_resource_label"], serving);

    // What `deploy` does after a blue/green swap: re-point it, keeping its target value.
    let now_serving = "app/voting-dev-alb/1/targetgroup/voting-dev-tg-vote-alt/3";
    assert!(provisioner::resources::repoint_requests_policy(
        &aws,
        "scaling-vote-requests",
        &policy.attrs,
        now_serving
    )
    .await
    .unwrap());
    let policies = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .page_size(10)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let tracking = policies
        .iter()
        .find(|p| p.policy_name() == "voting-dev-scaling-vote-requests")
        .and_then(|p| p.target_tracking_scaling_policy_configuration())
        .unwrap();
    assert_eq!(
        tracking
            .predefined_metric_specification()
            .and_then(|m| m.resource_label()),
        Some(now_serving)
    );
    assert_eq!(tracking.target_value(), 500.0);
    // The other policies are untouched, none added.
    assert_eq!(policies.len(), 11);
}

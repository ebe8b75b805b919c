//! The deployment watcher's reading of DescribeServiceDeployments as it comes over the
//! wire: moto has no service-deployments API, and the other request tests hand the code
//! SDK-built structs, which skip the SDK's deserializer. Here a JSON body written after
//! the response syntax of the ECS API reference (field names, epoch-seconds timestamps,
//! enum spellings) goes through the real deserializer into `release::observe`.

mod common;

use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsInput;
use aws_smithy_mocks::{mock, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use provisioner::aws::Aws;
use provisioner::deploy::release;

const DEPLOYMENT_ARN: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/voting-dev-cluster/voting-dev-service-vote/Bq4Z2M3oSsnHnuXvZeUu1";

/// A canary deployment shifting production traffic, as ECS reports it.
const SHIFTING: &str = r#"{
  "failures": [],
  "serviceDeployments": [{
    "serviceDeploymentArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/voting-dev-cluster/voting-dev-service-vote/Bq4Z2M3oSsnHnuXvZeUu1",
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/voting-dev-cluster/voting-dev-service-vote",
    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/voting-dev-cluster",
    "createdAt": 1.763712000123E9,
    "startedAt": 1763712001.5,
    "updatedAt": 1763712090,
    "sourceServiceRevisions": [{
      "arn": "arn:aws:ecs:us-east-1:123456789012:service-revision/voting-dev-cluster/voting-dev-service-vote/1111",
      "requestedTaskCount": 2, "runningTaskCount": 2, "pendingTaskCount": 0,
      "requestedTestTrafficWeight": 0.0, "requestedProductionTrafficWeight": 90.0
    }],
    "targetServiceRevision": {
      "arn": "arn:aws:ecs:us-east-1:123456789012:service-revision/voting-dev-cluster/voting-dev-service-vote/2222",
      "requestedTaskCount": 2, "runningTaskCount": 1, "pendingTaskCount": 1,
      "requestedTestTrafficWeight": 100.0, "requestedProductionTrafficWeight": 10.0
    },
    "status": "IN_PROGRESS",
    "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT",
    "deploymentConfiguration": {
      "strategy": "CANARY", "bakeTimeInMinutes": 5,
      "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5},
      "deploymentCircuitBreaker": {"enable": true, "rollback": true},
      "alarms": {"alarmNames": ["voting-dev-vote-5xx"], "enable": true, "rollback": true},
      "maximumPercent": 200, "minimumHealthyPercent": 100
    },
    "deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 0, "threshold": 3},
    "alarms": {"status": "MONITORING", "alarmNames": ["voting-dev-vote-5xx"], "triggeredAlarmNames": []}
  }]
}"#;

/// The same deployment after an alarm fired and ECS rolled it back.
const ROLLED_BACK: &str = r#"{
  "serviceDeployments": [{
    "serviceDeploymentArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/voting-dev-cluster/voting-dev-service-vote/Bq4Z2M3oSsnHnuXvZeUu1",
    "status": "ROLLBACK_SUCCESSFUL",
    "statusReason": "Service deployment rolled back because of alarms.",
    "lifecycleStage": "CLEAN_UP",
    "finishedAt": 1763712400,
    "rollback": {
      "reason": "Alarm voting-dev-vote-5xx in ALARM state.",
      "startedAt": 1763712300,
      "serviceRevisionArn": "arn:aws:ecs:us-east-1:123456789012:service-revision/voting-dev-cluster/voting-dev-service-vote/1111"
    },
    "targetServiceRevision": {
      "arn": "arn:aws:ecs:us-east-1:123456789012:service-revision/voting-dev-cluster/voting-dev-service-vote/2222",
      "requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0
    },
    "alarms": {"status": "TRIGGERED", "alarmNames": ["voting-dev-vote-5xx"], "triggeredAlarmNames": ["voting-dev-vote-5xx"]}
  }]
}"#;

fn aws_answering(body: &'static str) -> Aws {
    let rule = mock!(aws_sdk_ecs::Client::describe_service_deployments)
        .match_requests(|input: &DescribeServiceDeploymentsInput| {
            input.service_deployment_arns() == [DEPLOYMENT_ARN]
        })
        .then_http_response(move || {
            Response::new(
                StatusCode::try_from(200).expect("200 is a status"),
                SdkBody::from(body),
            )
        });
    let sdk = common::mocks::sdk_config("us-east-1");
    let mut aws = Aws::new(&sdk, "voting", "dev");
    aws.ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&sdk)
            .interceptor(common::mocks::interceptor([&rule], RuleMode::MatchAny))
            .build(),
    );
    aws
}

/// What the watcher makes of the deployment when ECS answers `body`.
async fn observe_answer(body: &'static str) -> provisioner::deploy::watch::Observation {
    release::observe(
        &aws_answering(body),
        "voting-dev-cluster",
        "voting-dev-service-vote",
        Some(DEPLOYMENT_ARN),
        "arn:aws:ecs:us-east-1:123456789012:task-definition/voting-dev-taskdef-vote:2",
    )
    .await
    .expect("the documented response shape parses")
}

#[tokio::test]
async fn a_shifting_canary_reads_as_stage_traffic_and_new_tasks() {
    let seen = observe_answer(SHIFTING).await;
    assert_eq!(seen.status, "IN_PROGRESS");
    assert_eq!(seen.stage.as_deref(), Some("PRODUCTION_TRAFFIC_SHIFT"));
    assert_eq!((seen.running, seen.pending, seen.desired), (1, 1, 2));
    assert_eq!(seen.production_traffic_percent, Some(10.0));
    assert_eq!(seen.reason, None);
}

#[tokio::test]
async fn an_alarm_rollback_reads_with_the_reason_ecs_gave() {
    let seen = observe_answer(ROLLED_BACK).await;
    assert_eq!(seen.status, "ROLLBACK_SUCCESSFUL");
    assert_eq!(seen.stage.as_deref(), Some("CLEAN_UP"));
    assert_eq!(
        seen.reason.as_deref(),
        Some("Alarm voting-dev-vote-5xx in ALARM state.")
    );
    assert_eq!(seen.production_traffic_percent, None);
}

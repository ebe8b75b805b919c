//! The AWS side of a release: image check, new task definition revision, the service
//! update, deployment observation, and what rollback needs (in-flight deployment,
//! previous revision). Request builders are public for request-shape tests.

use anyhow::{bail, Context, Result};
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::operation::stop_service_deployment::builders::StopServiceDeploymentFluentBuilder;
use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;
use aws_sdk_ecs::types::{
    ServiceDeploymentStatus, SortOrder, StopServiceDeploymentStopType, Tag, TaskDefinition,
    TaskDefinitionField,
};

use super::strategy::Rollout;
use super::watch::Observation;
use crate::aws::{call_error, Aws};
use crate::resources::ImageTag;

/// `registry/repo:tag` or `registry/repo@sha256:…` → (`registry/repo`, repository name).
pub fn split_image(image: &str) -> (&str, &str) {
    let without_digest = image.split_once('@').map_or(image, |(uri, _)| uri);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let uri = match without_digest[last_slash..].rfind(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    };
    let repository = uri.split_once('/').map_or(uri, |(_, name)| name);
    (uri, repository)
}

/// Fails with the repository and tag named when the image is not in ECR.
pub async fn check_image(aws: &Aws, repository: &str, tag: &str) -> Result<()> {
    match crate::resources::image_tag(aws, repository, tag).await? {
        ImageTag::Present => Ok(()),
        ImageTag::NoRepository => {
            bail!("ECR repository {repository} does not exist: run `provision up` first")
        }
        ImageTag::Missing => bail!(
            "image tag {tag} is not in ECR repository {repository}: push it first \
             (CI pushes every commit as its SHA), or pick a tag that exists"
        ),
    }
}

/// The task definition a service runs, with its tags.
pub async fn current_definition(aws: &Aws, arn: &str) -> Result<(TaskDefinition, Vec<Tag>)> {
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| call_error(arn, "DescribeTaskDefinition", e))?;
    let definition = out
        .task_definition()
        .cloned()
        .with_context(|| format!("{arn}: DescribeTaskDefinition returned no definition"))?;
    Ok((definition, out.tags().to_vec()))
}

/// The image the container named `container` would run with `tag`.
pub fn image_with_tag(definition: &TaskDefinition, container: &str, tag: &str) -> Result<String> {
    let image = definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.image())
        .with_context(|| {
            format!(
                "task definition {} has no container named {container}",
                definition.family().unwrap_or_default()
            )
        })?;
    Ok(format!("{}:{tag}", split_image(image).0))
}

/// A new revision of `definition`'s family that differs only in `container`'s image.
pub fn register_revision_request(
    aws: &Aws,
    definition: &TaskDefinition,
    tags: &[Tag],
    container: &str,
    image: &str,
) -> RegisterTaskDefinitionFluentBuilder {
    let containers = definition
        .container_definitions()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c.name() == Some(container) {
                c.image = Some(image.to_owned());
            }
            c
        })
        .collect();
    aws.ecs
        .register_task_definition()
        .set_family(definition.family().map(str::to_owned))
        .set_task_role_arn(definition.task_role_arn().map(str::to_owned))
        .set_execution_role_arn(definition.execution_role_arn().map(str::to_owned))
        .set_network_mode(definition.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(definition.volumes().to_vec()).filter(|v| !v.is_empty()))
        .set_placement_constraints(
            Some(definition.placement_constraints().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_requires_compatibilities(
            Some(definition.requires_compatibilities().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_cpu(definition.cpu().map(str::to_owned))
        .set_memory(definition.memory().map(str::to_owned))
        .set_pid_mode(definition.pid_mode().cloned())
        .set_ipc_mode(definition.ipc_mode().cloned())
        .set_proxy_configuration(definition.proxy_configuration().cloned())
        .set_ephemeral_storage(definition.ephemeral_storage().cloned())
        .set_runtime_platform(definition.runtime_platform().cloned())
        .set_tags(Some(tags.to_vec()).filter(|t| !t.is_empty()))
}

/// UpdateService to `task_definition` with the rollout's deployment configuration.
pub fn update_service_request(
    aws: &Aws,
    cluster: &str,
    service: &str,
    task_definition: &str,
    rollout: &Rollout,
) -> UpdateServiceFluentBuilder {
    let mut request = aws
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .deployment_configuration(rollout.deployment_configuration());
    if let Some(lb) = rollout.load_balancer() {
        request = request.load_balancers(lb);
    }
    request
}

pub fn stop_deployment_request(
    aws: &Aws,
    deployment_arn: &str,
) -> StopServiceDeploymentFluentBuilder {
    aws.ecs
        .stop_service_deployment()
        .service_deployment_arn(deployment_arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
}

/// The newest in-flight deployment of a service (created after `since`, when given: the
/// one our own UpdateService started, not an older one still running); `Ok(None)` when
/// there is none or the endpoint lacks the service-deployments API (moto).
pub async fn in_flight_deployment(
    aws: &Aws,
    cluster: &str,
    service: &str,
    since: Option<aws_smithy_types::DateTime>,
) -> Result<Option<String>> {
    // ListServiceDeployments pages with nextToken (the SDK generates no paginator for
    // it): read every page.
    let mut newest: Option<aws_sdk_ecs::types::ServiceDeploymentBrief> = None;
    let mut token: Option<String> = None;
    loop {
        let result = aws
            .ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .status(ServiceDeploymentStatus::Pending)
            .status(ServiceDeploymentStatus::InProgress)
            .set_created_at(since.map(|after| {
                aws_sdk_ecs::types::CreatedAt::builder()
                    .after(after)
                    .build()
            }))
            .set_next_token(token.take())
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err) => {
                let err = call_error(service, "ListServiceDeployments", err);
                if deployments_api_missing(&err) {
                    return Ok(None);
                }
                return Err(err.into());
            }
        };
        let created = |d: &aws_sdk_ecs::types::ServiceDeploymentBrief| {
            d.created_at().map(|t| (t.secs(), t.subsec_nanos()))
        };
        for deployment in out.service_deployments() {
            if newest
                .as_ref()
                .is_none_or(|n| created(deployment) > created(n))
            {
                newest = Some(deployment.clone());
            }
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(newest.and_then(|d| d.service_deployment_arn().map(str::to_owned)))
}

/// An emulator without the service-deployments API answers HTTP 500 without an AWS code.
fn deployments_api_missing(err: &crate::aws::AwsError) -> bool {
    err.code().is_none() || err.code() == Some("InternalFailure")
}

/// One look at the deployment to `task_definition`: DescribeServiceDeployments when a
/// deployment ARN is known, DescribeServices otherwise.
pub async fn observe(
    aws: &Aws,
    cluster: &str,
    service: &str,
    deployment_arn: Option<&str>,
    task_definition: &str,
) -> Result<Observation> {
    if let Some(arn) = deployment_arn {
        let out = aws
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .map_err(|e| call_error(service, "DescribeServiceDeployments", e))?;
        let deployment = out
            .service_deployments()
            .first()
            .with_context(|| format!("{service}: deployment {arn} not found"))?;
        let target = deployment.target_service_revision();
        return Ok(Observation {
            status: deployment
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "UNKNOWN".into()),
            stage: deployment.lifecycle_stage().map(|s| s.as_str().to_owned()),
            reason: deployment
                .rollback()
                .and_then(|r| r.reason())
                .or(deployment.status_reason())
                .map(str::to_owned),
            running: target.map_or(0, |t| t.running_task_count()),
            pending: target.map_or(0, |t| t.pending_task_count()),
            desired: target.map_or(0, |t| t.requested_task_count()),
            production_traffic_percent: target
                .and_then(|t| t.requested_production_traffic_weight()),
        });
    }
    let out = aws
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| call_error(service, "DescribeServices", e))?;
    let found = out
        .services()
        .first()
        .with_context(|| format!("service {service} not found in cluster {cluster}"))?;
    Ok(observation_from_service(found, task_definition))
}

/// Rolling deployments as DescribeServices reports them (rolloutState of the deployment
/// that runs `task_definition`; a PRIMARY deployment on another definition means ECS
/// rolled back).
pub fn observation_from_service(
    service: &aws_sdk_ecs::types::Service,
    task_definition: &str,
) -> Observation {
    use aws_sdk_ecs::types::DeploymentRolloutState;
    let ours = service
        .deployments()
        .iter()
        .find(|d| d.task_definition() == Some(task_definition));
    let primary = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    let Some(deployment) = ours else {
        if service.task_definition() == Some(task_definition) {
            // The service runs our revision but lists no deployment for it (an emulator
            // that never refreshes deployments): go by the service's own counts.
            return Observation {
                status: "IN_PROGRESS".into(),
                running: service.running_count(),
                pending: service.pending_count(),
                desired: service.desired_count(),
                ..Observation::default()
            };
        }
        return Observation {
            status: "ROLLBACK_SUCCESSFUL".into(),
            reason: primary
                .and_then(|p| p.rollout_state_reason())
                .map(str::to_owned),
            ..Observation::default()
        };
    };
    let status = match deployment.rollout_state() {
        Some(DeploymentRolloutState::Completed) if service.deployments().len() == 1 => "SUCCESSFUL",
        Some(DeploymentRolloutState::Failed) => "ROLLBACK_IN_PROGRESS",
        _ => "IN_PROGRESS",
    };
    Observation {
        status: status.into(),
        stage: deployment.rollout_state().map(|s| s.as_str().to_owned()),
        reason: deployment.rollout_state_reason().map(str::to_owned),
        running: deployment.running_count(),
        pending: deployment.pending_count(),
        desired: deployment.desired_count(),
        production_traffic_percent: None,
    }
}

/// The highest ACTIVE revision of `current`'s family below it.
pub async fn previous_revision(aws: &Aws, current: &str) -> Result<String> {
    let (family, revision) = family_and_revision(current)
        .with_context(|| format!("{current} is not a task definition ARN with a revision"))?;
    // Every page: the prefix also lists longer families, which can fill the first one.
    let arns: Vec<String> = aws
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error(family, "ListTaskDefinitions", e))?;
    previous_of(&arns, family, revision).with_context(|| {
        format!("{family} has no active revision before {revision}: nothing to roll back to")
    })
}

fn family_and_revision(arn: &str) -> Option<(&str, u32)> {
    let name = arn.rsplit('/').next()?;
    let (family, revision) = name.rsplit_once(':')?;
    Some((family, revision.parse().ok()?))
}

/// The newest revision of exactly `family` below `revision` (a family prefix also
/// lists longer families).
pub fn previous_of(arns: &[String], family: &str, revision: u32) -> Option<String> {
    arns.iter()
        .filter_map(|arn| {
            let (f, r) = family_and_revision(arn)?;
            (f == family && r < revision).then_some((r, arn))
        })
        .max_by_key(|(r, _)| *r)
        .map(|(_, arn)| arn.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_uri_and_repository() {
        assert_eq!(
            split_image("1.dkr.ecr.us-east-1.amazonaws.com/voting-dev-vote:abc"),
            (
                "1.dkr.ecr.us-east-1.amazonaws.com/voting-dev-vote",
                "voting-dev-vote"
            )
        );
        assert_eq!(
            split_image("localhost:5000/team/app@sha256:00ff"),
            ("localhost:5000/team/app", "team/app")
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", "app")
        );
    }

    #[test]
    fn the_previous_revision_is_the_newest_older_one_of_the_same_family() {
        let arns: Vec<String> = [
            "arn:aws:ecs:r:1:task-definition/s-dev-taskdef-api-migrate:9",
            "arn:aws:ecs:r:1:task-definition/s-dev-taskdef-api:7",
            "arn:aws:ecs:r:1:task-definition/s-dev-taskdef-api:5",
            "arn:aws:ecs:r:1:task-definition/s-dev-taskdef-api:3",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            previous_of(&arns, "s-dev-taskdef-api", 7).as_deref(),
            Some("arn:aws:ecs:r:1:task-definition/s-dev-taskdef-api:5")
        );
        assert_eq!(previous_of(&arns, "s-dev-taskdef-api", 3), None);
    }
}

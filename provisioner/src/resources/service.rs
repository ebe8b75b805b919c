//! ECS services on Fargate: networking, load balancer, Service Connect, deployments
//! (rolling with circuit breaker), and the status `provision status` shows.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, ServiceConnectClientAlias,
    ServiceConnectConfiguration, ServiceConnectService, ServiceField, Tag,
};

use super::ecs_common::{cluster_name, invalid, owned, tags};
use super::repository::{image_tag, ImageTag};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, client_token, require, wait_until, Aws, AwsError, DeleteOptions, Progress,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::ecs::{
    AWAITING_RELEASE_TAG, CONFIGURED_DESIRED_TAG, HEALTH_CHECK_GRACE_SECONDS, MAXIMUM_PERCENT,
    MINIMUM_HEALTHY_PERCENT,
};

fn configured_desired_tag(count: i32) -> Tag {
    Tag::builder()
        .key(CONFIGURED_DESIRED_TAG)
        .value(count.to_string())
        .build()
}

async fn observe_services(aws: &Aws, cluster: &str) -> Result<Vec<Observed>, AwsError> {
    let listed = aws
        .ecs
        .list_services()
        .cluster(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("services", "ListServices", e))?;
    let mut found = Vec::new();
    // DescribeServices takes at most 10 services a call.
    for chunk in listed.chunks(10) {
        let out = aws
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| call_error("services", "DescribeServices", e))?;
        for service in out.services() {
            if service.status() != Some("ACTIVE") {
                continue;
            }
            let Some(id) = owned(aws, service.tags()) else {
                continue;
            };
            found.push(observed_service(&id, service));
        }
    }
    Ok(found)
}

fn observed_service(id: &str, service: &aws_sdk_ecs::types::Service) -> Observed {
    let configured = service
        .tags()
        .iter()
        .find(|tag| tag.key() == Some(CONFIGURED_DESIRED_TAG))
        .and_then(|tag| tag.value())
        .and_then(|value| value.parse::<i32>().ok());
    let network = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    let balancer = service.load_balancers().first();
    let deployment = service.deployment_configuration();
    let connect = service
        .deployments()
        .first()
        .and_then(|d| d.service_connect_configuration());
    let spec = ServiceSpec {
        cluster: Ref::physical(service.cluster_arn().unwrap_or_default()),
        task_definition: Ref::physical(service.task_definition().unwrap_or_default()),
        desired_count: configured.unwrap_or(service.desired_count()),
        subnets: network
            .map(|n| n.subnets().iter().map(Ref::physical).collect())
            .unwrap_or_default(),
        security_groups: network
            .map(|n| n.security_groups().iter().map(Ref::physical).collect())
            .unwrap_or_default(),
        assign_public_ip: network.and_then(|n| n.assign_public_ip())
            == Some(&AssignPublicIp::Enabled),
        target_group: balancer
            .and_then(|b| b.target_group_arn())
            .map(Ref::physical),
        container_port: balancer
            .and_then(|b| b.container_port())
            .unwrap_or_default() as u16,
        enable_execute_command: service.enable_execute_command(),
        circuit_breaker_rollback: deployment
            .and_then(|d| d.deployment_circuit_breaker())
            .is_some_and(|b| b.enable() && b.rollback()),
        awaiting_release: service
            .tags()
            .iter()
            .any(|tag| tag.key() == Some(AWAITING_RELEASE_TAG) && tag.value() == Some("true")),
        service_connect: connect.filter(|c| c.enabled()).map(|c| ServiceConnectSpec {
            namespace: Ref::physical(c.namespace().unwrap_or_default()),
            server_name: c
                .services()
                .first()
                .and_then(|s| s.discovery_name())
                .map(str::to_owned),
        }),
    };
    let mut value = serde_json::to_value(spec).expect("specs serialize");
    if deployment.is_none() {
        // An API that drops deploymentConfiguration (moto) drops these too: they are
        // unreported, not false, so they are left out of the comparison.
        if let Some(map) = value.as_object_mut() {
            for field in [
                "enable_execute_command",
                "circuit_breaker_rollback",
                "service_connect",
            ] {
                map.remove(field);
            }
        }
    }
    if balancer.is_none() {
        // No load balancer: the container port is not reported either.
        if let Some(map) = value.as_object_mut() {
            map.remove("container_port");
        }
    }
    Observed {
        id: id.to_owned(),
        kind: Kind::Service,
        spec: value,
        attrs: attrs([
            ("arn", service.service_arn().map(str::to_owned)),
            ("name", service.service_name().map(str::to_owned)),
            ("_cluster", service.cluster_arn().map(str::to_owned)),
            ("resource_id", resource_id(service)),
            (
                "_configured_desired",
                configured.map(|count| count.to_string()),
            ),
        ]),
    }
}

/// Application Auto Scaling's name for a service: `service/<cluster>/<service>`.
fn resource_id(service: &aws_sdk_ecs::types::Service) -> Option<String> {
    let cluster = service.cluster_arn()?.rsplit('/').next()?;
    Some(format!("service/{cluster}/{}", service.service_name()?))
}

fn network(
    spec: &ServiceSpec,
    resolved: &Resolved,
    id: &str,
) -> Result<NetworkConfiguration, AwsError> {
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(resolved.all(&spec.subnets, "id")?))
                .set_security_groups(Some(resolved.all(&spec.security_groups, "id")?))
                .assign_public_ip(if spec.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()
                .map_err(|e| invalid(id, e))?,
        )
        .build())
}

fn deployment(spec: &ServiceSpec) -> DeploymentConfiguration {
    updated_deployment(spec, None)
}

/// The deploymentConfiguration `up` sends: the circuit breaker and task percentages are
/// the config's; everything a release set on the live service — strategy (BLUE_GREEN,
/// CANARY, LINEAR), bake time, canary/linear settings, rollback alarms, lifecycle hooks —
/// is sent back as it is. UpdateService replaces the whole structure, so leaving those out
/// would silently turn a blue/green service back into a rolling one until the next
/// `deploy` ("UpdateService", ECS API reference: deploymentConfiguration).
fn updated_deployment(
    spec: &ServiceSpec,
    live: Option<&DeploymentConfiguration>,
) -> DeploymentConfiguration {
    let mut builder = DeploymentConfiguration::builder();
    if let Some(live) = live {
        builder = builder
            .set_strategy(live.strategy().cloned())
            .set_bake_time_in_minutes(live.bake_time_in_minutes())
            .set_canary_configuration(live.canary_configuration().cloned())
            .set_linear_configuration(live.linear_configuration().cloned())
            .set_alarms(live.alarms().cloned())
            .set_lifecycle_hooks(
                (!live.lifecycle_hooks().is_empty()).then(|| live.lifecycle_hooks().to_vec()),
            );
    }
    builder
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(spec.circuit_breaker_rollback)
                .rollback(spec.circuit_breaker_rollback)
                .build(),
        )
        .maximum_percent(MAXIMUM_PERCENT)
        .minimum_healthy_percent(MINIMUM_HEALTHY_PERCENT)
        .build()
}

fn service_connect(
    spec: &ServiceSpec,
    resolved: &Resolved,
    id: &str,
) -> Result<Option<ServiceConnectConfiguration>, AwsError> {
    let Some(connect) = &spec.service_connect else {
        return Ok(None);
    };
    let mut config = ServiceConnectConfiguration::builder()
        .enabled(true)
        .namespace(resolved.get(&connect.namespace, "arn")?);
    if let Some(name) = &connect.server_name {
        config = config.services(
            ServiceConnectService::builder()
                .port_name(name)
                .discovery_name(name)
                .client_aliases(
                    ServiceConnectClientAlias::builder()
                        .port(i32::from(spec.container_port))
                        .dns_name(name)
                        .build()
                        .map_err(|e| invalid(id, e))?,
                )
                .build()
                .map_err(|e| invalid(id, e))?,
        );
    }
    Ok(Some(config.build()))
}

/// The request that creates an ECS service (exposed for request-shape tests).
pub fn create_service_request(
    aws: &Aws,
    id: &str,
    spec: &ServiceSpec,
    resolved: &Resolved,
) -> Result<aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder, AwsError>
{
    let container = id.strip_prefix("service-").unwrap_or(id);
    let cluster = resolved.get(&spec.cluster, "name")?;
    let task_definition = resolved.get(&spec.task_definition, "arn")?;
    // Deterministic (stack, env, id, cluster, task definition revision — a new revision
    // per incarnation of the stack): a repeated create returns the same service.
    let token = client_token(&[&aws.stack, &aws.env, id, &cluster, &task_definition]);
    let mut request = aws
        .ecs
        .create_service()
        .client_token(token)
        .cluster(cluster)
        .service_name(aws.name(id))
        .task_definition(task_definition)
        .desired_count(spec.desired_count)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network(spec, resolved, id)?)
        .deployment_configuration(deployment(spec))
        .enable_execute_command(spec.enable_execute_command)
        .propagate_tags(PropagateTags::Service)
        .set_service_connect_configuration(service_connect(spec, resolved, id)?)
        .set_tags(Some(
            tags(aws, id)
                .into_iter()
                .chain([configured_desired_tag(spec.desired_count)])
                .chain(spec.awaiting_release.then(|| {
                    Tag::builder()
                        .key(AWAITING_RELEASE_TAG)
                        .value("true")
                        .build()
                }))
                .collect(),
        ));
    if let Some(tg) = &spec.target_group {
        request = request
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(resolved.get(tg, "arn")?)
                    .container_name(container)
                    .container_port(i32::from(spec.container_port))
                    .build(),
            )
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE_SECONDS);
    }
    Ok(request)
}

/// Waits for a rollout to settle — but only when the image exists: before CI's first
/// push there is nothing to run, and waiting would only end in the circuit breaker.
async fn wait_for_service(
    aws: &Aws,
    id: &str,
    spec: &ServiceSpec,
    current: &Attrs,
    resolved: &Resolved,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    if spec.awaiting_release {
        progress.waiting("no image yet: service created with 0 tasks; `provision push`, then `provision deploy` starts it");
        return Ok(());
    }
    let definition = resolved.get(&spec.task_definition, "arn")?;
    if !image_exists(aws, &definition).await? {
        progress
            .waiting("image not pushed yet: service created, tasks start after the first deploy");
        return Ok(());
    }
    let cluster = resolved.get(&spec.cluster, "name")?;
    let arn = require(current, id, "arn")?;
    wait_until(aws, id, "tasks running and healthy", progress, || async {
        let out = aws
            .ecs
            .describe_services()
            .cluster(&cluster)
            .services(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeServices", e))?;
        let Some(service) = out.services().first() else {
            return Ok(Err("missing".into()));
        };
        let settled =
            service.deployments().len() == 1 && service.running_count() == service.desired_count();
        if settled {
            Ok(Ok(()))
        } else {
            Ok(Err(format!(
                "{} running / {} desired, {} deployments",
                service.running_count(),
                service.desired_count(),
                service.deployments().len()
            )))
        }
    })
    .await
}

/// Whether the task definition's image is in its ECR repository.
async fn image_exists(aws: &Aws, task_definition: &str) -> Result<bool, AwsError> {
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| call_error(task_definition, "DescribeTaskDefinition", e))?;
    let Some(image) = out
        .task_definition()
        .and_then(|d| d.container_definitions().first())
        .and_then(|c| c.image())
    else {
        return Ok(false);
    };
    let Some((uri, tag)) = image.rsplit_once(':') else {
        return Ok(false);
    };
    let repository = uri.split_once('/').map_or(uri, |(_, name)| name);
    Ok(image_tag(aws, repository, tag).await? == ImageTag::Present)
}

/// Whether the config asks for another desired count than the one last applied. When it
/// does not, updates leave the live (possibly autoscaled) count alone.
fn configured_count_changed(spec: &ServiceSpec, current: &Attrs) -> bool {
    current.get("_configured_desired") != Some(&spec.desired_count.to_string())
}

/// The request that updates an ECS service in place (exposed for request-shape tests).
pub fn update_service_request(
    aws: &Aws,
    id: &str,
    spec: &ServiceSpec,
    current: &Attrs,
    resolved: &Resolved,
    live: Option<&DeploymentConfiguration>,
) -> Result<aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder, AwsError>
{
    Ok(aws
        .ecs
        .update_service()
        .cluster(resolved.get(&spec.cluster, "name")?)
        .service(require(current, id, "name")?)
        .task_definition(resolved.get(&spec.task_definition, "arn")?)
        .set_desired_count(configured_count_changed(spec, current).then_some(spec.desired_count))
        .network_configuration(network(spec, resolved, id)?)
        .deployment_configuration(updated_deployment(spec, live))
        .enable_execute_command(spec.enable_execute_command)
        .set_service_connect_configuration(service_connect(spec, resolved, id)?))
}

/// Desired/running/pending tasks of each service, for `provision status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    pub id: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub task_definition: String,
}

pub async fn service_status(aws: &Aws) -> Result<Vec<ServiceStatus>, AwsError> {
    let cluster = cluster_name(aws);
    let listed: Vec<String> = match aws
        .ecs
        .list_services()
        .cluster(&cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    {
        Ok(arns) => arns,
        Err(err) => {
            let err = call_error("cluster", "ListServices", err);
            if err.code() == Some("ClusterNotFoundException") {
                return Ok(Vec::new());
            }
            return Err(err);
        }
    };
    let mut statuses = Vec::new();
    for chunk in listed.chunks(10) {
        let out = aws
            .ecs
            .describe_services()
            .cluster(&cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| call_error("services", "DescribeServices", e))?;
        for service in out.services() {
            if service.status() != Some("ACTIVE") {
                continue;
            }
            let Some(id) = owned(aws, service.tags()) else {
                continue;
            };
            statuses.push(ServiceStatus {
                id,
                desired: service.desired_count(),
                running: service.running_count(),
                pending: service.pending_count(),
                task_definition: service
                    .task_definition()
                    .and_then(|t| t.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
    }
    statuses.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(statuses)
}

impl Provider for super::Service {
    type Spec = ServiceSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ServiceNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        match scan.clusters().await?.first() {
            Some(cluster) => observe_services(scan.aws, &cluster.attrs["name"]).await,
            None => Ok(Vec::new()),
        }
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = create_service_request(aws, id, spec, resolved)?
            .send()
            .await
            .map_err(|e| call_error(id, "CreateService", e))?;
        let service = out
            .service()
            .ok_or_else(|| invalid(id, "CreateService returned no service"))?;
        let current = attrs([
            ("arn", service.service_arn().map(str::to_owned)),
            ("name", service.service_name().map(str::to_owned)),
            ("_cluster", service.cluster_arn().map(str::to_owned)),
            ("resource_id", resource_id(service)),
        ]);
        wait_for_service(aws, id, spec, &current, resolved, progress).await?;
        Ok(current)
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        // What releases set on the service (strategy, bake time, alarms) is kept, so read it.
        let live = aws
            .ecs
            .describe_services()
            .cluster(resolved.get(&spec.cluster, "name")?)
            .services(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeServices", e))?;
        let live = live
            .services()
            .first()
            .and_then(|s| s.deployment_configuration());
        update_service_request(aws, id, spec, current, resolved, live)?
            .send()
            .await
            .map_err(|e| call_error(id, "UpdateService", e))?;
        let mut current = current.clone();
        if configured_count_changed(spec, &current) {
            aws.ecs
                .tag_resource()
                .resource_arn(require(&current, id, "arn")?)
                .tags(configured_desired_tag(spec.desired_count))
                .send()
                .await
                .map_err(|e| call_error(id, "TagResource", e))?;
            current.insert("_configured_desired".into(), spec.desired_count.to_string());
        }
        wait_for_service(aws, id, spec, &current, resolved, progress).await?;
        Ok(current)
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let cluster = require(current, id, "_cluster")?;
        let arn = require(current, id, "arn")?;
        match aws
            .ecs
            .delete_service()
            .cluster(&cluster)
            .service(&arn)
            .force(true)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteService", e))
        {
            Err(err) if err.code().is_some_and(Self::gone) => return Ok(()),
            other => other.map(|_| ())?,
        }
        wait_until(
            aws,
            id,
            "service drained and inactive",
            progress,
            || async {
                let out = aws
                    .ecs
                    .describe_services()
                    .cluster(&cluster)
                    .services(&arn)
                    .send()
                    .await
                    .map_err(|e| call_error(id, "DescribeServices", e))?;
                match out.services().first().and_then(|s| s.status()) {
                    None | Some("INACTIVE") => Ok(Ok(())),
                    Some(status) => Ok(Err(status.to_owned())),
                }
            },
        )
        .await
    }
}

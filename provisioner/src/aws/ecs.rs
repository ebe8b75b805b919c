//! ECS: cluster, Cloud Map namespace (Service Connect), task definitions, services.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, ClusterSetting, ClusterSettingName,
    Compatibility, ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration,
    HealthCheck, KeyValuePair, LaunchType, LinuxParameters, LoadBalancer, LogConfiguration,
    LogDriver, NetworkConfiguration, NetworkMode, PortMapping, PropagateTags, Secret,
    ServiceConnectClientAlias, ServiceConnectConfiguration, ServiceConnectService, ServiceField,
    Tag, TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};

use super::{
    attrs, call_error, deleted, observed, require, wait_until, Aws, AwsError, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::settings::ecs::{
    CONFIGURED_DESIRED_TAG, HEALTH_CHECK, HEALTH_CHECK_GRACE_SECONDS, MAXIMUM_PERCENT,
    MINIMUM_HEALTHY_PERCENT,
};

fn tags(aws: &Aws, id: &str) -> Vec<Tag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn configured_desired_tag(count: i32) -> Tag {
    Tag::builder()
        .key(CONFIGURED_DESIRED_TAG)
        .value(count.to_string())
        .build()
}

fn owned(aws: &Aws, tags: &[Tag]) -> Option<String> {
    aws.owned_id(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

fn invalid(id: &str, err: impl std::fmt::Display) -> AwsError {
    AwsError::Unexpected {
        resource: id.to_owned(),
        message: err.to_string(),
    }
}

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let (mut clusters, namespaces, task_definitions) = tokio::try_join!(
        observe_cluster(aws),
        observe_namespaces(aws),
        observe_task_definitions(aws)
    )?;
    let services = match clusters.first() {
        Some(cluster) => observe_services(aws, &cluster.attrs["name"]).await?,
        None => Vec::new(),
    };
    clusters.extend(namespaces);
    clusters.extend(task_definitions);
    clusters.extend(services);
    Ok(clusters)
}

fn cluster_name(aws: &Aws) -> String {
    aws.name("cluster")
}

async fn observe_cluster(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let out = aws
        .ecs
        .describe_clusters()
        .clusters(cluster_name(aws))
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|e| call_error("cluster", "DescribeClusters", e))?;
    Ok(out
        .clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .filter_map(|cluster| {
            let id = owned(aws, cluster.tags())?;
            let insights = cluster.settings().iter().any(|s| {
                s.name() == Some(&ClusterSettingName::ContainerInsights)
                    && matches!(s.value(), Some("enabled") | Some("enhanced"))
            });
            Some(observed(
                &id,
                Kind::Cluster,
                ClusterSpec {
                    container_insights: insights,
                },
                attrs([
                    ("arn", cluster.cluster_arn().map(str::to_owned)),
                    ("name", cluster.cluster_name().map(str::to_owned)),
                ]),
            ))
        })
        .collect())
}

fn insights(spec: &ClusterSpec) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if spec.container_insights {
            "enabled"
        } else {
            "disabled"
        })
        .build()
}

pub async fn create_cluster(
    aws: &Aws,
    id: &str,
    spec: &ClusterSpec,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let out = aws
        .ecs
        .create_cluster()
        .cluster_name(aws.name(id))
        .settings(insights(spec))
        .set_tags(Some(tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateCluster", e))?;
    let arn = out
        .cluster()
        .and_then(|c| c.cluster_arn())
        .unwrap_or_default()
        .to_owned();
    wait_until(aws, id, "cluster ACTIVE", progress, || async {
        let out = aws
            .ecs
            .describe_clusters()
            .clusters(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeClusters", e))?;
        let status = out
            .clusters()
            .first()
            .and_then(|c| c.status())
            .unwrap_or("unknown")
            .to_owned();
        Ok(if status == "ACTIVE" {
            Ok(())
        } else {
            Err(status)
        })
    })
    .await?;
    Ok(attrs([("arn", Some(arn)), ("name", Some(aws.name(id)))]))
}

pub async fn update_cluster(
    aws: &Aws,
    id: &str,
    spec: &ClusterSpec,
    current: &Attrs,
) -> Result<Attrs, AwsError> {
    aws.ecs
        .update_cluster_settings()
        .cluster(require(current, id, "name")?)
        .settings(insights(spec))
        .send()
        .await
        .map_err(|e| call_error(id, "UpdateClusterSettings", e))?;
    Ok(current.clone())
}

pub async fn delete_cluster(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.ecs
            .delete_cluster()
            .cluster(require(current, id, "name")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteCluster", e)),
        &["ClusterNotFoundException"],
    )
}

async fn observe_namespaces(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let mut namespaces = Vec::new();
    let mut pages = aws.discovery.list_namespaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("namespace", "ListNamespaces", e))?;
        namespaces.extend(page.namespaces().iter().cloned());
    }
    let mut found = Vec::new();
    for namespace in &namespaces {
        let (Some(name), Some(arn)) = (namespace.name(), namespace.arn()) else {
            continue;
        };
        if !name.starts_with(&format!("{}-{}.", aws.stack, aws.env)) {
            continue;
        }
        let tags = aws
            .discovery
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| call_error(name, "ListTagsForResource", e))?;
        let Some(id) = aws.owned_id(tags.tags().iter().map(|t| (t.key(), t.value()))) else {
            continue;
        };
        found.push(observed(
            &id,
            Kind::Namespace,
            NamespaceSpec {
                name: name.to_owned(),
            },
            attrs([
                ("arn", Some(arn.to_owned())),
                ("id", namespace.id().map(str::to_owned)),
            ]),
        ));
    }
    Ok(found)
}

/// Cloud Map operations are asynchronous: polls one until it succeeds.
async fn wait_for_operation(
    aws: &Aws,
    id: &str,
    operation_id: &str,
    progress: &dyn Progress,
) -> Result<Option<String>, AwsError> {
    wait_until(aws, id, "Cloud Map operation", progress, || async {
        let out = aws
            .discovery
            .get_operation()
            .operation_id(operation_id)
            .send()
            .await
            .map_err(|e| call_error(id, "GetOperation", e))?;
        let Some(operation) = out.operation() else {
            return Ok(Err("unknown".into()));
        };
        let status = operation
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        match status.as_str() {
            "SUCCESS" => Ok(Ok(operation
                .targets()
                .and_then(|t| {
                    t.get(&aws_sdk_servicediscovery::types::OperationTargetType::Namespace)
                })
                .cloned())),
            "FAIL" => Err(AwsError::Unexpected {
                resource: id.to_owned(),
                message: format!(
                    "Cloud Map operation failed: {}",
                    operation.error_message().unwrap_or("no reason given")
                ),
            }),
            other => Ok(Err(other.to_owned())),
        }
    })
    .await
}

pub async fn create_namespace(
    aws: &Aws,
    id: &str,
    spec: &NamespaceSpec,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let tags = aws
        .tags(id)
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_servicediscovery::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(id, e))?;
    let out = aws
        .discovery
        .create_http_namespace()
        .name(&spec.name)
        .creator_request_id(aws.name(id))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateHttpNamespace", e))?;
    let namespace_id =
        wait_for_operation(aws, id, out.operation_id().unwrap_or_default(), progress)
            .await?
            .unwrap_or_default();
    let namespace = aws
        .discovery
        .get_namespace()
        .id(&namespace_id)
        .send()
        .await
        .map_err(|e| call_error(id, "GetNamespace", e))?;
    Ok(attrs([
        (
            "arn",
            namespace
                .namespace()
                .and_then(|n| n.arn())
                .map(str::to_owned),
        ),
        ("id", Some(namespace_id)),
    ]))
}

pub async fn delete_namespace(
    aws: &Aws,
    id: &str,
    current: &Attrs,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    match aws
        .discovery
        .delete_namespace()
        .id(require(current, id, "id")?)
        .send()
        .await
        .map_err(|e| call_error(id, "DeleteNamespace", e))
    {
        Ok(out) => {
            if let Some(operation) = out.operation_id() {
                wait_for_operation(aws, id, operation, progress).await?;
            }
            Ok(())
        }
        Err(err) if err.code() == Some("NamespaceNotFound") => Ok(()),
        Err(err) => Err(err),
    }
}

async fn observe_task_definitions(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let families = aws
        .ecs
        .list_task_definition_families()
        .family_prefix(aws.prefix())
        .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("task definitions", "ListTaskDefinitionFamilies", e))?;
    let mut found = Vec::new();
    for family in &families {
        let out = match aws
            .ecs
            .describe_task_definition()
            .task_definition(family)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| call_error(family, "DescribeTaskDefinition", e))
        {
            Ok(out) => out,
            // A family whose revisions were all deleted can still be listed for a while.
            Err(err) if err.code() == Some("ClientException") => continue,
            Err(err) => return Err(err),
        };
        let Some(id) = owned(aws, out.tags()) else {
            continue;
        };
        let Some(definition) = out.task_definition() else {
            continue;
        };
        if definition.status() != Some(&TaskDefinitionStatus::Active) {
            continue;
        }
        let Some(container) = definition.container_definitions().first() else {
            continue;
        };
        let image = container.image().unwrap_or_default();
        let (repository, tag) = image.rsplit_once(':').unwrap_or((image, ""));
        let log_options = container
            .log_configuration()
            .and_then(|l| l.options())
            .cloned()
            .unwrap_or_default();
        let spec = TaskDefinitionSpec {
            cpu: definition.cpu().and_then(|c| c.parse().ok()).unwrap_or(0),
            memory: definition
                .memory()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0),
            execution_role: Ref::physical(definition.execution_role_arn().unwrap_or_default()),
            task_role: Ref::physical(definition.task_role_arn().unwrap_or_default()),
            container: ContainerSpec {
                name: container.name().unwrap_or_default().to_owned(),
                image_repository: Ref::physical(repository),
                image_tag: tag.to_owned(),
                port: container
                    .port_mappings()
                    .first()
                    .and_then(|p| p.container_port())
                    .unwrap_or(0) as u16,
                command: (!container.command().is_empty()).then(|| container.command().to_vec()),
                environment: container
                    .environment()
                    .iter()
                    .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
                    .collect(),
                secrets: container
                    .secrets()
                    .iter()
                    .map(|s| (s.name().to_owned(), Ref::physical(s.value_from())))
                    .collect(),
                health_command: container
                    .health_check()
                    .map(|h| h.command().to_vec())
                    .unwrap_or_default(),
                log_group: Ref::physical(
                    log_options
                        .get("awslogs-group")
                        .cloned()
                        .unwrap_or_default(),
                ),
                read_only_root: container.readonly_root_filesystem().unwrap_or(false),
                user: container.user().unwrap_or_default().to_owned(),
                init_process: container
                    .linux_parameters()
                    .and_then(|l| l.init_process_enabled())
                    .unwrap_or(false),
            },
        };
        let image_tag = spec.container.image_tag.clone();
        let mut found_definition = observed(
            &id,
            Kind::TaskDefinition,
            spec,
            attrs([
                ("arn", definition.task_definition_arn().map(str::to_owned)),
                ("family", definition.family().map(str::to_owned)),
                ("_image_tag", Some(image_tag)),
            ]),
        );
        // The config's tag only seeds the first revision; afterwards releases (deploys)
        // own the running tag, so `up` neither reports it as drift nor reverts it.
        if let Some(container) = found_definition
            .spec
            .get_mut("container")
            .and_then(|c| c.as_object_mut())
        {
            container.remove("image_tag");
        }
        found.push(found_definition);
    }
    Ok(found)
}

/// The container definition: Fargate/awsvpc, health check via the service's own
/// `--probe`, secrets from Secrets Manager, read-only root, non-root user, init process.
fn container_definition(
    aws: &Aws,
    id: &str,
    spec: &ContainerSpec,
    resolved: &Resolved,
) -> Result<ContainerDefinition, AwsError> {
    let repository = resolved.get(&spec.image_repository, "uri")?;
    let mut secrets = Vec::new();
    for (name, secret) in &spec.secrets {
        secrets.push(
            Secret::builder()
                .name(name)
                .value_from(resolved.secret_arn(secret)?)
                .build()
                .map_err(|e| invalid(id, e))?,
        );
    }
    let log_options: BTreeMap<&str, String> = [
        ("awslogs-group", resolved.get(&spec.log_group, "name")?),
        ("awslogs-region", aws.region.clone()),
        ("awslogs-stream-prefix", spec.name.clone()),
    ]
    .into_iter()
    .collect();
    let mut log = LogConfiguration::builder().log_driver(LogDriver::Awslogs);
    for (key, value) in log_options {
        log = log.options(key, value);
    }
    // Port 0 and no health command (the debug task): no port mapping, no health check.
    let port_mapping = (spec.port != 0).then(|| {
        PortMapping::builder()
            .name(&spec.name)
            .container_port(i32::from(spec.port))
            .protocol(TransportProtocol::Tcp)
            .app_protocol(aws_sdk_ecs::types::ApplicationProtocol::Http)
            .build()
    });
    let health_check = if spec.health_command.is_empty() {
        None
    } else {
        Some(
            HealthCheck::builder()
                .set_command(Some(spec.health_command.clone()))
                .interval(HEALTH_CHECK.interval)
                .timeout(HEALTH_CHECK.timeout)
                .retries(HEALTH_CHECK.retries)
                .start_period(HEALTH_CHECK.start_period)
                .build()
                .map_err(|e| invalid(id, e))?,
        )
    };
    Ok(ContainerDefinition::builder()
        .name(&spec.name)
        .image(format!("{repository}:{}", spec.image_tag))
        .essential(true)
        .set_port_mappings(port_mapping.map(|p| vec![p]))
        .set_command(spec.command.clone())
        .set_environment(Some(
            spec.environment
                .iter()
                .map(|(k, v)| {
                    Ok(KeyValuePair::builder()
                        .name(k)
                        .value(resolved.environment_value(v)?)
                        .build())
                })
                .collect::<Result<Vec<_>, AwsError>>()?,
        ))
        .set_secrets(Some(secrets))
        .set_health_check(health_check)
        .log_configuration(log.build().map_err(|e| invalid(id, e))?)
        .readonly_root_filesystem(spec.read_only_root)
        .user(&spec.user)
        .linux_parameters(
            LinuxParameters::builder()
                .init_process_enabled(spec.init_process)
                .build(),
        )
        .build())
}

/// Registers a revision (create and update alike: task definitions are immutable). An
/// existing definition keeps the image tag it runs (see `observe_task_definitions`).
pub async fn register_task_definition(
    aws: &Aws,
    id: &str,
    spec: &TaskDefinitionSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let mut spec = spec.clone();
    if let Some(running) = resolved.attrs(id).and_then(|a| a.get("_image_tag")) {
        spec.container.image_tag = running.clone();
    }
    let spec = &spec;
    let out = aws
        .ecs
        .register_task_definition()
        .family(aws.name(id))
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu(spec.cpu.to_string())
        .memory(spec.memory.to_string())
        .execution_role_arn(resolved.get(&spec.execution_role, "arn")?)
        .task_role_arn(resolved.get(&spec.task_role, "arn")?)
        .container_definitions(container_definition(aws, id, &spec.container, resolved)?)
        .set_tags(Some(tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "RegisterTaskDefinition", e))?;
    let definition = out.task_definition();
    Ok(attrs([
        (
            "arn",
            definition
                .and_then(|d| d.task_definition_arn())
                .map(str::to_owned),
        ),
        ("family", Some(aws.name(id))),
        ("_image_tag", Some(spec.container.image_tag.clone())),
    ]))
}

pub async fn delete_task_definition(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    let family = require(current, id, "family")?;
    let revisions = aws
        .ecs
        .list_task_definitions()
        .family_prefix(&family)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error(id, "ListTaskDefinitions", e))?;
    for arn in &revisions {
        aws.ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DeregisterTaskDefinition", e))?;
    }
    // Deregistered revisions stay visible (INACTIVE) until deleted.
    for chunk in revisions.chunks(10) {
        aws.ecs
            .delete_task_definitions()
            .set_task_definitions(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteTaskDefinitions", e))?;
    }
    Ok(())
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
    let token = super::client_token(&[&aws.stack, &aws.env, id, &cluster, &task_definition]);
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

pub async fn create_service(
    aws: &Aws,
    id: &str,
    spec: &ServiceSpec,
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

/// What ECR says about one tag of one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageTag {
    Present,
    Missing,
    NoRepository,
}

/// Looks a tag up in an ECR repository (shared by `up`'s wait and `deploy`'s check).
pub async fn image_tag(aws: &Aws, repository: &str, tag: &str) -> Result<ImageTag, AwsError> {
    let result = aws
        .ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag(tag)
                .build(),
        )
        .send()
        .await;
    match result {
        Ok(out) if out.image_details().is_empty() => Ok(ImageTag::Missing),
        Ok(_) => Ok(ImageTag::Present),
        Err(err) => {
            let err = call_error(repository, "DescribeImages", err);
            match err.code() {
                Some("ImageNotFoundException") => Ok(ImageTag::Missing),
                Some("RepositoryNotFoundException") => Ok(ImageTag::NoRepository),
                _ => Err(err),
            }
        }
    }
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

pub async fn update_service(
    aws: &Aws,
    id: &str,
    spec: &ServiceSpec,
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

pub async fn delete_service(
    aws: &Aws,
    id: &str,
    current: &Attrs,
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
        Err(err) if err.code() == Some("ServiceNotFoundException") => return Ok(()),
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

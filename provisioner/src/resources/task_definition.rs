//! Task definitions: one container per family, registered as a new revision on every
//! change (revisions are immutable).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, HealthCheck, KeyValuePair, LinuxParameters,
    LogConfiguration, LogDriver, NetworkMode, PortMapping, Secret, TaskDefinitionField,
    TaskDefinitionStatus, TransportProtocol,
};

use super::ecs_common::{invalid, owned, tags};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::ecs::{HealthCheckTimings, HEALTH_CHECK};

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

impl Provider for super::TaskDefinition {
    type Spec = TaskDefinitionSpec;
    const PUT: bool = true;

    // Deleting lists the family's revisions first: a family already gone lists none, so
    // there is no error to absorb.
    fn gone(_code: &str) -> bool {
        false
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
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
                    command: (!container.command().is_empty())
                        .then(|| container.command().to_vec()),
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

    /// Registers a revision (create and update alike: task definitions are immutable). An
    /// existing definition keeps the image tag it runs (see `observe_task_definitions`).
    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
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

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
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
}

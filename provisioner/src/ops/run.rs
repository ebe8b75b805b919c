//! `provision run TASK`: a one-off task from config (shop `<service>-migrate`, `-seed`) in the
//! private subnets with its service's security group; its logs are streamed and its
//! container's exit code becomes ours.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::Filter;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, LaunchType, NetworkConfiguration, Task, TaskOverride,
};

use super::exec::last_segment;
use super::logs::Cursor;
use super::tasks::{stopped_reason, Watch};
use super::{cluster_name, print_line};
use crate::aws::{call_error, tags, Aws};
use crate::model::ids;

/// How often a started task's state and logs are read while waiting for it to stop.
pub const POLL_INTERVAL: Duration = super::tasks::POLL_INTERVAL;

/// Where a one-off task runs: subnet ids and security group ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

fn tag_filter(key: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .set_values(Some(values.to_vec()))
        .build()
}

fn stack_filters(aws: &Aws, ids: &[String]) -> Vec<Filter> {
    vec![
        tag_filter(tags::STACK, std::slice::from_ref(&aws.stack)),
        tag_filter(tags::ENV, std::slice::from_ref(&aws.env)),
        tag_filter(tags::ID, ids),
    ]
}

/// The stack's private subnets and the security groups with the given logical ids, found
/// by their tags.
pub async fn placement(aws: &Aws, security_groups: &[String]) -> Result<Placement> {
    let subnet_ids = ["subnet-private-a".to_owned(), "subnet-private-b".to_owned()];
    // Filtered EC2 listings may be paginated: read every page.
    let subnets = aws
        .ec2
        .describe_subnets()
        .set_filters(Some(stack_filters(aws, &subnet_ids)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("subnet-private", "DescribeSubnets", e))?;
    let groups = aws
        .ec2
        .describe_security_groups()
        .set_filters(Some(stack_filters(aws, security_groups)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error(&security_groups.join(","), "DescribeSecurityGroups", e))?;
    let placement = Placement {
        subnets: subnets
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect(),
        security_groups: groups
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
    };
    if placement.subnets.is_empty() || placement.security_groups.len() < security_groups.len() {
        bail!(
            "{}-{} has no private subnets or no security group {}; run `provision up` first",
            aws.stack,
            aws.env,
            security_groups.join(", ")
        );
    }
    Ok(placement)
}

/// RunTask on Fargate in `placement` without a public IP; the started task's ARN.
pub async fn start_task(
    aws: &Aws,
    task_definition: &str,
    placement: &Placement,
    enable_execute_command: bool,
    overrides: Option<TaskOverride>,
) -> Result<String> {
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(placement.subnets.clone()))
                .set_security_groups(Some(placement.security_groups.clone()))
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .context("invalid network configuration")?,
        )
        .build();
    let out = aws
        .ecs
        .run_task()
        .cluster(cluster_name(aws))
        .task_definition(task_definition)
        .launch_type(LaunchType::Fargate)
        .count(1)
        .network_configuration(network)
        .enable_execute_command(enable_execute_command)
        .started_by("slipway")
        .set_overrides(overrides)
        .send()
        .await
        .map_err(|e| call_error(task_definition, "RunTask", e))?;
    if let Some(failure) = out.failures().first() {
        bail!(
            "{task_definition} did not start: {} ({})",
            failure.reason().unwrap_or("no reason given"),
            failure.detail().or(failure.arn()).unwrap_or("no detail")
        );
    }
    out.tasks()
        .first()
        .and_then(|t| t.task_arn())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "RunTask for {task_definition} returned no task; check the cluster in the console"
            )
        })
}

/// The exit code of `container` in a stopped task, or why it has none.
pub fn exit_code(task: &Task, container: &str) -> Result<u8> {
    let found = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container));
    if let Some(code) = found.and_then(|c| c.exit_code()) {
        // Codes outside 0..=255 (or negative) still mean failure.
        return Ok(u8::try_from(code).unwrap_or(1));
    }
    bail!(
        "task {} stopped before {container} exited: {}",
        last_segment(task.task_arn().unwrap_or_default()),
        stopped_reason(task, found)
    )
}

/// Waits until the task stops, printing its container's log lines as they arrive.
pub async fn wait_stopped(
    aws: &Aws,
    task_arn: &str,
    container: &str,
    log_group: &str,
    poll: Duration,
) -> Result<u8> {
    // awslogs streams are `<prefix>/<container>/<task id>`; the prefix is the container name.
    let stream = format!("{container}/{container}/{}", last_segment(task_arn));
    let mut cursor = Cursor::new(super::logs::start_time_ms(Duration::from_secs(60)));
    let watch = Watch {
        aws,
        task_arn,
        label: container,
        prefix: container,
        poll,
    };
    let stopped = watch
        .until(
            |task| task.last_status().unwrap_or("UNKNOWN").to_owned(),
            async |task| {
                for line in cursor.poll(aws, log_group, Some(&stream)).await? {
                    print_line(&line.render());
                }
                match task.last_status() {
                    Some("STOPPED") => exit_code(task, container).map(Some),
                    _ => Ok(None),
                }
            },
            || async {
                let _ = tokio::signal::ctrl_c().await;
            },
            |status, limit| {
                format!(
                    "{container}: still {status} after {limit:?}; the task keeps running (stop it in the console or wait)"
                )
            },
        )
        .await?;
    // A half-run migration is worse than a finished one: an interrupted wait leaves the
    // task alone.
    Ok(stopped.unwrap_or_else(|| {
        eprintln!(
            "{container}: interrupted; task {} keeps running (its logs: `provision logs`, stop it in the ECS console)",
            last_segment(task_arn)
        );
        130
    }))
}

/// `provision run TASK`: runs `task` (declared in config for `service`) to completion.
pub async fn run(aws: &Aws, task: &str, service: &str, poll: Duration) -> Result<u8> {
    let placement = placement(aws, &[ids::security_group(service)]).await?;
    let family = aws.name(&ids::one_off_task(task));
    let task_arn = start_task(aws, &family, &placement, false, None).await?;
    eprintln!("{task}: started {}", last_segment(&task_arn));
    let log_group = aws.name(&ids::log_group(service));
    wait_stopped(aws, &task_arn, task, &log_group, poll).await
}

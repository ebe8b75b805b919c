//! `provision exec`: ECS Exec into a running container through the session-manager-plugin.
//! (moto has no ExecuteCommand, so the requests are tested with aws-smithy-mocks.)

use anyhow::{bail, Context, Result};
use aws_sdk_ecs::types::{DesiredStatus, Task};
use serde_json::json;

use super::session::{self, ecs_target, plugin_args, Origin, Session};
use super::{cluster_name, service_name, PluginContext};
use crate::aws::{call_error, Aws};

/// The container a session attaches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecTarget {
    pub cluster: String,
    pub task_arn: String,
    pub task_id: String,
    pub container: String,
    pub runtime_id: String,
}

impl ExecTarget {
    /// `ecs:<cluster>_<task id>_<runtime id>`, the SSM target of the container.
    pub fn ssm_target(&self) -> String {
        ecs_target(&self.cluster, &self.task_id, &self.runtime_id)
    }
}

/// The last path segment of an ARN (a task id from a task ARN).
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A running task of `service` (or the given one) and its container's runtime id.
pub async fn find_target(
    aws: &Aws,
    service: &str,
    task: Option<&str>,
    container: Option<&str>,
) -> Result<ExecTarget> {
    let cluster = cluster_name(aws);
    let task_ref = match task {
        Some(task) => task.to_owned(),
        None => {
            let out = aws
                .ecs
                .list_tasks()
                .cluster(&cluster)
                .service_name(service_name(aws, service))
                .desired_status(DesiredStatus::Running)
                .send()
                .await
                .map_err(|e| call_error(service, "ListTasks", e))?;
            match out.task_arns().first() {
                Some(arn) => arn.clone(),
                None => bail!(
                    "service {service} has no running task in {cluster}; check `provision status` (is the image pushed, is desired > 0?)"
                ),
            }
        }
    };
    let out = aws
        .ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&task_ref)
        .send()
        .await
        .map_err(|e| call_error(service, "DescribeTasks", e))?;
    let Some(task) = out.tasks().first() else {
        bail!("task {task_ref} not found in {cluster}; list the service's tasks with `provision status`");
    };
    target_of(&cluster, task, container.unwrap_or(service))
}

/// The exec target inside a described task; `container` falls back to the only container.
pub fn target_of(cluster: &str, task: &Task, container: &str) -> Result<ExecTarget> {
    let task_arn = task.task_arn().unwrap_or_default().to_owned();
    let task_id = last_segment(&task_arn).to_owned();
    if task.last_status() != Some("RUNNING") {
        bail!(
            "task {task_id} is {}, not RUNNING; wait for it or pick another with --task",
            task.last_status().unwrap_or("in an unknown state")
        );
    }
    if !task.enable_execute_command() {
        bail!("task {task_id} was started without enableExecuteCommand; run `provision up` so the service enables it, then wait for new tasks");
    }
    let chosen = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container))
        .or(match task.containers() {
            [only] => Some(only),
            _ => None,
        });
    let Some(chosen) = chosen else {
        let names: Vec<&str> = task.containers().iter().filter_map(|c| c.name()).collect();
        bail!(
            "task {task_id} has no container {container}; pass --container with one of: {}",
            names.join(", ")
        );
    };
    let Some(runtime_id) = chosen.runtime_id() else {
        bail!("container {container} of task {task_id} has no runtime id yet; wait until it runs");
    };
    Ok(ExecTarget {
        cluster: cluster.to_owned(),
        task_arn,
        task_id,
        container: chosen.name().unwrap_or(container).to_owned(),
        runtime_id: runtime_id.to_owned(),
    })
}

/// ExecuteCommand (interactive) for `command`; the session it opened.
pub async fn execute_command(aws: &Aws, target: &ExecTarget, command: &str) -> Result<Session> {
    let out = aws
        .ecs
        .execute_command()
        .cluster(&target.cluster)
        .task(&target.task_arn)
        .container(&target.container)
        .interactive(true)
        .command(command)
        .send()
        .await
        .map_err(|e| call_error(&target.task_id, "ExecuteCommand", e))
        .context("is the task's ExecuteCommandAgent running and its role allowed ssmmessages:*?")?;
    let session = out
        .session()
        .context("ExecuteCommand answered without a session")?;
    Ok(Session {
        session_id: session.session_id().unwrap_or_default().to_owned(),
        stream_url: session.stream_url().unwrap_or_default().to_owned(),
        token_value: session.token_value().unwrap_or_default().to_owned(),
    })
}

/// The command ECS Exec runs: the given words, or an interactive shell.
pub fn command_line(words: &[String]) -> String {
    if words.is_empty() {
        "/bin/sh".to_owned()
    } else {
        words.join(" ")
    }
}

/// Opens the session for `target` and hands it to the plugin; the plugin's exit code.
pub async fn exec_into(
    aws: &Aws,
    plugin: &PluginContext,
    target: &ExecTarget,
    command: &str,
) -> Result<u8> {
    let session = execute_command(aws, target, command).await?;
    let args = plugin_args(
        &session,
        Origin::EcsExecuteCommand,
        &aws.region,
        plugin.profile.as_deref(),
        &json!({ "Target": target.ssm_target() }),
        &session::ssm_endpoint(&aws.region, plugin.endpoint_url.as_deref()),
    );
    eprintln!(
        "exec: {} in task {} ({command})",
        target.container, target.task_id
    );
    session::launch(&plugin.plugin, &args).await
}

/// `provision exec SERVICE [--task ID] [--container C] [-- CMD…]`.
pub async fn exec(
    aws: &Aws,
    plugin: &PluginContext,
    service: &str,
    task: Option<&str>,
    container: Option<&str>,
    command: &[String],
) -> Result<u8> {
    let target = find_target(aws, service, task, container).await?;
    exec_into(aws, plugin, &target, &command_line(command)).await
}

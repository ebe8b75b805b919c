//! `provision exec`: ECS Exec into a running container through the session-manager-plugin.
//! (moto has no ExecuteCommand, so the requests are tested with aws-smithy-mocks.)
//!
//! ECS Exec runs an SSM agent inside the container, and that agent writes there: the ECS
//! Exec guide (AmazonECS/latest/developerguide/ecs-exec.html, "Considerations") says a
//! root filesystem made read-only with `readonlyRootFilesystem` is not supported, and the
//! agent crashes soon after launch in one (aws/containers-roadmap#1359, open). So each
//! service's config chooses exec or a read-only root per environment
//! ([`StackConfig::exec_enabled`]), and before asking for a session this checks that the
//! container's ExecuteCommandAgent is RUNNING and says what to do when it is not.

use anyhow::{bail, Context, Result};
use aws_sdk_ecs::types::{Container, DesiredStatus, ManagedAgentName, Task};
use serde_json::json;

use super::session::{self, ecs_target, plugin_args, Origin, Session};
use super::{cluster_name, service_name, PluginContext};
use crate::aws::{call_error, Aws};
use crate::config::StackConfig;

/// DescribeTasks takes up to 100 tasks (ECS API reference, DescribeTasks `tasks`); ListTasks
/// is asked for no more, so one DescribeTasks covers every listed task.
pub const DESCRIBE_TASKS_LIMIT: i32 = 100;

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

/// What the stack file says about ECS Exec for one service in this environment, so that
/// messages can name the setting to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSetting {
    pub stack: String,
    pub env: String,
    pub service: String,
    /// [`StackConfig::exec_enabled`] for the service.
    pub enabled: bool,
}

impl ExecSetting {
    pub fn of(config: &StackConfig, service: &str) -> Self {
        ExecSetting {
            stack: config.stack.clone(),
            env: config.env.clone(),
            service: service.to_owned(),
            enabled: config.exec_enabled(service),
        }
    }

    fn up_command(&self) -> String {
        format!("provision --stack {} --env {} up", self.stack, self.env)
    }

    /// The config key to set and what to run afterwards.
    pub fn how_to_enable(&self) -> String {
        format!(
            "set `exec = true` under [env.{env}.services.{service}] in config/{stack}.toml and run `{up}` \
             (a task definition revision with a writable root filesystem, enableExecuteCommand on the \
             service, SSM permissions on its task role; the service rolls onto new tasks), then retry \
             once the new tasks run (`provision status`)",
            env = self.env,
            service = self.service,
            stack = self.stack,
            up = self.up_command(),
        )
    }

    /// Exec is off for the service: why, and how to turn it on.
    pub fn off_message(&self) -> String {
        format!(
            "service {} has ECS Exec off in env {} (its containers keep a read-only root filesystem, \
             which ECS Exec does not support); to turn it on, {}",
            self.service,
            self.env,
            self.how_to_enable()
        )
    }
}

/// Why a task's container cannot take an ECS Exec (or SSM port-forwarding) session now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unready {
    TaskNotRunning {
        task_id: String,
        status: String,
    },
    ExecNotEnabled {
        task_id: String,
    },
    NoSuchContainer {
        task_id: String,
        container: String,
        names: Vec<String>,
    },
    NoRuntimeId {
        task_id: String,
        container: String,
    },
    AgentMissing {
        task_id: String,
        container: String,
    },
    AgentNotRunning {
        task_id: String,
        container: String,
        status: String,
        reason: Option<String>,
    },
}

impl Unready {
    /// What is wrong, as AWS reports it.
    pub fn problem(&self) -> String {
        match self {
            Unready::TaskNotRunning { task_id, status } => {
                format!("task {task_id} is {status}, not RUNNING")
            }
            Unready::ExecNotEnabled { task_id } => {
                format!("task {task_id} was started without enableExecuteCommand")
            }
            Unready::NoSuchContainer {
                task_id, container, ..
            } => format!("task {task_id} has no container {container}"),
            Unready::NoRuntimeId { task_id, container } => {
                format!("container {container} of task {task_id} has no runtime id yet")
            }
            Unready::AgentMissing { task_id, container } => {
                format!("container {container} of task {task_id} has no ExecuteCommandAgent")
            }
            Unready::AgentNotRunning {
                task_id,
                container,
                status,
                reason,
            } => format!(
                "the ExecuteCommandAgent of container {container} in task {task_id} is {status}{}",
                reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        }
    }

    /// What to do about it; `setting` (the service's config) makes the advice exact.
    pub fn remedy(&self, setting: Option<&ExecSetting>) -> String {
        match self {
            Unready::TaskNotRunning { .. } => "wait for it or pick another with --task".into(),
            Unready::NoSuchContainer { names, .. } => {
                format!("pass --container with one of: {}", names.join(", "))
            }
            Unready::NoRuntimeId { .. } => "wait until it runs".into(),
            Unready::AgentNotRunning { status, .. } if status == "PENDING" => {
                "the agent is still starting; retry in a few seconds".into()
            }
            Unready::ExecNotEnabled { .. }
            | Unready::AgentMissing { .. }
            | Unready::AgentNotRunning { .. } => match setting {
                Some(setting) if !setting.enabled => setting.off_message(),
                Some(setting) => format!(
                    "ECS Exec is on for {service} in env {env}, but tasks started before `{up}` turned it on \
                     keep a read-only root filesystem or lack enableExecuteCommand: run `{up}` if you have not \
                     since the config change, and retry once the service has replaced its tasks (`provision status`){}",
                    if matches!(self, Unready::AgentNotRunning { .. }) {
                        ". Should new tasks show this too, the agent cannot reach SSM: its reason above says why"
                    } else {
                        ""
                    },
                    service = setting.service,
                    env = setting.env,
                    up = setting.up_command(),
                ),
                None => "run `provision up` so the service runs with ECS Exec, then wait for new tasks".into(),
            },
        }
    }
}

impl std::fmt::Display for Unready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.problem(), self.remedy(None))
    }
}

impl std::error::Error for Unready {}

/// The status of the container's ECS Exec agent (absent: the task was started without exec).
pub fn exec_agent_status(container: &Container) -> Option<(&str, Option<&str>)> {
    container
        .managed_agents()
        .iter()
        .find(|a| a.name() == Some(&ManagedAgentName::ExecuteCommandAgent))
        .map(|a| (a.last_status().unwrap_or("UNKNOWN"), a.reason()))
}

/// The exec target inside a described task, once its ExecuteCommandAgent runs;
/// `container` falls back to the only container.
pub fn target_of(cluster: &str, task: &Task, container: &str) -> Result<ExecTarget, Unready> {
    let task_arn = task.task_arn().unwrap_or_default().to_owned();
    let task_id = last_segment(&task_arn).to_owned();
    if task.last_status() != Some("RUNNING") {
        return Err(Unready::TaskNotRunning {
            task_id,
            status: task
                .last_status()
                .unwrap_or("in an unknown state")
                .to_owned(),
        });
    }
    if !task.enable_execute_command() {
        return Err(Unready::ExecNotEnabled { task_id });
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
        return Err(Unready::NoSuchContainer {
            task_id,
            container: container.to_owned(),
            names: task
                .containers()
                .iter()
                .filter_map(|c| c.name().map(str::to_owned))
                .collect(),
        });
    };
    let name = chosen.name().unwrap_or(container).to_owned();
    let Some(runtime_id) = chosen.runtime_id() else {
        return Err(Unready::NoRuntimeId {
            task_id,
            container: name,
        });
    };
    match exec_agent_status(chosen) {
        Some(("RUNNING", _)) => {}
        Some((status, reason)) => {
            return Err(Unready::AgentNotRunning {
                task_id,
                container: name,
                status: status.to_owned(),
                reason: reason.map(str::to_owned),
            })
        }
        None => {
            return Err(Unready::AgentMissing {
                task_id,
                container: name,
            })
        }
    }
    Ok(ExecTarget {
        cluster: cluster.to_owned(),
        task_arn,
        task_id,
        container: name,
        runtime_id: runtime_id.to_owned(),
    })
}

/// The first of `tasks` whose container can take a session now (several tasks of a
/// service may be in different states during a rollout); otherwise why the first cannot,
/// with advice for the service's config.
pub fn choose_target(
    cluster: &str,
    tasks: &[Task],
    container: &str,
    setting: &ExecSetting,
) -> Result<ExecTarget> {
    let mut first = None;
    for task in tasks {
        match target_of(cluster, task, container) {
            Ok(target) => return Ok(target),
            Err(why) => {
                first.get_or_insert(why);
            }
        }
    }
    let Some(why) = first else {
        bail!(
            "service {} has no task to describe in {cluster}",
            setting.service
        );
    };
    let others = match tasks.len() {
        0 | 1 => String::new(),
        n => format!(" (nor can any of its other {} tasks take a session)", n - 1),
    };
    bail!("{}{others}; {}", why.problem(), why.remedy(Some(setting)))
}

/// A task of `service` (or the given one) whose container's exec agent runs, and that
/// container's runtime id.
pub async fn find_target(
    aws: &Aws,
    config: &StackConfig,
    service: &str,
    task: Option<&str>,
    container: Option<&str>,
) -> Result<ExecTarget> {
    let cluster = cluster_name(aws);
    let task_refs = match task {
        Some(task) => vec![task.to_owned()],
        None => {
            let out = aws
                .ecs
                .list_tasks()
                .cluster(&cluster)
                .service_name(service_name(aws, service))
                .desired_status(DesiredStatus::Running)
                .max_results(DESCRIBE_TASKS_LIMIT)
                .send()
                .await
                .map_err(|e| call_error(service, "ListTasks", e))?;
            if out.task_arns().is_empty() {
                bail!(
                    "service {service} has no running task in {cluster}; check `provision status` (is the image pushed, is desired > 0?)"
                );
            }
            out.task_arns().to_vec()
        }
    };
    let out = aws
        .ecs
        .describe_tasks()
        .cluster(&cluster)
        .set_tasks(Some(task_refs.clone()))
        .send()
        .await
        .map_err(|e| call_error(service, "DescribeTasks", e))?;
    if out.tasks().is_empty() {
        bail!(
            "task {} not found in {cluster}; list the service's tasks with `provision status`",
            task_refs.join(", ")
        );
    }
    choose_target(
        &cluster,
        out.tasks(),
        container.unwrap_or(service),
        &ExecSetting::of(config, service),
    )
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

/// `provision exec SERVICE [--task ID] [--container C] [-- CMD…]`: ExecuteCommand only
/// once a task's ExecuteCommandAgent is RUNNING.
pub async fn exec(
    aws: &Aws,
    plugin: &PluginContext,
    config: &StackConfig,
    service: &str,
    task: Option<&str>,
    container: Option<&str>,
    command: &[String],
) -> Result<u8> {
    let target = find_target(aws, config, service, task, container).await?;
    exec_into(aws, plugin, &target, &command_line(command)).await
}

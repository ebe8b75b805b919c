//! `provision debug`: a one-off task from the debug image (`services/debug/Dockerfile`) in the
//! private subnets with the debug security group, which the data stores accept; an ECS Exec
//! session into it with `REDIS_URL` / `DATABASE_URL` in its environment; the task stopped
//! when the session ends, fails or is interrupted. (moto has no ExecuteCommand and never
//! runs a task, so the requests are tested with aws-smithy-mocks.)

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_ecs::types::{Container, ManagedAgentName, Tag, Task, TaskDefinitionField};

use super::exec::{self, last_segment, ExecTarget};
use super::run::{self, Placement};
use super::tasks::{self, stopped_reason, Watch};
use super::{cluster_name, PluginContext};
use crate::aws::{call_error, Aws};
use crate::constructs::DEBUG;
use crate::model::ids;

/// The reason StopTask records (visible in the ECS console's stopped tasks).
pub const STOP_REASON: &str = "provision debug session ended";

/// How often the starting task is described while waiting for it and its exec agent.
pub const POLL_INTERVAL: Duration = tasks::POLL_INTERVAL;

/// Logical id of the temporary revision `--image` registers (see [`ids::CUSTOM_IMAGE_ID`]).
pub use crate::model::ids::CUSTOM_IMAGE_ID;

/// The command ECS Exec runs by default: a login shell, so the image's banner shows the
/// tools and the (masked) URLs.
pub const LOGIN_SHELL: &str = "/bin/sh -l";

/// What ECS Exec runs: the login shell, or the given words run by the container's shell.
/// ECS Exec starts a command without a shell, so `$REDIS_URL` would reach the program
/// literally: each word is double-quoted (its boundaries kept, `$VARS` expanded in the
/// container) and the whole script single-quoted as `sh -c`'s argument.
pub fn command_line(words: &[String]) -> String {
    if words.is_empty() {
        return LOGIN_SHELL.to_owned();
    }
    let script: Vec<String> = words.iter().map(|word| double_quoted(word)).collect();
    format!("/bin/sh -c {}", single_quoted(&script.join(" ")))
}

/// `"word"` for sh: `"`, `\` and backquotes escaped, `$` left to expand.
fn double_quoted(word: &str) -> String {
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('"');
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '`') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// `'text'` for sh, a `'` inside written as `'\''`.
fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Registers a revision of the debug task definition that runs `image` instead, in its own
/// family (`<stack>-<env>-taskdef-debug-image`) so the stack's own revision stays as `up`
/// made it; its ARN.
pub async fn register_custom_image(aws: &Aws, image: &str) -> Result<String> {
    let family = aws.name(&ids::task_definition(DEBUG));
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(&family)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| call_error(&family, "DescribeTaskDefinition", e))
        .context("the debug task definition is missing; run `provision up` first")?;
    let definition = out
        .task_definition()
        .with_context(|| format!("{family} has no active revision; run `provision up` first"))?;
    let mut containers = definition.container_definitions().to_vec();
    let debug = containers
        .iter_mut()
        .find(|c| c.name() == Some(DEBUG))
        .with_context(|| {
            format!("{family} has no container {DEBUG}; run `provision up` to repair it")
        })?;
    debug.image = Some(image.to_owned());
    let registered = aws
        .ecs
        .register_task_definition()
        .family(aws.name(CUSTOM_IMAGE_ID))
        .set_requires_compatibilities(Some(definition.requires_compatibilities().to_vec()))
        .set_network_mode(definition.network_mode().cloned())
        .set_cpu(definition.cpu().map(str::to_owned))
        .set_memory(definition.memory().map(str::to_owned))
        .set_execution_role_arn(definition.execution_role_arn().map(str::to_owned))
        .set_task_role_arn(definition.task_role_arn().map(str::to_owned))
        .set_container_definitions(Some(containers))
        .set_tags(Some(
            aws.tags(CUSTOM_IMAGE_ID)
                .into_iter()
                .map(|(key, value)| Tag::builder().key(key).value(value).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| call_error(CUSTOM_IMAGE_ID, "RegisterTaskDefinition", e))?;
    registered
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .map(str::to_owned)
        .context("RegisterTaskDefinition answered without a task definition ARN")
}

/// Deregisters and deletes a temporary revision (a deregistered one would stay INACTIVE).
pub async fn discard_revision(aws: &Aws, arn: &str) -> Result<()> {
    aws.ecs
        .deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| call_error(CUSTOM_IMAGE_ID, "DeregisterTaskDefinition", e))?;
    aws.ecs
        .delete_task_definitions()
        .task_definitions(arn)
        .send()
        .await
        .map_err(|e| call_error(CUSTOM_IMAGE_ID, "DeleteTaskDefinitions", e))?;
    Ok(())
}

/// Describes the task until it and its ExecuteCommandAgent run; the exec target. A task
/// that stops first (image not pushed, secrets unreadable) is an error naming AWS's reason.
pub async fn wait_until_ready(aws: &Aws, task_arn: &str, poll: Duration) -> Result<ExecTarget> {
    let cluster = cluster_name(aws);
    let task_id = last_segment(task_arn);
    let watch = Watch {
        aws,
        task_arn,
        label: task_id,
        prefix: "debug",
        poll,
    };
    let target = watch
        .until(
            |task| {
                format!(
                    "task {}, exec agent {}",
                    task.last_status().unwrap_or("UNKNOWN"),
                    exec_agent_status(task)
                )
            },
            async |task| {
                let status = task.last_status().unwrap_or("UNKNOWN");
                if status == "STOPPED" {
                    bail!(
                        "debug task {task_id} stopped before a session could start: {} \
                         (is the debug image pushed? an operator pushes it with ci/push-debug-image.sh)",
                        stopped_reason(task, debug_container(task))
                    );
                }
                if status == "RUNNING" && exec_agent_status(task) == "RUNNING" {
                    return Ok(Some(exec::target_of(&cluster, task, DEBUG)?));
                }
                Ok(None)
            },
            tasks::never,
            |state, limit| format!("debug task {task_id} is still {state} after {limit:?}"),
        )
        .await?;
    target.context("waiting for the debug task ended without a target")
}

fn debug_container(task: &Task) -> Option<&Container> {
    task.containers().iter().find(|c| c.name() == Some(DEBUG))
}

/// The last status of the debug container's ExecuteCommandAgent (`PENDING` before it has one).
fn exec_agent_status(task: &Task) -> &str {
    debug_container(task)
        .into_iter()
        .flat_map(|c| c.managed_agents())
        .find(|a| a.name() == Some(&ManagedAgentName::ExecuteCommandAgent))
        .and_then(|a| a.last_status())
        .unwrap_or("PENDING")
}

/// StopTask with [`STOP_REASON`].
pub async fn stop(aws: &Aws, task_arn: &str) -> Result<()> {
    aws.ecs
        .stop_task()
        .cluster(cluster_name(aws))
        .task(task_arn)
        .reason(STOP_REASON)
        .send()
        .await
        .map_err(|e| call_error(last_segment(task_arn), "StopTask", e))?;
    eprintln!("debug: stopped task {}", last_segment(task_arn));
    Ok(())
}

/// Waits for the task, then runs `session` on it; `interrupted` (Ctrl-C) while waiting
/// ends with 130. During the session the plugin owns the terminal (see `session::launch`).
async fn attach<S, F>(
    aws: &Aws,
    task_arn: &str,
    poll: Duration,
    interrupted: impl Future<Output = ()>,
    session: S,
) -> Result<u8>
where
    S: FnOnce(ExecTarget) -> F,
    F: Future<Output = Result<u8>>,
{
    let target = tokio::select! {
        target = wait_until_ready(aws, task_arn, poll) => target?,
        () = interrupted => {
            eprintln!("debug: interrupted");
            return Ok(130);
        }
    };
    session(target).await
}

/// Starts `task_definition` with ECS Exec enabled, runs `session` (an ECS Exec shell, or a
/// tunnel's port forwarding) once its exec agent runs, and stops the task whatever
/// happened (session end, error, interruption): the session's code, or the first error.
pub async fn run_session<S, F>(
    aws: &Aws,
    task_definition: &str,
    placement: &Placement,
    poll: Duration,
    interrupted: impl Future<Output = ()>,
    session: S,
) -> Result<u8>
where
    S: FnOnce(ExecTarget) -> F,
    F: Future<Output = Result<u8>>,
{
    let task_arn = run::start_task(aws, task_definition, placement, true, None).await?;
    eprintln!(
        "debug: started task {} ({task_definition}); it is stopped when the session ends",
        last_segment(&task_arn)
    );
    let outcome = attach(aws, &task_arn, poll, interrupted, session).await;
    // The guard: nothing above returns before this point once the task exists.
    let stopped = stop(aws, &task_arn).await.with_context(|| {
        format!(
            "debug task {} may still be running; stop it with `aws ecs stop-task --cluster {} --task {}`",
            last_segment(&task_arn),
            cluster_name(aws),
            task_arn
        )
    });
    match (outcome, stopped) {
        (Ok(code), Ok(())) => Ok(code),
        (Err(err), Ok(())) => Err(err),
        (Ok(_), Err(stop_err)) => Err(stop_err),
        (Err(err), Err(stop_err)) => Err(err.context(format!("{stop_err:#}"))),
    }
}

/// `provision debug [--image URI] [-- CMD…]`.
pub async fn debug(
    aws: &Aws,
    plugin: &PluginContext,
    image: Option<&str>,
    command: &[String],
    poll: Duration,
    interrupted: impl Future<Output = ()>,
) -> Result<u8> {
    let placement = run::placement(aws, &[ids::security_group(DEBUG)]).await?;
    let custom = match image {
        Some(image) => Some(register_custom_image(aws, image).await?),
        None => None,
    };
    let stack_definition = aws.name(&ids::task_definition(DEBUG));
    let definition = custom.as_deref().unwrap_or(&stack_definition);
    let command = command_line(command);
    let command = command.as_str();
    let outcome = run_session(
        aws,
        definition,
        &placement,
        poll,
        interrupted,
        |target| async move { exec::exec_into(aws, plugin, &target, command).await },
    )
    .await;
    if let Some(arn) = &custom {
        if let Err(err) = discard_revision(aws, arn).await {
            // Tagged as the stack's: the next `provision up` or `down` deletes it.
            eprintln!("debug: could not remove the temporary revision {arn}: {err:#} (the next `provision up` removes it)");
        }
    }
    outcome
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP: the operator (or their terminal) is gone.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = hangup.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_command_is_a_login_shell_and_others_run_in_the_containers_shell() {
        assert_eq!(command_line(&[]), "/bin/sh -l");
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            command_line(&words(&["redis-cli", "-u", "$REDIS_URL", "ping"])),
            r#"/bin/sh -c '"redis-cli" "-u" "$REDIS_URL" "ping"'"#
        );
        assert_eq!(
            command_line(&words(&[
                "psql",
                "$DATABASE_URL",
                "-c",
                "SELECT 'a', \"b\""
            ])),
            r#"/bin/sh -c '"psql" "$DATABASE_URL" "-c" "SELECT '\''a'\'', \"b\""'"#
        );
    }
}

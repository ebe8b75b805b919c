//! Waiting on a one-off ECS task (`provision run`, `provision debug`): DescribeTasks every
//! poll until the caller has what it waits for, printing each change of state, bounded by
//! the stack's wait limit.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_ecs::types::{Container, Task};

use super::cluster_name;
use crate::aws::{call_error, Aws};

/// How often a started task is described while waiting on it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// One task being waited on.
#[derive(Debug, Clone, Copy)]
pub struct Watch<'a> {
    pub aws: &'a Aws,
    pub task_arn: &'a str,
    /// Names the task in the errors of AWS calls.
    pub label: &'a str,
    /// Starts the progress lines (`<prefix>: <state>`).
    pub prefix: &'a str,
    pub poll: Duration,
}

impl Watch<'_> {
    /// Describes the task until `look` answers `Some`, printing `<prefix>: <state>` each
    /// time `state_of` changes (before `look` sees the task). Between looks it sleeps for
    /// `poll` and races `interrupted()` (made anew for each pause): when that resolves first
    /// the answer is `Ok(None)`. Past the stack's wait limit the error is
    /// `timed_out(last state, limit)`.
    pub async fn until<T, I>(
        &self,
        state_of: impl Fn(&Task) -> String,
        mut look: impl AsyncFnMut(&Task) -> Result<Option<T>>,
        mut interrupted: impl FnMut() -> I,
        timed_out: impl FnOnce(&str, Duration) -> String,
    ) -> Result<Option<T>>
    where
        I: Future<Output = ()>,
    {
        let cluster = cluster_name(self.aws);
        let started = Instant::now();
        let mut last_state = String::new();
        loop {
            let out = self
                .aws
                .ecs
                .describe_tasks()
                .cluster(&cluster)
                .tasks(self.task_arn)
                .send()
                .await
                .map_err(|e| call_error(self.label, "DescribeTasks", e))?;
            let task = out
                .tasks()
                .first()
                .with_context(|| format!("task {} disappeared from {cluster}", self.task_arn))?;
            let state = state_of(task);
            if state != last_state {
                eprintln!("{}: {state}", self.prefix);
                last_state = state;
            }
            if let Some(answer) = look(task).await? {
                return Ok(Some(answer));
            }
            if started.elapsed() > self.aws.wait_limit {
                bail!(timed_out(&last_state, self.aws.wait_limit));
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll) => {}
                () = interrupted() => return Ok(None),
            }
        }
    }
}

/// Why a stopped task stopped: its stopped reason, then the container's reason if any.
pub fn stopped_reason(task: &Task, container: Option<&Container>) -> String {
    let reason = task.stopped_reason().unwrap_or("no reason given");
    match container.and_then(|c| c.reason()).unwrap_or("") {
        "" => reason.to_owned(),
        container_reason => format!("{reason}; {container_reason}"),
    }
}

/// Never resolves: for a wait that nothing interrupts between looks.
pub async fn never() {
    std::future::pending::<()>().await
}

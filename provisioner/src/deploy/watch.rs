//! The deployment watcher: a pure state machine fed with observed deployment states
//! (from DescribeServiceDeployments, or DescribeServices where that API is missing),
//! plus a small driver that polls, prints progress lines and stops on Ctrl-C.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What one poll saw of a deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    /// ServiceDeploymentStatus: PENDING, IN_PROGRESS, SUCCESSFUL, ROLLBACK_IN_PROGRESS,
    /// ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED, STOPPED, …
    pub status: String,
    /// Lifecycle stage (SCALE_UP, TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME, …).
    pub stage: Option<String>,
    pub reason: Option<String>,
    /// Tasks of the new revision.
    pub running: i32,
    pub pending: i32,
    pub desired: i32,
    /// Share of production traffic the new revision was given, when ECS reports it.
    pub production_traffic_percent: Option<f64>,
}

impl Observation {
    fn progress_line(&self) -> String {
        let mut line = self.status.clone();
        if let Some(stage) = &self.stage {
            line.push_str(&format!(" / {stage}"));
        }
        line.push_str(&format!(
            ": new tasks {} running, {} pending of {} desired",
            self.running, self.pending, self.desired
        ));
        if let Some(share) = self.production_traffic_percent {
            line.push_str(&format!(
                ", traffic {share:.0}% new / {:.0}% old",
                100.0 - share
            ));
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(" ({reason})"));
        }
        line
    }
}

/// How watching ended. Each outcome has its own exit code.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The new revision serves all traffic.
    Succeeded,
    /// ECS rolled back (alarm, circuit breaker, or a requested rollback) and the old
    /// revision serves again.
    RolledBack { reason: Option<String> },
    /// The deployment failed, its rollback failed, or it was stopped without rollback.
    Failed {
        status: String,
        reason: Option<String>,
    },
    /// Still running when the timeout passed; the deployment itself carries on.
    TimedOut { last: Option<String> },
    /// The operator stopped watching (Ctrl-C); the deployment itself carries on.
    Interrupted,
}

impl Outcome {
    /// 0 succeeded, 3 rolled back, 4 failed, 5 timed out, 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Succeeded => 0,
            Outcome::RolledBack { .. } => 3,
            Outcome::Failed { .. } => 4,
            Outcome::TimedOut { .. } => 5,
            Outcome::Interrupted => 130,
        }
    }

    /// One word for machine-readable output (`--output json`).
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack { .. } => "rolled_back",
            Outcome::Failed { .. } => "failed",
            Outcome::TimedOut { .. } => "timed_out",
            Outcome::Interrupted => "interrupted",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Outcome::Succeeded => "succeeded: the new revision serves all traffic".into(),
            Outcome::RolledBack { reason } => format!(
                "rolled back: the previous revision serves again{}",
                reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            Outcome::Failed { status, reason } => format!(
                "failed ({status}){}; check `provision status` and the service events",
                reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            Outcome::TimedOut { last } => format!(
                "still in progress at the timeout (last: {}); the deployment continues — watch it \
                 in the ECS console or run `provision rollback` to stop it",
                last.as_deref().unwrap_or("nothing observed")
            ),
            Outcome::Interrupted => "stopped watching (Ctrl-C); the deployment continues in ECS — \
                 `provision rollback` stops it"
                .into(),
        }
    }
}

/// What the watcher is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Observed(Observation),
    /// Time since watching began (checked against the timeout).
    Elapsed(Duration),
    Cancelled,
}

/// What the watcher answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Keep polling; print the line if there is one (only when something changed).
    Continue(Option<String>),
    Done(Outcome),
}

/// The state machine: remembers the last state to print only changes.
#[derive(Debug)]
pub struct Watcher {
    timeout: Duration,
    last: Option<String>,
}

impl Watcher {
    pub fn new(timeout: Duration) -> Self {
        Watcher {
            timeout,
            last: None,
        }
    }

    pub fn step(&mut self, event: Event) -> Step {
        match event {
            Event::Cancelled => Step::Done(Outcome::Interrupted),
            Event::Elapsed(elapsed) if elapsed >= self.timeout => Step::Done(Outcome::TimedOut {
                last: self.last.clone(),
            }),
            Event::Elapsed(_) => Step::Continue(None),
            Event::Observed(observation) => {
                let reason = observation.reason.clone();
                match observation.status.as_str() {
                    "SUCCESSFUL" => return Step::Done(Outcome::Succeeded),
                    "ROLLBACK_SUCCESSFUL" => return Step::Done(Outcome::RolledBack { reason }),
                    "ROLLBACK_FAILED" | "STOPPED" | "FAILED" => {
                        return Step::Done(Outcome::Failed {
                            status: observation.status,
                            reason,
                        })
                    }
                    _ => {}
                }
                let line = observation.progress_line();
                if self.last.as_deref() == Some(line.as_str()) {
                    Step::Continue(None)
                } else {
                    self.last = Some(line.clone());
                    Step::Continue(Some(line))
                }
            }
        }
    }
}

/// Polls `observe` every `interval` until the watcher decides, `cancel` resolves or the
/// timeout passes; `print` gets each progress line. Polling errors end the watch.
pub async fn watch<O, Fut, C>(
    timeout: Duration,
    interval: Duration,
    mut observe: O,
    cancel: C,
    mut print: impl FnMut(&str),
) -> anyhow::Result<Outcome>
where
    O: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Observation>>,
    C: Future<Output = ()>,
{
    let started = Instant::now();
    let mut watcher = Watcher::new(timeout);
    tokio::pin!(cancel);
    loop {
        let observation = tokio::select! {
            biased;
            () = &mut cancel => return Ok(finish(&mut watcher, Event::Cancelled)),
            observation = observe() => observation?,
        };
        match watcher.step(Event::Observed(observation)) {
            Step::Done(outcome) => return Ok(outcome),
            Step::Continue(Some(line)) => print(&line),
            Step::Continue(None) => {}
        }
        if let Step::Done(outcome) = watcher.step(Event::Elapsed(started.elapsed())) {
            return Ok(outcome);
        }
        tokio::select! {
            biased;
            () = &mut cancel => return Ok(finish(&mut watcher, Event::Cancelled)),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

fn finish(watcher: &mut Watcher, event: Event) -> Outcome {
    match watcher.step(event) {
        Step::Done(outcome) => outcome,
        Step::Continue(_) => unreachable!("cancellation always ends the watch"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;

    fn state(status: &str, stage: Option<&str>, running: i32, traffic: Option<f64>) -> Observation {
        Observation {
            status: status.into(),
            stage: stage.map(str::to_owned),
            reason: None,
            running,
            pending: 2 - running,
            desired: 2,
            production_traffic_percent: traffic,
        }
    }

    /// Feeds a scripted sequence; returns the printed lines and the outcome.
    async fn run_script(
        script: Vec<Observation>,
        timeout: Duration,
        cancel_after: Option<usize>,
    ) -> (Vec<String>, Outcome) {
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let polls = Arc::new(Mutex::new(0usize));
        let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
        let cancel_tx = Arc::new(Mutex::new(Some(cancel_tx)));
        let mut lines = Vec::new();
        let outcome = watch(
            timeout,
            Duration::from_millis(1),
            || {
                let script = script.clone();
                let polls = polls.clone();
                let cancel_tx = cancel_tx.clone();
                async move {
                    let mut count = polls.lock().unwrap();
                    *count += 1;
                    if Some(*count) == cancel_after {
                        if let Some(tx) = cancel_tx.lock().unwrap().take() {
                            let _ = tx.send(());
                        }
                    }
                    let mut script = script.lock().unwrap();
                    // The last state repeats (a deployment that stays where it is).
                    let next = if script.len() > 1 {
                        script.pop_front()
                    } else {
                        script.front().cloned()
                    };
                    Ok(next.expect("a non-empty script"))
                }
            },
            async move {
                let _ = cancel_rx.await;
            },
            |line| lines.push(line.to_owned()),
        )
        .await
        .unwrap();
        (lines, outcome)
    }

    #[tokio::test]
    async fn blue_green_success_prints_each_stage_once() {
        let script = vec![
            state("PENDING", None, 0, None),
            state("IN_PROGRESS", Some("SCALE_UP"), 1, None),
            state("IN_PROGRESS", Some("SCALE_UP"), 1, None),
            state(
                "IN_PROGRESS",
                Some("PRODUCTION_TRAFFIC_SHIFT"),
                2,
                Some(10.0),
            ),
            state("IN_PROGRESS", Some("BAKE_TIME"), 2, Some(100.0)),
            state("SUCCESSFUL", Some("CLEAN_UP"), 2, Some(100.0)),
        ];
        let (lines, outcome) = run_script(script, Duration::from_secs(60), None).await;
        assert_eq!(outcome, Outcome::Succeeded);
        assert_eq!(outcome.exit_code(), 0);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(
            lines[2],
            "IN_PROGRESS / PRODUCTION_TRAFFIC_SHIFT: new tasks 2 running, 0 pending of 2 desired, traffic 10% new / 90% old"
        );
    }

    #[tokio::test]
    async fn an_alarm_rollback_ends_with_the_rollback_exit_code() {
        let mut rolling_back = state(
            "ROLLBACK_IN_PROGRESS",
            Some("RECONCILE_SERVICE"),
            0,
            Some(0.0),
        );
        rolling_back.reason = Some("alarm vote-5xx in ALARM".into());
        let mut rolled_back = state("ROLLBACK_SUCCESSFUL", None, 0, None);
        rolled_back.reason = Some("alarm vote-5xx in ALARM".into());
        let script = vec![
            state("IN_PROGRESS", Some("BAKE_TIME"), 2, Some(100.0)),
            rolling_back,
            rolled_back,
        ];
        let (lines, outcome) = run_script(script, Duration::from_secs(60), None).await;
        assert_eq!(
            outcome,
            Outcome::RolledBack {
                reason: Some("alarm vote-5xx in ALARM".into())
            }
        );
        assert_eq!(outcome.exit_code(), 3);
        assert!(lines[1].starts_with("ROLLBACK_IN_PROGRESS"), "{lines:#?}");
    }

    #[tokio::test]
    async fn a_failed_rollback_is_a_failure() {
        let script = vec![state("ROLLBACK_FAILED", None, 0, None)];
        let (_, outcome) = run_script(script, Duration::from_secs(60), None).await;
        assert_eq!(outcome.exit_code(), 4);
    }

    #[tokio::test]
    async fn a_deployment_that_stays_in_progress_times_out() {
        let script = vec![state("IN_PROGRESS", Some("SCALE_UP"), 1, None)];
        let (lines, outcome) = run_script(script, Duration::from_millis(30), None).await;
        assert_eq!(
            outcome,
            Outcome::TimedOut {
                last: Some(lines[0].clone())
            }
        );
        assert_eq!(outcome.exit_code(), 5);
        assert_eq!(lines.len(), 1, "an unchanged state prints once");
    }

    #[tokio::test]
    async fn ctrl_c_stops_watching_without_an_outcome_from_ecs() {
        let script = vec![
            state("IN_PROGRESS", Some("SCALE_UP"), 0, None),
            state("IN_PROGRESS", Some("SCALE_UP"), 1, None),
            state("SUCCESSFUL", None, 2, None),
        ];
        // Cancelled during the second poll: that poll's answer is still processed, then
        // the cancellation wins over the third poll.
        let (lines, outcome) = run_script(script, Duration::from_secs(60), Some(2)).await;
        assert_eq!(outcome, Outcome::Interrupted);
        assert_eq!(outcome.exit_code(), 130);
        assert_eq!(lines.len(), 2);
        assert!(outcome.describe().contains("the deployment continues"));
    }

    #[test]
    fn the_state_machine_decides_on_the_timeout_only_when_it_has_passed() {
        let mut watcher = Watcher::new(Duration::from_secs(10));
        assert_eq!(
            watcher.step(Event::Elapsed(Duration::from_secs(9))),
            Step::Continue(None)
        );
        assert!(matches!(
            watcher.step(Event::Elapsed(Duration::from_secs(10))),
            Step::Done(Outcome::TimedOut { last: None })
        ));
    }
}

//! Applying a plan: every step starts as soon as the steps it depends on are done, so
//! independent resources are created (and deleted) concurrently; each step waits until
//! its resource is usable (or gone) and shows what it waits on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::aws::{Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::graph::Graph;
use crate::plan::{observed_graph, Action, Observed, Plan};
use crate::resources;

/// At most this many resources are worked on at once (keeps clear of API rate limits).
const MAX_CONCURRENT: usize = 16;

/// What an apply did.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub done: BTreeMap<String, String>,
    pub failed: BTreeMap<String, String>,
    pub skipped: BTreeMap<String, String>,
    pub elapsed_secs: f64,
    /// Most AWS operations in flight at one time.
    pub peak_concurrent_calls: usize,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

/// Live per-resource progress: spinners on a terminal, plain lines otherwise.
pub struct Ui {
    multi: MultiProgress,
    interactive: bool,
    verbose: bool,
}

impl Ui {
    pub fn new(verbose: bool, quiet: bool) -> Self {
        let interactive = !quiet && std::io::stderr().is_terminal();
        let target = if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Ui {
            multi: MultiProgress::with_draw_target(target),
            interactive,
            verbose: verbose && !quiet,
        }
    }

    fn start(&self, label: String) -> Arc<StepProgress> {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<40} {wide_msg} [{elapsed}]")
                .expect("static template"),
        );
        bar.set_prefix(label.clone());
        bar.set_message("calling AWS");
        bar.enable_steady_tick(Duration::from_millis(120));
        Arc::new(StepProgress {
            bar,
            label,
            interactive: self.interactive,
            verbose: self.verbose,
            started: Instant::now(),
        })
    }

    fn line(&self, text: String) {
        if self.interactive {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

struct StepProgress {
    bar: ProgressBar,
    label: String,
    interactive: bool,
    verbose: bool,
    started: Instant,
}

impl Progress for StepProgress {
    fn waiting(&self, what: &str) {
        self.bar.set_message(what.to_owned());
        if !self.interactive && self.verbose {
            eprintln!("  {} … {what} ({:.0?})", self.label, self.started.elapsed());
        }
    }
}

impl StepProgress {
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

type StepResult = (
    String,
    Result<Option<crate::plan::Attrs>, AwsError>,
    Duration,
);

/// Applies creates, updates and replacements in dependency order, then deletes of
/// resources the config dropped, dependents first.
pub async fn apply(
    aws: &Aws,
    graph: &Graph,
    plan: &Plan,
    observed: &[Observed],
    options: &DeleteOptions,
    ui: &Ui,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome::default();
    let live: HashMap<&str, &Observed> = observed.iter().map(|o| (o.id.as_str(), o)).collect();
    let mut resolved = Resolved::new(
        observed
            .iter()
            .map(|o| (o.id.clone(), o.attrs.clone()))
            .collect(),
    );
    let actions: HashMap<&str, &Action> = plan
        .steps
        .iter()
        .map(|s| (s.id.as_str(), &s.action))
        .collect();
    let mut pending: Vec<&str> = graph
        .create_order()
        .into_iter()
        .filter(|id| {
            actions
                .get(id)
                .is_some_and(|a| a.is_change() && **a != Action::Delete)
        })
        .collect();
    let mut finished: HashSet<String> = graph
        .resources()
        .iter()
        .filter(|r| !pending.contains(&r.id.as_str()))
        .map(|r| r.id.clone())
        .collect();
    let mut blocked: HashSet<String> = HashSet::new();
    let mut running = FuturesUnordered::new();

    loop {
        // Start everything whose dependencies are done.
        let mut index = 0;
        while index < pending.len() && running.len() < MAX_CONCURRENT {
            let id = pending[index];
            let deps: Vec<&String> = graph.dependencies(id).collect();
            if let Some(failed) = deps.iter().find(|d| blocked.contains(d.as_str())) {
                outcome
                    .skipped
                    .insert(id.to_owned(), format!("not attempted: {failed} failed"));
                blocked.insert(id.to_owned());
                pending.remove(index);
                continue;
            }
            if deps.iter().all(|d| finished.contains(d.as_str())) {
                pending.remove(index);
                let resource = graph.get(id).expect("planned ids are in the graph").clone();
                let action = actions[id].clone();
                let old = live.get(id).map(|o| (*o).clone());
                let snapshot = resolved.clone();
                let options = options.clone();
                let verb = action.verb();
                let progress = ui.start(format!("{verb} {} {id}", resource.kind().label()));
                running.push(async move {
                    let step_started = Instant::now();
                    let result = match &action {
                        Action::Create => resources::create(aws, &resource, &snapshot, &*progress)
                            .await
                            .map(Some),
                        Action::Update { .. } => {
                            resources::update(aws, &resource, &snapshot, &*progress)
                                .await
                                .map(Some)
                        }
                        Action::Replace { .. } => {
                            let deleted = match &old {
                                Some(old) => {
                                    resources::delete(aws, old, &options, &*progress).await
                                }
                                None => Ok(()),
                            };
                            match deleted {
                                Ok(()) => {
                                    let mut fresh = snapshot.clone();
                                    fresh.remove(&resource.id);
                                    resources::create(aws, &resource, &fresh, &*progress)
                                        .await
                                        .map(Some)
                                }
                                Err(err) => Err(err),
                            }
                        }
                        Action::Delete | Action::NoOp => Ok(None),
                    };
                    progress.finish();
                    (resource.id.clone(), result, step_started.elapsed()) as StepResult
                });
            } else {
                index += 1;
            }
        }
        let Some((id, result, took)) = running.next().await else {
            break;
        };
        let verb = actions[id.as_str()].verb();
        match result {
            Ok(attrs) => {
                if let Some(attrs) = attrs {
                    resolved.insert(&id, attrs);
                }
                ui.line(format!("✓ {verb:<8} {id} ({took:.1?})"));
                outcome.done.insert(id.clone(), verb.to_owned());
                finished.insert(id);
            }
            Err(err) => {
                ui.line(format!("✗ {verb:<8} {id}: {err}"));
                outcome.failed.insert(id.clone(), err.to_string());
                blocked.insert(id);
            }
        }
    }

    let doomed: Vec<&Observed> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .filter_map(|s| live.get(s.id.as_str()).copied())
        .collect();
    delete_all(aws, &doomed, observed, options, ui, &mut outcome).await;
    outcome.elapsed_secs = started.elapsed().as_secs_f64();
    outcome.peak_concurrent_calls = aws.stats.peak_in_flight();
    outcome
}

/// Deletes `doomed` concurrently, each only after everything depending on it is gone
/// (edges from the observed specs of everything that exists).
pub async fn delete_all(
    aws: &Aws,
    doomed: &[&Observed],
    observed: &[Observed],
    options: &DeleteOptions,
    ui: &Ui,
    outcome: &mut Outcome,
) {
    let graph = observed_graph(observed);
    let mut pending: Vec<&Observed> = {
        let order = graph.delete_order();
        let mut sorted: Vec<&Observed> = doomed.to_vec();
        sorted.sort_by_key(|o| order.iter().position(|id| *id == o.id));
        sorted
    };
    let doomed_ids: HashSet<&str> = pending.iter().map(|o| o.id.as_str()).collect();
    let mut gone: HashSet<String> = HashSet::new();
    let mut stuck: HashSet<String> = HashSet::new();
    let mut running = FuturesUnordered::new();
    loop {
        let mut index = 0;
        while index < pending.len() && running.len() < MAX_CONCURRENT {
            let resource = pending[index];
            let dependents: Vec<&str> = graph
                .dependents(&resource.id)
                .into_iter()
                .filter(|d| doomed_ids.contains(d))
                .collect();
            if let Some(blocker) = dependents.iter().find(|d| stuck.contains(**d)) {
                outcome.skipped.insert(
                    resource.id.clone(),
                    format!("not deleted: {blocker} could not be deleted"),
                );
                stuck.insert(resource.id.clone());
                pending.remove(index);
                continue;
            }
            if dependents.iter().all(|d| gone.contains(*d)) {
                pending.remove(index);
                let progress =
                    ui.start(format!("delete {} {}", resource.kind.label(), resource.id));
                let options = options.clone();
                running.push(async move {
                    let step_started = Instant::now();
                    let result = resources::delete(aws, resource, &options, &*progress).await;
                    progress.finish();
                    (resource.id.clone(), result, step_started.elapsed())
                });
            } else {
                index += 1;
            }
        }
        let Some((id, result, took)) = running.next().await else {
            break;
        };
        match result {
            Ok(()) => {
                ui.line(format!("✓ delete   {id} ({took:.1?})"));
                outcome.done.insert(id.clone(), "delete".into());
                gone.insert(id);
            }
            Err(err) => {
                ui.line(format!("✗ delete   {id}: {err}"));
                outcome.failed.insert(id.clone(), err.to_string());
                stuck.insert(id);
            }
        }
    }
}

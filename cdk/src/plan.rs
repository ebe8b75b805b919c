//! Planning: normalized desired state vs normalized observed state → per-resource
//! actions with field-level changes. Pure data in, data out.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::graph::Graph;
/// The state types plans take (defined in [`crate::model::state`]).
pub use crate::model::{Attrs, Observed};
use crate::model::{Kind, Resource};

/// Fields holding unordered collections: sorted before comparison.
const SET_FIELDS: [&str; 8] = [
    "subnets",
    "security_groups",
    "ingress",
    "statements",
    "actions",
    "resources",
    "paths",
    "hosts",
];

/// Maps physical identifiers (ids, ARNs, names…) back to `${logical-id}`.
#[derive(Debug, Default, Clone)]
pub struct PhysicalIndex {
    to_logical: HashMap<String, String>,
}

impl PhysicalIndex {
    /// Indexes every identifying attribute of the observed resources (those not starting
    /// with `_`) to its resource's logical id.
    pub fn new<'a>(observed: impl IntoIterator<Item = &'a Observed>) -> Self {
        let mut to_logical = HashMap::new();
        for resource in observed {
            // `_`-prefixed attributes are bookkeeping, not identifiers.
            for (key, value) in &resource.attrs {
                if !key.starts_with('_') && !value.is_empty() {
                    to_logical.insert(value.clone(), resource.id.clone());
                }
            }
        }
        PhysicalIndex { to_logical }
    }

    /// The logical id of the resource this physical id, ARN or name belongs to.
    pub fn logical(&self, physical: &str) -> Option<&str> {
        self.to_logical.get(physical).map(String::as_str)
    }
}

/// Rewrites physical ids to `${logical}` (also `<arn>:*` → `${id}:*`) and sorts set-like
/// fields, so equal infrastructure compares equal whatever ids AWS assigned.
pub fn normalize(value: &Value, index: &PhysicalIndex) -> Value {
    normalize_inner(value, index, None)
}

fn normalize_inner(value: &Value, index: &PhysicalIndex, field: Option<&str>) -> Value {
    match value {
        Value::String(s) => {
            if let Some(id) = index.logical(s) {
                return Value::String(format!("${{{id}}}"));
            }
            if let Some(base) = s.strip_suffix(":*") {
                if let Some(id) = index.logical(base) {
                    return Value::String(format!("${{{id}}}:*"));
                }
            }
            value.clone()
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items
                .iter()
                .map(|v| normalize_inner(v, index, None))
                .collect();
            if field.is_some_and(|f| SET_FIELDS.contains(&f)) {
                items.sort_by_key(|v| v.to_string());
                items.dedup();
            }
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize_inner(v, index, Some(k))))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One spec field whose live value differs from the desired one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path of the field in the spec's JSON (`container.image_tag`); arrays are
    /// compared whole.
    pub path: String,
    /// The live value, as AWS reports it (normalized).
    pub before: Value,
    /// The desired value.
    pub after: Value,
}

/// What a plan does to one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The resource does not exist yet.
    Create,
    /// Changed in place.
    Update {
        /// The fields that differ (all AWS can change in place).
        changes: Vec<FieldChange>,
    },
    /// Deleted and created again: an immutable field (or the kind) changed.
    Replace {
        /// The fields that differ (`kind` when the kind changed).
        changes: Vec<FieldChange>,
    },
    /// The resource exists but the config no longer has it.
    Delete,
    /// The live resource matches the desired spec.
    NoOp,
}

impl Action {
    /// The action's name in plans and summaries: `create`, `update`, `replace`,
    /// `delete`, `no-op`.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Replace { .. } => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
        }
    }

    /// Whether the action touches AWS (anything but [`Action::NoOp`]).
    pub fn is_change(&self) -> bool {
        !matches!(self, Action::NoOp)
    }
}

/// One resource's action in a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Logical id of the resource.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// What happens to it (flattened into the step when serialized: `"action": "update"`).
    #[serde(flatten)]
    pub action: Action,
    /// Set when the step destroys stored data (a data store deleted or replaced by an
    /// empty one): what is lost. `up` and `down` refuse such steps unless the operator
    /// names the resource (`--allow-data-loss <id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<String>,
}

impl Step {
    /// A step with its data-loss mark derived from its kind and action.
    pub fn new(id: String, kind: Kind, action: Action) -> Self {
        let data_loss = data_loss(kind, &action);
        Step {
            id,
            kind,
            action,
            data_loss,
        }
    }
}

/// What `action` on a resource of `kind` destroys, if anything. Only the data stores hold
/// data that exists nowhere else: deleting Postgres or Redis, or replacing one (a new, empty
/// instance after the old one is deleted), loses it. Everything else is re-created from
/// the config (secrets: the values are derived again; outside dev they are deleted with a
/// recovery window, see `resources::secret`).
pub fn data_loss(kind: Kind, action: &Action) -> Option<String> {
    let store = match kind {
        Kind::DbInstance => "the PostgreSQL database",
        Kind::ReplicationGroup => "the Redis data (queued votes, sessions)",
        _ => return None,
    };
    match action {
        Action::Delete => Some(format!("deletes {store}")),
        Action::Replace { changes } => Some(format!(
            "replaces {store} by an empty one (AWS cannot change {} in place)",
            changes
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => None,
    }
}

/// The data-destroying steps of `steps` whose resource the operator did not name in
/// `allowed` (logical ids, e.g. `postgres`).
pub fn unapproved_data_loss<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    allowed: &[String],
) -> Vec<&'a Step> {
    steps
        .into_iter()
        .filter(|s| s.data_loss.is_some() && !allowed.iter().any(|a| a == &s.id))
        .collect()
}

/// Every resource's action: creates/updates in dependency order, then deletes of
/// resources the config no longer has (dependents first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Every resource's step, no-ops included, in execution order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// The steps that change something (no no-ops).
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action.is_change())
    }

    /// True when nothing changes: live state already matches the config.
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }

    /// The steps that destroy data (see [`Step::data_loss`]).
    pub fn data_loss(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.data_loss.is_some())
    }

    /// Number of steps per verb (`create`, `update`, … `no-op`).
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for step in &self.steps {
            *counts.entry(step.action.verb()).or_insert(0) += 1;
        }
        counts
    }

    /// Human-readable plan: one line per change, field diffs indented below.
    pub fn render(&self, show_unchanged: bool) -> String {
        let mut out = String::new();
        for step in &self.steps {
            if !show_unchanged && !step.action.is_change() {
                continue;
            }
            let sign = match step.action {
                Action::Create => "+",
                Action::Update { .. } => "~",
                Action::Replace { .. } => "-/+",
                Action::Delete => "-",
                Action::NoOp => " ",
            };
            let _ = writeln!(
                out,
                "{sign:>3} {:<8} {:<20} {}{}",
                step.action.verb(),
                step.kind.label(),
                step.id,
                if step.data_loss.is_some() {
                    "   !! DESTROYS DATA"
                } else {
                    ""
                }
            );
            if let Some(loss) = &step.data_loss {
                let _ = writeln!(out, "             !! {loss}");
            }
            if let Action::Update { changes } | Action::Replace { changes } = &step.action {
                for change in changes {
                    let _ = writeln!(
                        out,
                        "             {}: {} → {}",
                        change.path,
                        compact(&change.before),
                        compact(&change.after)
                    );
                }
            }
        }
        let counts = self.summary();
        let count = |verb| counts.get(verb).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "Plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
            count("create"),
            count("update"),
            count("replace"),
            count("delete"),
            count("no-op")
        );
        let lost: Vec<&str> = self.data_loss().map(|s| s.id.as_str()).collect();
        if !lost.is_empty() {
            let _ = writeln!(
                out,
                "!! {} step(s) destroy data: {}. `up` applies them only with --allow-data-loss {}",
                lost.len(),
                lost.join(", "),
                lost.join(",")
            );
        }
        out
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// Plans `desired` against what was observed. `observed` specs are normalized here.
pub fn plan(desired: &Graph, observed: &[Observed]) -> Plan {
    let index = PhysicalIndex::new(observed);
    let by_id: HashMap<&str, &Observed> = observed.iter().map(|o| (o.id.as_str(), o)).collect();
    let mut steps = Vec::new();
    for id in desired.create_order() {
        let resource = desired.get(id).expect("ids come from the graph");
        let action = match by_id.get(id) {
            None => Action::Create,
            Some(live) if live.kind != resource.kind() => Action::Replace {
                changes: vec![FieldChange {
                    path: "kind".into(),
                    before: Value::String(live.kind.label().into()),
                    after: Value::String(resource.kind().label().into()),
                }],
            },
            Some(live) => compare(
                resource,
                &accept_blue_green_swaps(resource, normalize(&live.spec, &index)),
            ),
        };
        steps.push(Step::new(id.to_owned(), resource.kind(), action));
    }
    roll_services_onto_new_revisions(desired, &mut steps);
    for id in deletion_order(observed, |id| desired.get(id).is_none()) {
        steps.push(Step::new(
            id.clone(),
            by_id[id.as_str()].kind,
            Action::Delete,
        ));
    }
    Plan { steps }
}

/// A task definition change registers a new revision; the services running that family
/// must then be pointed at it, though their own spec (a logical reference) is unchanged.
fn roll_services_onto_new_revisions(desired: &Graph, steps: &mut [Step]) {
    let changed: Vec<String> = steps
        .iter()
        .filter(|s| s.kind == Kind::TaskDefinition && s.action.is_change())
        .map(|s| s.id.clone())
        .collect();
    for step in steps.iter_mut() {
        if step.kind != Kind::Service || step.action != Action::NoOp {
            continue;
        }
        let Some(crate::model::Spec::Service(service)) = desired.get(&step.id).map(|r| &r.spec)
        else {
            continue;
        };
        if let Some(definition) = service.task_definition.logical_id() {
            if changed.iter().any(|c| c == definition) {
                step.action = Action::Update {
                    changes: vec![FieldChange {
                        path: "task_definition".into(),
                        before: Value::String(format!("${{{definition}}} (current revision)")),
                        after: Value::String(format!("${{{definition}}} (new revision)")),
                    }],
                };
            }
        }
    }
}

/// Observed ids selected by `include`, dependents first (edges read from the observed
/// specs themselves, so orphans are removed in a safe order too).
pub fn deletion_order(observed: &[Observed], include: impl Fn(&str) -> bool) -> Vec<String> {
    let graph = observed_graph(observed);
    graph
        .delete_order()
        .into_iter()
        .filter(|id| include(id))
        .map(str::to_owned)
        .collect()
}

/// A graph of what exists, built from normalized observed specs.
pub fn observed_graph(observed: &[Observed]) -> Graph {
    let index = PhysicalIndex::new(observed);
    let resources = observed
        .iter()
        .map(|o| Resource {
            id: o.id.clone(),
            // Kind-agnostic carrier: only the references matter for ordering.
            spec: crate::model::Spec::Cluster(crate::model::ClusterSpec {
                container_insights: false,
            }),
            after: references(&normalize(&o.spec, &index)),
        })
        .collect();
    Graph::lenient(resources)
}

fn references(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect(value, &mut found);
    found.sort();
    found.dedup();
    return found;

    fn collect(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                let s = s.strip_suffix(":*").unwrap_or(s);
                if let Some(id) = crate::model::parse_ref(s) {
                    found.push(id.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
            Value::Object(map) => map.values().for_each(|v| collect(v, found)),
            _ => {}
        }
    }
}

/// ECS blue/green moves a service between `tg-<svc>` and `tg-<svc>-alt` on every
/// deployment: it rewrites the listener rules' weights, the service's load balancer
/// block and (through `deploy`) the request-count scaling policy. Either group of the
/// pair therefore matches the config; `live` (normalized) is rewritten to the desired
/// group so the swap is not drift — no update that would point traffic back at a group
/// without tasks, and no replacement of the service or the policy.
pub fn accept_blue_green_swaps(resource: &Resource, mut live: Value) -> Value {
    let desired = resource.spec_json();
    match resource.kind() {
        Kind::ListenerRule => {
            let (Some(primary), Some(alternate)) = (
                desired["target_group"].as_str(),
                desired["alternate_target_group"].as_str(),
            ) else {
                return live;
            };
            let serving = live["target_group"].as_str().map(str::to_owned);
            let other = live["alternate_target_group"].as_str().map(str::to_owned);
            let pair = [primary, alternate];
            let matches = match (serving.as_deref(), other.as_deref()) {
                // Weighted forward to both groups, whichever weight is higher.
                (Some(a), Some(b)) => a != b && pair.contains(&a) && pair.contains(&b),
                // A plain forward to the alternate group only ECS can have written; a
                // plain forward to the primary is the pre-blue/green layout: upgraded.
                (Some(a), None) => a == alternate,
                _ => false,
            };
            if matches {
                live["target_group"] = Value::String(primary.to_owned());
                live["alternate_target_group"] = Value::String(alternate.to_owned());
            }
        }
        Kind::Service => {
            if let Some(target_group) = live.get_mut("target_group") {
                swap_within_pair(&desired["target_group"], target_group);
            }
        }
        Kind::ScalingPolicy => {
            let path = |v: &Value| v["metric"]["alb_requests_per_target"]["target_group"].clone();
            if let Some(target_group) = live
                .get_mut("metric")
                .and_then(|m| m.get_mut("alb_requests_per_target"))
                .and_then(|m| m.get_mut("target_group"))
            {
                swap_within_pair(&path(&desired), target_group);
            }
        }
        _ => {}
    }
    live
}

/// Sets `live` to `desired` when both are `${…}` references to the same blue/green pair.
fn swap_within_pair(desired: &Value, live: &mut Value) {
    let (Some(want), Some(have)) = (
        desired.as_str().and_then(crate::model::parse_ref),
        live.as_str().and_then(crate::model::parse_ref),
    ) else {
        return;
    };
    let (primary, alternate) = crate::model::blue_green_pair(want);
    if want != have && (have == primary || have == alternate) {
        *live = desired.clone();
    }
}

fn compare(resource: &Resource, live: &Value) -> Action {
    let desired = normalize(&resource.spec_json(), &PhysicalIndex::default());
    let mut changes = Vec::new();
    diff("", &desired, live, &mut changes);
    if changes.is_empty() {
        return Action::NoOp;
    }
    let immutable = resource.kind().immutable_fields();
    let replace = changes.iter().any(|c| {
        let top = c.path.split(['.', '[']).next().unwrap_or("");
        immutable.contains(&top)
    });
    if replace {
        Action::Replace { changes }
    } else {
        Action::Update { changes }
    }
}

/// Field-level differences; keys missing from `live` were not reported and are skipped.
fn diff(path: &str, desired: &Value, live: &Value, out: &mut Vec<FieldChange>) {
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, want_value) in want {
                let Some(have_value) = have.get(key) else {
                    continue;
                };
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(&child, want_value, have_value, out);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        _ => out.push(FieldChange {
            path: path.to_owned(),
            before: live.clone(),
            after: desired.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{repo_config_dir, StackConfig};
    use crate::constructs::expand;
    use crate::model::Ref;

    fn voting() -> StackConfig {
        StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap()
    }

    fn graph(config: &StackConfig) -> Graph {
        Graph::new(expand(config)).unwrap()
    }

    /// What AWS would report for `graph`: physical ids everywhere a reference was, set
    /// fields in another order.
    fn live_state(graph: &Graph) -> Vec<Observed> {
        let physical = |id: &str| format!("phys-{id}-0123");
        let resources = graph.resources();
        resources
            .iter()
            .map(|r| {
                let mut spec = r.spec_json();
                substitute(&mut spec, &physical);
                reverse_sets(&mut spec, None);
                let mut attrs = Attrs::new();
                attrs.insert("id".into(), physical(&r.id));
                attrs.insert("arn".into(), format!("arn:aws:x:::{}", r.id));
                Observed {
                    id: r.id.clone(),
                    kind: r.kind(),
                    spec,
                    attrs,
                }
            })
            .collect()
    }

    fn substitute(value: &mut Value, physical: &dyn Fn(&str) -> String) {
        match value {
            Value::String(s) => {
                let (base, suffix) = match s.strip_suffix(":*") {
                    Some(base) => (base.to_owned(), ":*"),
                    None => (s.clone(), ""),
                };
                if let Some(id) = crate::model::parse_ref(&base) {
                    *s = format!("{}{suffix}", physical(id));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, physical)),
            Value::Object(map) => map.values_mut().for_each(|v| substitute(v, physical)),
            _ => {}
        }
    }

    fn reverse_sets(value: &mut Value, field: Option<&str>) {
        match value {
            Value::Array(items) => {
                items.iter_mut().for_each(|v| reverse_sets(v, None));
                if field.is_some_and(|f| SET_FIELDS.contains(&f)) {
                    items.reverse();
                }
            }
            Value::Object(map) => map
                .iter_mut()
                .for_each(|(k, v)| reverse_sets(v, Some(k.as_str()))),
            _ => {}
        }
    }

    fn actions(plan: &Plan) -> Vec<(String, &'static str)> {
        plan.changes()
            .map(|s| (s.id.clone(), s.action.verb()))
            .collect()
    }

    #[test]
    fn equivalent_live_state_plans_nothing() {
        for stack in crate::config::STACKS {
            for env in ["dev", "prod"] {
                let config = StackConfig::load(&repo_config_dir(), stack, env).unwrap();
                let graph = graph(&config);
                let plan = plan(&graph, &live_state(&graph));
                assert!(plan.is_empty(), "{stack}/{env}:\n{}", plan.render(false));
                assert_eq!(plan.steps.len(), graph.resources().len());
            }
        }
    }

    #[test]
    fn empty_account_creates_everything_in_dependency_order() {
        let graph = graph(&voting());
        let plan = plan(&graph, &[]);
        assert!(plan.steps.iter().all(|s| s.action == Action::Create));
        let position: HashMap<&str, usize> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        for resource in graph.resources() {
            for dep in resource.dependencies() {
                assert!(
                    position[dep.as_str()] < position[resource.id.as_str()],
                    "{dep} must be created before {}",
                    resource.id
                );
            }
        }
    }

    #[test]
    fn desired_count_change_updates_only_the_service() {
        let before = graph(&voting());
        let mut config = voting();
        config.services.get_mut("vote").unwrap().desired = 3;
        let plan = plan(&graph(&config), &live_state(&before));
        assert_eq!(actions(&plan), vec![("service-vote".into(), "update")]);
        let Action::Update { changes } = &plan.changes().next().unwrap().action else {
            unreachable!()
        };
        assert_eq!(
            changes,
            &vec![FieldChange {
                path: "desired_count".into(),
                before: 2.into(),
                after: 3.into()
            }]
        );
    }

    #[test]
    fn cpu_change_registers_a_revision_and_rolls_only_that_service() {
        let before = graph(&voting());
        let mut config = voting();
        let vote = config.services.get_mut("vote").unwrap();
        vote.cpu = 512;
        vote.memory = 1024;
        let plan = plan(&graph(&config), &live_state(&before));
        assert_eq!(
            actions(&plan),
            vec![
                ("taskdef-vote".into(), "update"),
                ("service-vote".into(), "update")
            ]
        );
        let Action::Update { changes } = &plan.changes().next().unwrap().action else {
            unreachable!()
        };
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["cpu", "memory"]);
    }

    #[test]
    fn scaling_bounds_and_env_changes_update_their_resources() {
        let before = graph(&voting());
        let mut config = voting();
        let result = config.services.get_mut("result").unwrap();
        result.max = 9;
        result.env.insert("OPTION_A".into(), "Tabs".into());
        let plan = plan(&graph(&config), &live_state(&before));
        assert_eq!(
            actions(&plan),
            vec![
                ("taskdef-result".into(), "update"),
                ("service-result".into(), "update"),
                ("scaling-result".into(), "update")
            ]
        );
    }

    #[test]
    fn immutable_change_replaces() {
        let before = graph(&voting());
        let mut config = voting();
        config.network.cidr = "10.99.0.0/16".into();
        let plan = plan(&graph(&config), &live_state(&before));
        let replaced: Vec<String> = plan
            .changes()
            .filter(|s| s.action.verb() == "replace")
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(
            replaced,
            vec![
                "vpc",
                "subnet-public-a",
                "subnet-private-a",
                "subnet-public-b",
                "subnet-private-b"
            ]
        );
    }

    #[test]
    fn replacing_or_deleting_a_data_store_is_marked_as_data_loss() {
        let before = graph(&voting());
        let mut live = live_state(&before);
        // A Redis group the config no longer has (e.g. a renamed store).
        let mut legacy = live.iter().find(|o| o.id == "redis").unwrap().clone();
        legacy.id = "redis-legacy".into();
        legacy.attrs.insert("id".into(), "phys-redis-legacy".into());
        legacy
            .attrs
            .insert("arn".into(), "arn:aws:x:::redis-legacy".into());
        live.push(legacy);
        let mut config = voting();
        // The master user name cannot change in place: a new, empty instance.
        config.postgres.as_mut().unwrap().username = "owner".into();
        let plan = plan(&graph(&config), &live);
        let marked: Vec<(&str, &str)> = plan
            .data_loss()
            .map(|s| (s.id.as_str(), s.action.verb()))
            .collect();
        assert_eq!(
            marked,
            vec![("postgres", "replace"), ("redis-legacy", "delete")]
        );
        let text = plan.render(false);
        assert!(
            text.lines().any(
                |l| l.starts_with("-/+ replace") && l.ends_with(" postgres   !! DESTROYS DATA")
            ),
            "{text}"
        );
        assert!(
            text.contains("--allow-data-loss postgres,redis-legacy"),
            "{text}"
        );
        // The plan data carries the mark (what `plan --output json` prints).
        let json = serde_json::to_value(&plan).unwrap();
        let step = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "postgres")
            .unwrap();
        assert!(step["data_loss"].as_str().unwrap().contains("username"));
        // Naming one store approves only that one.
        let left: Vec<&str> = unapproved_data_loss(&plan.steps, &["postgres".into()])
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(left, vec!["redis-legacy"]);
    }

    #[test]
    fn engine_upgrades_are_updates_in_place_not_data_loss() {
        let before = graph(&voting());
        let mut config = voting();
        config.redis.as_mut().unwrap().engine_version = "7.2".into();
        config.postgres.as_mut().unwrap().engine_version = "17".into();
        let plan = plan(&graph(&config), &live_state(&before));
        let mut changed = actions(&plan);
        changed.sort();
        assert!(
            changed.contains(&("redis".into(), "update"))
                && changed.contains(&("postgres".into(), "update")),
            "{changed:?}"
        );
        assert_eq!(plan.data_loss().count(), 0, "{}", plan.render(false));
    }

    #[test]
    fn removed_service_is_deleted_dependents_first() {
        let before = graph(&voting());
        let mut config = voting();
        config.services.remove("worker");
        // The database setup task ran with the worker's image: it moves to result's.
        config.tasks.get_mut("db-setup").unwrap().service = "result".into();
        let plan = plan(&graph(&config), &live_state(&before));
        let deleted: Vec<String> = plan
            .changes()
            .filter(|s| s.action == Action::Delete)
            .map(|s| s.id.clone())
            .collect();
        let pos = |id: &str| deleted.iter().position(|d| d == id).unwrap();
        assert!(pos("scaling-worker-cpu") < pos("scaling-worker"));
        assert!(pos("scaling-worker") < pos("service-worker"));
        assert!(pos("service-worker") < pos("taskdef-worker"));
        assert!(pos("taskdef-worker") < pos("role-worker"));
        assert!(pos("service-worker") < pos("sg-worker"));
        // Its alarms and its log metric filter go with it.
        assert!(pos("alarm-worker-cpu") < pos("service-worker"));
        assert!(pos("filter-worker-db") < pos("logs-worker"));
        // Its own execution role goes too (no other task definition names it), and its
        // database password secret.
        assert!(pos("taskdef-worker") < pos("role-execution-worker"));
        assert!(pos("taskdef-worker") < pos("db-worker-password"));
        // No service reports the votes queue any more: its alarms go too.
        assert!(deleted.iter().any(|d| d == "alarm-queue-votes-depth"));
        assert!(deleted.iter().any(|d| d == "alarm-queue-votes-age"));
        // And its dependency-failure alarm (every service with data stores has one).
        assert!(pos("alarm-worker-dependencies") < pos("service-worker"));
        assert_eq!(deleted.len(), 17, "{deleted:?}");
        // The data stores stop accepting the worker's security group; the dashboard and
        // the Postgres connection alarm stop showing it.
        let updated: Vec<&str> = plan
            .changes()
            .filter(|s| s.action.verb() == "update")
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(
            updated,
            vec![
                "sg-redis",
                "sg-postgres",
                // The setup task no longer creates the worker's role nor reads its secret.
                "role-db-admin",
                "role-execution-db-setup",
                "task-db-setup",
                "alarm-db-connections",
                "dashboard"
            ]
        );
    }

    #[test]
    fn unreported_fields_are_not_compared() {
        let graph = graph(&voting());
        let mut live = live_state(&graph);
        let service = live.iter_mut().find(|o| o.id == "service-vote").unwrap();
        let spec = service.spec.as_object_mut().unwrap();
        spec.remove("enable_execute_command");
        spec.remove("service_connect");
        assert!(plan(&graph, &live).is_empty());
    }

    fn set(live: &mut [Observed], id: &str, path: &[&str], value: Value) {
        let observed = live.iter_mut().find(|o| o.id == id).unwrap();
        let mut at = &mut observed.spec;
        for key in path {
            at = at
                .get_mut(*key)
                .unwrap_or_else(|| panic!("{id} has no {key}"));
        }
        *at = value;
    }

    /// What ECS leaves on vote's rule after a swap: weighted towards the alternate group,
    /// which observe reports first.
    fn swap_vote_rule(live: &mut [Observed]) {
        set(live, "rule-vote", &["target_group"], phys("tg-vote-alt"));
        set(
            live,
            "rule-vote",
            &["alternate_target_group"],
            phys("tg-vote"),
        );
    }

    fn phys(id: &str) -> Value {
        Value::String(format!("phys-{id}-0123"))
    }

    #[test]
    fn groups_swapped_by_a_blue_green_deployment_are_not_drift() {
        let graph = graph(&voting());
        let mut live = live_state(&graph);
        // What ECS leaves behind: the rule weighted towards the alternate group (reported
        // serving group first), the service's load balancer on it, and `deploy` re-pointed
        // the request-count policy at it.
        swap_vote_rule(&mut live);
        set(
            &mut live,
            "service-vote",
            &["target_group"],
            phys("tg-vote-alt"),
        );
        set(
            &mut live,
            "scaling-vote-requests",
            &["metric", "alb_requests_per_target", "target_group"],
            phys("tg-vote-alt"),
        );
        // A plain forward to the alternate group (only ECS writes that) matches too.
        set(
            &mut live,
            "rule-result",
            &["target_group"],
            phys("tg-result-alt"),
        );
        set(
            &mut live,
            "rule-result",
            &["alternate_target_group"],
            Value::Null,
        );
        let plan = plan(&graph, &live);
        assert!(plan.is_empty(), "{}", plan.render(false));
    }

    #[test]
    fn a_swap_with_another_change_updates_without_replacing() {
        let graph = graph(&voting());
        let mut live = live_state(&graph);
        swap_vote_rule(&mut live);
        set(&mut live, "rule-vote", &["priority"], 49_000.into());
        set(
            &mut live,
            "service-vote",
            &["target_group"],
            phys("tg-vote-alt"),
        );
        set(&mut live, "service-vote", &["desired_count"], 5.into());
        let plan = plan(&graph, &live);
        let changes: Vec<(String, &str, Vec<String>)> = plan
            .changes()
            .map(|s| {
                let paths = match &s.action {
                    Action::Update { changes } | Action::Replace { changes } => {
                        changes.iter().map(|c| c.path.clone()).collect()
                    }
                    _ => vec![],
                };
                (s.id.clone(), s.action.verb(), paths)
            })
            .collect();
        let mut changes = changes;
        changes.sort();
        // Only the real drift; the target groups are not among the changed fields (the
        // rule update itself keeps ECS's weights, see resources::listener_rule::pair_forward).
        assert_eq!(
            changes,
            vec![
                ("rule-vote".into(), "update", vec!["priority".into()]),
                (
                    "service-vote".into(),
                    "update",
                    vec!["desired_count".into()]
                ),
            ]
        );
    }

    #[test]
    fn groups_outside_the_pair_are_still_drift() {
        let graph = graph(&voting());
        let mut live = live_state(&graph);
        // The rule forwards to another service's group, the service sits on it too.
        set(&mut live, "rule-vote", &["target_group"], phys("tg-result"));
        set(
            &mut live,
            "rule-vote",
            &["alternate_target_group"],
            phys("tg-vote"),
        );
        set(
            &mut live,
            "service-vote",
            &["target_group"],
            phys("tg-result"),
        );
        // The pre-blue/green layout: a plain forward to the primary gets its alternate.
        set(
            &mut live,
            "rule-result",
            &["alternate_target_group"],
            Value::Null,
        );
        let plan = plan(&graph, &live);
        let mut changed = actions(&plan);
        changed.sort();
        assert_eq!(
            changed,
            vec![
                ("rule-result".into(), "update"),
                ("rule-vote".into(), "update"),
                ("service-vote".into(), "replace"),
            ]
        );
    }

    #[test]
    fn normalization_maps_physical_ids_and_arn_wildcards() {
        let observed = vec![Observed {
            id: "logs-vote".into(),
            kind: Kind::LogGroup,
            spec: Value::Null,
            attrs: [(
                "arn".to_string(),
                "arn:aws:logs:r:1:log-group:x".to_string(),
            )]
            .into_iter()
            .collect(),
        }];
        let index = PhysicalIndex::new(&observed);
        let value = serde_json::json!({"resources": ["arn:aws:logs:r:1:log-group:x:*", "*"]});
        assert_eq!(
            normalize(&value, &index),
            serde_json::json!({"resources": ["${logs-vote}:*", "*"]})
        );
        assert_eq!(Ref::to("a").logical_id(), Some("a"));
    }
}

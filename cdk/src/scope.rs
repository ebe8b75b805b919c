//! The construct scope: a [`Stack`] collects the resources constructs make, checks them
//! and hands them to planning and synthesis.
//!
//! A stack is named (`voting`) and deployed per environment (`dev`, `prod`); every
//! construct (`crate::constructs::l2`, `crate::constructs::patterns`) takes `&mut Stack`
//! and adds its resources here under their logical ids. Three CDK-style tools work on the
//! collected resources before they leave the stack ([`Stack::synth`]):
//!
//! - **derived resources**: each task definition's execution role is derived from what
//!   its container references (image repository, log group, secrets), so a grant never
//!   has to be repeated in a role;
//! - **escape hatches** ([`Stack::override_field`], [`Stack::resource_mut`]): change a
//!   raw field of any resource a construct made;
//! - **aspects** ([`Aspect`]): visitors over every resource, which may change it or
//!   refuse the stack (a policy check).
//!
//! ## Listing order
//!
//! Resources are listed by [`Section`] (network, security groups, data, images, …), in
//! declaration order within a section. A construct may therefore add its security group,
//! its image repository and its ECS service in one call and still be listed the way the
//! architecture reads (the expansion snapshots in `cdk/src/snapshots` are such listings).
//!
//! ```
//! use slipway_cdk::model::{LogGroupSpec, Spec};
//! use slipway_cdk::scope::{Section, Stack};
//!
//! let mut stack = Stack::new("demo", "dev");
//! stack.add(Section::Images, "logs-api", Spec::LogGroup(LogGroupSpec { retention_days: 7 }));
//! stack.override_field("logs-api", "/retention_days", serde_json::json!(30));
//! let resources = stack.synth().unwrap();
//! assert_eq!(resources[0].id, "logs-api");
//! assert_eq!(resources[0].spec_json()["retention_days"], 30);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::{AlarmsConfig, AlbConfig, LogsConfig, NetworkConfig, StackConfig};
use crate::model::{PolicyStatement, Resource, RoleSpec, Spec};

/// Where a resource is listed (see the module docs): sections in this order, resources in
/// declaration order within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// VPC, internet gateway, subnets, route tables, NAT gateways.
    Network,
    /// The load balancer's security group.
    EdgeSecurity,
    /// Security groups of services and of the debug task.
    ServiceSecurity,
    /// Security groups of data stores.
    DataSecurity,
    /// Data stores with their subnet groups and secrets.
    Data,
    /// Image repositories and log groups.
    Images,
    /// Task roles.
    TaskRoles,
    /// The ECS cluster and the Service Connect namespace.
    Cluster,
    /// The shared load balancer, its listeners and their fixed rules.
    LoadBalancer,
    /// Services: target groups, rules, task definitions, ECS services, scaling.
    Services,
    /// The operator's debug task definition.
    Debug,
    /// One-off task definitions.
    Tasks,
    /// Execution roles, derived from the task definitions ([`Stack::synth`]).
    ExecutionRoles,
    /// Alarms, metric filters, the dashboard.
    Observability,
    /// The CI deploy role and its identity provider.
    Deploy,
}

/// Why a stack cannot be synthesized. Every variant names the resource and says what to
/// change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StackError {
    /// Two constructs made a resource with the same logical id.
    #[error("two resources have the logical id `{0}`: give one of the constructs another name")]
    DuplicateId(String),
    /// Resource `from` refers to `to`, which is not in the stack.
    #[error("`{from}` refers to `{to}`, which the stack does not define: declare it, or fix the reference")]
    UnknownRef {
        /// The referring resource.
        from: String,
        /// The missing logical id.
        to: String,
    },
    /// An override names a resource the stack does not have.
    #[error("override of `{id}`: no resource has this logical id (the stack's ids are listed by `provision graph`)")]
    OverrideTarget {
        /// The id the override names.
        id: String,
    },
    /// An override cannot be applied.
    #[error("override of `{id}` at `{pointer}`: {message}")]
    Override {
        /// The overridden resource.
        id: String,
        /// The JSON pointer of the override.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// A `[domain]` name ACM or Route 53 would refuse.
    #[error("`{id}`: {message}")]
    Domain {
        /// The certificate or record.
        id: String,
        /// What is wrong, and what to do.
        message: String,
    },
    /// An aspect refused a resource.
    #[error("aspect `{aspect}` refused `{id}`: {message}")]
    Aspect {
        /// [`Aspect::name`].
        aspect: String,
        /// The refused resource.
        id: String,
        /// Why, and what to do.
        message: String,
    },
}

/// A visitor over every resource of a stack, run by [`Stack::synth`] after the
/// constructs, the derived resources and the overrides: it may change a resource (apply
/// a house rule everywhere) or refuse it (a policy check).
///
/// ```
/// use slipway_cdk::model::{LogGroupSpec, Resource, Spec};
/// use slipway_cdk::scope::{Aspect, Section, Stack};
///
/// /// Keeps every log group at least 30 days.
/// struct MinRetention(i32);
/// impl Aspect for MinRetention {
///     fn name(&self) -> String { "min-retention".into() }
///     fn visit(&mut self, resource: &mut Resource) -> Result<(), String> {
///         if let Spec::LogGroup(logs) = &mut resource.spec {
///             logs.retention_days = logs.retention_days.max(self.0);
///         }
///         Ok(())
///     }
/// }
///
/// let mut stack = Stack::new("demo", "dev");
/// stack.add(Section::Images, "logs-api", Spec::LogGroup(LogGroupSpec { retention_days: 7 }));
/// stack.aspect(MinRetention(30));
/// assert_eq!(stack.synth().unwrap()[0].spec_json()["retention_days"], 30);
/// ```
pub trait Aspect {
    /// Names the aspect in errors.
    fn name(&self) -> String;
    /// Called once with every resource before the visits (to learn what refers to
    /// what). Does nothing unless the aspect needs it.
    fn prepare(&mut self, _resources: &[Resource]) {}
    /// Called once per resource, in listing order. An `Err` refuses the stack.
    fn visit(&mut self, resource: &mut Resource) -> Result<(), String>;
}

/// A policy check: no data store's security group may have an egress rule. Data stores
/// answer, they never call out; a rule added by an escape hatch or a hand-made security
/// group would open a path out of the data tier. The TOML front-end always applies it.
///
/// ```
/// use slipway_cdk::constructs::l2::{Redis, Vpc};
/// use slipway_cdk::scope::{NoDataStoreEgress, Stack, StackError};
///
/// let mut stack = Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// Redis::new(&mut stack, &vpc).build();
/// stack.aspect(NoDataStoreEgress::default());
/// stack.override_field("sg-redis", "/egress_all", serde_json::json!(true));
/// let errors = stack.synth().unwrap_err();
/// assert!(matches!(&errors[0], StackError::Aspect { id, .. } if id == "sg-redis"));
/// ```
#[derive(Debug, Default)]
pub struct NoDataStoreEgress {
    data_store_groups: BTreeSet<String>,
}

impl Aspect for NoDataStoreEgress {
    fn name(&self) -> String {
        "no-data-store-egress".into()
    }
    fn prepare(&mut self, resources: &[Resource]) {
        for resource in resources {
            let groups = match &resource.spec {
                Spec::ReplicationGroup(redis) => &redis.security_groups,
                Spec::DbInstance(postgres) => &postgres.security_groups,
                _ => continue,
            };
            self.data_store_groups.extend(
                groups
                    .iter()
                    .filter_map(|g| g.logical_id().map(str::to_owned)),
            );
        }
    }
    fn visit(&mut self, resource: &mut Resource) -> Result<(), String> {
        match &resource.spec {
            Spec::SecurityGroup(sg) if sg.egress_all && self.data_store_groups.contains(&resource.id) => Err(
                "a data store's security group allows egress; data stores take connections and never make them: remove the egress rule".into(),
            ),
            _ => Ok(()),
        }
    }
}

/// Where a stack is built for: its environment and, once `up` or `plan` has chosen
/// them against the account, the availability zones its subnets go into (`None`:
/// [`crate::config::OFFLINE_ZONES`], what `plan --offline` and `synth` assume). A `&str`
/// or `String` converts to a target without zones.
///
/// ```
/// use slipway_cdk::scope::{Stack, Target};
/// let stack = Stack::new("demo", Target { env: "prod".into(), zones: Some(vec!["b".into(), "c".into()]) });
/// assert_eq!(stack.zones(), Some(&["b".to_string(), "c".to_string()][..]));
/// assert_eq!(Stack::new("demo", "dev").zones(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The environment (`dev`, `prod`…).
    pub env: String,
    /// The two AZ suffixes, when chosen.
    pub zones: Option<Vec<String>>,
}

impl From<&str> for Target {
    fn from(env: &str) -> Self {
        Target {
            env: env.to_owned(),
            zones: None,
        }
    }
}

impl From<String> for Target {
    fn from(env: String) -> Self {
        Target { env, zones: None }
    }
}

impl From<&String> for Target {
    fn from(env: &String) -> Self {
        Target::from(env.as_str())
    }
}

/// The scope constructs add resources to (see the module docs).
pub struct Stack {
    name: String,
    env: String,
    zones: Option<Vec<String>>,
    entries: Vec<(Section, Resource)>,
    /// Problems found while constructing (duplicate ids), reported by [`Stack::synth`].
    errors: Vec<StackError>,
    overrides: Vec<(String, String, serde_json::Value)>,
    aspects: Vec<Box<dyn Aspect>>,
    /// Service name → the container its one-off tasks start from (the service's own
    /// without what only the long-running service learns), kept in step by grants.
    pub(crate) base_containers: BTreeMap<String, crate::model::ContainerSpec>,
    /// Postgres roles granted so far: service name → its privileges (the setup task
    /// creates them).
    pub(crate) database_roles: BTreeMap<String, crate::config::DatabaseAccess>,
    /// What the constructs declared, in the form the commands read (see
    /// [`Stack::description`]).
    pub(crate) description: StackConfig,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("name", &self.name)
            .field("env", &self.env)
            .field("resources", &self.entries.len())
            .field("aspects", &self.aspects.len())
            .finish()
    }
}

impl Stack {
    /// An empty stack `name` for environment `env` (its AWS names are `<name>-<env>-<id>`).
    ///
    /// ```
    /// let stack = slipway_cdk::scope::Stack::new("voting", "dev");
    /// assert_eq!(stack.prefix(), "voting-dev");
    /// ```
    pub fn new(name: impl Into<String>, target: impl Into<Target>) -> Self {
        let target = target.into();
        Stack {
            name: name.into(),
            env: target.env,
            zones: target.zones,
            entries: Vec::new(),
            errors: Vec::new(),
            overrides: Vec::new(),
            aspects: Vec::new(),
            base_containers: BTreeMap::new(),
            database_roles: BTreeMap::new(),
            description: StackConfig {
                stack: String::new(),
                env: String::new(),
                network: NetworkConfig {
                    cidr: String::new(),
                    availability_zones: None,
                    nat_gateways: 1,
                },
                alb: AlbConfig::default(),
                logs: LogsConfig::default(),
                domain: None,
                redis: None,
                postgres: None,
                alarms: AlarmsConfig::default(),
                services: BTreeMap::new(),
                tasks: BTreeMap::new(),
                github: None,
            },
        }
        .named()
    }

    fn named(mut self) -> Self {
        self.description.stack = self.name.clone();
        self.description.env = self.env.clone();
        self
    }

    /// What the constructs declared (network, load balancer, data stores, services with
    /// their routes, callers, data stores and deploy settings, one-off tasks, alarm
    /// settings), in the form a stack file resolves to: what the commands that work per
    /// service (`status`, `outputs`, `deploy`, `run`…) and the observability patterns
    /// read. For a stack built from a file it equals that file's [`StackConfig`].
    ///
    /// ```
    /// use slipway_cdk::constructs::l2::{Cluster, FargateService, Vpc};
    /// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
    /// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
    /// let cluster = Cluster::new(&mut stack, &vpc).build();
    /// FargateService::new(&mut stack, &cluster, "api").port(3000).build();
    /// assert_eq!(stack.description().services["api"].port, 3000);
    /// assert_eq!(stack.description().network.cidr, "10.20.0.0/16");
    /// ```
    pub fn description(&self) -> &StackConfig {
        &self.description
    }

    /// The description, to change (constructs record what they declare here).
    pub fn description_mut(&mut self) -> &mut StackConfig {
        &mut self.description
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment.
    pub fn env(&self) -> &str {
        &self.env
    }

    /// The availability zones of the target, when chosen (see [`Target`]).
    pub fn zones(&self) -> Option<&[String]> {
        self.zones.as_deref()
    }

    /// `<stack>-<env>`, the prefix of every AWS name the stack owns.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.name, self.env)
    }

    /// Adds a resource (L1: any [`Spec`] as it is) in `section`. A second resource with
    /// the same id is refused when the stack is synthesized.
    ///
    /// ```
    /// use slipway_cdk::model::{RepositorySpec, Spec};
    /// use slipway_cdk::scope::{Section, Stack, StackError};
    ///
    /// let mut stack = Stack::new("demo", "dev");
    /// let repo = Spec::Repository(RepositorySpec { scan_on_push: true, immutable_tags: true, keep_images: 5 });
    /// stack.add(Section::Images, "repo-api", repo.clone());
    /// stack.add(Section::Images, "repo-api", repo);
    /// assert_eq!(stack.synth().unwrap_err(), vec![StackError::DuplicateId("repo-api".into())]);
    /// ```
    pub fn add(&mut self, section: Section, id: &str, spec: Spec) {
        if self.contains(id) {
            self.errors.push(StackError::DuplicateId(id.to_owned()));
            return;
        }
        self.entries.push((
            section,
            Resource {
                id: id.to_owned(),
                spec,
                after: Vec::new(),
            },
        ));
    }

    /// Whether a resource has this logical id.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|(_, r)| r.id == id)
    }

    /// The resource with this logical id.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.entries.iter().map(|(_, r)| r).find(|r| r.id == id)
    }

    /// Escape hatch, typed: the resource with this logical id, to change any field.
    ///
    /// ```
    /// use slipway_cdk::model::{ClusterSpec, Spec};
    /// use slipway_cdk::scope::{Section, Stack};
    ///
    /// let mut stack = Stack::new("demo", "dev");
    /// stack.add(Section::Cluster, "cluster", Spec::Cluster(ClusterSpec { container_insights: true }));
    /// if let Some(Spec::Cluster(cluster)) = stack.resource_mut("cluster").map(|r| &mut r.spec) {
    ///     cluster.container_insights = false;
    /// }
    /// assert_eq!(stack.synth().unwrap()[0].spec_json()["container_insights"], false);
    /// ```
    pub fn resource_mut(&mut self, id: &str) -> Option<&mut Resource> {
        self.entries.iter_mut().map(|(_, r)| r).find(|r| r.id == id)
    }

    /// Ordering-only dependency: `id` is created after `other` (and deleted before it).
    pub fn after(&mut self, id: &str, other: &str) {
        if let Some(resource) = self.resource_mut(id) {
            resource.after.push(other.to_owned());
        }
    }

    /// Escape hatch, raw: sets the field at `pointer` (a JSON pointer into the spec as
    /// `provision synth --format json`… and plans show it, e.g. `/container/cpu` or
    /// `/ingress/0/port`) of resource `id` to `value`, when the stack is synthesized,
    /// after the constructs and before the aspects. The result must still be a valid spec
    /// of the same kind.
    ///
    /// ```
    /// use slipway_cdk::model::{LogGroupSpec, Spec};
    /// use slipway_cdk::scope::{Section, Stack, StackError};
    ///
    /// let mut stack = Stack::new("demo", "dev");
    /// stack.add(Section::Images, "logs-api", Spec::LogGroup(LogGroupSpec { retention_days: 7 }));
    /// stack.override_field("logs-api", "/retention_days", serde_json::json!("a week"));
    /// assert!(matches!(stack.synth().unwrap_err()[0], StackError::Override { .. }));
    /// ```
    pub fn override_field(&mut self, id: &str, pointer: &str, value: serde_json::Value) {
        self.overrides
            .push((id.to_owned(), pointer.to_owned(), value));
    }

    /// Registers an aspect, run over every resource by [`Stack::synth`] (in registration
    /// order).
    pub fn aspect(&mut self, aspect: impl Aspect + 'static) {
        self.aspects.push(Box::new(aspect));
    }

    /// Iterates the resources constructed so far in listing order (without the derived
    /// ones, overrides and aspects: those are [`Stack::synth`]'s).
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&index| self.entries[index].0);
        order.into_iter().map(|index| &self.entries[index].1)
    }

    /// The finished stack, in listing order: derives the execution roles, applies the
    /// overrides (those naming a derived role after deriving it), runs the aspects, then
    /// checks that ids are unique and every reference resolves. Every problem is
    /// reported, not just the first.
    pub fn synth(mut self) -> Result<Vec<Resource>, Vec<StackError>> {
        let mut errors = std::mem::take(&mut self.errors);
        let overrides = std::mem::take(&mut self.overrides);
        let (early, late): (Vec<_>, Vec<_>) = overrides
            .into_iter()
            .partition(|(id, _, _)| self.contains(id));
        for (id, pointer, value) in early {
            if let Err(err) = self.apply_override(&id, &pointer, value) {
                errors.push(err);
            }
        }
        self.derive_execution_roles();
        for (id, pointer, value) in late {
            if let Err(err) = self.apply_override(&id, &pointer, value) {
                errors.push(err);
            }
        }
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&index| self.entries[index].0);
        let mut slots: Vec<Option<Resource>> =
            self.entries.into_iter().map(|(_, r)| Some(r)).collect();
        let mut resources: Vec<Resource> = order
            .into_iter()
            .filter_map(|index| slots[index].take())
            .collect();
        for aspect in &mut self.aspects {
            aspect.prepare(&resources);
            for resource in &mut resources {
                if let Err(message) = aspect.visit(resource) {
                    errors.push(StackError::Aspect {
                        aspect: aspect.name(),
                        id: resource.id.clone(),
                        message,
                    });
                }
            }
        }
        for resource in &resources {
            // Stack files are checked when parsed; stacks in Rust meet the same rules here.
            let problem = match &resource.spec {
                crate::model::Spec::Certificate(c) => {
                    crate::domain::domain_name_problem(&c.domain_name)
                        .map(|p| format!("domain `{}` {p}", c.domain_name))
                }
                crate::model::Spec::DnsRecord(r) => r
                    .name
                    .split_once('.')
                    .and_then(|(first, _)| crate::domain::subdomain_problem(first))
                    .map(|p| format!("record `{}`: {p}", r.name)),
                _ => None,
            };
            if let Some(message) = problem {
                errors.push(StackError::Domain {
                    id: resource.id.clone(),
                    message,
                });
            }
        }
        let ids: BTreeSet<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        for resource in &resources {
            for to in resource.dependencies() {
                if !ids.contains(to.as_str()) {
                    errors.push(StackError::UnknownRef {
                        from: resource.id.clone(),
                        to,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(resources)
        } else {
            Err(errors)
        }
    }

    fn apply_override(
        &mut self,
        id: &str,
        pointer: &str,
        value: serde_json::Value,
    ) -> Result<(), StackError> {
        let problem = |message: String| StackError::Override {
            id: id.to_owned(),
            pointer: pointer.to_owned(),
            message,
        };
        let resource = self
            .resource_mut(id)
            .ok_or_else(|| StackError::OverrideTarget { id: id.to_owned() })?;
        let mut json = serde_json::to_value(&resource.spec).map_err(|e| problem(e.to_string()))?;
        let field = json.pointer_mut(pointer).ok_or_else(|| {
            problem(
                "no such field in this resource's spec (a JSON pointer such as `/container/cpu`)"
                    .into(),
            )
        })?;
        *field = value;
        let spec: Spec = serde_json::from_value(json)
            .map_err(|e| problem(format!("the spec is no longer valid: {e}")))?;
        if spec.kind() != resource.spec.kind() {
            return Err(problem(
                "an override cannot change a resource's kind".into(),
            ));
        }
        resource.spec = spec;
        Ok(())
    }

    /// One execution role per role id the task definitions name, each derived from those
    /// task definitions: it pulls only their images, writes only their log groups and
    /// reads only the secrets their containers reference. A shared role would let any
    /// revision that may pass it read every secret of the stack (the master
    /// `DATABASE_URL` included); derived from the task definitions, a secret added to a
    /// service's container is readable by that service's tasks only, with nothing else to
    /// keep in step. Roles a construct already defined are left alone.
    fn derive_execution_roles(&mut self) {
        let mut roles: BTreeMap<String, [Vec<String>; 3]> = BTreeMap::new();
        for (_, resource) in &self.entries {
            let Spec::TaskDefinition(definition) = &resource.spec else {
                continue;
            };
            let Some(role) = definition.execution_role.logical_id() else {
                continue;
            };
            let [repositories, logs, secrets] = roles.entry(role.to_owned()).or_default();
            let container = &definition.container;
            repositories.push(container.image_repository.0.clone());
            logs.push(format!("{}:*", container.log_group.0));
            secrets.extend(container.secrets.values().map(|r| r.0.clone()));
        }
        for (id, [repositories, logs, secrets]) in roles {
            if self.contains(&id) {
                continue;
            }
            let mut statements = vec![
                statement(&["ecr:GetAuthorizationToken"], vec!["*".into()]),
                statement(
                    &[
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    repositories,
                ),
                statement(&["logs:CreateLogStream", "logs:PutLogEvents"], logs),
            ];
            if !secrets.is_empty() {
                statements.push(statement(&["secretsmanager:GetSecretValue"], secrets));
            }
            statements.sort();
            self.add(
                Section::ExecutionRoles,
                &id,
                Spec::Role(RoleSpec::for_service("ecs-tasks.amazonaws.com", statements)),
            );
        }
    }
}

/// An IAM statement allowing `actions` on `resources`, both sorted (the form plans
/// compare), without conditions.
///
/// ```
/// let s = slipway_cdk::scope::statement(&["b:Get", "a:List"], vec!["*".into()]);
/// assert_eq!(s.actions, ["a:List", "b:Get"]);
/// ```
pub fn statement(actions: &[&str], resources: Vec<String>) -> PolicyStatement {
    conditional(actions, resources, &[])
}

/// A statement that applies only when every condition holds: `(operator, key, values)`.
///
/// ```
/// let s = slipway_cdk::scope::conditional(
///     &["iam:PassRole"],
///     vec!["${role-api}".into()],
///     &[("StringEquals", "iam:PassedToService", vec!["ecs-tasks.amazonaws.com".into()])],
/// );
/// assert_eq!(s.conditions["StringEquals"]["iam:PassedToService"], ["ecs-tasks.amazonaws.com"]);
/// ```
pub fn conditional(
    actions: &[&str],
    resources: Vec<String>,
    conditions: &[(&str, &str, Vec<String>)],
) -> PolicyStatement {
    let mut actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    actions.sort();
    let mut resources = resources;
    resources.sort();
    resources.dedup();
    let mut by_operator: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (operator, key, values) in conditions {
        let mut values = values.clone();
        values.sort();
        values.dedup();
        by_operator
            .entry((*operator).to_owned())
            .or_default()
            .insert((*key).to_owned(), values);
    }
    PolicyStatement {
        actions,
        resources,
        conditions: by_operator,
    }
}

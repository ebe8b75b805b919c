//! L3 patterns: the concepts a stack file speaks in, built from the [`l2`] constructs.
//!
//! - [`Network`]: the VPC with the house layout.
//! - [`DataTier`]: Redis and/or Postgres, and the operator's debug task into them.
//! - [`Platform`]: the cluster, the shared load balancer (when something is public) and
//!   the Service Connect namespace (when something is private).
//! - [`WebService`] (behind the shared ALB, blue/green), [`Worker`] (no inbound),
//!   [`PrivateApi`] (over Service Connect): a [`FargateService`] set up for the role,
//!   still open to every L2 setting before `build()`.
//! - [`Observability`]: alarms, metric filters and the dashboard for what was declared.
//! - [`GithubDeploy`]: the role a GitHub workflow assumes to push images and deploy.
//!
//! [`from_config`] is the TOML front-end: a stack file's [`StackConfig`] becomes calls
//! to these patterns.
//!
//! ```
//! use slipway_cdk::constructs::l2::Route;
//! use slipway_cdk::constructs::patterns::{DataTier, Network, Platform, WebService, Worker};
//! use slipway_cdk::constructs::l2::Grantable;
//! use slipway_cdk::scope::Stack;
//!
//! let mut stack = Stack::new("demo", "dev");
//! let vpc = Network::new(&mut stack, "10.40.0.0/16", 1);
//! let data = DataTier::redis(&mut stack, &vpc);
//! let platform = Platform::new(&mut stack, &vpc).public(None).build();
//! let redis = data.redis.as_ref().unwrap();
//! WebService::new(&mut stack, &platform, "web", Route::catch_all()).port(8080).uses(redis).build();
//! Worker::new(&mut stack, &platform, "jobs").port(8082).uses(redis).build();
//! data.debug_task(&mut stack, &vpc, 14);
//! let resources = stack.synth().unwrap();
//! assert!(resources.iter().any(|r| r.id == "rule-web"));
//! ```

// CDK style: `Pattern::new(&mut stack, …)` adds the pattern and returns the handle (or
// the builder) the caller goes on with, not the pattern value itself.
#![allow(clippy::new_ret_no_self)]

use std::collections::BTreeMap;

use super::l2::{
    self, Cluster, ClusterHandle, FargateService, Grantable, LoadBalancer, LoadBalancerHandle,
    NamespaceHandle, OneOffTask, Postgres, PostgresHandle, Redis, RedisHandle, Route,
    ServiceHandle, Vpc, VpcHandle,
};
use crate::config::{AlarmsConfig, DataStore, GithubConfig, StackConfig};
use crate::scope::Stack;

#[cfg(test)]
mod tests;

/// The network: a VPC with `cidr` (a /16) over zones `a` and `b`, `nat_gateways` NAT
/// gateways (1 shared for dev, 2 for one per AZ). For other zones use [`Vpc`] itself.
pub struct Network;

impl Network {
    /// Adds the network.
    pub fn new(stack: &mut Stack, cidr: &str, nat_gateways: u8) -> VpcHandle {
        Vpc::new(stack, cidr).nat_gateways(nat_gateways).build()
    }
}

/// The data tier: what data stores the stack has.
#[derive(Debug, Clone, Default)]
pub struct DataTier {
    /// Redis, if the stack has it.
    pub redis: Option<RedisHandle>,
    /// Postgres, if the stack has it.
    pub postgres: Option<PostgresHandle>,
}

impl DataTier {
    /// A Redis with the defaults of [`Redis`].
    pub fn redis(stack: &mut Stack, vpc: &VpcHandle) -> Self {
        DataTier {
            redis: Some(Redis::new(stack, vpc).build()),
            postgres: None,
        }
    }

    /// The data stores of a stack file (`[redis]`, `[postgres]`).
    pub fn new(
        stack: &mut Stack,
        vpc: &VpcHandle,
        redis: Option<&crate::config::RedisConfig>,
        postgres: Option<&crate::config::PostgresConfig>,
    ) -> Self {
        DataTier {
            redis: redis.map(|r| {
                Redis::new(stack, vpc)
                    .node_type(&r.node_type)
                    .engine_version(&r.engine_version)
                    .replicas(r.replicas)
                    .build()
            }),
            postgres: postgres.map(|pg| {
                Postgres::new(stack, vpc, &pg.database)
                    .settings(pg.clone())
                    .build()
            }),
        }
    }

    /// The operator's debug task (`provision debug`), let into every data store; nothing
    /// when there is none.
    pub fn debug_task(&self, stack: &mut Stack, vpc: &VpcHandle, log_retention_days: i32) {
        if self.redis.is_some() || self.postgres.is_some() {
            l2::debug_task(
                stack,
                vpc,
                self.redis.as_ref(),
                self.postgres.as_ref(),
                log_retention_days,
            );
        }
    }
}

/// What services share: the network, the cluster, the load balancer (if any service is
/// public) and the Service Connect namespace (if any service is called privately).
#[derive(Debug, Clone)]
pub struct Platform {
    /// The cluster (with its network).
    pub cluster: ClusterHandle,
    /// The shared load balancer.
    pub alb: Option<LoadBalancerHandle>,
    /// The Service Connect namespace.
    pub mesh: Option<NamespaceHandle>,
}

/// Builds a [`Platform`].
pub struct PlatformBuilder<'a> {
    stack: &'a mut Stack,
    vpc: VpcHandle,
    alb: Option<crate::config::AlbConfig>,
    domain: Option<crate::config::DomainConfig>,
    default_service: Option<String>,
    mesh: bool,
}

impl Platform {
    /// The cluster in `vpc`; add [`PlatformBuilder::public`], [`PlatformBuilder::mesh`].
    pub fn new<'a>(stack: &'a mut Stack, vpc: &VpcHandle) -> PlatformBuilder<'a> {
        PlatformBuilder {
            stack,
            vpc: vpc.clone(),
            alb: None,
            domain: None,
            default_service: None,
            mesh: false,
        }
    }
}

impl PlatformBuilder<'_> {
    /// A shared load balancer whose catch-all goes to `default_service` (or, without
    /// one, nowhere: 503).
    pub fn public(mut self, default_service: Option<&str>) -> Self {
        self.alb.get_or_insert_with(Default::default);
        self.default_service = default_service.map(str::to_owned);
        self
    }
    /// The load balancer's settings (certificate, blue/green test listener).
    pub fn alb_settings(mut self, settings: crate::config::AlbConfig) -> Self {
        self.alb = Some(settings);
        self
    }
    /// The public services under a DNS name of yours, over HTTPS
    /// ([`LoadBalancer::domain`]).
    pub fn domain(mut self, domain: Option<crate::config::DomainConfig>) -> Self {
        self.domain = domain;
        self
    }
    /// A Service Connect namespace for private calls between services.
    pub fn mesh(mut self) -> Self {
        self.mesh = true;
        self
    }
    /// Adds the cluster, then the namespace and the load balancer.
    pub fn build(self) -> Platform {
        let stack = self.stack;
        let cluster = Cluster::new(stack, &self.vpc).build();
        let mesh = self.mesh.then(|| l2::namespace(stack));
        let alb = self.alb.map(|settings| {
            let mut alb = LoadBalancer::new(stack, &self.vpc)
                .certificate(settings.certificate_arn)
                .domain(self.domain.clone());
            if let Some(port) = settings.test_listener_port {
                alb = alb.test_listener(port, settings.test_cidrs);
            }
            if let Some(name) = &self.default_service {
                alb = alb.default_service(name);
            }
            alb.build()
        });
        Platform { cluster, alb, mesh }
    }
}

fn service<'a>(stack: &'a mut Stack, platform: &Platform, name: &str) -> FargateService<'a> {
    let service = FargateService::new(stack, &platform.cluster, name);
    match &platform.mesh {
        Some(namespace) => service.mesh(namespace, false),
        None => service,
    }
}

/// A service behind the shared load balancer, deployed blue/green, reached by `route`.
pub struct WebService;

impl WebService {
    /// The service, to configure further and `build()`. Panics when the platform has no
    /// load balancer ([`PlatformBuilder::public`]).
    pub fn new<'a>(
        stack: &'a mut Stack,
        platform: &Platform,
        name: &str,
        route: Route,
    ) -> FargateService<'a> {
        let alb = platform.alb.as_ref().expect(
            "a web service needs a platform with a load balancer (Platform::new(..).public(..))",
        );
        service(stack, platform, name).behind(alb, route)
    }
}

/// A service nothing calls: scales on CPU and memory, takes no inbound traffic.
pub struct Worker;

impl Worker {
    /// The service, to configure further and `build()`.
    pub fn new<'a>(stack: &'a mut Stack, platform: &Platform, name: &str) -> FargateService<'a> {
        service(stack, platform, name)
    }
}

/// A private service other services call by its name over Service Connect; allow each
/// caller with [`ServiceHandle::allow_from`].
///
/// ```
/// use slipway_cdk::constructs::patterns::{Network, Platform, PrivateApi, Worker};
/// use slipway_cdk::scope::Stack;
///
/// let mut stack = Stack::new("sums", "dev");
/// let vpc = Network::new(&mut stack, "10.30.0.0/16", 1);
/// let platform = Platform::new(&mut stack, &vpc).mesh().build();
/// let api = PrivateApi::new(&mut stack, &platform, "api").port(4567).build();
/// let client = Worker::new(&mut stack, &platform, "client").build();
/// api.allow_from(&mut stack, &client);
/// let sg = stack.resource("sg-api").unwrap().spec_json();
/// assert_eq!(sg["ingress"][0]["source"], "${sg-client}");
/// assert_eq!(stack.description().services["api"].callers, ["client"]);
/// ```
pub struct PrivateApi;

impl PrivateApi {
    /// The service, to configure further and `build()`. Panics when the platform has no
    /// namespace ([`PlatformBuilder::mesh`]).
    pub fn new<'a>(stack: &'a mut Stack, platform: &Platform, name: &str) -> FargateService<'a> {
        let namespace = platform
            .mesh
            .as_ref()
            .expect("a private API needs a platform with a namespace (Platform::new(..).mesh())");
        FargateService::new(stack, &platform.cluster, name).mesh(namespace, true)
    }
}

/// Alarms (5xx rate, p95 latency, unhealthy hosts, CPU, queues, database connections),
/// the metric filters they read and the stack's dashboard, for everything the stack
/// declared so far (declare it after the services).
///
/// ```
/// use slipway_cdk::config::AlarmsConfig;
/// use slipway_cdk::constructs::patterns::{Network, Observability, Platform, Worker};
/// use slipway_cdk::scope::Stack;
///
/// let mut stack = Stack::new("jobs", "dev");
/// let vpc = Network::new(&mut stack, "10.30.0.0/16", 1);
/// let platform = Platform::new(&mut stack, &vpc).build();
/// Worker::new(&mut stack, &platform, "ingest").queues(&["work"]).build();
/// let alarms = AlarmsConfig { topic: Some("jobs-alerts".into()), ..AlarmsConfig::default() };
/// Observability::new(&mut stack, alarms);
/// assert!(stack.contains("dashboard") && stack.contains("alarm-topic"));
/// assert!(stack.resources().any(|r| r.id.starts_with("alarm-ingest")));
/// ```
pub struct Observability;

impl Observability {
    /// Adds them with `alarms`' thresholds and topic.
    pub fn new(stack: &mut Stack, alarms: AlarmsConfig) {
        stack.description_mut().alarms = alarms;
        let description = stack.description().clone();
        super::observability::observability(stack, &description);
    }
}

/// The OIDC provider (unless the account's is named) and the role GitHub Actions runs of
/// `github.repository` assume to push images and deploy this stack's services, nothing
/// else (declare it last: it is scoped to the services declared before it).
///
/// ```
/// use slipway_cdk::config::GithubConfig;
/// use slipway_cdk::constructs::patterns::{GithubDeploy, Network, Platform, Worker};
/// use slipway_cdk::scope::Stack;
///
/// let mut stack = Stack::new("jobs", "prod");
/// let vpc = Network::new(&mut stack, "10.30.0.0/16", 2);
/// let platform = Platform::new(&mut stack, &vpc).build();
/// Worker::new(&mut stack, &platform, "ingest").build();
/// let github = GithubConfig { repository: "acme/jobs".into(), branch: None, oidc_provider_arn: None };
/// GithubDeploy::new(&mut stack, github);
/// let role = stack.resource("role-github-deploy").unwrap().spec_json();
/// assert_eq!(role["web_identity"]["subjects"][0], "repo:acme/jobs:environment:jobs-prod");
/// ```
pub struct GithubDeploy;

impl GithubDeploy {
    /// Adds them.
    pub fn new(stack: &mut Stack, github: GithubConfig) {
        stack.description_mut().github = Some(github.clone());
        // The parameter `deploy` and `rollback` hold as the stack's lock.
        let lock = format!(
            "arn:aws:ssm:*:*:parameter{}",
            crate::names::lock_parameter_name(stack.name(), stack.env())
        );
        let description = stack.description().clone();
        super::github_deploy_role(stack, &description, &github, &lock);
    }
}

/// The TOML front-end: the stack a resolved stack file describes, as calls to the
/// patterns above.
pub fn from_config(config: &StackConfig) -> Stack {
    let mut stack = Stack::new(&config.stack, &config.env);
    stack.aspect(crate::scope::NoDataStoreEgress::default());
    let vpc = Vpc::new(&mut stack, &config.network.cidr)
        .zones(config.network.availability_zones.clone())
        .nat_gateways(config.network.nat_gateways)
        .build();
    let data = DataTier::new(
        &mut stack,
        &vpc,
        config.redis.as_ref(),
        config.postgres.as_ref(),
    );
    let mut platform = Platform::new(&mut stack, &vpc);
    if config.services.values().any(|s| s.public.is_some()) {
        let default_service = config
            .services
            .iter()
            .find(|(_, s)| s.public.as_ref().is_some_and(|p| p.default))
            .map(|(name, _)| name.as_str());
        platform = platform
            .alb_settings(config.alb.clone())
            .domain(config.domain.clone())
            .public(default_service);
    }
    if config.services.values().any(|s| !s.callers.is_empty()) {
        platform = platform.mesh();
    }
    let platform = platform.build();
    let mut handles: BTreeMap<&str, ServiceHandle> = BTreeMap::new();
    for (name, settings) in &config.services {
        let mut service = FargateService::new(&mut stack, &platform.cluster, name)
            .settings(settings.clone())
            .log_retention_days(config.logs.retention_days);
        if let (Some(public), Some(alb)) = (&settings.public, &platform.alb) {
            service = service.behind(alb, Route::from(public));
        }
        if let Some(namespace) = &platform.mesh {
            service = service.mesh(namespace, !settings.callers.is_empty());
        }
        let handle = service.build();
        for store in &settings.uses {
            match (store, &data.redis, &data.postgres) {
                (DataStore::Redis, Some(redis), _) => redis.allow_from(&mut stack, &handle),
                (DataStore::Postgres, _, Some(postgres)) => {
                    postgres.allow_with(&mut stack, &handle, config.database_access(name))
                }
                // Validated: a service uses only the stores the stack has.
                _ => {}
            }
        }
        handles.insert(name, handle);
    }
    for (name, settings) in &config.services {
        for caller in &settings.callers {
            handles[name.as_str()].allow_from(&mut stack, &handles[caller.as_str()]);
        }
    }
    data.debug_task(&mut stack, &vpc, config.logs.retention_days);
    for (name, task) in &config.tasks {
        let mut one_off = OneOffTask::new(&mut stack, name, &handles[task.service.as_str()])
            .command(&task.command.iter().map(String::as_str).collect::<Vec<_>>());
        if let Some(cpu) = task.cpu {
            one_off = one_off.cpu(cpu);
        }
        if let Some(memory) = task.memory {
            one_off = one_off.memory(memory);
        }
        if let (true, Some(postgres)) = (task.database_admin, &data.postgres) {
            one_off = one_off.database_admin(postgres);
        }
        one_off.build();
    }
    Observability::new(&mut stack, config.alarms.clone());
    if let Some(github) = &config.github {
        GithubDeploy::new(&mut stack, github.clone());
    }
    stack
}

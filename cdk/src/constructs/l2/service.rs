//! Fargate services.

use std::collections::BTreeMap;

use super::*;
use crate::config::{ServiceConfig, CATCH_ALL_PRIORITY};
use crate::model::ids;
use crate::model::*;
use crate::scope::{statement, Section, Stack};

/// An ECS Fargate service with the house rules: its own security group, image
/// repository, log group, task role and (derived) execution role; a non-root user,
/// an init process, a read-only root unless ECS Exec is on (on everywhere but `prod`);
/// JSON logs; private subnets; the deployment circuit breaker; target tracking on CPU
/// and on requests per target (behind the load balancer) or memory (otherwise).
///
/// ```
/// use slipway_cdk::constructs::l2::{Cluster, FargateService, Redis, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "prod");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// let cluster = Cluster::new(&mut stack, &vpc).build();
/// let redis = Redis::new(&mut stack, &vpc).build();
/// let vote = FargateService::new(&mut stack, &cluster, "vote").port(8080).cpu(256).uses(&redis).build();
/// let task = stack.resource("taskdef-vote").unwrap().spec_json();
/// assert_eq!(task["container"]["read_only_root"], true, "no exec in prod");
/// assert_eq!(task["container"]["secrets"]["REDIS_URL"], "${redis-url}");
/// ```
pub struct FargateService<'a> {
    stack: &'a mut Stack,
    cluster: ClusterHandle,
    name: String,
    props: ServiceConfig,
    log_retention_days: i32,
    memory_target: f64,
    public: Option<(LoadBalancerHandle, Route)>,
    mesh: Option<bool>,
    uses: Vec<&'a dyn Grantable>,
}

/// Memory utilisation (%) services without a load balancer scale out at by default.
pub const MEMORY_TARGET: f64 = 75.0;

/// The defaults of a [`FargateService`]'s settings: port 8080, 256 CPU units, 512 MiB,
/// 1 task (scaling 1-2 on 60% CPU), the image's `latest` tag, liveness by the binary's
/// own `--probe`, ECS Exec per environment (see [`FargateService::exec`]).
fn default_settings(name: &str) -> ServiceConfig {
    ServiceConfig {
        image_repo: None,
        image_tag: "latest".into(),
        port: 8080,
        cpu: 256,
        memory: 512,
        desired: 1,
        min: 1,
        max: 2,
        cpu_target: 60.0,
        health_command: vec![
            "CMD".into(),
            format!("/usr/local/bin/{name}"),
            "--probe".into(),
        ],
        public: None,
        callers: Vec::new(),
        uses: Vec::new(),
        queues: Vec::new(),
        env: BTreeMap::new(),
        secrets: BTreeMap::new(),
        deploy: crate::config::DeployConfig::default(),
        database: None,
        exec: None,
        build: crate::config::BuildConfig::default(),
    }
}

/// A service: allow others in ([`ServiceHandle::allow_from`]), grant it data stores.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHandle {
    name: String,
    port: u16,
    pub(super) cpu: i32,
    pub(super) memory: i32,
    /// Its task definition, when it has one of its own (not the debug task's).
    task_definition: Option<String>,
}

impl Connectable for ServiceHandle {
    fn security_group(&self) -> SecurityGroupHandle {
        SecurityGroupHandle {
            id: ids::security_group(&self.name),
        }
    }
    fn service_name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl ServiceHandle {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Lets `caller` call this service on its port (Service Connect, private network).
    pub fn allow_from(&self, stack: &mut Stack, caller: &impl Connectable) {
        self.security_group().allow_from(stack, caller, self.port);
        if let Some(caller) = caller.service_name() {
            let caller = caller.to_owned();
            self.record(stack, |service| service.callers.push(caller));
        }
    }
    /// Records a change of this service in the stack's description.
    pub(super) fn record(
        &self,
        stack: &mut Stack,
        edit: impl FnOnce(&mut crate::config::ServiceConfig),
    ) {
        if let Some(service) = stack.description_mut().services.get_mut(&self.name) {
            let before = service.uses.len();
            edit(service);
            // Each data store once, in the order first granted.
            if service.uses.len() > before && service.uses[..before].contains(&service.uses[before])
            {
                service.uses.truncate(before);
            }
        }
    }
    /// Applies `edit` to the service's container (`long_running` true) and to the base
    /// its one-off tasks start from (false).
    pub(super) fn edit_containers(
        &self,
        stack: &mut Stack,
        mut edit: impl FnMut(&mut ContainerSpec, bool),
    ) {
        if let Some(id) = &self.task_definition {
            if let Some(Spec::TaskDefinition(task)) = stack.resource_mut(id).map(|r| &mut r.spec) {
                edit(&mut task.container, true);
            }
        }
        if let Some(base) = stack.base_containers.get_mut(&self.name) {
            edit(base, false);
        }
    }
}

impl<'a> FargateService<'a> {
    /// Service `name` in `cluster` with the defaults of a stack file's service (port 8080, 256 CPU units, 512 MiB, 1 task scaling 1-2 on 60% CPU, `latest`, liveness by `<binary> --probe`).
    pub fn new(stack: &'a mut Stack, cluster: &ClusterHandle, name: &str) -> Self {
        FargateService {
            stack,
            cluster: cluster.clone(),
            name: name.to_owned(),
            props: default_settings(name),
            log_retention_days: 14,
            memory_target: MEMORY_TARGET,
            public: None,
            mesh: None,
            uses: Vec::new(),
        }
    }
    /// All settings at once, as a stack file's `[services.<name>]` holds them, except
    /// those that connect the service to others: `public` ([`FargateService::behind`]),
    /// `callers` ([`ServiceHandle::allow_from`]), `uses` and `database` (the data
    /// stores' grants). Those are ignored here and recorded as the connections are made.
    pub fn settings(mut self, settings: ServiceConfig) -> Self {
        self.props = ServiceConfig {
            public: None,
            callers: Vec::new(),
            uses: Vec::new(),
            database: None,
            ..settings
        };
        self
    }
    /// Target average memory utilisation (%) of the memory scaling policy of a service
    /// not behind the load balancer (default 75; a stack file cannot change it).
    pub fn memory_target(mut self, percent: f64) -> Self {
        self.memory_target = percent;
        self
    }
    /// Days its logs are kept (default 14).
    pub fn log_retention_days(mut self, days: i32) -> Self {
        self.log_retention_days = days;
        self
    }
    /// The port it listens on.
    pub fn port(mut self, port: u16) -> Self {
        self.props.port = port;
        self
    }
    /// How `provision push` builds its image (default: the `Dockerfile`'s last stage,
    /// context `.`).
    pub fn image_build(mut self, build: crate::config::BuildConfig) -> Self {
        self.props.build = build;
        self
    }
    /// Fargate CPU units.
    pub fn cpu(mut self, cpu: i32) -> Self {
        self.props.cpu = cpu;
        self
    }
    /// Memory (MiB).
    pub fn memory(mut self, memory: i32) -> Self {
        self.props.memory = memory;
        self
    }
    /// Tasks `up` starts, and the scaling range.
    pub fn scaling(mut self, desired: i32, min: i32, max: i32) -> Self {
        (self.props.desired, self.props.min, self.props.max) = (desired, min, max);
        self
    }
    /// One environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.props.env.insert(name.to_owned(), value.to_owned());
        self
    }
    /// Reports the depth and oldest entry's age of these Redis queues (with alarms when
    /// the stack has [`crate::constructs::patterns::Observability`]).
    pub fn queues(mut self, queues: &[&str]) -> Self {
        self.props.queues = queues.iter().map(|q| q.to_string()).collect();
        self
    }
    /// How `provision deploy` rolls out its releases (strategy, bake time, alarms).
    pub fn deploy(mut self, deploy: crate::config::DeployConfig) -> Self {
        self.props.deploy = deploy;
        self
    }
    /// ECS Exec on or off (instead of the environment's default).
    pub fn exec(mut self, exec: bool) -> Self {
        self.props.exec = Some(exec);
        self
    }
    /// Reached through the shared load balancer by `route`, with a blue/green target
    /// group pair.
    pub fn behind(mut self, alb: &LoadBalancerHandle, route: Route) -> Self {
        self.public = Some((alb.clone(), route));
        self
    }
    /// Joins the stack's Service Connect namespace: as a client only, or as a server
    /// callers reach by its name (`serves`).
    pub fn mesh(mut self, _namespace: &NamespaceHandle, serves: bool) -> Self {
        self.mesh = Some(serves);
        self
    }
    /// Grants it a data store (or anything [`Grantable`]) once it is built.
    pub fn uses(mut self, store: &'a dyn Grantable) -> Self {
        self.uses.push(store);
        self
    }

    /// Adds the service's resources and applies its grants.
    pub fn build(self) -> ServiceHandle {
        let FargateService {
            stack,
            cluster,
            name,
            props,
            log_retention_days,
            memory_target,
            public,
            mesh,
            uses,
        } = self;
        let exec = props
            .exec
            .unwrap_or(stack.env() != crate::config::EXEC_OFF_ENV);
        stack.description_mut().logs.retention_days = log_retention_days;
        stack.description_mut().services.insert(
            name.clone(),
            ServiceConfig {
                public: public.as_ref().map(|(_, route)| route.to_config()),
                ..props.clone()
            },
        );
        let sg = SecurityGroup::new(
            stack,
            cluster.vpc(),
            &name,
            &format!("{name}: only from its callers"),
        )
        .build();
        if let Some((alb, _)) = &public {
            sg.allow_from(stack, alb, props.port);
        }
        Repository::new(stack, &name).build();
        LogGroup::new(stack, &name)
            .retention_days(log_retention_days)
            .build();
        let statements = if exec {
            vec![statement(&SSM_MESSAGES_ACTIONS, vec!["*".into()])]
        } else {
            Vec::new()
        };
        stack.add(
            Section::TaskRoles,
            &ids::task_role(&name),
            Spec::Role(RoleSpec::for_service("ecs-tasks.amazonaws.com", statements)),
        );
        let add = |stack: &mut Stack, id: &str, spec| stack.add(Section::Services, id, spec);
        if let Some((alb, route)) = &public {
            let group = || {
                Spec::TargetGroup(TargetGroupSpec {
                    vpc: Ref::to("vpc"),
                    port: props.port,
                    health_path: route.health_path.clone(),
                    sticky: route.sticky,
                })
            };
            // ECS blue/green starts the new revision in the alternate group, then moves
            // the rule's traffic over; the next deployment moves it back.
            add(stack, &ids::target_group(&name), group());
            add(stack, &ids::alternate_target_group(&name), group());
            let (priority, paths) = if route.default {
                (CATCH_ALL_PRIORITY, vec!["/*".to_owned()])
            } else {
                (route.priority.unwrap_or_default(), route.paths.clone())
            };
            let rule = |listener: &str, priority, paths: &[String], hosts: &[String]| {
                Spec::ListenerRule(ListenerRuleSpec {
                    listener: Ref::to(listener),
                    priority,
                    paths: paths.to_vec(),
                    hosts: hosts.to_vec(),
                    target_group: Ref::to(&ids::target_group(&name)),
                    alternate_target_group: Some(Ref::to(&ids::alternate_target_group(&name))),
                })
            };
            if let Some(domain) = &alb.domain {
                let subdomain = route.subdomain.as_deref().unwrap_or(&name);
                let record = crate::domain::record_name(subdomain, &domain.name);
                let id = crate::domain::record_id(&record);
                stack.add(
                    Section::LoadBalancer,
                    &id,
                    Spec::DnsRecord(DnsRecordSpec {
                        zone: domain.zone.clone(),
                        name: record,
                        alias_target: Ref::to("alb"),
                    }),
                );
                // Deleted before the certificate: `observe` finds the stack's records
                // through the zone its certificate names.
                stack.after(&id, &domain.certificate);
            }
            let own_port = route
                .to_config()
                .listener_port(props.port, alb.domain.is_some());
            let production = match own_port {
                // A listener of its own: everything arriving on that port is the
                // service's, whatever the Host header (a browser sends the ALB's DNS
                // name). The rule still exists, as a catch-all, because ECS blue/green
                // moves traffic by rewriting a rule; the listener's default action
                // forwards too (the blue/green limitation in `LoadBalancer::build`), and
                // the internal-paths rule outranks both.
                Some(port) => {
                    let listener_id = ids::service_listener(&name);
                    alb.security_group().allow_cidr(stack, "0.0.0.0/0", port);
                    let protocol = if alb.certificate_arn.is_some() {
                        "HTTPS"
                    } else {
                        "HTTP"
                    };
                    let forward = DefaultAction::Forward(Ref::to(&ids::target_group(&name)));
                    let to_alb = |stack: &mut Stack, id: &str, spec| {
                        stack.add(Section::LoadBalancer, id, spec)
                    };
                    to_alb(
                        stack,
                        &listener_id,
                        listener(port, protocol, alb.certificate_arn.clone(), forward),
                    );
                    to_alb(
                        stack,
                        &ids::service_internal_rule(&name),
                        internal_paths_rule(&listener_id),
                    );
                    rule(&listener_id, CATCH_ALL_PRIORITY, &["/*".to_owned()], &[])
                }
                None => rule(alb.serving_listener, priority, &paths, &route.hosts),
            };
            add(stack, &ids::listener_rule(&name), production);
            if alb.test_listener {
                // Test traffic keeps the route's own conditions (send the Host header).
                add(
                    stack,
                    &ids::test_listener_rule(&name),
                    rule(TEST_LISTENER, priority, &paths, &route.hosts),
                );
            }
        }
        let mut environment = props.env.clone();
        environment.insert("PORT".into(), props.port.to_string());
        environment.insert("LOG_FORMAT".into(), "json".into());
        let base = ContainerSpec {
            name: name.clone(),
            image_repository: Ref::to(&ids::repository(
                props.image_repo.as_deref().unwrap_or(&name),
            )),
            image_tag: props.image_tag.clone(),
            port: props.port,
            command: None,
            environment,
            secrets: props
                .secrets
                .iter()
                .map(|(var, arn)| (var.clone(), Ref::physical(arn.clone())))
                .collect(),
            health_command: props.health_command.clone(),
            log_group: Ref::to(&ids::log_group(&name)),
            // One-off tasks run to completion without ECS Exec: always a read-only root.
            read_only_root: true,
            user: CONTAINER_USER.into(),
            init_process: true,
        };
        // The service's own container gives up the read-only root only for ECS Exec: the
        // SSM agent ECS Exec injects writes inside the container (ECS Exec guide,
        // "Considerations"; aws/containers-roadmap#1359). It also learns where to report
        // its metrics (the Embedded Metric Format lines platform::emf writes).
        let mut main = base.clone();
        main.read_only_root = !exec;
        main.environment.insert(
            "METRICS_NAMESPACE".into(),
            crate::names::metrics_namespace(stack.name(), stack.env()),
        );
        main.environment
            .insert("METRICS_SERVICE".into(), name.clone());
        stack.base_containers.insert(name.clone(), base);
        add(
            stack,
            &ids::task_definition(&name),
            Spec::TaskDefinition(TaskDefinitionSpec {
                cpu: props.cpu,
                memory: props.memory,
                execution_role: Ref::to(&ids::execution_role(&name)),
                task_role: Ref::to(&ids::task_role(&name)),
                container: main,
            }),
        );
        let service_connect = mesh.map(|serves| ServiceConnectSpec {
            namespace: Ref::to("namespace"),
            server_name: serves.then(|| name.clone()),
        });
        add(
            stack,
            &ids::service(&name),
            Spec::Service(ServiceSpec {
                cluster: Ref::to("cluster"),
                task_definition: Ref::to(&ids::task_definition(&name)),
                desired_count: props.desired,
                subnets: cluster.vpc().private_subnets(),
                security_groups: vec![Ref::to(sg.id())],
                assign_public_ip: false,
                // A public service's target group must be attached to a listener before
                // the ECS service can register targets into it.
                target_group: public.as_ref().map(|_| Ref::to(&ids::target_group(&name))),
                container_port: props.port,
                enable_execute_command: exec,
                circuit_breaker_rollback: true,
                service_connect,
                awaiting_release: false,
            }),
        );
        if public.is_some() {
            // AWS rejects a target group with no listener: the rule comes first.
            stack.after(&ids::service(&name), &ids::listener_rule(&name));
        }
        let target = Ref::to(&ids::scalable_target(&name));
        add(
            stack,
            &ids::scalable_target(&name),
            Spec::ScalableTarget(ScalableTargetSpec {
                service: Ref::to(&ids::service(&name)),
                min: props.min,
                max: props.max,
            }),
        );
        add(
            stack,
            &ids::scaling_policy(&name, "cpu"),
            Spec::ScalingPolicy(ScalingPolicySpec {
                target: target.clone(),
                metric: ScalingMetric::Cpu,
                target_value: props.cpu_target,
            }),
        );
        let (suffix, second) = match &public {
            Some((_, route)) => (
                "requests",
                ScalingPolicySpec {
                    target,
                    metric: ScalingMetric::AlbRequestsPerTarget {
                        load_balancer: Ref::to("alb"),
                        target_group: Ref::to(&ids::target_group(&name)),
                    },
                    target_value: f64::from(route.requests_per_target),
                },
            ),
            // Without a load balancer there are no request counts: scale on memory too.
            None => (
                "memory",
                ScalingPolicySpec {
                    target,
                    metric: ScalingMetric::Memory,
                    target_value: memory_target,
                },
            ),
        };
        add(
            stack,
            &ids::scaling_policy(&name, suffix),
            Spec::ScalingPolicy(second),
        );
        let handle = ServiceHandle {
            name: name.clone(),
            port: props.port,
            cpu: props.cpu,
            memory: props.memory,
            task_definition: Some(ids::task_definition(&name)),
        };
        for store in uses {
            store.allow_from(stack, &handle);
        }
        handle
    }
}

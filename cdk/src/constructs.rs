//! CDK-style constructs: a stack config expands into typed resources. Pure: no AWS calls.
//! Each construct is a function adding the resources of one concept (network, data tier,
//! a web service…) so the expansion reads like the architecture.

use std::collections::BTreeMap;

use crate::config::{
    DataStore, GithubConfig, PublicConfig, ServiceConfig, StackConfig, CATCH_ALL_PRIORITY,
    GITHUB_OIDC_HOST,
};
use crate::model::*;

pub mod observability;

pub use crate::config::{consumers, has_debug_task};
pub use crate::model::ids::{self, DEBUG};

/// ECS Exec (issue 6) needs the task role to open SSM message channels; only tasks with
/// exec on get them (see [`StackConfig::exec_enabled`]).
const SSM_MESSAGES_ACTIONS: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];
/// Unprivileged user every container runs as.
pub const CONTAINER_USER: &str = "10001";
/// The debug task's image tag: the repository keeps mutable tags so CI can move it.
pub const DEBUG_IMAGE_TAG: &str = "latest";
/// The debug container idles this long (8 h), then stops by itself: `provision debug`
/// stops it when the session ends, this bounds a task whose operator vanished.
pub const DEBUG_IDLE_SECONDS: u32 = 28_800;

/// The resources of a stack, in declaration order.
pub fn expand(config: &StackConfig) -> Vec<Resource> {
    let mut stack = Builder::default();
    network(&mut stack, config);
    security_groups(&mut stack, config);
    data_tier(&mut stack, config);
    platform(&mut stack, config);
    load_balancer(&mut stack, config);
    for (name, service) in &config.services {
        ecs_service(&mut stack, config, name, service);
    }
    debug_task(&mut stack, config);
    for (name, task) in &config.tasks {
        let service = &config.services[&task.service];
        // One-off tasks run to completion without ECS Exec: always a read-only root.
        let mut container = container(config, &task.service, service, true);
        container.name = name.clone();
        container.command = Some(task.command.clone());
        let task_role = if task.database_admin {
            database_admin_container(config, &mut container);
            Ref::to(DB_ADMIN_ROLE)
        } else {
            Ref::to(&ids::task_role(&task.service))
        };
        stack.add(
            &ids::one_off_task(name),
            Spec::TaskDefinition(TaskDefinitionSpec {
                cpu: task.cpu.unwrap_or(service.cpu),
                memory: task.memory.unwrap_or(service.memory),
                // The service's execution role (the same image, log group and secrets),
                // except for the database setup task: it alone is handed the master
                // password, so it gets a role of its own that no deploy may pass.
                execution_role: if task.database_admin {
                    Ref::to(&ids::execution_role(name))
                } else {
                    Ref::to(&ids::execution_role(&task.service))
                },
                task_role,
                container,
            }),
        );
    }
    execution_roles(&mut stack);
    observability::observability(&mut stack, config);
    if let Some(github) = &config.github {
        // The parameter `deploy` and `rollback` hold as the stack's lock (the provisioner's `lock`).
        let lock = format!(
            "arn:aws:ssm:*:*:parameter{}",
            crate::names::lock_parameter_name(&config.stack, &config.env)
        );
        github_deploy_role(&mut stack, config, github, &lock);
    }
    stack.resources
}

#[derive(Default)]
pub(crate) struct Builder {
    resources: Vec<Resource>,
}

impl Builder {
    pub(crate) fn add(&mut self, id: &str, spec: Spec) {
        self.resources.push(Resource {
            id: id.to_owned(),
            spec,
            after: Vec::new(),
        });
    }

    /// Ordering-only dependency: `id` is created after `other` (and deleted before it).
    pub(crate) fn after(&mut self, id: &str, other: &str) {
        if let Some(resource) = self.resources.iter_mut().find(|r| r.id == id) {
            resource.after.push(other.to_owned());
        }
    }
}

/// The AZ index → subnet ids, so other constructs can refer to them.
fn subnet_ids(public: bool) -> [String; 2] {
    let tier = if public { "public" } else { "private" };
    [format!("subnet-{tier}-a"), format!("subnet-{tier}-b")]
}

fn refs(ids: &[String]) -> Vec<Ref> {
    ids.iter().map(|id| Ref::to(id)).collect()
}

/// `10.10.0.0/16` → the /20 at `index` (0-15).
fn subnet_cidr(vpc_cidr: &str, index: u8) -> String {
    let octets: Vec<&str> = vpc_cidr.split('.').collect();
    format!("{}.{}.{}.0/20", octets[0], octets[1], index * 16)
}

fn network(stack: &mut Builder, config: &StackConfig) {
    let net = &config.network;
    stack.add(
        "vpc",
        Spec::Vpc(VpcSpec {
            cidr: net.cidr.clone(),
            dns_support: true,
            dns_hostnames: true,
        }),
    );
    stack.add(
        "igw",
        Spec::InternetGateway(InternetGatewaySpec {
            vpc: Ref::to("vpc"),
        }),
    );
    let public = subnet_ids(true);
    let private = subnet_ids(false);
    for (index, az) in net.zones().iter().enumerate() {
        stack.add(
            &public[index],
            Spec::Subnet(SubnetSpec {
                vpc: Ref::to("vpc"),
                cidr: subnet_cidr(&net.cidr, index as u8),
                az: az.clone(),
                public: true,
            }),
        );
        stack.add(
            &private[index],
            Spec::Subnet(SubnetSpec {
                vpc: Ref::to("vpc"),
                cidr: subnet_cidr(&net.cidr, 8 + index as u8),
                az: az.clone(),
                public: false,
            }),
        );
    }
    stack.add(
        "rt-public",
        Spec::RouteTable(RouteTableSpec {
            vpc: Ref::to("vpc"),
            default_route: Ref::to("igw"),
            subnets: refs(&public),
        }),
    );
    let nat_ids: Vec<String> = ["nat-a", "nat-b"][..usize::from(net.nat_gateways)]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (index, nat) in nat_ids.iter().enumerate() {
        stack.add(
            nat,
            Spec::NatGateway(NatGatewaySpec {
                subnet: Ref::to(&public[index]),
            }),
        );
    }
    if nat_ids.len() == 1 {
        stack.add(
            "rt-private",
            Spec::RouteTable(RouteTableSpec {
                vpc: Ref::to("vpc"),
                default_route: Ref::to(&nat_ids[0]),
                subnets: refs(&private),
            }),
        );
    } else {
        for (index, suffix) in ["a", "b"].iter().enumerate() {
            stack.add(
                &format!("rt-private-{suffix}"),
                Spec::RouteTable(RouteTableSpec {
                    vpc: Ref::to("vpc"),
                    default_route: Ref::to(&nat_ids[index]),
                    subnets: vec![Ref::to(&private[index])],
                }),
            );
        }
    }
}

fn has_public_services(config: &StackConfig) -> bool {
    config.services.values().any(|s| s.public.is_some())
}

fn sorted(mut rules: Vec<IngressRule>) -> Vec<IngressRule> {
    rules.sort();
    rules.dedup();
    rules
}

fn security_groups(stack: &mut Builder, config: &StackConfig) {
    let sg = |description: String, ingress: Vec<IngressRule>, egress_all: bool| {
        Spec::SecurityGroup(SecurityGroupSpec {
            vpc: Ref::to("vpc"),
            description,
            ingress: sorted(ingress),
            egress_all,
        })
    };
    if has_public_services(config) {
        let mut ingress = vec![IngressRule {
            port: 80,
            source: Ref::physical("0.0.0.0/0"),
        }];
        if config.alb.certificate_arn.is_some() {
            ingress.push(IngressRule {
                port: 443,
                source: Ref::physical("0.0.0.0/0"),
            });
        }
        // The blue/green test listener only from the CIDRs config names.
        if let Some(port) = config.alb.test_listener_port {
            ingress.extend(config.alb.test_cidrs.iter().map(|cidr| IngressRule {
                port,
                source: Ref::physical(cidr.clone()),
            }));
        }
        stack.add(
            "sg-alb",
            sg("ALB: HTTP(S) from anywhere".into(), ingress, true),
        );
    }
    for (name, service) in &config.services {
        let mut ingress = Vec::new();
        if service.public.is_some() {
            ingress.push(IngressRule {
                port: service.port,
                source: Ref::to("sg-alb"),
            });
        }
        for caller in &service.callers {
            ingress.push(IngressRule {
                port: service.port,
                source: Ref::to(&ids::security_group(caller)),
            });
        }
        // Egress stays open: tasks pull images, reach AWS APIs and their data stores.
        stack.add(
            &ids::security_group(name),
            sg(format!("{name}: only from its callers"), ingress, true),
        );
    }
    if has_debug_task(config) {
        // Started on demand by an operator; it calls out (data stores, AWS APIs) and
        // takes nothing in.
        stack.add(
            &ids::security_group(DEBUG),
            sg(
                // No apostrophe: EC2 rejects it in descriptions (see the test below).
                "debug: debug task for operators, no ingress".into(),
                Vec::new(),
                true,
            ),
        );
    }
    for (store, port) in [(DataStore::Redis, 6379), (DataStore::Postgres, 5432)] {
        let present = match store {
            DataStore::Redis => config.redis.is_some(),
            DataStore::Postgres => config.postgres.is_some(),
        };
        if !present {
            continue;
        }
        // The debug task is a declared consumer of every data store the stack has.
        let ingress = consumers(config, store)
            .into_iter()
            .map(String::as_str)
            .chain(has_debug_task(config).then_some(DEBUG))
            .map(|name| IngressRule {
                port,
                source: Ref::to(&ids::security_group(name)),
            })
            .collect();
        let label = format!("{store:?}").to_lowercase();
        stack.add(
            &ids::security_group(&label),
            sg(
                format!("{label}: only from its consumers, no egress"),
                ingress,
                false,
            ),
        );
    }
}

fn data_tier(stack: &mut Builder, config: &StackConfig) {
    let private = refs(&subnet_ids(false));
    if let Some(redis) = &config.redis {
        stack.add(
            "redis-auth",
            Spec::Secret(SecretSpec {
                description: "Redis AUTH token".into(),
                value: SecretValue::RandomToken,
            }),
        );
        stack.add(
            "redis-subnets",
            Spec::CacheSubnetGroup(SubnetGroupSpec {
                subnets: private.clone(),
            }),
        );
        stack.add(
            "redis",
            Spec::ReplicationGroup(ReplicationGroupSpec {
                node_type: redis.node_type.clone(),
                engine_version: redis.engine_version.clone(),
                replicas: redis.replicas,
                multi_az: redis.replicas > 0,
                transit_encryption: true,
                at_rest_encryption: true,
                subnet_group: Ref::to("redis-subnets"),
                security_groups: vec![Ref::to("sg-redis")],
                auth_secret: Ref::to("redis-auth"),
            }),
        );
        stack.add(
            "redis-url",
            Spec::Secret(SecretSpec {
                description: "REDIS_URL (TLS, with AUTH token)".into(),
                value: SecretValue::RedisUrl {
                    replication_group: Ref::to("redis"),
                    auth: Ref::to("redis-auth"),
                },
            }),
        );
    }
    if let Some(pg) = &config.postgres {
        stack.add(
            "postgres-subnets",
            Spec::DbSubnetGroup(SubnetGroupSpec { subnets: private }),
        );
        stack.add(
            "postgres",
            Spec::DbInstance(DbInstanceSpec {
                instance_class: pg.instance_class.clone(),
                engine_version: pg.engine_version.clone(),
                database: pg.database.clone(),
                username: pg.username.clone(),
                allocated_storage_gb: pg.allocated_storage_gb,
                backup_retention_days: pg.backup_retention_days,
                multi_az: pg.multi_az,
                deletion_protection: pg.deletion_protection,
                storage_encrypted: true,
                publicly_accessible: false,
                managed_master_password: true,
                subnet_group: Ref::to("postgres-subnets"),
                security_groups: vec![Ref::to("sg-postgres")],
            }),
        );
        // The master user's URL, for the operator's debug task only: services log in as
        // their own roles (below), the setup task reads the RDS-managed secret itself. A
        // copy made at creation, so it goes stale when RDS rotates the master password
        // (runbook.md, "Database credentials", says how to read the current one).
        stack.add(
            "database-url",
            Spec::Secret(SecretSpec {
                description: "DATABASE_URL (sslmode=require)".into(),
                value: SecretValue::DatabaseUrl {
                    instance: Ref::to("postgres"),
                },
            }),
        );
        for name in consumers(config, DataStore::Postgres) {
            stack.add(
                &ids::database_password_secret(name),
                Spec::Secret(SecretSpec {
                    description: format!("Postgres password of role {name}"),
                    value: SecretValue::DatabaseRole {
                        username: name.clone(),
                    },
                }),
            );
        }
    }
}

/// The task role of the database setup task (`database_admin = true`).
const DB_ADMIN_ROLE: &str = "role-db-admin";

/// Port every RDS Postgres instance of a stack listens on (CreateDBInstance default).
const POSTGRES_PORT: &str = "5432";

/// Where `service`'s Postgres is, as plain settings. `${postgres}` in an environment
/// value becomes the instance's endpoint (ecs.rs resolves references in environment
/// values to a resource's endpoint, else its ARN).
fn database_environment(config: &StackConfig, user: &str) -> BTreeMap<String, String> {
    let pg = config
        .postgres
        .as_ref()
        .expect("validated: postgres users need [postgres]");
    BTreeMap::from([
        ("DATABASE_HOST".to_owned(), Ref::to("postgres").0),
        ("DATABASE_PORT".to_owned(), POSTGRES_PORT.to_owned()),
        ("DATABASE_NAME".to_owned(), pg.database.clone()),
        ("DATABASE_USER".to_owned(), user.to_owned()),
        ("DATABASE_SSLMODE".to_owned(), "require".to_owned()),
    ])
}

/// Turns a one-off task's container into the database setup task's: the master user's
/// settings, its password injected by ECS from the RDS-managed master secret when the
/// task starts (`${postgres}` as a secret is that secret, so it is always the current
/// password whatever RDS rotated), and `DATABASE_ROLES`, the roles to create with the
/// names of their password secrets. Nothing else of the service's environment.
fn database_admin_container(config: &StackConfig, container: &mut ContainerSpec) {
    let pg = config
        .postgres
        .as_ref()
        .expect("validated: the admin task's service uses postgres");
    let roles: Vec<serde_json::Value> = consumers(config, DataStore::Postgres)
        .into_iter()
        .map(|name| {
            let access = config.database_access(name);
            serde_json::json!({
                "role": name,
                "secret": crate::names::resource_name(&config.stack, &config.env, &ids::database_password_secret(name)),
                "owns": access.owns,
                "reads": access.reads,
                "updates": access.updates,
            })
        })
        .collect();
    let mut environment = database_environment(config, &pg.username);
    environment.insert(
        "DATABASE_ROLES".into(),
        serde_json::Value::Array(roles).to_string(),
    );
    environment.insert("LOG_FORMAT".into(), "json".into());
    container.environment = environment;
    container.secrets = BTreeMap::from([("DATABASE_PASSWORD".to_owned(), Ref::to("postgres"))]);
}

/// Secrets a service's containers receive, variable name → secret. Postgres is not one:
/// its password is read at run time (see [`container`]).
fn service_secrets(service: &ServiceConfig) -> BTreeMap<String, Ref> {
    let mut secrets: BTreeMap<String, Ref> = service
        .secrets
        .iter()
        .map(|(var, arn)| (var.clone(), Ref::physical(arn.clone())))
        .collect();
    if service.uses.contains(&DataStore::Redis) {
        secrets.insert("REDIS_URL".into(), Ref::to("redis-url"));
    }
    secrets
}

fn statement(actions: &[&str], resources: Vec<String>) -> PolicyStatement {
    conditional(actions, resources, &[])
}

/// A statement that applies only when every condition holds: `(operator, key, values)`.
fn conditional(
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

/// One execution role per service (and one for the debug task), each derived from the
/// task definitions that name it: it pulls only their images, writes only their log
/// groups and reads only the secrets their containers reference. A shared role would let
/// any revision that may pass it read every secret of the stack (the master
/// `DATABASE_URL` included); derived from the task definitions, a secret added to a
/// service's container is readable by that service's tasks only, with nothing else to
/// keep in step.
fn execution_roles(stack: &mut Builder) {
    let mut roles: BTreeMap<String, [Vec<String>; 3]> = BTreeMap::new();
    for resource in &stack.resources {
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
        stack.add(
            &id,
            Spec::Role(RoleSpec::for_service("ecs-tasks.amazonaws.com", statements)),
        );
    }
}

fn platform(stack: &mut Builder, config: &StackConfig) {
    for name in config.services.keys() {
        stack.add(
            &ids::repository(name),
            Spec::Repository(RepositorySpec {
                scan_on_push: true,
                immutable_tags: true,
                keep_images: 20,
            }),
        );
        stack.add(
            &ids::log_group(name),
            Spec::LogGroup(LogGroupSpec {
                retention_days: config.logs.retention_days,
            }),
        );
    }
    if has_debug_task(config) {
        stack.add(
            &ids::repository(DEBUG),
            Spec::Repository(RepositorySpec {
                scan_on_push: true,
                // `latest` moves with each push of the debug image (see DEBUG_IMAGE_TAG).
                immutable_tags: false,
                keep_images: 20,
            }),
        );
        stack.add(
            &ids::log_group(DEBUG),
            Spec::LogGroup(LogGroupSpec {
                retention_days: config.logs.retention_days,
            }),
        );
    }
    // Execution roles: one per service, derived from the task definitions at the end of
    // the expansion (`execution_roles`). Task roles: the SSM channels of ECS Exec for
    // services with exec on and for the debug task (always exec'd into); nothing at all for the others (least privilege).
    for (name, exec) in config
        .services
        .keys()
        .map(|name| (name.as_str(), config.exec_enabled(name)))
        .chain(has_debug_task(config).then_some((DEBUG, true)))
    {
        let mut statements = if exec {
            vec![statement(&SSM_MESSAGES_ACTIONS, vec!["*".into()])]
        } else {
            Vec::new()
        };
        // The service reads its database password at run time, so that a rotation needs
        // no redeploy: its own secret only.
        if config
            .services
            .get(name)
            .is_some_and(|s| s.uses.contains(&DataStore::Postgres))
        {
            statements.push(statement(
                &["secretsmanager:GetSecretValue"],
                vec![format!("${{{}}}", ids::database_password_secret(name))],
            ));
        }
        statements.sort();
        stack.add(
            &ids::task_role(name),
            Spec::Role(RoleSpec::for_service("ecs-tasks.amazonaws.com", statements)),
        );
    }
    // The setup task reads every service's password secret to set the roles' passwords.
    let postgres_users = consumers(config, DataStore::Postgres);
    if config.tasks.values().any(|t| t.database_admin) && !postgres_users.is_empty() {
        stack.add(
            DB_ADMIN_ROLE,
            Spec::Role(RoleSpec::for_service(
                "ecs-tasks.amazonaws.com",
                vec![statement(
                    &["secretsmanager:GetSecretValue"],
                    postgres_users
                        .iter()
                        .map(|name| format!("${{{}}}", ids::database_password_secret(name)))
                        .collect(),
                )],
            )),
        );
    }
    stack.add(
        "cluster",
        Spec::Cluster(ClusterSpec {
            container_insights: true,
        }),
    );
    if config.services.values().any(|s| !s.callers.is_empty()) {
        stack.add(
            "namespace",
            Spec::Namespace(NamespaceSpec {
                name: format!("{}.internal", config.prefix()),
            }),
        );
    }
}

fn load_balancer(stack: &mut Builder, config: &StackConfig) {
    if !has_public_services(config) {
        return;
    }
    stack.add(
        "alb",
        Spec::LoadBalancer(LoadBalancerSpec {
            scheme: "internet-facing".into(),
            subnets: refs(&subnet_ids(true)),
            security_groups: vec![Ref::to("sg-alb")],
            // Malformed header names never reach the services (checkov CKV_AWS_131).
            drop_invalid_headers: true,
        }),
    );
    // Every public service, the default one included, is served by a listener rule (ECS
    // blue/green can only shift a rule's traffic). The listeners' own default action
    // must forward too: ECS blue/green "is not supported when using Application Load
    // Balancer listeners that have multiple action types configured with non-forward
    // actions" ("Application Load Balancer resources for blue/green deployments", ECS
    // developer guide: limitations), so no fixed-response 404 beside the forward rules.
    let forward = DefaultAction::Forward(Ref::to(&unmatched_target_group(config)));
    // Rules hang off the listener that serves traffic: HTTPS when there is a certificate.
    match &config.alb.certificate_arn {
        Some(arn) => {
            stack.add(
                "listener-http",
                Spec::Listener(ListenerSpec {
                    load_balancer: Ref::to("alb"),
                    port: 80,
                    protocol: "HTTP".into(),
                    certificate_arn: None,
                    default_action: DefaultAction::RedirectHttps,
                }),
            );
            stack.add(
                "listener-https",
                Spec::Listener(ListenerSpec {
                    load_balancer: Ref::to("alb"),
                    port: 443,
                    protocol: "HTTPS".into(),
                    certificate_arn: Some(arn.clone()),
                    default_action: forward,
                }),
            );
        }
        None => stack.add(
            "listener-http",
            Spec::Listener(ListenerSpec {
                load_balancer: Ref::to("alb"),
                port: 80,
                protocol: "HTTP".into(),
                certificate_arn: None,
                default_action: forward,
            }),
        ),
    }
    if let Some(port) = config.alb.test_listener_port {
        // Plain HTTP: test traffic comes from `test_cidrs` only (sg-alb).
        stack.add(
            TEST_LISTENER,
            Spec::Listener(ListenerSpec {
                load_balancer: Ref::to("alb"),
                port,
                protocol: "HTTP".into(),
                certificate_arn: None,
                default_action: DefaultAction::Forward(Ref::to(&unmatched_target_group(config))),
            }),
        );
    }
    if unmatched_target_group(config) == UNMATCHED {
        // Nothing registers in it: requests no rule matches get the ALB's 503.
        stack.add(
            UNMATCHED,
            Spec::TargetGroup(TargetGroupSpec {
                vpc: Ref::to("vpc"),
                port: 80,
                health_path: "/".into(),
                sticky: false,
            }),
        );
    }
    internal_paths(stack, config);
    blue_green_role(stack);
}

/// Path patterns the load balancer never forwards to a service: `/ready` names each
/// dependency with its error text and `/metrics` describes the service's internals, at
/// the root and under any prefix (`/users/ready`). `*` matches zero or more characters,
/// so `*/ready` also matches `/ready`; matching is on the path only, case-sensitive, as
/// the services route. Two values, two wildcards: within ALB's limits of three values per
/// condition and five per rule (`elb::path_condition_problem`).
pub const INTERNAL_PATHS: [&str; 2] = ["*/ready", "*/metrics"];
/// The internal-paths rule answers before every service rule (config priorities start at 2).
pub const INTERNAL_PATHS_PRIORITY: i32 = 1;
/// The empty target group internal paths are forwarded to.
pub const INTERNAL_TARGET_GROUP: &str = "tg-internal";

/// Keeps `/ready` and `/metrics` off the internet: a top-priority rule on every listener
/// that serves forwards them to `tg-internal`, a target group nothing registers in, so
/// the ALB answers 503 without reaching a task. A forward rather than a fixed-response
/// 404 on purpose: ECS blue/green deployments fail on listeners whose rules mix forward
/// and non-forward (redirect, fixed-response) actions ("Application Load Balancer
/// resources for blue/green deployments", ECS developer guide, limitations). Target group
/// health checks go straight to each task, not through listener rules, so they still ask
/// `/ready`; operators reach `/metrics` and `/ready` through `provision tunnel`.
fn internal_paths(stack: &mut Builder, config: &StackConfig) {
    stack.add(
        INTERNAL_TARGET_GROUP,
        Spec::TargetGroup(TargetGroupSpec {
            vpc: Ref::to("vpc"),
            port: 80,
            health_path: "/".into(),
            sticky: false,
        }),
    );
    let mut listeners = vec![("rule-internal", serving_listener(config))];
    if config.alb.test_listener_port.is_some() {
        listeners.push(("rule-internal-test", TEST_LISTENER));
    }
    for (id, listener) in listeners {
        stack.add(
            id,
            Spec::ListenerRule(ListenerRuleSpec {
                listener: Ref::to(listener),
                priority: INTERNAL_PATHS_PRIORITY,
                paths: INTERNAL_PATHS.iter().map(|p| (*p).to_owned()).collect(),
                hosts: Vec::new(),
                target_group: Ref::to(INTERNAL_TARGET_GROUP),
                alternate_target_group: None,
            }),
        );
    }
}

/// The target group of stacks without a default service that listeners forward requests
/// no rule matches to: it has no targets, so the ALB answers them 503.
const UNMATCHED: &str = "tg-unmatched";

/// Where a listener's default action forwards. With a default service, its primary
/// group (its catch-all `/*` rule answers first, so this is never reached in practice);
/// without one, the empty `tg-unmatched`.
fn unmatched_target_group(config: &StackConfig) -> String {
    config
        .services
        .iter()
        .find(|(_, s)| s.public.as_ref().is_some_and(|p| p.default))
        .map_or_else(|| UNMATCHED.to_owned(), |(name, _)| ids::target_group(name))
}

/// The optional listener ECS blue/green routes test traffic through.
const TEST_LISTENER: &str = "listener-test";

/// `role-ecs-blue-green`: the role ECS assumes during blue/green (canary, linear)
/// deployments to register tasks with the target groups and move the listener rules'
/// weights between each service's two target groups.
fn blue_green_role(stack: &mut Builder) {
    // AWS's managed policy for this role ("Amazon ECS infrastructure IAM role for load
    // balancers", ECS developer guide), attached rather than copied: AWS updates it when
    // blue/green needs more (it is at its sixth version), a copy would go stale. It is
    // account-wide on target groups, listeners and rules; only ECS can assume the role,
    // and ECS acts only on the groups and rules each service's advancedConfiguration names.
    stack.add(
        "role-ecs-blue-green",
        Spec::Role(RoleSpec::for_service_with_managed(
            "ecs.amazonaws.com",
            &[ECS_LOAD_BALANCERS_POLICY],
        )),
    );
}

/// The AWS managed policy ECS blue/green's infrastructure role needs.
pub const ECS_LOAD_BALANCERS_POLICY: &str =
    "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers";

fn serving_listener(config: &StackConfig) -> &'static str {
    if config.alb.certificate_arn.is_some() {
        "listener-https"
    } else {
        "listener-http"
    }
}

/// The container of a service (or of a one-off task using its image). `read_only_root`
/// is given up only for ECS Exec: the SSM agent ECS Exec injects writes inside the
/// container, and the ECS Exec guide (developerguide/ecs-exec.html, "Considerations")
/// lists a read-only root filesystem (`readonlyRootFilesystem`) as unsupported; the
/// agent crashes shortly after launch (aws/containers-roadmap#1359).
fn container(
    config: &StackConfig,
    name: &str,
    service: &ServiceConfig,
    read_only_root: bool,
) -> ContainerSpec {
    let mut environment = service.env.clone();
    if service.uses.contains(&DataStore::Postgres) {
        // Host, port, database and role as settings; the password is read from the role's
        // secret at run time and re-read when it rotates (platform::db::credentials).
        environment.extend(database_environment(config, name));
        environment.insert(
            "DATABASE_PASSWORD_SECRET".into(),
            Ref::to(&ids::database_password_secret(name)).0,
        );
    }
    environment.insert("PORT".into(), service.port.to_string());
    environment.insert("LOG_FORMAT".into(), "json".into());
    ContainerSpec {
        name: name.to_owned(),
        image_repository: Ref::to(&format!(
            "repo-{}",
            service.image_repo.as_deref().unwrap_or(name)
        )),
        image_tag: service.image_tag.clone(),
        port: service.port,
        command: None,
        environment,
        secrets: service_secrets(service),
        health_command: service.health_command.clone(),
        log_group: Ref::to(&ids::log_group(name)),
        read_only_root,
        user: CONTAINER_USER.into(),
        init_process: true,
    }
}

/// What a service's own container learns about the environment it runs in:
/// - `REDIS_REPLICAS`: how many replicas its Redis has (only where it has some). vote
///   then acknowledges a vote only after one replica has it (Redis `WAIT`); without a
///   replica there is nothing to wait for and the runbook says what that costs.
/// - `METRICS_NAMESPACE` and `METRICS_SERVICE`: the CloudWatch namespace and the
///   `Service` dimension of the Embedded Metric Format lines every service logs
///   (platform::emf; the dashboard and alarms of `observability` read them).
fn runtime_environment(
    config: &StackConfig,
    name: &str,
    service: &ServiceConfig,
) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    if let Some(redis) = &config.redis {
        if redis.replicas > 0 && service.uses.contains(&DataStore::Redis) {
            environment.insert("REDIS_REPLICAS".into(), redis.replicas.to_string());
        }
    }
    environment.insert("METRICS_NAMESPACE".into(), observability::namespace(config));
    environment.insert("METRICS_SERVICE".into(), name.to_owned());
    environment
}

fn ecs_service(stack: &mut Builder, config: &StackConfig, name: &str, service: &ServiceConfig) {
    let public: Option<&PublicConfig> = service.public.as_ref();
    if let Some(public) = public {
        stack.add(
            &ids::target_group(name),
            Spec::TargetGroup(TargetGroupSpec {
                vpc: Ref::to("vpc"),
                port: service.port,
                health_path: public.health_path.clone(),
                sticky: public.sticky,
            }),
        );
        // ECS blue/green starts the new revision in the alternate group, then moves the
        // rule's traffic over; the next deployment moves it back.
        stack.add(
            &ids::alternate_target_group(name),
            Spec::TargetGroup(TargetGroupSpec {
                vpc: Ref::to("vpc"),
                port: service.port,
                health_path: public.health_path.clone(),
                sticky: public.sticky,
            }),
        );
        // The default service gets a catch-all rule that every other rule outranks.
        let (priority, paths) = if public.default {
            (CATCH_ALL_PRIORITY, vec!["/*".to_owned()])
        } else {
            (public.priority.unwrap_or_default(), public.paths.clone())
        };
        let rule = |listener: &str| {
            Spec::ListenerRule(ListenerRuleSpec {
                listener: Ref::to(listener),
                priority,
                paths: paths.clone(),
                hosts: public.hosts.clone(),
                target_group: Ref::to(&ids::target_group(name)),
                alternate_target_group: Some(Ref::to(&ids::alternate_target_group(name))),
            })
        };
        stack.add(&ids::listener_rule(name), rule(serving_listener(config)));
        if config.alb.test_listener_port.is_some() {
            stack.add(&format!("rule-{name}-test"), rule(TEST_LISTENER));
        }
    }
    let exec = config.exec_enabled(name);
    stack.add(
        &ids::task_definition(name),
        Spec::TaskDefinition(TaskDefinitionSpec {
            cpu: service.cpu,
            memory: service.memory,
            execution_role: Ref::to(&ids::execution_role(name)),
            task_role: Ref::to(&ids::task_role(name)),
            container: {
                let mut main = container(config, name, service, !exec);
                main.environment
                    .extend(runtime_environment(config, name, service));
                main
            },
        }),
    );
    let in_mesh = config.services.values().any(|s| !s.callers.is_empty());
    let service_connect = in_mesh.then(|| ServiceConnectSpec {
        namespace: Ref::to("namespace"),
        server_name: (!service.callers.is_empty()).then(|| name.to_owned()),
    });
    // A public service's target group must be attached to a listener before the ECS
    // service can register targets into it; the dependency makes that explicit.
    let target_group = public.map(|_| Ref::to(&ids::target_group(name)));
    stack.add(
        &ids::service(name),
        Spec::Service(ServiceSpec {
            cluster: Ref::to("cluster"),
            task_definition: Ref::to(&ids::task_definition(name)),
            desired_count: service.desired,
            subnets: refs(&subnet_ids(false)),
            security_groups: vec![Ref::to(&ids::security_group(name))],
            assign_public_ip: false,
            target_group,
            container_port: service.port,
            enable_execute_command: exec,
            circuit_breaker_rollback: true,
            service_connect,
            awaiting_release: false,
        }),
    );
    if let Some(listener) = attached_listener_dependency(name, public) {
        stack.after(&ids::service(name), &listener);
    }
    stack.add(
        &ids::scalable_target(name),
        Spec::ScalableTarget(ScalableTargetSpec {
            service: Ref::to(&ids::service(name)),
            min: service.min,
            max: service.max,
        }),
    );
    stack.add(
        &ids::scaling_policy(name, "cpu"),
        Spec::ScalingPolicy(ScalingPolicySpec {
            target: Ref::to(&ids::scalable_target(name)),
            metric: ScalingMetric::Cpu,
            target_value: service.cpu_target,
        }),
    );
    let second = match public {
        Some(public) => ScalingPolicySpec {
            target: Ref::to(&ids::scalable_target(name)),
            metric: ScalingMetric::AlbRequestsPerTarget {
                load_balancer: Ref::to("alb"),
                target_group: Ref::to(&ids::target_group(name)),
            },
            target_value: f64::from(public.requests_per_target),
        },
        // Without a load balancer there are no request counts: scale on memory too.
        None => ScalingPolicySpec {
            target: Ref::to(&ids::scalable_target(name)),
            metric: ScalingMetric::Memory,
            target_value: 75.0,
        },
    };
    let suffix = if public.is_some() {
        "requests"
    } else {
        "memory"
    };
    stack.add(
        &ids::scaling_policy(name, suffix),
        Spec::ScalingPolicy(second),
    );
}

/// What `provision deploy`, `rollback` and `outputs` read (they observe the whole stack
/// to find its resources). Read-only, and none reads a secret's value; Describe/List
/// calls mostly cannot be scoped to resources, so they apply to `*`. Kept in step with
/// the code by `tests/github_moto.rs`, which records every call those commands make.
const DEPLOY_READ_ACTIONS: &[&str] = &[
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListDashboards",
    "cloudwatch:ListTagsForResource",
    "ec2:DescribeAddresses",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:ListImages",
    "ecr:ListTagsForResource",
    "ecs:DescribeClusters",
    "ecs:DescribeTaskDefinition",
    "ecs:ListServices",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:ListTaskDefinitions",
    "elasticache:DescribeCacheClusters",
    "elasticache:DescribeCacheSubnetGroups",
    "elasticache:DescribeReplicationGroups",
    "elasticache:ListTagsForResource",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRoles",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
    "logs:DescribeLogGroups",
    "logs:DescribeMetricFilters",
    "logs:ListTagsForResource",
    "rds:DescribeDBInstances",
    "rds:DescribeDBSubnetGroups",
    "rds:ListTagsForResource",
    "secretsmanager:ListSecrets",
    "servicediscovery:GetNamespace",
    "servicediscovery:ListNamespaces",
    "servicediscovery:ListTagsForResource",
    // With `[alarms] topic`, observing the topic also reads its tags.
    "sns:ListTagsForResource",
    "sns:ListTopics",
];

/// ECR actions `docker push` (and `buildx` cache reads) need on a repository.
const IMAGE_PUSH_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

/// `[github]`: GitHub's OIDC provider (unless the account's existing one is named) and
/// the role its workflow runs on one branch of one repository assume to push images and
/// deploy — and nothing else: no infrastructure changes, no secret values, nothing of
/// another stack (or environment), not the debug image.
///
/// What is scoped, and how (resource types and condition keys as the Service
/// Authorization Reference lists them: "Actions, resources, and condition keys for
/// Amazon Elastic Container Service", list_amazonelasticcontainerservice.html, and
/// "… for AWS Identity and Access Management" for `iam:PassRole`):
/// - `ecs:RegisterTaskDefinition` takes the resource type `task-definition`
///   (`task-definition/<family>:<revision>`) and the condition key
///   `aws:RequestTag/${TagKey}`: only the families of this stack's services, and only
///   with this stack's and environment's ownership tags on the new revision (deploy
///   copies them from the revision it replaces). `ecs:TagResource` likewise, and only
///   as part of that registration (`ecs:CreateAction`).
/// - `iam:PassRole` only of the roles those task definitions name (each service's own
///   execution role, which reads only that service's secrets, and its task role), and
///   only to ECS tasks (`iam:PassedToService`); the blue/green role only to ECS. The
///   debug task's execution role (it reads the master `DATABASE_URL`) is never passable.
/// - Service deployments (`service-deployment/<cluster>/<service>/<id>`) only of this
///   stack's services; `UpdateService` and friends only on its service ARNs.
/// - ECR pushes only to the repositories its services' images come from: never the
///   debug image's repository (that image runs as root; operators push it).
///
/// Region and account stay `*` in the patterns built from names: the names carry the
/// stack and environment, and IAM role names (which carry them too) are account-wide,
/// so no second copy of this stack can exist in the account under the same names.
/// - The stack's lock parameter (the provisioner's `lock` module): `deploy` and `rollback` take,
///   read and release it, and no other parameter.
fn github_deploy_role(
    stack: &mut Builder,
    config: &StackConfig,
    github: &GithubConfig,
    lock: &str,
) {
    let provider = match &github.oidc_provider_arn {
        Some(arn) => Ref::physical(arn.clone()),
        None => {
            stack.add(
                "github-oidc",
                Spec::OidcProvider(OidcProviderSpec {
                    url: format!("https://{GITHUB_OIDC_HOST}"),
                    client_ids: vec!["sts.amazonaws.com".into()],
                }),
            );
            Ref::to("github-oidc")
        }
    };
    let name = |id: &str| crate::names::resource_name(&config.stack, &config.env, id);
    let mut repositories: Vec<String> = Vec::new();
    let mut services: Vec<String> = Vec::new();
    let mut scalable_targets: Vec<String> = Vec::new();
    let mut families: Vec<String> = Vec::new();
    let mut deployments: Vec<String> = Vec::new();
    // Roles deploys hand over: those of the services' task definitions (new revisions
    // keep them) and the role ECS blue/green uses to move traffic.
    let mut task_roles: Vec<String> = Vec::new();
    for resource in &stack.resources {
        let Spec::Service(service) = &resource.spec else {
            continue;
        };
        services.push(format!("${{{}}}", resource.id));
        if let Some(name) = resource.id.strip_prefix("service-") {
            scalable_targets.push(Ref::to(&ids::scalable_target(name)).0);
        }
        let cluster = service.cluster.logical_id().unwrap_or_default();
        deployments.push(format!(
            "arn:aws:ecs:*:*:service-deployment/{}/{}/*",
            name(cluster),
            name(&resource.id)
        ));
        let Some(definition_id) = service.task_definition.logical_id() else {
            continue;
        };
        families.push(format!(
            "arn:aws:ecs:*:*:task-definition/{}:*",
            name(definition_id)
        ));
        let definition = stack.resources.iter().find(|r| r.id == definition_id);
        if let Some(Spec::TaskDefinition(definition)) = definition.map(|r| &r.spec) {
            task_roles.push(definition.execution_role.0.clone());
            task_roles.push(definition.task_role.0.clone());
            repositories.push(definition.container.image_repository.0.clone());
        }
    }
    // The new revision must carry this stack's and environment's ownership tags.
    let stack_tag = format!("aws:RequestTag/{}", crate::settings::tags::STACK);
    let env_tag = format!("aws:RequestTag/{}", crate::settings::tags::ENV);
    let own_tags = || {
        vec![
            (
                "StringEquals",
                stack_tag.as_str(),
                vec![config.stack.clone()],
            ),
            ("StringEquals", env_tag.as_str(), vec![config.env.clone()]),
        ]
    };
    let mut tag_on_register = own_tags();
    tag_on_register.push((
        "StringEquals",
        "ecs:CreateAction",
        vec!["RegisterTaskDefinition".into()],
    ));
    let mut statements = vec![
        statement(DEPLOY_READ_ACTIONS, vec!["*".into()]),
        statement(&["ecr:GetAuthorizationToken"], vec!["*".into()]),
        statement(IMAGE_PUSH_ACTIONS, repositories),
        conditional(
            &["ecs:RegisterTaskDefinition"],
            families.clone(),
            &own_tags(),
        ),
        conditional(&["ecs:TagResource"], families, &tag_on_register),
        statement(
            &[
                "ecs:DescribeServices",
                "ecs:ListServiceDeployments",
                "ecs:UpdateService",
            ],
            services.clone(),
        ),
        // The first release of a service `up` created before its image existed
        // (provisioner `first_release`): its autoscaling range back to the configured one,
        // and its two bookkeeping tags, no other tag.
        statement(
            &["application-autoscaling:RegisterScalableTarget"],
            scalable_targets,
        ),
        conditional(
            &["ecs:TagResource", "ecs:UntagResource"],
            services,
            &[(
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                vec![
                    crate::settings::ecs::CONFIGURED_DESIRED_TAG.into(),
                    crate::settings::ecs::AWAITING_RELEASE_TAG.into(),
                ],
            )],
        ),
        statement(
            &[
                "ecs:DescribeServiceDeployments",
                "ecs:StopServiceDeployment",
            ],
            deployments,
        ),
        conditional(
            &["iam:PassRole"],
            task_roles,
            &[(
                "StringEquals",
                "iam:PassedToService",
                vec!["ecs-tasks.amazonaws.com".into()],
            )],
        ),
    ];
    if stack
        .resources
        .iter()
        .any(|r| r.id == "role-ecs-blue-green")
    {
        statements.push(conditional(
            &["iam:PassRole"],
            vec![Ref::to("role-ecs-blue-green").0],
            &[(
                "StringEquals",
                "iam:PassedToService",
                vec!["ecs.amazonaws.com".into()],
            )],
        ));
    }
    // One operator at a time: deploy and rollback take, read and release the stack's lock.
    statements.push(statement(
        &[
            "ssm:DeleteParameter",
            "ssm:GetParameter",
            "ssm:PutParameter",
        ],
        vec![lock.to_owned()],
    ));
    // After a blue/green swap `deploy` points the request-count scaling policy at the
    // group now serving (PutScalingPolicy on that service's scalable target only); target
    // tracking makes the caller manage its TargetTracking-* CloudWatch alarms.
    let request_scaled: Vec<String> = stack
        .resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::ScalingPolicy(policy) => match policy.metric {
                ScalingMetric::AlbRequestsPerTarget { .. } => Some(policy.target.0.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if !request_scaled.is_empty() {
        statements.push(statement(
            &["application-autoscaling:PutScalingPolicy"],
            request_scaled,
        ));
        statements.push(statement(
            &["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm"],
            vec!["arn:aws:cloudwatch:*:*:alarm:TargetTracking-*".into()],
        ));
    }
    statements.sort();
    let mut role = RoleSpec::for_service("", statements);
    role.web_identity = Some(WebIdentityTrust {
        provider,
        audience: "sts.amazonaws.com".into(),
        subjects: vec![github.subject(&config.stack, &config.env)],
    });
    stack.add("role-github-deploy", Spec::Role(role));
}

/// The rule a public service's target groups are attached through; the ECS service must
/// be created after it (AWS rejects a target group with no listener).
fn attached_listener_dependency(name: &str, public: Option<&PublicConfig>) -> Option<String> {
    public.map(|_| ids::listener_rule(name))
}

/// `REDIS_URL` / `DATABASE_URL` for each data store the stack has.
fn debug_secrets(config: &StackConfig) -> BTreeMap<String, Ref> {
    let mut secrets = BTreeMap::new();
    if config.redis.is_some() {
        secrets.insert("REDIS_URL".into(), Ref::to("redis-url"));
    }
    if config.postgres.is_some() {
        secrets.insert("DATABASE_URL".into(), Ref::to("database-url"));
    }
    secrets
}

/// The task definition `provision debug` runs: the debug image idling, so an operator can
/// ECS Exec into it with the data stores' URLs in its environment. It runs as root by
/// design (ping and traceroute need raw sockets; see services/debug/Dockerfile), has a
/// writable root (ECS Exec's agent needs one; shell history, scratch files), no port and
/// no health check.
fn debug_task(stack: &mut Builder, config: &StackConfig) {
    if !has_debug_task(config) {
        return;
    }
    stack.add(
        &ids::task_definition(DEBUG),
        Spec::TaskDefinition(TaskDefinitionSpec {
            cpu: 256,
            memory: 512,
            execution_role: Ref::to(&ids::execution_role(DEBUG)),
            task_role: Ref::to(&ids::task_role(DEBUG)),
            container: ContainerSpec {
                name: DEBUG.into(),
                image_repository: Ref::to(&ids::repository(DEBUG)),
                image_tag: DEBUG_IMAGE_TAG.into(),
                port: 0,
                command: Some(vec!["sleep".into(), DEBUG_IDLE_SECONDS.to_string()]),
                environment: BTreeMap::new(),
                secrets: debug_secrets(config),
                health_command: Vec::new(),
                log_group: Ref::to(&ids::log_group(DEBUG)),
                read_only_root: false,
                user: "root".into(),
                init_process: true,
            },
        }),
    );
}

/// Text rendering of an expansion: one block per resource (kind, dependencies, spec).
pub fn describe(resources: &[Resource]) -> String {
    let mut out = String::new();
    for resource in resources {
        out.push_str(&format!(
            "{} ({})\n  after: {}\n  {}\n",
            resource.id,
            resource.kind().label(),
            resource.dependencies().join(", "),
            serde_json::to_string(&sorted_keys(resource.spec_json())).expect("specs serialize")
        ));
    }
    out
}

/// Keys in sorted order whatever serde_json's `preserve_order` feature says (it depends on
/// which workspace crates are built together), so snapshots are stable.
fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted_keys).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{repo_config_dir, STACKS};
    use crate::graph::Graph;

    #[test]
    fn expansion_snapshots() {
        for stack in STACKS {
            for env in ["dev", "prod"] {
                let config = StackConfig::load(&repo_config_dir(), stack, env).unwrap();
                let resources = expand(&config);
                Graph::new(resources.clone()).expect("expansion is a valid graph");
                insta::assert_snapshot!(format!("{stack}-{env}"), describe(&resources));
            }
        }
    }

    #[test]
    fn data_stores_accept_only_their_consumers_and_have_no_egress() {
        let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        let resources = expand(&config);
        let sg = |id: &str| match &resources.iter().find(|r| r.id == id).unwrap().spec {
            Spec::SecurityGroup(sg) => sg.clone(),
            other => panic!("{id} is {other:?}"),
        };
        let redis = sg("sg-redis");
        assert!(!redis.egress_all);
        let sources: Vec<&str> = redis.ingress.iter().map(|r| r.source.0.as_str()).collect();
        // The debug task (`provision debug`) is a declared consumer of each store.
        assert_eq!(sources, vec!["${sg-debug}", "${sg-vote}", "${sg-worker}"]);
        let postgres = sg("sg-postgres");
        assert!(!postgres.egress_all);
        assert!(postgres.ingress.iter().all(|r| r.port == 5432));
        assert!(postgres.ingress.contains(&IngressRule {
            port: 5432,
            source: Ref::to("sg-debug")
        }));
        let debug = sg("sg-debug");
        assert!(debug.ingress.is_empty() && debug.egress_all);
        let accepting_debug: Vec<&str> = resources
            .iter()
            .filter(|r| match &r.spec {
                Spec::SecurityGroup(g) => g.ingress.iter().any(|i| i.source == Ref::to("sg-debug")),
                _ => false,
            })
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(accepting_debug, ["sg-redis", "sg-postgres"]);
        assert_eq!(sg("sg-worker").ingress, vec![]);
        assert_eq!(
            sg("sg-vote").ingress,
            vec![IngressRule {
                port: 8080,
                source: Ref::to("sg-alb")
            }]
        );
    }

    #[test]
    fn internal_paths_answer_before_every_service_rule_on_every_serving_listener() {
        for stack in STACKS {
            let mut config = StackConfig::load(&repo_config_dir(), stack, "prod").unwrap();
            config.alb.test_listener_port = Some(8443);
            let resources = expand(&config);
            let rules: Vec<(&str, &ListenerRuleSpec)> = resources
                .iter()
                .filter_map(|r| match &r.spec {
                    Spec::ListenerRule(rule) => Some((r.id.as_str(), rule)),
                    _ => None,
                })
                .collect();
            for listener in ["listener-http", TEST_LISTENER] {
                let on_listener: Vec<_> = rules
                    .iter()
                    .filter(|(_, rule)| rule.listener == Ref::to(listener))
                    .collect();
                let (id, first) = on_listener
                    .iter()
                    .min_by_key(|(_, rule)| rule.priority)
                    .unwrap();
                assert!(id.starts_with("rule-internal"), "{stack} {listener}: {id}");
                assert_eq!(first.priority, INTERNAL_PATHS_PRIORITY);
                assert_eq!(first.paths, ["*/ready", "*/metrics"]);
                assert!(first.hosts.is_empty());
                assert_eq!(first.target_group, Ref::to(INTERNAL_TARGET_GROUP));
                assert_eq!(first.alternate_target_group, None);
                assert!(on_listener
                    .iter()
                    .filter(|(other, _)| other != id)
                    .all(|(_, rule)| rule.priority > INTERNAL_PATHS_PRIORITY));
            }
            // Nothing registers in the internal group: no ECS service points at it.
            assert!(resources.iter().all(|r| match &r.spec {
                Spec::Service(s) => s.target_group != Some(Ref::to(INTERNAL_TARGET_GROUP)),
                _ => true,
            }));
            // Every rule the stack sends is one ALB accepts.
            for (id, rule) in &rules {
                assert_eq!(
                    crate::settings::elb::path_condition_problem(&rule.paths),
                    None,
                    "{stack} {id}"
                );
            }
        }
        assert!(crate::settings::elb::path_condition_problem(
            &["/a", "/b", "/c", "/d"].map(String::from)
        )
        .unwrap()
        .contains("at most 3 per condition"));
        assert!(crate::settings::elb::path_condition_problem(
            &["*/*/*", "*/*/*"].map(String::from)
        )
        .unwrap()
        .contains("6 wildcards"));
    }

    #[test]
    fn services_learn_their_redis_replicas_and_where_to_report_queues() {
        let environment = |env: &str, service: &str| {
            let config = StackConfig::load(&repo_config_dir(), "voting", env).unwrap();
            let resources = expand(&config);
            let id = format!("taskdef-{service}");
            match &resources.iter().find(|r| r.id == id).unwrap().spec {
                Spec::TaskDefinition(t) => t.container.environment.clone(),
                other => panic!("{other:?}"),
            }
        };
        // prod has a replica: vote (and the worker, which ignores it) wait for it.
        assert_eq!(environment("prod", "vote")["REDIS_REPLICAS"], "1");
        assert!(!environment("prod", "result").contains_key("REDIS_REPLICAS"));
        assert!(!environment("dev", "vote").contains_key("REDIS_REPLICAS"));
        assert_eq!(
            environment("dev", "worker")["METRICS_NAMESPACE"],
            "Slipway/voting-dev"
        );
        // Every service reports its own metrics, under its name.
        assert_eq!(
            environment("dev", "vote")["METRICS_NAMESPACE"],
            "Slipway/voting-dev"
        );
        assert_eq!(environment("dev", "vote")["METRICS_SERVICE"], "vote");
        assert_eq!(environment("prod", "result")["METRICS_SERVICE"], "result");
    }

    #[test]
    fn private_api_accepts_only_its_callers_over_service_connect() {
        let config = StackConfig::load(&repo_config_dir(), "sums", "dev").unwrap();
        let resources = expand(&config);
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::SecurityGroup(api) = find("sg-api") else {
            panic!()
        };
        assert_eq!(
            api.ingress,
            vec![IngressRule {
                port: 4567,
                source: Ref::to("sg-client")
            }]
        );
        let Spec::Service(service) = find("service-api") else {
            panic!()
        };
        assert!(!service.assign_public_ip && service.target_group.is_none());
        assert_eq!(
            service.service_connect.unwrap().server_name.as_deref(),
            Some("api")
        );
        assert!(resources.iter().all(|r| r.id != "tg-api"));
    }

    #[test]
    fn a_certificate_turns_on_https_with_a_redirect_from_http() {
        let mut config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        config.alb.certificate_arn = Some("arn:aws:acm:us-east-1:1:certificate/abc".into());
        let resources = expand(&config);
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::Listener(http) = find("listener-http") else {
            panic!()
        };
        assert_eq!(http.default_action, DefaultAction::RedirectHttps);
        let Spec::Listener(https) = find("listener-https") else {
            panic!()
        };
        assert_eq!((https.port, https.protocol.as_str()), (443, "HTTPS"));
        // Every service is served by a rule (ECS blue/green shifts rules only), and the
        // listener's default action forwards too (no fixed-response beside forwards).
        assert_eq!(
            https.default_action,
            DefaultAction::Forward(Ref::to("tg-vote"))
        );
        let Spec::ListenerRule(rule) = find("rule-result") else {
            panic!()
        };
        assert_eq!(rule.listener, Ref::to("listener-https"));
        let Spec::ListenerRule(catch_all) = find("rule-vote") else {
            panic!()
        };
        assert_eq!(catch_all.listener, Ref::to("listener-https"));
        let Spec::SecurityGroup(alb) = find("sg-alb") else {
            panic!()
        };
        let ports: Vec<u16> = alb.ingress.iter().map(|r| r.port).collect();
        assert_eq!(ports, vec![80, 443]);
    }

    #[test]
    fn every_public_service_gets_a_blue_green_pair_and_a_rule() {
        let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        let resources = expand(&config);
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap();
        let Spec::ListenerRule(vote) = &find("rule-vote").spec else {
            panic!()
        };
        // The default service: a catch-all that every other rule outranks.
        assert_eq!(
            (vote.priority, vote.paths.clone()),
            (50_000, vec!["/*".into()])
        );
        assert_eq!(vote.target_group, Ref::to("tg-vote"));
        assert_eq!(vote.alternate_target_group, Some(Ref::to("tg-vote-alt")));
        let Spec::ListenerRule(result) = &find("rule-result").spec else {
            panic!()
        };
        assert!(result.priority < vote.priority && result.hosts == ["result.*"]);
        assert_eq!(find("tg-vote-alt").spec, find("tg-vote").spec);
        // The service waits for its rule (its groups must be attached to the listener).
        assert!(find("service-vote").after.contains(&"rule-vote".to_owned()));
        let Spec::Listener(http) = &find("listener-http").spec else {
            panic!()
        };
        assert_eq!(
            http.default_action,
            DefaultAction::Forward(Ref::to("tg-vote"))
        );
        assert!(resources.iter().all(|r| r.id != "listener-test"));
        // voting has a default service: no empty group for unmatched requests.
        assert!(resources.iter().all(|r| r.id != "tg-unmatched"));
        let Spec::Role(role) = &find("role-ecs-blue-green").spec else {
            panic!()
        };
        assert_eq!(role.principal, "ecs.amazonaws.com");
        // AWS's managed policy, not a copy that goes stale; no inline policy beside it.
        assert_eq!(role.managed_policies, [ECS_LOAD_BALANCERS_POLICY]);
        assert!(role.statements.is_empty());
    }

    #[test]
    fn listeners_of_a_stack_without_a_default_service_forward_to_an_empty_group() {
        // shop routes by path only: what no rule matches goes to `tg-unmatched`, which
        // nothing registers in, never to a fixed response (ECS blue/green refuses
        // listeners that mix forward and non-forward actions).
        let config = StackConfig::load(&repo_config_dir(), "shop", "dev").unwrap();
        let resources = expand(&config);
        Graph::new(resources.clone()).expect("valid graph");
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::Listener(http) = find("listener-http") else {
            panic!()
        };
        assert_eq!(
            http.default_action,
            DefaultAction::Forward(Ref::to("tg-unmatched"))
        );
        assert!(matches!(find("tg-unmatched"), Spec::TargetGroup(_)));
        assert!(resources.iter().all(|r| match &r.spec {
            Spec::Listener(l) => !matches!(l.default_action, DefaultAction::NotFound),
            _ => true,
        }));
    }

    #[test]
    fn a_test_listener_gets_a_rule_per_service_and_only_the_test_cidrs() {
        let mut config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        config.alb.test_listener_port = Some(8443);
        config.alb.test_cidrs = vec!["203.0.113.0/24".into()];
        let resources = expand(&config);
        Graph::new(resources.clone()).expect("valid graph");
        let find = |id: &str| resources.iter().find(|r| r.id == id).unwrap().spec.clone();
        let Spec::Listener(test) = find("listener-test") else {
            panic!()
        };
        assert_eq!(
            (test.port, test.default_action),
            (8443, DefaultAction::Forward(Ref::to("tg-vote")))
        );
        for svc in ["vote", "result"] {
            let (Spec::ListenerRule(test), Spec::ListenerRule(production)) = (
                find(&format!("rule-{svc}-test")),
                find(&format!("rule-{svc}")),
            ) else {
                panic!()
            };
            assert_eq!(test.listener, Ref::to("listener-test"));
            assert_eq!(
                (
                    test.priority,
                    test.target_group,
                    test.alternate_target_group
                ),
                (
                    production.priority,
                    production.target_group,
                    production.alternate_target_group
                )
            );
        }
        let Spec::SecurityGroup(alb) = find("sg-alb") else {
            panic!()
        };
        let test_sources: Vec<&str> = alb
            .ingress
            .iter()
            .filter(|r| r.port == 8443)
            .map(|r| r.source.0.as_str())
            .collect();
        assert_eq!(test_sources, ["203.0.113.0/24"]);
    }

    /// CreateSecurityGroup (EC2 API reference): "Constraints: Up to 255 characters in
    /// length. Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*". The
    /// descriptions are fixed text around service names, which config validation limits
    /// to lowercase letters, digits and hyphens. moto accepts anything; cfn-lint found it.
    #[test]
    fn security_group_descriptions_use_only_what_ec2_accepts() {
        let allowed = |c: char| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c);
        for stack in STACKS {
            for env in ["dev", "prod"] {
                let config = StackConfig::load(&repo_config_dir(), stack, env).unwrap();
                for resource in expand(&config) {
                    if let Spec::SecurityGroup(group) = &resource.spec {
                        let description = &group.description;
                        assert!(
                            description.len() <= 255 && description.chars().all(allowed),
                            "{stack}-{env} {}: {description:?}",
                            resource.id
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn exec_trades_the_read_only_root_and_the_ssm_permissions_per_environment() {
        let spec = |resources: &[Resource], id: &str| {
            resources
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("no {id}"))
                .spec
                .clone()
        };
        let ssm = vec![statement(&SSM_MESSAGES_ACTIONS, vec!["*".into()])];
        let check = |config: &StackConfig, service: &str, exec: bool| {
            let resources = expand(config);
            let Spec::TaskDefinition(definition) = spec(&resources, &format!("taskdef-{service}"))
            else {
                panic!()
            };
            assert_eq!(definition.container.read_only_root, !exec, "{service}");
            let Spec::Service(ecs) = spec(&resources, &format!("service-{service}")) else {
                panic!()
            };
            assert_eq!(ecs.enable_execute_command, exec, "{service}");
            let Spec::Role(role) = spec(&resources, &format!("role-{service}")) else {
                panic!()
            };
            // Every shop service reads its own database password secret at run time.
            let mut expected = vec![statement(
                &["secretsmanager:GetSecretValue"],
                vec![format!("${{db-{service}-password}}")],
            )];
            if exec {
                expected.extend(ssm.clone());
            }
            expected.sort();
            assert_eq!(role.statements, expected, "{service}");
            // The debug task is exec'd into in every environment.
            let Spec::TaskDefinition(debug) = spec(&resources, "taskdef-debug") else {
                panic!()
            };
            assert!(!debug.container.read_only_root);
            let Spec::Role(debug_role) = spec(&resources, "role-debug") else {
                panic!()
            };
            assert_eq!(debug_role.statements, ssm);
        };
        let dev = StackConfig::load(&repo_config_dir(), "shop", "dev").unwrap();
        let mut prod = StackConfig::load(&repo_config_dir(), "shop", "prod").unwrap();
        for service in ["orders", "products", "users"] {
            check(&dev, service, true);
            check(&prod, service, false);
        }
        // An incident: exec on for orders in prod only.
        prod.services.get_mut("orders").unwrap().exec = Some(true);
        check(&prod, "orders", true);
        check(&prod, "users", false);
        // One-off tasks are never exec'd into: read-only root wherever their service runs.
        for config in [&dev, &prod] {
            let Spec::TaskDefinition(migrate) = spec(&expand(config), "task-orders-migrate") else {
                panic!()
            };
            assert!(migrate.container.read_only_root);
        }
    }

    #[test]
    fn prod_gets_a_nat_gateway_per_az() {
        let count = |env| {
            let config = StackConfig::load(&repo_config_dir(), "voting", env).unwrap();
            expand(&config)
                .iter()
                .filter(|r| r.kind() == Kind::NatGateway)
                .count()
        };
        assert_eq!((count("dev"), count("prod")), (1, 2));
    }

    #[test]
    fn services_log_in_as_their_own_roles_and_the_setup_task_as_the_master_user() {
        let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
        let resources = expand(&config);
        let find = |id: &str| {
            resources
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("no {id}"))
        };
        let Spec::TaskDefinition(result) = &find("taskdef-result").spec else {
            panic!()
        };
        let env = &result.container.environment;
        assert_eq!(env["DATABASE_HOST"], "${postgres}");
        assert_eq!(env["DATABASE_USER"], "result");
        assert_eq!(env["DATABASE_PASSWORD_SECRET"], "${db-result-password}");
        // No copy of a password in the task definition: nothing to go stale.
        assert!(result.container.secrets.is_empty());
        let Spec::Secret(secret) = &find("db-result-password").spec else {
            panic!()
        };
        assert_eq!(
            secret.value,
            SecretValue::DatabaseRole {
                username: "result".into()
            }
        );
        let Spec::TaskDefinition(setup) = &find("task-db-setup").spec else {
            panic!()
        };
        assert_eq!(setup.task_role, Ref::to(DB_ADMIN_ROLE));
        assert_eq!(
            setup.container.secrets,
            BTreeMap::from([("DATABASE_PASSWORD".to_owned(), Ref::to("postgres"))])
        );
        assert_eq!(setup.container.environment["DATABASE_USER"], "slipway");
        assert!(!setup
            .container
            .environment
            .contains_key("DATABASE_PASSWORD_SECRET"));
        let Spec::Role(admin) = &find(DB_ADMIN_ROLE).spec else {
            panic!()
        };
        assert_eq!(
            admin.statements,
            vec![statement(
                &["secretsmanager:GetSecretValue"],
                vec![
                    "${db-result-password}".into(),
                    "${db-worker-password}".into()
                ]
            )]
        );
        // vote uses no Postgres: no password secret, no database settings.
        assert!(resources.iter().all(|r| r.id != "db-vote-password"));
        let Spec::TaskDefinition(vote) = &find("taskdef-vote").spec else {
            panic!()
        };
        assert!(!vote.container.environment.contains_key("DATABASE_HOST"));
        // The setup task waits for the instance and the secrets it names.
        let dependencies = find("task-db-setup").dependencies();
        for id in ["postgres", "role-db-admin"] {
            assert!(dependencies.contains(&id.to_owned()), "{dependencies:?}");
        }
    }
}

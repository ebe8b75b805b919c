//! One-off tasks and the debug task.

use std::collections::BTreeMap;

use super::*;
use crate::model::ids::{self, DEBUG};
use crate::model::*;
use crate::scope::{statement, Section, Stack};

/// A one-off task (`task-<name>`: migrations, seeding) that runs a service's image in its
/// network with its settings, started by `provision run <name>`.
///
/// ```
/// use slipway_cdk::constructs::l2::{Cluster, FargateService, OneOffTask, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// let cluster = Cluster::new(&mut stack, &vpc).build();
/// let api = FargateService::new(&mut stack, &cluster, "api").cpu(512).memory(1024).build();
/// OneOffTask::new(&mut stack, "migrate", &api).command(&["/usr/local/bin/api", "migrate"]).build();
/// let task = stack.resource("task-migrate").unwrap().spec_json();
/// assert_eq!(task["cpu"], 512);
/// assert_eq!(task["container"]["read_only_root"], true);
/// ```
pub struct OneOffTask<'a> {
    stack: &'a mut Stack,
    name: String,
    service: ServiceHandle,
    command: Vec<String>,
    cpu: Option<i32>,
    memory: Option<i32>,
    admin: Option<PostgresHandle>,
}

impl<'a> OneOffTask<'a> {
    /// Task `name` with `service`'s image, settings and size. Declare it after the
    /// service's grants: it starts from the service's container as it is then.
    pub fn new(stack: &'a mut Stack, name: &str, service: &ServiceHandle) -> Self {
        OneOffTask {
            stack,
            name: name.to_owned(),
            service: service.clone(),
            command: Vec::new(),
            cpu: None,
            memory: None,
            admin: None,
        }
    }
    /// The command it runs (replaces the image's `CMD`).
    pub fn command(mut self, command: &[&str]) -> Self {
        self.command = command.iter().map(|c| c.to_string()).collect();
        self
    }
    /// Its CPU units, instead of the service's.
    pub fn cpu(mut self, cpu: i32) -> Self {
        self.cpu = Some(cpu);
        self
    }
    /// Its memory (MiB), instead of the service's.
    pub fn memory(mut self, memory: i32) -> Self {
        self.memory = Some(memory);
        self
    }
    /// The database setup task: logs in as the master user and creates the roles granted
    /// so far (declare it after every grant). Its own task role reads only the roles'
    /// password secrets, and its own execution role is the only one that reads the
    /// master password.
    pub fn database_admin(mut self, postgres: &PostgresHandle) -> Self {
        self.admin = Some(postgres.clone());
        self
    }
    /// Adds the task definition.
    pub fn build(self) {
        let stack = self.stack;
        let service = &self.service;
        stack.description_mut().tasks.insert(
            self.name.clone(),
            crate::config::TaskConfig {
                service: service.name().to_owned(),
                command: self.command.clone(),
                cpu: self.cpu,
                memory: self.memory,
                database_admin: self.admin.is_some(),
            },
        );
        let mut container = stack
            .base_containers
            .get(service.name())
            .cloned()
            .unwrap_or_else(|| panic!("`{}` is not a service of this stack", service.name()));
        container.name = self.name.clone();
        container.command = Some(self.command);
        let (execution_role, task_role) = match &self.admin {
            Some(postgres) => {
                postgres.admin_container(stack, &mut container);
                let secrets: Vec<String> = stack
                    .database_roles
                    .keys()
                    .map(|name| Ref::to(&ids::database_password_secret(name)).0)
                    .collect();
                if !secrets.is_empty() && !stack.contains(DB_ADMIN_ROLE) {
                    stack.add(
                        Section::TaskRoles,
                        DB_ADMIN_ROLE,
                        Spec::Role(RoleSpec::for_service(
                            "ecs-tasks.amazonaws.com",
                            vec![statement(&["secretsmanager:GetSecretValue"], secrets)],
                        )),
                    );
                }
                (ids::execution_role(&self.name), DB_ADMIN_ROLE.to_owned())
            }
            None => (
                ids::execution_role(service.name()),
                ids::task_role(service.name()),
            ),
        };
        stack.add(
            Section::Tasks,
            &ids::one_off_task(&self.name),
            Spec::TaskDefinition(TaskDefinitionSpec {
                cpu: self.cpu.unwrap_or(service.cpu),
                memory: self.memory.unwrap_or(service.memory),
                execution_role: Ref::to(&execution_role),
                task_role: Ref::to(&task_role),
                container,
            }),
        );
    }
}

/// The task definition `provision debug` runs: the debug image idling, so an operator can
/// ECS Exec into it with the data stores' URLs in its environment. It runs as root by
/// design (ping and traceroute need raw sockets; see services/debug/Dockerfile), has a
/// writable root (ECS Exec's agent needs one), no port and no health check, its own
/// security group (no ingress) let into every data store.
///
/// ```
/// use slipway_cdk::constructs::l2::{debug_task, Redis, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// let redis = Redis::new(&mut stack, &vpc).build();
/// debug_task(&mut stack, &vpc, Some(&redis), None, 14);
/// let task = stack.resource("taskdef-debug").unwrap().spec_json();
/// assert_eq!(task["container"]["secrets"]["REDIS_URL"], "${redis-url}");
/// ```
pub fn debug_task(
    stack: &mut Stack,
    vpc: &VpcHandle,
    redis: Option<&RedisHandle>,
    postgres: Option<&PostgresHandle>,
    log_retention_days: i32,
) {
    // No apostrophe: EC2 rejects it in descriptions.
    let sg = SecurityGroup::new(
        stack,
        vpc,
        DEBUG,
        "debug: debug task for operators, no ingress",
    )
    .build();
    Repository::new(stack, DEBUG).mutable_tags().build();
    LogGroup::new(stack, DEBUG)
        .retention_days(log_retention_days)
        .build();
    // Always exec'd into: the SSM channels.
    stack.add(
        Section::TaskRoles,
        &ids::task_role(DEBUG),
        Spec::Role(RoleSpec::for_service(
            "ecs-tasks.amazonaws.com",
            vec![statement(&SSM_MESSAGES_ACTIONS, vec!["*".into()])],
        )),
    );
    let mut secrets = BTreeMap::new();
    if let Some(redis) = redis {
        redis.sg.allow_from(stack, &sg, REDIS_PORT);
        secrets.insert("REDIS_URL".into(), Ref::to("redis-url"));
    }
    if let Some(postgres) = postgres {
        postgres.sg.allow_from(stack, &sg, POSTGRES_PORT);
        secrets.insert("DATABASE_URL".into(), Ref::to("database-url"));
    }
    stack.add(
        Section::Debug,
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
                secrets,
                health_command: Vec::new(),
                log_group: Ref::to(&ids::log_group(DEBUG)),
                read_only_root: false,
                user: "root".into(),
                init_process: true,
            },
        }),
    );
}

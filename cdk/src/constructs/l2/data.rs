//! Data stores and their grants.

use std::collections::BTreeMap;

use super::*;
use crate::config::DatabaseAccess;
use crate::model::ids;
use crate::model::*;
use crate::scope::{statement, Section, Stack};

/// What a data store grants a workload: network access, and the secret or permission
/// that goes with it.
pub trait Grantable {
    /// Lets `workload` in and hands it what it needs to connect.
    fn allow_from(&self, stack: &mut Stack, workload: &ServiceHandle);
}

/// ElastiCache Redis (`redis`): TLS and AUTH on, encrypted at rest, in the private
/// subnets, its security group without egress; `REDIS_URL` (with the token) in a secret.
///
/// ```
/// use slipway_cdk::constructs::l2::{Redis, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "prod");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// Redis::new(&mut stack, &vpc).replicas(1).build();
/// assert_eq!(stack.resource("redis").unwrap().spec_json()["multi_az"], true);
/// assert_eq!(stack.resource("sg-redis").unwrap().spec_json()["egress_all"], false);
/// ```
pub struct Redis<'a> {
    stack: &'a mut Stack,
    vpc: VpcHandle,
    node_type: String,
    engine_version: String,
    replicas: u8,
}

/// Redis: grant access with [`Grantable::allow_from`].
#[derive(Debug, Clone)]
pub struct RedisHandle {
    pub(super) sg: SecurityGroupHandle,
    replicas: u8,
}

impl RedisHandle {
    /// Its security group.
    pub fn security_group(&self) -> &SecurityGroupHandle {
        &self.sg
    }
}

impl<'a> Redis<'a> {
    /// `cache.t4g.micro`, Redis 7.1, no replica.
    pub fn new(stack: &'a mut Stack, vpc: &VpcHandle) -> Self {
        Redis {
            stack,
            vpc: vpc.clone(),
            node_type: "cache.t4g.micro".into(),
            engine_version: "7.1".into(),
            replicas: 0,
        }
    }
    /// The node type.
    pub fn node_type(mut self, node_type: &str) -> Self {
        self.node_type = node_type.to_owned();
        self
    }
    /// The engine version.
    pub fn engine_version(mut self, version: &str) -> Self {
        self.engine_version = version.to_owned();
        self
    }
    /// Read replicas; ≥ 1 turns on Multi-AZ with automatic failover.
    pub fn replicas(mut self, replicas: u8) -> Self {
        self.replicas = replicas;
        self
    }
    /// Adds Redis with its security group, subnet group and secrets.
    pub fn build(self) -> RedisHandle {
        let stack = self.stack;
        stack.description_mut().redis = Some(crate::config::RedisConfig {
            node_type: self.node_type.clone(),
            engine_version: self.engine_version.clone(),
            replicas: self.replicas,
        });
        let sg = SecurityGroup::new(
            stack,
            &self.vpc,
            "redis",
            "redis: only from its consumers, no egress",
        )
        .no_egress()
        .section(Section::DataSecurity)
        .build();
        let add = |stack: &mut Stack, id: &str, spec| stack.add(Section::Data, id, spec);
        add(
            stack,
            "redis-auth",
            Spec::Secret(SecretSpec {
                description: "Redis AUTH token".into(),
                value: SecretValue::RandomToken,
            }),
        );
        add(
            stack,
            "redis-subnets",
            Spec::CacheSubnetGroup(SubnetGroupSpec {
                subnets: self.vpc.private_subnets(),
            }),
        );
        add(
            stack,
            "redis",
            Spec::ReplicationGroup(ReplicationGroupSpec {
                node_type: self.node_type,
                engine_version: self.engine_version,
                replicas: self.replicas,
                multi_az: self.replicas > 0,
                transit_encryption: true,
                at_rest_encryption: true,
                subnet_group: Ref::to("redis-subnets"),
                security_groups: vec![Ref::to(sg.id())],
                auth_secret: Ref::to("redis-auth"),
            }),
        );
        add(
            stack,
            "redis-url",
            Spec::Secret(SecretSpec {
                description: "REDIS_URL (TLS, with AUTH token)".into(),
                value: SecretValue::RedisUrl {
                    replication_group: Ref::to("redis"),
                    auth: Ref::to("redis-auth"),
                },
            }),
        );
        RedisHandle {
            sg,
            replicas: self.replicas,
        }
    }
}

impl Grantable for RedisHandle {
    /// Port 6379 from the workload's security group, and `REDIS_URL` from its secret in
    /// the workload's containers (its one-off tasks' too); a service also learns
    /// `REDIS_REPLICAS` where there are replicas (vote waits for one to have each vote).
    fn allow_from(&self, stack: &mut Stack, workload: &ServiceHandle) {
        self.sg.allow_from(stack, workload, REDIS_PORT);
        workload.record(stack, |service| {
            service.uses.push(crate::config::DataStore::Redis);
        });
        workload.edit_containers(stack, |container, long_running| {
            container
                .secrets
                .insert("REDIS_URL".into(), Ref::to("redis-url"));
            if long_running && self.replicas > 0 {
                container
                    .environment
                    .insert("REDIS_REPLICAS".into(), self.replicas.to_string());
            }
        });
    }
}

/// RDS Postgres (`postgres`): encrypted, private, the master password managed by RDS,
/// its security group without egress. Each workload granted access logs in as its own
/// role (a password secret per role, read at run time).
///
/// ```
/// use slipway_cdk::constructs::l2::{Cluster, FargateService, Postgres, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// let cluster = Cluster::new(&mut stack, &vpc).build();
/// let db = Postgres::new(&mut stack, &vpc, "app").build();
/// let api = FargateService::new(&mut stack, &cluster, "api").port(3000).uses(&db).build();
/// assert!(stack.contains("db-api-password"));
/// ```
pub struct Postgres<'a> {
    stack: &'a mut Stack,
    vpc: VpcHandle,
    spec: crate::config::PostgresConfig,
}

/// Postgres: grant access with [`Grantable::allow_from`] (the role owns the schema named
/// after the workload) or [`PostgresHandle::allow_with`].
#[derive(Debug, Clone)]
pub struct PostgresHandle {
    pub(super) sg: SecurityGroupHandle,
    database: String,
    username: String,
}

impl<'a> Postgres<'a> {
    /// `db.t4g.micro` with database `database` and everything else as a stack file's
    /// `[postgres]` defaults it (Postgres 15, master user `slipway`, 20 GB, 7 days of
    /// backups, single-AZ, no deletion protection): the defaults are the file's own.
    pub fn new(stack: &'a mut Stack, vpc: &VpcHandle, database: &str) -> Self {
        let spec = serde_json::from_value(serde_json::json!({
            "instance_class": "db.t4g.micro",
            "database": database,
        }))
        .expect("[postgres] needs only instance_class and database");
        Postgres {
            stack,
            vpc: vpc.clone(),
            spec,
        }
    }
    /// All settings at once (the TOML front-end's `[postgres]`).
    pub fn settings(mut self, settings: crate::config::PostgresConfig) -> Self {
        self.spec = settings;
        self
    }
    /// The instance class.
    pub fn instance_class(mut self, class: &str) -> Self {
        self.spec.instance_class = class.to_owned();
        self
    }
    /// Days of automated backups RDS keeps.
    pub fn backup_retention_days(mut self, days: i32) -> Self {
        self.spec.backup_retention_days = days;
        self
    }
    /// Multi-AZ and deletion protection (production).
    pub fn production(mut self) -> Self {
        self.spec.multi_az = true;
        self.spec.deletion_protection = true;
        self
    }
    /// Adds the instance, its security group, subnet group and the master URL secret.
    pub fn build(self) -> PostgresHandle {
        let stack = self.stack;
        let pg = self.spec;
        stack.description_mut().postgres = Some(pg.clone());
        let sg = SecurityGroup::new(
            stack,
            &self.vpc,
            "postgres",
            "postgres: only from its consumers, no egress",
        )
        .no_egress()
        .section(Section::DataSecurity)
        .build();
        stack.add(
            Section::Data,
            "postgres-subnets",
            Spec::DbSubnetGroup(SubnetGroupSpec {
                subnets: self.vpc.private_subnets(),
            }),
        );
        stack.add(
            Section::Data,
            "postgres",
            Spec::DbInstance(DbInstanceSpec {
                instance_class: pg.instance_class,
                engine_version: pg.engine_version,
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
                security_groups: vec![Ref::to(sg.id())],
            }),
        );
        // The master user's URL, for the operator's debug task only: services log in as
        // their own roles, the setup task reads the RDS-managed secret itself. A copy
        // made at creation, so it goes stale when RDS rotates the master password
        // (runbook.md, "Database credentials", says how to read the current one).
        stack.add(
            Section::Data,
            "database-url",
            Spec::Secret(SecretSpec {
                description: "DATABASE_URL (sslmode=require)".into(),
                value: SecretValue::DatabaseUrl {
                    instance: Ref::to("postgres"),
                },
            }),
        );
        PostgresHandle {
            sg,
            database: pg.database,
            username: pg.username,
        }
    }
}

impl PostgresHandle {
    /// Its security group.
    pub fn security_group(&self) -> &SecurityGroupHandle {
        &self.sg
    }

    /// Where the database is, as plain settings for `user`. `${postgres}` in an
    /// environment value becomes the instance's endpoint when the provider writes it.
    pub fn environment(&self, user: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("DATABASE_HOST".to_owned(), Ref::to("postgres").0),
            ("DATABASE_PORT".to_owned(), POSTGRES_PORT.to_string()),
            ("DATABASE_NAME".to_owned(), self.database.clone()),
            ("DATABASE_USER".to_owned(), user.to_owned()),
            ("DATABASE_SSLMODE".to_owned(), "require".to_owned()),
        ])
    }

    /// Grants `workload` a Postgres role of its own with `access`: port 5432, a password
    /// secret `db-<name>-password` its task role (only) may read at run time, and the
    /// connection settings in its containers. The setup task
    /// ([`OneOffTask::database_admin`]) creates the role.
    pub fn allow_with(&self, stack: &mut Stack, workload: &ServiceHandle, access: DatabaseAccess) {
        let name = workload.name();
        self.sg.allow_from(stack, workload, POSTGRES_PORT);
        let secret = ids::database_password_secret(name);
        stack.add(
            Section::Data,
            &secret,
            Spec::Secret(SecretSpec {
                description: format!("Postgres password of role {name}"),
                value: SecretValue::DatabaseRole {
                    username: name.to_owned(),
                },
            }),
        );
        let mut environment = self.environment(name);
        environment.insert("DATABASE_PASSWORD_SECRET".into(), Ref::to(&secret).0);
        workload.edit_containers(stack, |container, _| {
            container.environment.extend(environment.clone());
        });
        // Read at run time so that a rotation needs no redeploy: its own secret only.
        add_task_role_statement(
            stack,
            &ids::task_role(name),
            statement(&["secretsmanager:GetSecretValue"], vec![Ref::to(&secret).0]),
        );
        workload.record(stack, |service| {
            service.uses.push(crate::config::DataStore::Postgres);
            // As a stack file writes it: only what differs from the default.
            let default = DatabaseAccess {
                owns: vec![name.to_owned()],
                ..DatabaseAccess::default()
            };
            service.database = (access != default).then(|| access.clone());
        });
        stack.database_roles.insert(name.to_owned(), access);
    }

    /// The setup task's container settings: the master user, its password injected by
    /// ECS from the RDS-managed master secret when the task starts (`${postgres}` as a
    /// secret is that secret), and `DATABASE_ROLES`, the roles granted so far with the
    /// names of their password secrets.
    pub(super) fn admin_container(&self, stack: &Stack, container: &mut ContainerSpec) {
        let roles: Vec<serde_json::Value> = stack
            .database_roles
            .iter()
            .map(|(name, access)| {
                serde_json::json!({
                    "role": name,
                    "secret": crate::names::resource_name(stack.name(), stack.env(), &ids::database_password_secret(name)),
                    "owns": access.owns,
                    "reads": access.reads,
                    "updates": access.updates,
                })
            })
            .collect();
        let mut environment = self.environment(&self.username);
        environment.insert(
            "DATABASE_ROLES".into(),
            serde_json::Value::Array(roles).to_string(),
        );
        environment.insert("LOG_FORMAT".into(), "json".into());
        container.environment = environment;
        container.secrets = BTreeMap::from([("DATABASE_PASSWORD".to_owned(), Ref::to("postgres"))]);
    }
}

impl Grantable for PostgresHandle {
    /// [`PostgresHandle::allow_with`], owning the schema named after the workload.
    fn allow_from(&self, stack: &mut Stack, workload: &ServiceHandle) {
        let access = DatabaseAccess {
            owns: vec![workload.name().to_owned()],
            ..DatabaseAccess::default()
        };
        self.allow_with(stack, workload, access);
    }
}

fn add_task_role_statement(stack: &mut Stack, role: &str, added: PolicyStatement) {
    if let Some(Spec::Role(role)) = stack.resource_mut(role).map(|r| &mut r.spec) {
        role.statements.push(added);
        role.statements.sort();
    }
}

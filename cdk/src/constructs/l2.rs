//! L2 constructs: one AWS concept each, with the house rules as defaults, returning a
//! typed handle that other constructs take. Handles carry what others need (ids, ports);
//! grants on handles (`redis.allow_from(&mut stack, &worker)`) add every piece access
//! takes, the security group rule and the secret or IAM permission, so no logical id is
//! spelled outside [`crate::model::ids`].
//!
//! ```
//! use slipway_cdk::constructs::l2::{Cluster, FargateService, Redis, Vpc};
//! use slipway_cdk::scope::Stack;
//!
//! let mut stack = Stack::new("demo", "dev");
//! let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
//! let cluster = Cluster::new(&mut stack, &vpc).build();
//! let redis = Redis::new(&mut stack, &vpc).build();
//! let worker = FargateService::new(&mut stack, &cluster, "worker").port(8082).uses(&redis).build();
//! let resources = stack.synth().unwrap();
//! let sg = resources.iter().find(|r| r.id == "sg-redis").unwrap();
//! assert_eq!(sg.spec_json()["ingress"][0]["source"], "${sg-worker}");
//! assert_eq!(worker.name(), "worker");
//! ```

use crate::model::Ref;

/// ECS Exec needs the task role to open SSM message channels; only tasks with exec on
/// get them.
pub const SSM_MESSAGES_ACTIONS: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];
/// Unprivileged user every service container runs as.
pub const CONTAINER_USER: &str = "10001";
/// The debug task's image tag: the repository keeps mutable tags so CI can move it.
pub const DEBUG_IMAGE_TAG: &str = "latest";
/// The debug container idles this long (8 h), then stops by itself: `provision debug`
/// stops it when the session ends, this bounds a task whose operator vanished.
pub const DEBUG_IDLE_SECONDS: u32 = 28_800;
/// The environment whose workloads have ECS Exec off unless they turn it on.
pub use crate::config::EXEC_OFF_ENV;
/// Port of Redis (ElastiCache default).
pub const REDIS_PORT: u16 = 6379;
/// Port of every RDS Postgres instance of a stack (CreateDBInstance default).
pub const POSTGRES_PORT: u16 = 5432;
/// The task role of the database setup task.
pub const DB_ADMIN_ROLE: &str = "role-db-admin";
/// The role ECS assumes during blue/green deployments.
pub const BLUE_GREEN_ROLE: &str = "role-ecs-blue-green";
/// The AWS managed policy ECS blue/green's infrastructure role needs.
pub const ECS_LOAD_BALANCERS_POLICY: &str =
    "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers";
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
/// The target group of stacks without a default service that listeners forward requests
/// no rule matches to: it has no targets, so the ALB answers them 503.
pub const UNMATCHED: &str = "tg-unmatched";
/// The TLS policy of every HTTPS listener: TLS 1.3 and 1.2 only, forward-secret ciphers —
/// the policy the ELB user guide recommends for Application Load Balancers ("Security
/// policies for your Application Load Balancer"; ELB's default, ELBSecurityPolicy-2016-08,
/// still accepts TLS 1.0 and 1.1).
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/// The optional listener ECS blue/green routes test traffic through.
pub const TEST_LISTENER: &str = "listener-test";

fn refs(ids: &[String]) -> Vec<Ref> {
    ids.iter().map(|id| Ref::to(id)).collect()
}

mod network;
pub use network::*;
mod platform;
pub use platform::*;
mod data;
pub use data::*;
mod alarm;
pub use alarm::*;
mod alb;
pub use alb::*;
mod service;
pub use service::*;
mod task;
pub use task::*;

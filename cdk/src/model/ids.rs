//! Logical ids: how the constructs name the resources they make, in one place. The
//! constructs create resources under these ids, and every other layer (the deploy and
//! operations commands, the provider's normalization) finds them by the same functions,
//! so an id is never spelled twice.
//!
//! ```
//! use slipway_cdk::model::ids;
//! assert_eq!(ids::target_group("vote"), "tg-vote");
//! assert_eq!(ids::alternate_target_group("vote"), "tg-vote-alt");
//! assert_eq!(ids::execution_role("vote"), "role-execution-vote");
//! ```

/// The operator's debug task (`provision debug`, `services/debug/Dockerfile`): its
/// repository, log group, task role and task definition are `<kind>-debug`.
pub const DEBUG: &str = "debug";

/// Logical id of the temporary revision `provision debug --image` registers. Tagged like
/// every resource, so one left behind by a killed `provision debug` is deleted by the
/// next `up` or `down`.
pub const CUSTOM_IMAGE_ID: &str = "taskdef-debug-image";

/// `service-<name>`: a service's ECS service.
pub fn service(name: &str) -> String {
    format!("service-{name}")
}

/// `taskdef-<name>`: a service's (or the debug task's) task definition.
pub fn task_definition(name: &str) -> String {
    format!("taskdef-{name}")
}

/// `task-<name>`: a one-off task's task definition (`[tasks.<name>]`).
pub fn one_off_task(name: &str) -> String {
    format!("task-{name}")
}

/// `sg-<name>`: the security group of a service, a data store or the debug task.
pub fn security_group(name: &str) -> String {
    format!("sg-{name}")
}

/// `logs-<name>`: a service's (or the debug task's) log group.
pub fn log_group(name: &str) -> String {
    format!("logs-{name}")
}

/// `repo-<name>`: a service's (or the debug task's) ECR repository.
pub fn repository(name: &str) -> String {
    format!("repo-{name}")
}

/// `role-<name>`: a service's (or the debug task's) task role.
pub fn task_role(name: &str) -> String {
    format!("role-{name}")
}

/// `role-execution-<name>`: the execution role of a service's tasks (ECS pulls the
/// image, writes logs and reads secrets with it).
pub fn execution_role(name: &str) -> String {
    format!("role-execution-{name}")
}

/// `tg-<service>`: a public service's target group (the primary of its blue/green pair).
pub fn target_group(service: &str) -> String {
    format!("tg-{service}")
}

/// `tg-<service>-alt`: the alternate target group of a public service's blue/green pair.
pub fn alternate_target_group(service: &str) -> String {
    super::alternate_target_group_id(&target_group(service))
}

/// `rule-<service>`: a public service's listener rule.
pub fn listener_rule(service: &str) -> String {
    format!("rule-{service}")
}

/// `rule-<service>-test`: a public service's rule on the blue/green test listener.
pub fn test_listener_rule(service: &str) -> String {
    format!("rule-{service}-test")
}

/// `listener-port-<service>`: the ALB listener a public service has to itself (its
/// `public.port`, see [`crate::config::PublicConfig::listener_port`]).
pub fn service_listener(service: &str) -> String {
    format!("listener-port-{service}")
}

/// `rule-internal-port-<service>`: the internal-paths rule on a service's own listener.
pub fn service_internal_rule(service: &str) -> String {
    format!("rule-internal-port-{service}")
}

/// `alarm-<name>`: a CloudWatch alarm (`alarm-<service>-5xx`, `alarm-queue-<queue>-age`…).
pub fn alarm(name: &str) -> String {
    format!("alarm-{name}")
}

/// `scaling-<service>`: a service's scalable target.
pub fn scalable_target(service: &str) -> String {
    format!("scaling-{service}")
}

/// `scaling-<service>-<suffix>`: one of a service's scaling policies (`cpu`, `memory`,
/// `requests`).
pub fn scaling_policy(service: &str, suffix: &str) -> String {
    format!("scaling-{service}-{suffix}")
}

/// `db-<service>-password`: the secret holding a service's Postgres role and password.
pub fn database_password_secret(service: &str) -> String {
    format!("db-{service}-password")
}

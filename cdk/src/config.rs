//! Stack definitions: `config/<stack>.toml`, with per-environment overrides under
//! `[env.<name>]` in the same file (one file per stack keeps every error's line number
//! meaningful). Unknown keys are rejected; every error names the file, the line and
//! what was expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::model::ids::DEBUG;

pub mod build;
pub mod deploy;
pub mod reference;
pub use build::BuildConfig;
pub use deploy::{DeployConfig, Strategy};

/// A config problem, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The stack file could not be read.
    #[error("cannot read {path} (stacks live in config/<stack>.toml; pass --config-dir to look elsewhere)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the stack file's schema (unknown
    /// key, wrong type, missing field…).
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (in bytes) of the problem.
        column: usize,
        /// What is wrong, as the TOML parser or the check says it.
        message: String,
    },
    /// The file parses but its values do not make a valid stack (a bad name, a missing
    /// section a service uses, …).
    #[error("{path}: {message}")]
    Semantic {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The file as written: base settings plus optional per-environment overrides.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Slipway stack file (config/<stack>.toml)")]
struct StackFile {
    /// `[stack]`: the stack's identity.
    #[schemars(with = "StackSection")]
    stack: Spanned<StackSection>,
    /// `[network]`: the stack's VPC.
    network: NetworkConfig,
    /// `[alb]`: the shared Application Load Balancer in front of the public services.
    #[schemars(with = "Option<AlbConfig>")]
    alb: Option<Spanned<AlbConfig>>,
    /// `[domain]`: a DNS name of yours for the public services, served over HTTPS.
    #[schemars(with = "Option<DomainConfig>")]
    domain: Option<Spanned<DomainConfig>>,
    /// `[logs]`: the CloudWatch log groups of every service and task.
    #[serde(default)]
    logs: LogsConfig,
    /// `[redis]`: an ElastiCache for Redis replication group the services in `uses` reach.
    redis: Option<RedisConfig>,
    /// `[postgres]`: an RDS for PostgreSQL instance the services in `uses` reach.
    postgres: Option<PostgresConfig>,
    /// `[alarms]`: CloudWatch alarm thresholds and whom they notify.
    #[schemars(with = "Option<AlarmsConfig>")]
    alarms: Option<Spanned<AlarmsConfig>>,
    /// `[services.<name>]`: one ECS Fargate service each, named by the table's key.
    #[schemars(with = "BTreeMap<String, ServiceConfig>")]
    services: BTreeMap<String, Spanned<ServiceConfig>>,
    /// `[tasks.<name>]`: one-off tasks (migrations, setup) run by `provision run <name>`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, TaskConfig>")]
    tasks: BTreeMap<String, Spanned<TaskConfig>>,
    /// `[github]`: the role GitHub Actions assumes (OIDC) to deploy this stack.
    #[schemars(with = "Option<GithubConfig>")]
    github: Option<Spanned<GithubConfig>>,
    /// `[env.<env>]`: what changes in one environment (`--env <env>`); every key is
    /// optional and replaces the base value. An environment without a table here runs
    /// with the base settings.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, EnvOverrides>")]
    env: BTreeMap<String, Spanned<EnvOverrides>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StackSection {
    /// The stack's name: the first part of every AWS name (`<stack>-<env>-<id>`) and the
    /// `slipway:stack` tag; 1-12 lowercase letters, digits and `-`, starting with a
    /// letter. Name the file after it (`config/<name>.toml`): `--stack` picks the file.
    name: String,
}

/// Network layout: one VPC over two AZs, public and private subnets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// VPC CIDR, a /16; subnets are carved as /20s from it.
    pub cidr: String,
    /// AZ suffixes appended to the region (exactly two, e.g. `["a", "b"]`). Unset, `up`
    /// and `plan` take the zones the stack's subnets already use, else the first two
    /// zones DescribeAvailabilityZones reports available: not every account has `a` and
    /// `b` in every region (zone letters map to physical zones per account).
    #[serde(default)]
    pub availability_zones: Option<Vec<String>>,
    /// 1 = one shared NAT gateway (cheap, dev); 2 = one per AZ (prod).
    #[serde(default = "one")]
    pub nat_gateways: u8,
}

/// What `plan --offline` and `synth` assume when no zones are configured (nothing is
/// read from AWS there); `up` and `plan` choose real ones (`aws::choose_zones`).
pub const OFFLINE_ZONES: [&str; 2] = ["a", "b"];

impl NetworkConfig {
    /// The two AZ suffixes the subnets go into: the configured ones, else
    /// [`OFFLINE_ZONES`] until `up`/`plan` resolve them against the account.
    pub fn zones(&self) -> Vec<String> {
        self.availability_zones
            .clone()
            .unwrap_or_else(|| OFFLINE_ZONES.iter().map(|z| z.to_string()).collect())
    }
}
fn one() -> u8 {
    1
}

/// `[alb]`: the shared Application Load Balancer's listeners.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlbConfig {
    /// When set, the ALB serves HTTPS on 443 (and on each public service's own port) with
    /// this ACM certificate and the TLS policy `ELBSecurityPolicy-TLS13-1-2-2021-06` (TLS
    /// 1.3 and 1.2 only), and port 80 redirects to it (301).
    pub certificate_arn: Option<String>,
    /// A second listener (`listener-test`) on this port through which ECS blue/green
    /// sends test traffic to the new revision before production traffic moves.
    pub test_listener_port: Option<u16>,
    /// Who may reach the test listener (required with `test_listener_port`; there is no
    /// default, least of all 0.0.0.0/0).
    #[serde(default)]
    pub test_cidrs: Vec<String>,
}

/// `[domain]`: the stack's public services under a DNS name of yours, over HTTPS.
///
/// `up` requests an ACM certificate for `name` and `*.<name>`, validates it with DNS
/// records in the Route 53 hosted zone and waits until ACM issues it; the ALB then
/// serves HTTPS on 443 (TLS policy `ELBSecurityPolicy-TLS13-1-2-2021-06`) and redirects
/// HTTP to it (301), and each public service gets an alias record
/// `<public.subdomain>.<name>` pointing at the ALB. `down` deletes the records and the
/// certificate; the hosted zone is yours and stays.
///
/// ```toml
/// [domain]
/// name = "example.com"
///
/// [env.dev.domain]
/// name = "dev.example.com"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// The domain the public services are published under: `vote.<name>`,
    /// `result.<name>`… (see `services.<name>.public.subdomain`). Lowercase DNS labels,
    /// at most 64 characters (ACM's limit for a certificate's first name).
    pub name: String,
    /// The Route 53 public hosted zone the records go in (`Z…`). Default: the public
    /// hosted zone of this account named `name`, else the one named after its nearest
    /// parent (`example.com` for `dev.example.com`), found by `plan` and `up`.
    pub zone_id: Option<String>,
}

impl DomainConfig {
    /// `name`, its hosted zone found by `plan` and `up`.
    pub fn new(name: &str) -> Self {
        DomainConfig {
            name: name.to_owned(),
            zone_id: None,
        }
    }
}

/// Priority of the catch-all rule (`/*`) of the `default = true` service: the lowest
/// precedence ALB allows, so every other rule wins. ECS blue/green shifts traffic by
/// rewriting a listener rule, never a listener's default action, so the default service
/// is served by this rule and the listener's own default answers 404.
pub const CATCH_ALL_PRIORITY: i32 = 50_000;

/// `[logs]`: the log groups of every service and task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Days CloudWatch Logs keeps each service's and task's log events.
    #[serde(default = "default_retention")]
    pub retention_days: i32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            retention_days: default_retention(),
        }
    }
}

fn default_retention() -> i32 {
    14
}

/// `[redis]`: an ElastiCache for Redis replication group (TLS and AUTH always on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// ElastiCache node type, e.g. `cache.t4g.micro` (dev) or `cache.m7g.large`.
    pub node_type: String,
    /// Redis engine version (major.minor). A higher version is an in-place upgrade; a
    /// lower one is refused (AWS cannot downgrade).
    #[serde(default = "default_redis_version")]
    pub engine_version: String,
    /// Read replicas; ≥ 1 turns on Multi-AZ with automatic failover.
    #[serde(default)]
    pub replicas: u8,
}

fn default_redis_version() -> String {
    "7.1".into()
}

/// `[postgres]`: an RDS for PostgreSQL instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// RDS instance class, e.g. `db.t4g.micro` (dev) or `db.m7g.large`.
    pub instance_class: String,
    /// PostgreSQL major version (RDS picks its default minor). A new major is upgraded in
    /// place; a lower one is refused.
    #[serde(default = "default_pg_version")]
    pub engine_version: String,
    /// The database the services use. Changing it replaces the instance (data loss:
    /// `up` refuses unless `--allow-data-loss postgres`).
    pub database: String,
    /// The RDS master user (its password is RDS-managed and rotated); only the database
    /// setup task logs in as it, services get roles of their own. Changing it replaces
    /// the instance.
    #[serde(default = "default_pg_user")]
    pub username: String,
    /// Storage in GiB; it can grow in place, never shrink.
    #[serde(default = "default_storage")]
    pub allocated_storage_gb: i32,
    /// Days of automated backups (point-in-time restore).
    #[serde(default = "default_backups")]
    pub backup_retention_days: i32,
    /// A synchronous standby in another AZ (prod).
    #[serde(default)]
    pub multi_az: bool,
    /// RDS refuses to delete the instance while set; `down` lifts it only for a store
    /// named with `--allow-data-loss postgres`.
    #[serde(default)]
    pub deletion_protection: bool,
}

/// `[alarms]`: thresholds of the generated CloudWatch alarms and whom they notify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmsConfig {
    /// An SNS topic `up` creates and owns; the alarms notify it.
    pub topic: Option<String>,
    /// An existing SNS topic the alarms notify (not managed by the stack).
    pub topic_arn: Option<String>,
    /// Target 5xx responses as a share of requests, in percent (default 5).
    #[serde(default = "default_error_rate")]
    pub error_rate_percent: f64,
    /// 95th percentile target response time, in milliseconds (default 1000).
    #[serde(default = "default_p95_ms")]
    pub p95_ms: f64,
    /// Average service CPU, in percent (default 85).
    #[serde(default = "default_alarm_cpu")]
    pub cpu_percent: f64,
    /// Entries waiting in a reported queue (`services.<name>.queues`), default 1000.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: f64,
    /// Age of the oldest entry waiting in a reported queue, in seconds (default 300).
    #[serde(default = "default_queue_age")]
    pub queue_age_seconds: f64,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        Self {
            topic: None,
            topic_arn: None,
            error_rate_percent: default_error_rate(),
            p95_ms: default_p95_ms(),
            cpu_percent: default_alarm_cpu(),
            queue_depth: default_queue_depth(),
            queue_age_seconds: default_queue_age(),
        }
    }
}

fn default_queue_depth() -> f64 {
    1000.0
}
fn default_queue_age() -> f64 {
    300.0
}

/// Range checks of the queue thresholds one section sets.
fn check_queue_thresholds(
    section: &str,
    queue_depth: Option<f64>,
    queue_age_seconds: Option<f64>,
) -> Result<(), String> {
    if let Some(v) = queue_depth {
        if !(1.0..=1e9).contains(&v) {
            return Err(format!(
                "{section}.queue_depth must be a count from 1 to 1000000000 (got {v})"
            ));
        }
    }
    if let Some(v) = queue_age_seconds {
        if !(v > 0.0 && v <= 86_400.0) {
            return Err(format!(
                "{section}.queue_age_seconds must be above 0 and at most 86400 seconds (got {v})"
            ));
        }
    }
    Ok(())
}

fn default_error_rate() -> f64 {
    5.0
}
fn default_p95_ms() -> f64 {
    1000.0
}
fn default_alarm_cpu() -> f64 {
    85.0
}

impl AlarmsConfig {
    /// Range checks of the values one section sets (`section` names it in messages).
    fn check_values(
        section: &str,
        error_rate_percent: Option<f64>,
        p95_ms: Option<f64>,
        cpu_percent: Option<f64>,
        topic: Option<&str>,
        topic_arn: Option<&str>,
    ) -> Result<(), String> {
        let percent = |key: &str, value: Option<f64>| match value {
            Some(v) if !(v > 0.0 && v <= 100.0) => Err(format!(
                "{section}.{key} must be a percentage above 0 and at most 100 (got {v})"
            )),
            _ => Ok(()),
        };
        percent("error_rate_percent", error_rate_percent)?;
        percent("cpu_percent", cpu_percent)?;
        if let Some(v) = p95_ms {
            if !(v > 0.0 && v <= 600_000.0) {
                return Err(format!(
                    "{section}.p95_ms must be above 0 and at most 600000 milliseconds (got {v})"
                ));
            }
        }
        if let Some(name) = topic {
            if crate::names::SNS_TOPIC.check(name).is_err() {
                return Err(format!(
                    "{section}.topic `{name}` must be 1-256 letters, digits, `-` or `_` (an SNS topic name)"
                ));
            }
        }
        if let Some(arn) = topic_arn {
            if !(arn.starts_with("arn:") && arn.contains(":sns:")) {
                return Err(format!(
                    "{section}.topic_arn `{arn}` must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
                ));
            }
        }
        Ok(())
    }
}

fn default_pg_version() -> String {
    "15".into()
}
fn default_pg_user() -> String {
    "slipway".into()
}
fn default_storage() -> i32 {
    20
}
fn default_backups() -> i32 {
    7
}

/// `[github]`: `up` creates a role GitHub Actions assumes through OIDC to deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// `owner/name` of the repository whose workflows may deploy.
    pub repository: String,
    /// No longer used (refused with what to do instead): the role trusts the GitHub
    /// environment `<stack>-<env>`, and which branches may deploy is that environment's
    /// setting. A job that names an environment gets a token whose `sub` names the
    /// environment, not the branch (GitHub docs, "OpenID Connect reference: Filtering for
    /// a specific environment"), so a branch condition could never match deploy.yml.
    #[serde(default)]
    pub branch: Option<String>,
    /// The account's existing GitHub OIDC provider (IAM allows one per account); when
    /// absent, `up` creates it with the stack.
    pub oidc_provider_arn: Option<String>,
}

/// GitHub's OIDC issuer, as IAM names its provider.
pub const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

impl GithubConfig {
    fn validate(&self) -> Result<(), String> {
        let part_ok = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match self.repository.split_once('/') {
            Some((owner, name)) if part_ok(owner) && part_ok(name) => {}
            _ => {
                return Err(format!(
                    "github.repository `{}` must be `owner/name`, e.g. \"acme/slipway\"",
                    self.repository
                ))
            }
        }
        if let Some(branch) = &self.branch {
            return Err(format!(
                "github.branch (`{branch}`) is no longer used: the deploy role trusts only jobs \
                 in the GitHub environment `<stack>-<env>`; remove it and allow only `{branch}` \
                 in that environment's \"Deployment branches and tags\" rule (runbook.md, \
                 \"Delivery\")"
            ));
        }
        if let Some(arn) = &self.oidc_provider_arn {
            let account = arn
                .strip_prefix("arn:aws:iam::")
                .and_then(|rest| rest.strip_suffix(&format!(":oidc-provider/{GITHUB_OIDC_HOST}")));
            if !account.is_some_and(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())) {
                return Err(format!(
                    "github.oidc_provider_arn `{arn}` must look like arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_HOST} (see `aws iam list-open-id-connect-providers`)"
                ));
            }
        }
        Ok(())
    }

    /// The `sub` claim of this repository's jobs that run in the GitHub environment
    /// `<stack>-<env>` (deploy.yml's deploy job): only those may assume the deploy role,
    /// so the environment's protection rules (required reviewers, deployment branches)
    /// gate AWS access itself, not just the workflow.
    pub fn subject(&self, stack: &str, env: &str) -> String {
        format!("repo:{}:environment:{stack}-{env}", self.repository)
    }
}

/// A data store a service depends on; the provisioner injects its URL as a secret.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DataStore {
    /// `redis`: the stack's `[redis]` replication group (`REDIS_URL` secret).
    Redis,
    /// `postgres`: the stack's `[postgres]` instance (`DATABASE_*` settings and a role
    /// of its own).
    Postgres,
}

/// How a public service is reached through the stack's ALB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicConfig {
    /// Receives everything no rule matched (the listener's default action).
    #[serde(default)]
    pub default: bool,
    /// Path patterns of a listener rule (`/orders`, `/orders/*`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Host header patterns of a listener rule.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Listener rule priority (unique per stack; lower wins).
    pub priority: Option<i32>,
    /// Target-group stickiness (e.g. socket.io long polling).
    #[serde(default)]
    pub sticky: bool,
    /// ALB target group health check path: readiness (default `/ready`). The target
    /// group asks the task directly, so this works although the listeners refuse
    /// `/ready` from the internet.
    #[serde(default = "default_lb_health")]
    pub health_path: String,
    /// Target tracking on ALB requests per target.
    #[serde(default = "default_requests_target")]
    pub requests_per_target: i32,
    /// An ALB listener of its own on this port, so a browser opens the service at
    /// `http://<alb-dns>:<port>/` without a DNS name of yours (as compose publishes one
    /// port per service). A service routed by `hosts` alone gets one whatever this says:
    /// on the container's `port` unless set here. Not allowed on the default service
    /// (it is on 80, or 443 with a certificate). The ALB security group opens the port
    /// to everyone; `/ready` and `/metrics` stay refused on it. With a `[domain]` only a
    /// port set here gets a listener (the service has its own name then).
    pub port: Option<u16>,
    /// With a `[domain]`: the service is published at `<subdomain>.<domain name>` (an
    /// alias record to the ALB, covered by the certificate). Default: the service's
    /// name; `"@"` publishes it at the domain name itself. One DNS label. A service
    /// routed by `hosts` must match its own name with one of them.
    pub subdomain: Option<String>,
}

impl PublicConfig {
    /// The port of the service's own listener, if it gets one: `port` when set, else the
    /// container's port (`container_port`) for a service routed by host name alone in a
    /// stack without a `[domain]` (`has_domain`): without a DNS name pointing at the ALB a
    /// browser could not reach it, with one the service has a name of its own. The
    /// container's port is stable (adding or removing other services never moves it) and
    /// is the port `docker compose` publishes, so local and cloud URLs look alike.
    ///
    /// ```
    /// use slipway_cdk::config::PublicConfig;
    /// let result: PublicConfig = toml::from_str(r#"hosts = ["result.*"]
    /// priority = 10"#).unwrap();
    /// assert_eq!(result.listener_port(8081, false), Some(8081));
    /// assert_eq!(result.listener_port(8081, true), None);
    /// let orders: PublicConfig = toml::from_str(r#"paths = ["/orders"]
    /// priority = 20"#).unwrap();
    /// assert_eq!(orders.listener_port(8080, false), None);
    /// ```
    pub fn listener_port(&self, container_port: u16, has_domain: bool) -> Option<u16> {
        if self.default {
            return None;
        }
        let by_host_alone = self.paths.is_empty() && !self.hosts.is_empty() && !has_domain;
        self.port.or(by_host_alone.then_some(container_port))
    }

    /// The subdomain the service is published at under a `[domain]` (`service` is its
    /// name): `subdomain`, else the name.
    pub fn subdomain_or<'a>(&'a self, service: &'a str) -> &'a str {
        self.subdomain.as_deref().unwrap_or(service)
    }
}

fn default_lb_health() -> String {
    "/ready".into()
}
fn default_requests_target() -> i32 {
    500
}

/// `[services.<name>]`: one ECS Fargate service, as resolved for the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// ECR repository name suffix; defaults to the service name.
    pub image_repo: Option<String>,
    /// Image tag started by `up` (deploys move it later).
    #[serde(default = "default_tag")]
    pub image_tag: String,
    /// The port the container listens on (its `PORT`); the load balancer and callers
    /// reach it there.
    pub port: u16,
    /// Fargate CPU units (256 = 0.25 vCPU). With `memory` it must be a Fargate size:
    /// 256 with 512-2048, 512 with 1024-4096, 1024 with 2048-8192 MiB, …
    pub cpu: i32,
    /// Fargate memory in MiB (see `cpu`).
    pub memory: i32,
    /// Tasks `up` starts with (min ≤ desired ≤ max); autoscaling moves the live count.
    pub desired: i32,
    /// Fewest tasks autoscaling keeps; at least 2 for public services and private APIs.
    pub min: i32,
    /// Most tasks autoscaling may run.
    pub max: i32,
    /// Target average CPU utilisation (%) for scaling.
    #[serde(default = "default_cpu_target")]
    pub cpu_target: f64,
    /// Container health check command (Docker `CMD` form). ECS replaces a container
    /// whose check fails, so this must be liveness (`<binary> --probe`, GET /health),
    /// never readiness: a database failover would get every dependent task replaced.
    pub health_command: Vec<String>,
    /// `[services.<name>.public]`: reachable through the ALB; absent, the service is
    /// private (reached by its callers only).
    pub public: Option<PublicConfig>,
    /// Services allowed to call this one over the private network (Service Connect).
    #[serde(default)]
    pub callers: Vec<String>,
    /// Data stores the service reaches: `redis`, `postgres` (their section must exist).
    /// Gives the security group rule and the connection settings (`REDIS_URL` as a
    /// secret; for Postgres the `DATABASE_*` settings and its own role's password secret).
    #[serde(default)]
    pub uses: Vec<DataStore>,
    /// Redis queues (list keys) this service reports to CloudWatch: the provisioner gives
    /// it `METRICS_NAMESPACE` (it then logs the queue's depth and oldest-entry age as
    /// Embedded Metric Format lines) and alarms on both (`[alarms] queue_depth`,
    /// `queue_age_seconds`). The voting worker reports `votes`.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Plain environment variables (name → value); never put credentials here, use
    /// `secrets` or `uses`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Extra environment variables from existing Secrets Manager secrets (name → ARN).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// How `provision deploy` rolls out releases (`[services.<name>.deploy]`).
    #[serde(default)]
    pub deploy: DeployConfig,
    /// How `provision push` builds the image (`[services.<name>.build]`).
    #[serde(default)]
    pub build: BuildConfig,
    /// Its Postgres role's privileges (services that use postgres; default: owns the
    /// schema named after the service). See [`DatabaseAccess`].
    pub database: Option<DatabaseAccess>,
    /// ECS Exec into this service's tasks (`provision exec`, `provision tunnel --via`).
    /// ECS Exec does not work with a read-only root filesystem, so this chooses between
    /// the two: on, the container's root is writable, the service has
    /// enableExecuteCommand and its task role may open SSM channels; off, the root is
    /// read-only and none of that. Unset: on everywhere but in the `prod` environment.
    pub exec: Option<bool>,
}

/// Whether a container health command asks readiness: `--probe ready`, or any word naming
/// the `/ready` endpoint (a shell `curl …/ready`).
fn asks_readiness(command: &[String]) -> bool {
    command
        .windows(2)
        .any(|pair| pair[0] == "--probe" && pair[1] == "ready")
        || command.iter().any(|word| word.contains("/ready"))
}

fn default_tag() -> String {
    "latest".into()
}

/// `[services.<name>] database = { owns = [...], reads = [...], updates = [...] }`: what
/// the service's own Postgres role (named after the service) may do, least privilege.
/// The setup task (`[tasks.<name>] database_admin = true`) makes Postgres match it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseAccess {
    /// Schemas the role owns: it creates and migrates their tables.
    #[serde(default)]
    pub owns: Vec<String>,
    /// Schemas whose tables it may only read (another service owns them).
    #[serde(default)]
    pub reads: Vec<String>,
    /// Schemas whose tables it may read and update, not insert into or delete from.
    #[serde(default)]
    pub updates: Vec<String>,
}
fn default_cpu_target() -> f64 {
    60.0
}

/// A one-off task (migrations, seeding) run with a service's image and network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The service whose image, network, security group and settings the task uses.
    pub service: String,
    /// The container command (replaces the image's), e.g. `["/usr/local/bin/users", "migrate"]`.
    pub command: Vec<String>,
    /// Fargate CPU units; default: the service's.
    pub cpu: Option<i32>,
    /// Fargate memory in MiB; default: the service's.
    pub memory: Option<i32>,
    /// The database setup task: logs in as the RDS master user (its password injected
    /// from the RDS-managed secret when the task starts) and creates the services' roles
    /// (the `db-roles` subcommand of a service binary). Its own task role reads only the
    /// services' password secrets; the services never see the master password.
    #[serde(default)]
    pub database_admin: bool,
}

/// Overrides for one environment; every field is optional.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EnvOverrides {
    /// Replaces keys of `[network]`.
    network: Option<NetworkOverrides>,
    /// Replaces `[alb]` as a whole.
    #[schemars(with = "Option<AlbConfig>")]
    alb: Option<Spanned<AlbConfig>>,
    /// Replaces `[logs]` as a whole.
    logs: Option<LogsConfig>,
    /// Replaces `[domain]` as a whole (e.g. `dev.example.com` for dev).
    #[schemars(with = "Option<DomainConfig>")]
    domain: Option<Spanned<DomainConfig>>,
    /// Replaces `[github]` as a whole.
    github: Option<GithubConfig>,
    /// Replaces keys of `[redis]`.
    redis: Option<RedisOverrides>,
    /// Replaces keys of `[postgres]`.
    postgres: Option<PostgresOverrides>,
    /// Replaces keys of `[alarms]`.
    #[schemars(with = "Option<AlarmsOverrides>")]
    alarms: Option<Spanned<AlarmsOverrides>>,
    /// Replaces keys of `[services.<name>]` (the service must exist in the base file).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ServiceOverrides>")]
    services: BTreeMap<String, Spanned<ServiceOverrides>>,
}

/// `[env.<env>.alarms]`: each key replaces the one of `[alarms]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AlarmsOverrides {
    /// Replaces `alarms.topic`.
    topic: Option<String>,
    /// Replaces `alarms.topic_arn`.
    topic_arn: Option<String>,
    /// Replaces `alarms.error_rate_percent`.
    error_rate_percent: Option<f64>,
    /// Replaces `alarms.p95_ms`.
    p95_ms: Option<f64>,
    /// Replaces `alarms.cpu_percent`.
    cpu_percent: Option<f64>,
    /// Replaces `alarms.queue_depth`.
    queue_depth: Option<f64>,
    /// Replaces `alarms.queue_age_seconds`.
    queue_age_seconds: Option<f64>,
}

/// `[env.<env>.network]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NetworkOverrides {
    /// Replaces `network.nat_gateways` (typically 2 in prod).
    nat_gateways: Option<u8>,
}

/// `[env.<env>.redis]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RedisOverrides {
    /// Replaces `redis.node_type`.
    node_type: Option<String>,
    /// Replaces `redis.replicas` (≥ 1 in prod for Multi-AZ failover).
    replicas: Option<u8>,
}

/// `[env.<env>.postgres]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PostgresOverrides {
    /// Replaces `postgres.instance_class`.
    instance_class: Option<String>,
    /// Replaces `postgres.allocated_storage_gb` (RDS storage can only grow).
    allocated_storage_gb: Option<i32>,
    /// Replaces `postgres.backup_retention_days`.
    backup_retention_days: Option<i32>,
    /// Replaces `postgres.multi_az`.
    multi_az: Option<bool>,
    /// Replaces `postgres.deletion_protection`.
    deletion_protection: Option<bool>,
}

/// `[env.<env>.services.<name>]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServiceOverrides {
    /// Replaces `services.<name>.image_tag`.
    image_tag: Option<String>,
    /// Replaces `services.<name>.cpu`.
    cpu: Option<i32>,
    /// Replaces `services.<name>.memory`.
    memory: Option<i32>,
    /// Replaces `services.<name>.desired`.
    desired: Option<i32>,
    /// Replaces `services.<name>.min`.
    min: Option<i32>,
    /// Replaces `services.<name>.max`.
    max: Option<i32>,
    /// Replaces `services.<name>.cpu_target`.
    cpu_target: Option<f64>,
    /// Variables added to (or replacing those of) `services.<name>.env`.
    env: Option<BTreeMap<String, String>>,
    /// `[env.<env>.services.<name>.deploy]`: keys set here replace the base ones.
    deploy: Option<DeployConfig>,
    /// Replaces `services.<name>.exec`.
    exec: Option<bool>,
}

/// A stack resolved for one environment: what the constructs expand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackConfig {
    /// The stack's name (`[stack] name`), the first part of every AWS name
    /// (`<stack>-<env>-…`).
    pub stack: String,
    /// The environment (`--env`), the second part of every AWS name.
    pub env: String,
    /// `[network]`, with the environment's overrides applied.
    pub network: NetworkConfig,
    /// `[alb]`, or `[env.<env>.alb]` when set (defaults when neither is).
    pub alb: AlbConfig,
    /// `[logs]`, or `[env.<env>.logs]` when set (defaults when neither is).
    pub logs: LogsConfig,
    /// `[domain]`, or `[env.<env>.domain]` when set.
    pub domain: Option<DomainConfig>,
    /// `[redis]` with the environment's overrides, when the stack has one.
    pub redis: Option<RedisConfig>,
    /// `[postgres]` with the environment's overrides, when the stack has one.
    pub postgres: Option<PostgresConfig>,
    /// `[alarms]` with the environment's overrides (defaults when absent).
    pub alarms: AlarmsConfig,
    /// `[services.<name>]`, by name, each with its environment's overrides applied.
    pub services: BTreeMap<String, ServiceConfig>,
    /// `[tasks.<name>]`, by name.
    pub tasks: BTreeMap<String, TaskConfig>,
    /// `[github]` with the environment's overrides, when GitHub Actions deploys the
    /// stack.
    pub github: Option<GithubConfig>,
}

impl StackConfig {
    /// Parses and validates one stack file's text, except for the AWS names the stack
    /// will send: those need the expansion, so [`StackConfig::parse`] (in
    /// [`crate::stack`], above the constructs) checks them after this. `path` is only
    /// used in messages.
    pub fn parse_without_name_check(
        path: &Path,
        text: &str,
        env: &str,
    ) -> Result<Self, ConfigError> {
        let located = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let file: StackFile = toml::from_str(text).map_err(|err| {
            let message = err.message().trim().to_owned();
            match err.span() {
                Some(span) => located(span, message),
                None => located(0..0, message),
            }
        })?;
        validate_name("--env", env).map_err(|message| ConfigError::Semantic {
            path: path.to_owned(),
            message,
        })?;
        let stack_name = file.stack.get_ref().name.clone();
        validate_name("stack.name", &stack_name)
            .map_err(|message| located(file.stack.span(), message))?;

        let mut services: BTreeMap<String, ServiceConfig> = BTreeMap::new();
        for (name, spanned) in &file.services {
            validate_name("service name", name)
                .map_err(|message| located(spanned.span(), message))?;
            services.insert(name.clone(), spanned.get_ref().clone());
        }
        let mut network = file.network;
        let mut alb = file
            .alb
            .as_ref()
            .map(|a| a.get_ref().clone())
            .unwrap_or_default();
        // Where [alb] problems are reported: the table that set it last.
        let mut alb_span = file.alb.as_ref().map(|a| a.span());
        let mut logs = file.logs;
        let mut domain = file.domain.as_ref().map(|d| d.get_ref().clone());
        let mut domain_span = file.domain.as_ref().map(|d| d.span());
        let mut redis = file.redis;
        let mut postgres = file.postgres;
        let mut github = file.github.as_ref().map(|g| g.get_ref().clone());
        let mut alarms = AlarmsConfig::default();
        // The section blamed for a bad alarm setting: the override when there is one.
        let mut alarms_span = None;
        if let Some(base) = &file.alarms {
            let b = base.get_ref();
            AlarmsConfig::check_values(
                "alarms",
                Some(b.error_rate_percent),
                Some(b.p95_ms),
                Some(b.cpu_percent),
                b.topic.as_deref(),
                b.topic_arn.as_deref(),
            )
            .map_err(|message| located(base.span(), message))?;
            check_queue_thresholds("alarms", Some(b.queue_depth), Some(b.queue_age_seconds))
                .map_err(|message| located(base.span(), message))?;
            alarms = b.clone();
            alarms_span = Some(base.span());
        }

        if let Some(overrides) = file.env.get(env) {
            let span = overrides.span();
            let overrides = overrides.get_ref();
            if let Some(n) = &overrides.network {
                if let Some(nat) = n.nat_gateways {
                    network.nat_gateways = nat;
                }
            }
            if let Some(a) = &overrides.alb {
                alb = a.get_ref().clone();
                alb_span = Some(a.span());
            }
            if let Some(l) = &overrides.logs {
                logs = l.clone();
            }
            if let Some(d) = &overrides.domain {
                domain = Some(d.get_ref().clone());
                domain_span = Some(d.span());
            }
            if let Some(g) = &overrides.github {
                github = Some(g.clone());
            }
            if let Some(r) = &overrides.redis {
                let base = redis.as_mut().ok_or_else(|| {
                    located(
                        span.clone(),
                        format!("[env.{env}.redis] overrides a stack without [redis]"),
                    )
                })?;
                set(&mut base.node_type, &r.node_type);
                set(&mut base.replicas, &r.replicas);
            }
            if let Some(p) = &overrides.postgres {
                let base = postgres.as_mut().ok_or_else(|| {
                    located(
                        span.clone(),
                        format!("[env.{env}.postgres] overrides a stack without [postgres]"),
                    )
                })?;
                set(&mut base.instance_class, &p.instance_class);
                set(&mut base.allocated_storage_gb, &p.allocated_storage_gb);
                set(&mut base.backup_retention_days, &p.backup_retention_days);
                set(&mut base.multi_az, &p.multi_az);
                set(&mut base.deletion_protection, &p.deletion_protection);
            }
            if let Some(spanned) = &overrides.alarms {
                let a = spanned.get_ref();
                AlarmsConfig::check_values(
                    &format!("env.{env}.alarms"),
                    a.error_rate_percent,
                    a.p95_ms,
                    a.cpu_percent,
                    a.topic.as_deref(),
                    a.topic_arn.as_deref(),
                )
                .map_err(|message| located(spanned.span(), message))?;
                // A topic set here replaces the base one, whichever kind it is.
                if a.topic.is_some() || a.topic_arn.is_some() {
                    alarms.topic = a.topic.clone();
                    alarms.topic_arn = a.topic_arn.clone();
                }
                set(&mut alarms.error_rate_percent, &a.error_rate_percent);
                set(&mut alarms.p95_ms, &a.p95_ms);
                set(&mut alarms.cpu_percent, &a.cpu_percent);
                check_queue_thresholds(
                    &format!("env.{env}.alarms"),
                    a.queue_depth,
                    a.queue_age_seconds,
                )
                .map_err(|message| located(spanned.span(), message))?;
                set(&mut alarms.queue_depth, &a.queue_depth);
                set(&mut alarms.queue_age_seconds, &a.queue_age_seconds);
                alarms_span = Some(spanned.span());
            }
            for (name, o) in &overrides.services {
                let known = known_list(services.keys());
                let base = services.get_mut(name).ok_or_else(|| {
                    located(
                        o.span(),
                        format!("[env.{env}.services.{name}] overrides an unknown service; known services: {known}"),
                    )
                })?;
                let o = o.get_ref();
                set(&mut base.image_tag, &o.image_tag);
                set(&mut base.cpu, &o.cpu);
                set(&mut base.memory, &o.memory);
                set(&mut base.desired, &o.desired);
                set(&mut base.min, &o.min);
                set(&mut base.max, &o.max);
                set(&mut base.cpu_target, &o.cpu_target);
                if let Some(env_vars) = &o.env {
                    base.env.extend(env_vars.clone());
                }
                if let Some(deploy) = &o.deploy {
                    base.deploy.overlay(deploy);
                }
                if o.exec.is_some() {
                    base.exec = o.exec;
                }
            }
        }

        let config = StackConfig {
            stack: stack_name,
            env: env.to_owned(),
            network,
            alb,
            logs,
            domain,
            redis,
            postgres,
            alarms,
            services,
            tasks: file
                .tasks
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            github,
        };
        if config.alarms.topic.is_some() && config.alarms.topic_arn.is_some() {
            let message = "alarms: set either `topic` (a topic the stack creates) or `topic_arn` (an existing topic), not both".to_owned();
            return Err(match alarms_span {
                Some(span) => located(span, message),
                None => ConfigError::Semantic {
                    path: path.to_owned(),
                    message,
                },
            });
        }
        // Semantic checks point at the service's table (or the task's) when one is to blame.
        config.validate().map_err(|(culprit, message)| {
            let span = culprit.and_then(|(kind, name)| match kind {
                Culprit::Service => file.services.get(&name).map(|s| s.span()),
                Culprit::Task => file.tasks.get(&name).map(|s| s.span()),
                Culprit::Github => file.github.as_ref().map(|g| g.span()),
                Culprit::Alb => alb_span.clone(),
                Culprit::Domain => domain_span.clone(),
            });
            match span {
                Some(span) => located(span, message),
                None => ConfigError::Semantic {
                    path: path.to_owned(),
                    message,
                },
            }
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (Option<(Culprit, String)>, String)> {
        let plain = |message: String| (None, message);
        if let Some(zones) = &self.network.availability_zones {
            let suffix = |z: &String| {
                !z.is_empty()
                    && z.len() <= 3
                    && z.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            };
            if zones.len() != 2 || zones[0] == zones[1] || !zones.iter().all(suffix) {
                return Err(plain(
                    "network.availability_zones must list exactly two different AZ suffixes, e.g. [\"a\", \"b\"] (or leave it out: `up` picks two zones the account has)"
                        .into(),
                ));
            }
        }
        if !(1..=2).contains(&self.network.nat_gateways) {
            return Err(plain(
                "network.nat_gateways must be 1 (shared) or 2 (one per AZ)".into(),
            ));
        }
        if !self.network.cidr.ends_with("/16") || self.network.cidr.split('.').count() != 4 {
            return Err(plain(format!(
                "network.cidr `{}` must be an IPv4 /16 such as 10.10.0.0/16",
                self.network.cidr
            )));
        }
        let known = known_list(self.services.keys());
        let mut priorities = BTreeMap::new();
        let mut listener_ports = BTreeMap::new();
        let mut defaults = Vec::new();
        for (name, service) in &self.services {
            let blame = |message: String| (Some((Culprit::Service, name.clone())), message);
            if name == DEBUG {
                // The debug task's repository, role, log group and security group are
                // `<kind>-debug`, and `tunnel --via debug` means that task.
                return Err(blame(format!(
                    "service name `{name}` is reserved for the debug task (`provision debug`); pick another"
                )));
            }
            if name == "internal" {
                // `tg-internal`/`rule-internal` keep /ready and /metrics off the internet.
                return Err(blame(format!(
                    "service name `{name}` is reserved for the load balancer's internal-paths rule; pick another"
                )));
            }
            for queue in &service.queues {
                // It becomes a CloudWatch dimension value (1-1024 characters) and part of
                // an alarm's logical id; Redis list keys of this project are plain words.
                let plain = !queue.is_empty()
                    && queue.len() <= 64
                    && queue
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'));
                if !plain {
                    return Err(blame(format!(
                        "services.{name}.queues: `{queue}` must be 1-64 letters, digits, `-`, `_` or `:` (a Redis list key)"
                    )));
                }
            }
            if name.ends_with("-alt") {
                // `tg-<svc>-alt` is the alternate target group of service `<svc>`.
                return Err(blame(format!(
                    "service name `{name}` must not end in `-alt` (reserved for blue/green alternate target groups)"
                )));
            }
            if service.min > service.desired || service.desired > service.max {
                return Err(blame(format!(
                    "services.{name}: need min <= desired <= max (got {} <= {} <= {})",
                    service.min, service.desired, service.max
                )));
            }
            let serves_clients = service.public.is_some() || !service.callers.is_empty();
            if serves_clients && service.min < 2 {
                return Err(blame(format!(
                    "services.{name}: client-facing and API services run at least 2 tasks; set min >= 2 (got {})",
                    service.min
                )));
            }
            if !valid_fargate_size(service.cpu, service.memory) {
                return Err(blame(format!(
                    "services.{name}: cpu {} / memory {} is not a Fargate size (e.g. 256/512, 512/1024, 1024/2048)",
                    service.cpu, service.memory
                )));
            }
            if service.health_command.first().map(String::as_str) != Some("CMD")
                && service.health_command.first().map(String::as_str) != Some("CMD-SHELL")
            {
                return Err(blame(format!(
                    "services.{name}.health_command must start with \"CMD\" or \"CMD-SHELL\""
                )));
            }
            if asks_readiness(&service.health_command) {
                return Err(blame(format!(
                    "services.{name}.health_command asks readiness (`--probe ready` or /ready): ECS replaces containers whose check fails, so a Postgres or Redis outage would replace every task; use liveness (`<binary> --probe`) and let the load balancer's target group ask `public.health_path` (readiness)"
                )));
            }
            for caller in &service.callers {
                if !self.services.contains_key(caller) || caller == name {
                    return Err(blame(format!(
                        "services.{name}.callers names `{caller}`, which is not another service of this stack; known services: {known}"
                    )));
                }
            }
            for store in &service.uses {
                let missing = match store {
                    DataStore::Redis => self.redis.is_none(),
                    DataStore::Postgres => self.postgres.is_none(),
                };
                if missing {
                    return Err(blame(format!(
                        "services.{name}.uses lists {store:?} but the stack has no [{}] section",
                        format!("{store:?}").to_lowercase()
                    )));
                }
            }
            service
                .deploy
                .validate(name, service.public.is_some())
                .map_err(blame)?;
            service.build.validate(name).map_err(blame)?;
            if let Some(public) = &service.public {
                if public.default {
                    defaults.push(name.clone());
                } else {
                    if public.paths.is_empty() && public.hosts.is_empty() {
                        return Err(blame(format!(
                            "services.{name}.public needs `default = true` or at least one of `paths`, `hosts`"
                        )));
                    }
                    if let Some(problem) =
                        crate::settings::elb::path_condition_problem(&public.paths)
                    {
                        return Err(blame(format!("services.{name}.public.paths: {problem}")));
                    }
                    let Some(priority) = public.priority else {
                        return Err(blame(format!(
                            "services.{name}.public needs a `priority` (2-{}) for its listener rule",
                            CATCH_ALL_PRIORITY - 1
                        )));
                    };
                    if !(2..CATCH_ALL_PRIORITY).contains(&priority) {
                        return Err(blame(format!(
                            "services.{name}.public.priority must be 2-{} (1 is the rule that keeps /ready and /metrics off the internet, {CATCH_ALL_PRIORITY} the default service's catch-all rule); got {priority}",
                            CATCH_ALL_PRIORITY - 1
                        )));
                    }
                    if let Some(other) = priorities.insert(priority, name.clone()) {
                        return Err(blame(format!(
                            "services.{name}.public.priority {priority} is already used by `{other}`"
                        )));
                    }
                }
                if public.default && public.port.is_some() {
                    return Err(blame(format!(
                        "services.{name}.public.port: the default service is served on port 80 (443 with a certificate); remove `port`"
                    )));
                }
                if let Some(port) = public.listener_port(service.port, self.domain.is_some()) {
                    let reserved = [Some(80), Some(443), self.alb.test_listener_port];
                    if port == 0 || reserved.contains(&Some(port)) {
                        return Err(blame(format!(
                            "services.{name} gets an ALB listener on port {port}, which {}; set services.{name}.public.port to another (1-65535, not 80, 443 or alb.test_listener_port)",
                            if port == 0 { "is not a port" } else { "another listener uses" },
                        )));
                    }
                    if let Some(other) = listener_ports.insert(port, name.clone()) {
                        return Err(blame(format!(
                            "services.{name} and services.{other} both get an ALB listener on port {port}; set services.{name}.public.port to another port"
                        )));
                    }
                }
            }
        }
        if defaults.len() > 1 {
            return Err(plain(format!(
                "only one public service can be the ALB default (`default = true`); found {}",
                defaults.join(", ")
            )));
        }
        self.validate_test_listener()
            .map_err(|message| (Some((Culprit::Alb, String::new())), message))?;
        self.validate_domain()?;
        for (name, task) in &self.tasks {
            // Task names only reach task definition families (255 characters).
            validate_name_up_to("task name", name, 24)
                .map_err(|m| (Some((Culprit::Task, name.clone())), m))?;
            if !self.services.contains_key(&task.service) {
                return Err((
                    Some((Culprit::Task, name.clone())),
                    format!(
                        "tasks.{name}.service names `{}`, not a service of this stack; known services: {known}",
                        task.service
                    ),
                ));
            }
        }
        self.validate_database_roles()?;
        if let Some(github) = &self.github {
            github
                .validate()
                .map_err(|m| (Some((Culprit::Github, String::new())), m))?;
        }
        Ok(())
    }

    /// `[domain]`: a name ACM and Route 53 take, a zone id if one is given, not together
    /// with `[alb] certificate_arn`, and one DNS name per public service that reaches it
    /// (a service routed by `hosts` must match its own name).
    fn validate_domain(&self) -> Result<(), (Option<(Culprit, String)>, String)> {
        let domain_blame = |message: String| (Some((Culprit::Domain, String::new())), message);
        let mut names: BTreeMap<String, &String> = BTreeMap::new();
        for (name, service) in &self.services {
            let Some(public) = &service.public else {
                continue;
            };
            let blame = |message: String| (Some((Culprit::Service, name.clone())), message);
            let Some(subdomain) = &public.subdomain else {
                continue;
            };
            if self.domain.is_none() {
                return Err(blame(format!(
                    "services.{name}.public.subdomain is set but the stack has no [domain]: add [domain] name = \"<your domain>\" or remove it"
                )));
            }
            if let Some(problem) = crate::domain::subdomain_problem(subdomain) {
                return Err(blame(format!(
                    "services.{name}.public.subdomain `{subdomain}` {problem}"
                )));
            }
        }
        let Some(domain) = &self.domain else {
            return Ok(());
        };
        if let Some(problem) = crate::domain::domain_name_problem(&domain.name) {
            return Err(domain_blame(format!(
                "domain.name `{}` {problem}",
                domain.name
            )));
        }
        if let Some(problem) = domain
            .zone_id
            .as_deref()
            .and_then(crate::domain::zone_id_problem)
        {
            return Err(domain_blame(format!("domain.zone_id: {problem}")));
        }
        if !self.services.values().any(|s| s.public.is_some()) {
            return Err(domain_blame(
                "[domain] names the public services, and this stack has none: give a service a `public` table or remove [domain]".into(),
            ));
        }
        if self.alb.certificate_arn.is_some() {
            return Err(domain_blame(
                "[domain] makes and validates the ALB's certificate itself: remove alb.certificate_arn (or [domain] to keep a certificate of yours)".into(),
            ));
        }
        for (name, service) in &self.services {
            let Some(public) = &service.public else {
                continue;
            };
            let blame = |message: String| (Some((Culprit::Service, name.clone())), message);
            let host = crate::domain::record_name(public.subdomain_or(name), &domain.name);
            if let Some(problem) = public
                .subdomain
                .is_none()
                .then(|| crate::domain::subdomain_problem(name))
                .flatten()
            {
                return Err(blame(format!(
                    "services.{name} would be published at `{host}`, but {problem}: set services.{name}.public.subdomain"
                )));
            }
            if !public.hosts.is_empty()
                && !public
                    .hosts
                    .iter()
                    .any(|pattern| crate::domain::host_pattern_matches(pattern, &host))
            {
                return Err(blame(format!(
                    "services.{name} is published at `{host}`, which none of its public.hosts ({}) matches, so its own name would reach another service: add `{host}` to public.hosts or set public.subdomain to a name they match",
                    public.hosts.join(", ")
                )));
            }
            if let Some(other) = names.insert(host.clone(), name) {
                return Err(blame(format!(
                    "services.{name} and services.{other} are both published at `{host}`: give one a public.subdomain of its own"
                )));
            }
        }
        Ok(())
    }

    /// The services' Postgres roles: names Postgres and RDS accept and that are not the
    /// master user's, schemas that are identifiers, every schema read or updated owned by
    /// some service, and one setup task (`database_admin = true`) to create them.
    fn validate_database_roles(&self) -> Result<(), (Option<(Culprit, String)>, String)> {
        let consumers = consumers(self, DataStore::Postgres);
        let mut owners = BTreeMap::new();
        for name in &consumers {
            let blame = |message: String| (Some((Culprit::Service, (*name).clone())), message);
            let master = self.postgres.as_ref().map(|pg| pg.username.as_str());
            // RDS reserves `rds*` role names, Postgres `pg_*` (config names have no `_`).
            if Some(name.as_str()) == master || name.starts_with("rds") {
                return Err(blame(format!(
                    "service `{name}` uses postgres, so it gets a database role named after it: the name must not be the master user's, or start with `rds` (rename the service)"
                )));
            }
            let access = self.database_access(name);
            for schema in access
                .owns
                .iter()
                .chain(&access.reads)
                .chain(&access.updates)
            {
                let ok = schema.len() <= 63
                    && schema.starts_with(|c: char| c.is_ascii_lowercase())
                    && schema
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !schema.starts_with("pg_");
                if !ok {
                    return Err(blame(format!(
                        "services.{name}.database: schema `{schema}` must be a lowercase identifier (letters, digits, `_`; not `pg_*`)"
                    )));
                }
            }
            for schema in &access.owns {
                if let Some(other) = owners.insert(schema.clone(), (*name).clone()) {
                    return Err(blame(format!(
                        "services.{name}.database.owns `{schema}`, which `{other}` owns already: one owner per schema"
                    )));
                }
            }
        }
        for name in &consumers {
            let access = self.database_access(name);
            if let Some(schema) = access
                .reads
                .iter()
                .chain(&access.updates)
                .find(|s| !owners.contains_key(*s))
            {
                return Err((
                    Some((Culprit::Service, (*name).clone())),
                    format!("services.{name}.database reads or updates schema `{schema}`, which no service owns: add it to one service's `database.owns`"),
                ));
            }
        }
        for (name, service) in &self.services {
            if service.database.is_some() && !service.uses.contains(&DataStore::Postgres) {
                return Err((
                    Some((Culprit::Service, name.clone())),
                    format!("services.{name}.database is set but the service does not use postgres: add \"postgres\" to `uses` or remove it"),
                ));
            }
        }
        let admins: Vec<&String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.database_admin)
            .map(|(name, _)| name)
            .collect();
        if admins.len() > 1 {
            return Err((
                Some((Culprit::Task, admins[1].clone())),
                format!(
                    "only one task may have database_admin = true; found {}",
                    admins.len()
                ),
            ));
        }
        if let Some(admin) = admins.first() {
            let service = &self.tasks[*admin].service;
            if !consumers.contains(&service) {
                return Err((
                    Some((Culprit::Task, (*admin).clone())),
                    format!("tasks.{admin} has database_admin = true, so its service `{service}` must use postgres (it runs in that service's security group)"),
                ));
            }
        } else if !consumers.is_empty() {
            return Err((
                None,
                "services use postgres, so the stack needs a database setup task that creates their roles: add e.g. [tasks.db-setup] with service = \"<a postgres service>\", command = [\"/usr/local/bin/<its binary>\", \"db-roles\"], database_admin = true".into(),
            ));
        }
        Ok(())
    }

    /// The Postgres privileges of `service`'s role: its `database` setting, else owner of
    /// the schema named after it.
    pub fn database_access(&self, service: &str) -> DatabaseAccess {
        self.services
            .get(service)
            .and_then(|s| s.database.clone())
            .unwrap_or_else(|| DatabaseAccess {
                owns: vec![service.to_owned()],
                ..DatabaseAccess::default()
            })
    }

    /// `[alb] test_listener_port` / `test_cidrs`: both or neither, a port the production
    /// listeners do not use, and CIDRs that are really CIDRs.
    fn validate_test_listener(&self) -> Result<(), String> {
        let alb = &self.alb;
        let Some(port) = alb.test_listener_port else {
            if alb.test_cidrs.is_empty() {
                return Ok(());
            }
            return Err(
                "alb.test_cidrs needs alb.test_listener_port (the port of the blue/green test listener)"
                    .into(),
            );
        };
        if port == 0 || port == 80 || port == 443 {
            return Err(format!(
                "alb.test_listener_port must be a free port other than 80 and 443 (got {port}), e.g. 8443"
            ));
        }
        if alb.test_cidrs.is_empty() {
            return Err(
                "alb.test_listener_port needs alb.test_cidrs = [\"<your office or VPN CIDR>\", …]: who may send test traffic (there is no default)"
                    .into(),
            );
        }
        if let Some(bad) = alb.test_cidrs.iter().find(|c| !is_ipv4_cidr(c)) {
            return Err(format!(
                "alb.test_cidrs entry `{bad}` is not an IPv4 CIDR such as 203.0.113.0/24"
            ));
        }
        if !self.services.values().any(|s| s.public.is_some()) {
            return Err(
                "alb.test_listener_port is set but the stack has no public service (no load balancer)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The prefix of every AWS name the stack owns: `<stack>-<env>`.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.stack, self.env)
    }

    /// Whether `service` has ECS Exec (and so a writable root filesystem) in this
    /// environment: its `exec` setting, else on everywhere but [`EXEC_OFF_ENV`]. Outside
    /// production, being able to open a shell or a tunnel matters more than the
    /// read-only root; in production the read-only root (AWS Security Hub control ECS.5)
    /// and a task role without SSM permissions win, and an incident turns exec on per
    /// service (`[env.prod.services.<name>] exec = true`, then `provision up`).
    /// Unknown services have none.
    pub fn exec_enabled(&self, service: &str) -> bool {
        self.services
            .get(service)
            .is_some_and(|s| s.exec.unwrap_or(self.env != EXEC_OFF_ENV))
    }
}

/// The environment whose services have ECS Exec off unless they turn it on.
pub const EXEC_OFF_ENV: &str = "prod";

enum Culprit {
    Service,
    Task,
    Github,
    Alb,
    Domain,
}

fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *target = value.clone();
    }
}

fn known_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Names end up in AWS resource names: lowercase letters, digits and dashes. These caps
/// keep each part short; whether the composed names fit AWS's limits (target groups
/// allow 32 characters in all) is checked by `stack::check_names` once the stack is resolved.
fn validate_name(what: &str, name: &str) -> Result<(), String> {
    validate_name_up_to(what, name, 12)
}

fn validate_name_up_to(what: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} `{name}` must be 1-{max} characters of lowercase letters, digits and `-`, starting with a letter (it becomes part of AWS names)"
        ))
    }
}

/// The Fargate CPU/memory combinations.
fn valid_fargate_size(cpu: i32, memory: i32) -> bool {
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1024..=4096).contains(&memory) && memory % 1024 == 0,
        1024 => (2048..=8192).contains(&memory) && memory % 1024 == 0,
        2048 => (4096..=16384).contains(&memory) && memory % 1024 == 0,
        4096 => (8192..=30720).contains(&memory) && memory % 1024 == 0,
        _ => false,
    }
}

/// `a.b.c.d/n` with octets 0-255 and n 0-32.
fn is_ipv4_cidr(value: &str) -> bool {
    let Some((address, bits)) = value.split_once('/') else {
        return false;
    };
    let octets: Vec<&str> = address.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.parse::<u8>().is_ok())
        && bits.parse::<u8>().is_ok_and(|b| b <= 32)
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The services that use `store`, in name order (each gets ingress to it, and for
/// Postgres a database role of its own).
pub fn consumers(config: &StackConfig, store: DataStore) -> Vec<&String> {
    config
        .services
        .iter()
        .filter(|(_, s)| s.uses.contains(&store))
        .map(|(name, _)| name)
        .collect()
}

/// Stacks with a data store get the debug task (`provision debug`): a way into the
/// private data tier that is not one of the services.
pub fn has_debug_task(config: &StackConfig) -> bool {
    config.redis.is_some() || config.postgres.is_some()
}

/// The stacks shipped in `config/` (`config/<stack>.toml`).
pub const STACKS: [&str; 3] = ["voting", "sums", "shop"];

/// `config/` of the repository this crate lives in (used by tests and as the CLI default
/// when run from the repository root).
pub fn repo_config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &str) -> Result<StackConfig, ConfigError> {
        StackConfig::parse(Path::new("config/test.toml"), text, env)
    }

    const MINIMAL: &str = r#"
[stack]
name = "demo"

[network]
cidr = "10.20.0.0/16"

[services.web]
port = 8080
cpu = 256
memory = 512
desired = 2
min = 2
max = 4
health_command = ["CMD", "/usr/local/bin/web", "--probe"]
public = { default = true }

[env.prod.services.web]
desired = 3
max = 6
"#;

    #[test]
    fn shipped_stacks_load_for_dev_and_prod() {
        for stack in STACKS {
            for env in ["dev", "prod"] {
                let config = StackConfig::load(&repo_config_dir(), stack, env)
                    .unwrap_or_else(|err| panic!("{stack}/{env}: {err}"));
                assert_eq!(config.stack, stack);
                assert_eq!(config.env, env);
            }
        }
    }

    #[test]
    fn composed_aws_names_are_checked_at_load_with_the_file_path() {
        // `--env preprod-east` passes validate_name but makes a 33-character target group.
        let err = StackConfig::load(&repo_config_dir(), "voting", "preprod-east")
            .unwrap_err()
            .to_string();
        assert!(err.contains("voting.toml: "), "{err}");
        assert!(
            err.contains("tg-result-alt: target group name `voting-preprod-east-tg-result-alt` is 33 characters, AWS allows at most 32"),
            "{err}"
        );
        assert!(err.contains("--env of at most 11 characters"), "{err}");
        StackConfig::load(&repo_config_dir(), "voting", "preprod-eas").unwrap();
        // A stack name that makes the load balancer's name start with `internal-`.
        let err = parse(
            &MINIMAL.replace("name = \"demo\"", "name = \"internal\""),
            "dev",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("config/test.toml: "), "{err}");
        assert!(
            err.contains(
                "alb: load balancer name `internal-dev-alb` must not start with `internal-`"
            ),
            "{err}"
        );
    }

    #[test]
    fn container_health_checks_must_be_liveness_and_the_load_balancer_asks_readiness() {
        let web = parse(MINIMAL, "dev").unwrap();
        assert_eq!(
            web.services["web"].public.as_ref().unwrap().health_path,
            "/ready"
        );
        for readiness in [
            r#"["CMD", "/usr/local/bin/web", "--probe", "ready"]"#,
            r#"["CMD-SHELL", "curl -fs localhost:8080/ready"]"#,
        ] {
            let text = MINIMAL.replace(r#"["CMD", "/usr/local/bin/web", "--probe"]"#, readiness);
            let err = parse(&text, "dev").unwrap_err().to_string();
            assert!(
                err.contains("services.web.health_command asks readiness")
                    && err.contains("use liveness (`<binary> --probe`)"),
                "{readiness}: {err}"
            );
        }
        let live = MINIMAL.replace(
            r#"["CMD", "/usr/local/bin/web", "--probe"]"#,
            r#"["CMD", "/usr/local/bin/web", "--probe", "live"]"#,
        );
        parse(&live, "dev").unwrap();
    }

    #[test]
    fn prod_overrides_apply_only_to_prod() {
        let dev = parse(MINIMAL, "dev").unwrap();
        let prod = parse(MINIMAL, "prod").unwrap();
        assert_eq!(dev.services["web"].desired, 2);
        assert_eq!(prod.services["web"].desired, 3);
        assert_eq!(prod.services["web"].max, 6);
        assert_eq!(prod.services["web"].cpu, 256);
    }

    #[test]
    fn deploy_settings_can_differ_per_environment() {
        let text = format!(
            "{MINIMAL}\n[services.web.deploy]\nstrategy = \"canary\"\ncanary_percent = 20.0\nalarms = [\"base\"]\n\n\
             [env.prod.services.web.deploy]\nstrategy = \"linear\"\nlinear_step_percent = 25.0\nbake_minutes = 30\n\n\
             [env.staging.services.web.deploy]\ncanary_percent = 50.0\nalarms = [\"staging-5xx\"]\n"
        );
        let dev = parse(&text, "dev").unwrap().services["web"].deploy.clone();
        assert_eq!(dev.strategy, Some(Strategy::Canary));
        assert_eq!(dev.canary_percent, Some(20.0));
        assert_eq!(dev.alarms, vec!["base".to_owned()]);
        // prod names another strategy: the base's canary keys do not follow it.
        let prod = parse(&text, "prod").unwrap().services["web"].deploy.clone();
        assert_eq!(prod.strategy, Some(Strategy::Linear));
        assert_eq!(prod.canary_percent, None);
        assert_eq!(prod.linear_step_percent, Some(25.0));
        assert_eq!(prod.bake_minutes, Some(30));
        assert_eq!(prod.alarms, vec!["base".to_owned()]);
        // staging keeps the strategy, changes one key and the alarm list.
        let staging = parse(&text, "staging").unwrap().services["web"]
            .deploy
            .clone();
        assert_eq!(staging.strategy, Some(Strategy::Canary));
        assert_eq!(staging.canary_percent, Some(50.0));
        assert_eq!(staging.alarms, vec!["staging-5xx".to_owned()]);
    }

    #[test]
    fn an_environment_deploy_override_is_validated_after_merging() {
        let text = format!(
            "{MINIMAL}\n[env.prod.services.web.deploy]\nstrategy = \"rolling\"\nbake_minutes = 5\n"
        );
        assert!(parse(&text, "dev").is_ok());
        let err = parse(&text, "prod").unwrap_err().to_string();
        assert!(
            err.contains("services.web.deploy.bake_minutes applies to blue_green"),
            "{err}"
        );
        let text = format!("{MINIMAL}\n[env.prod.services.web.deploy]\nstratgy = \"rolling\"\n");
        let err = parse(&text, "prod").unwrap_err().to_string();
        assert!(
            err.contains("config/test.toml:") && err.contains("stratgy"),
            "{err}"
        );
    }

    #[test]
    fn github_section_is_checked_and_can_differ_per_environment() {
        let text = format!(
            "{MINIMAL}\n[github]\nrepository = \"acme/slipway\"\n\n[env.prod.github]\nrepository = \"acme/other\"\n\
             oidc_provider_arn = \"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com\"\n"
        );
        let dev = parse(&text, "dev").unwrap().github.unwrap();
        assert_eq!(
            dev.subject("demo", "dev"),
            "repo:acme/slipway:environment:demo-dev"
        );
        assert_eq!(dev.oidc_provider_arn, None);
        let prod = parse(&text, "prod").unwrap().github.unwrap();
        assert_eq!(
            prod.subject("demo", "prod"),
            "repo:acme/other:environment:demo-prod"
        );
        assert!(parse(MINIMAL, "dev").unwrap().github.is_none());

        let bad = |github: &str| {
            let text = format!("{MINIMAL}\n[github]\n{github}\n");
            parse(&text, "dev").unwrap_err().to_string()
        };
        let err = bad("repository = \"slipway\"");
        assert!(
            err.contains("config/test.toml:") && err.contains("must be `owner/name`"),
            "{err}"
        );
        let err = bad("repository = \"acme/slipway\"\nbranch = \"main\"");
        assert!(
            err.contains("no longer used") && err.contains("Deployment branches"),
            "{err}"
        );
        let err = bad(
            "repository = \"acme/slipway\"\noidc_provider_arn = \"arn:aws:iam::1:oidc-provider/x\"",
        );
        assert!(err.contains("list-open-id-connect-providers"), "{err}");
    }

    #[test]
    fn exec_is_on_outside_prod_unless_set_and_can_be_set_per_environment() {
        let dev = parse(MINIMAL, "dev").unwrap();
        let prod = parse(MINIMAL, "prod").unwrap();
        assert!(dev.exec_enabled("web"));
        assert!(!prod.exec_enabled("web"), "prod keeps a read-only root");
        assert!(!dev.exec_enabled("ghost"), "unknown services have none");

        // An incident in prod: exec on for web there, nowhere else changed.
        let incident = format!("{MINIMAL}exec = true\n");
        assert!(
            incident.ends_with("max = 6\nexec = true\n"),
            "under [env.prod.services.web]"
        );
        assert!(parse(&incident, "prod").unwrap().exec_enabled("web"));
        assert!(parse(&incident, "dev").unwrap().exec_enabled("web"));

        // Off in the base table: off everywhere, unless an environment turns it on.
        let off = MINIMAL.replace(
            "public = { default = true }",
            "public = { default = true }\nexec = false",
        );
        assert!(!parse(&off, "dev").unwrap().exec_enabled("web"));
        assert!(!parse(&off, "staging").unwrap().exec_enabled("web"));
        let on_in_staging = format!("{off}\n[env.staging.services.web]\nexec = true\n");
        assert!(parse(&on_in_staging, "staging")
            .unwrap()
            .exec_enabled("web"));
        assert!(!parse(&on_in_staging, "dev").unwrap().exec_enabled("web"));

        let err = parse(&format!("{MINIMAL}exec = \"yes\"\n"), "prod")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config/test.toml:21:"), "{err}");
    }

    #[test]
    fn build_settings_default_and_bad_ones_are_located_at_the_service() {
        let config = parse(MINIMAL, "dev").unwrap();
        assert_eq!(config.services["web"].build, BuildConfig::default());
        let text = MINIMAL.replace(
            "public = { default = true }",
            "public = { default = true }\n\n[services.web.build]\ncontext = \"services/web\"\ntarget = \"web\"\nargs = { FEATURES = \"tls\" }",
        );
        let build = parse(&text, "prod").unwrap().services["web"].build.clone();
        assert_eq!(build.context, "services/web");
        assert_eq!(build.dockerfile, "Dockerfile");
        assert_eq!(build.target.as_deref(), Some("web"));
        assert_eq!(build.args["FEATURES"], "tls");
        let err = parse(&text.replace("\"web\"\nargs", "\"web stage\"\nargs"), "dev")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config/test.toml:8:"), "{err}");
        assert!(err.contains("services.web.build.target"), "{err}");
        let err = parse(&text.replace("target =", "stage ="), "dev")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `stage`"), "{err}");
    }

    #[test]
    fn debug_is_not_a_service_name() {
        let text = MINIMAL
            .replace("[services.web]", "[services.debug]")
            .replace("[env.prod.services.web]", "[env.prod.services.debug]");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(
            err.contains("`debug` is reserved for the debug task"),
            "{err}"
        );
        assert!(err.starts_with("config/test.toml:8:"), "{err}");
    }

    #[test]
    fn unknown_key_reports_file_line_and_expected_keys() {
        let text = MINIMAL.replace("desired = 2\n", "desired = 2\nreplicas = 3\n");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.starts_with("config/test.toml:13:"), "{err}");
        assert!(err.contains("unknown field `replicas`"), "{err}");
        assert!(err.contains("`desired`"), "{err}");
    }

    #[test]
    fn unknown_key_in_env_override_is_an_error() {
        let text = MINIMAL.replace("max = 6", "maximum = 6");
        let err = parse(&text, "prod").unwrap_err().to_string();
        assert!(err.starts_with("config/test.toml:20:"), "{err}");
        assert!(err.contains("unknown field `maximum`"), "{err}");
    }

    #[test]
    fn wrong_type_is_located() {
        let text = MINIMAL.replace("cpu = 256", "cpu = \"lots\"");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.starts_with("config/test.toml:10:"), "{err}");
    }

    #[test]
    fn unknown_caller_names_the_service_table_and_known_services() {
        let text = MINIMAL.replace(
            "public = { default = true }",
            "callers = [\"ghost\"]\npublic = { default = true }",
        );
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.starts_with("config/test.toml:8:"), "{err}");
        assert!(
            err.contains("`ghost`") && err.contains("known services: web"),
            "{err}"
        );
    }

    #[test]
    fn override_of_unknown_service_is_an_error() {
        let text = MINIMAL.replace("[env.prod.services.web]", "[env.prod.services.api]");
        let err = parse(&text, "prod").unwrap_err().to_string();
        assert!(err.contains("unknown service"), "{err}");
        assert!(err.starts_with("config/test.toml:18:"), "{err}");
    }

    #[test]
    fn public_services_need_two_tasks_and_fargate_sizes() {
        let err = parse(&MINIMAL.replace("min = 2", "min = 1"), "dev")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 2 tasks"), "{err}");
        let err = parse(&MINIMAL.replace("memory = 512", "memory = 300"), "dev")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Fargate size"), "{err}");
    }

    #[test]
    fn alarms_default_and_override_per_environment() {
        let dev = parse(MINIMAL, "dev").unwrap();
        assert_eq!(dev.alarms, AlarmsConfig::default());
        assert_eq!(
            (
                dev.alarms.error_rate_percent,
                dev.alarms.p95_ms,
                dev.alarms.cpu_percent
            ),
            (5.0, 1000.0, 85.0)
        );
        let text = format!(
            "{MINIMAL}\n[alarms]\ntopic = \"demo-alerts\"\np95_ms = 500\n\n[env.prod.alarms]\ntopic_arn = \"arn:aws:sns:us-east-1:1:pager\"\ncpu_percent = 70\n"
        );
        let dev = parse(&text, "dev").unwrap();
        assert_eq!(dev.alarms.topic.as_deref(), Some("demo-alerts"));
        assert_eq!(dev.alarms.p95_ms, 500.0);
        let prod = parse(&text, "prod").unwrap();
        assert_eq!(
            prod.alarms.topic, None,
            "an override's topic replaces the base one"
        );
        assert_eq!(
            prod.alarms.topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:1:pager")
        );
        assert_eq!((prod.alarms.p95_ms, prod.alarms.cpu_percent), (500.0, 70.0));
    }

    #[test]
    fn bad_alarm_values_are_located() {
        let text = format!("{MINIMAL}\n[alarms]\nerror_rate_percent = 150\n");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.starts_with("config/test.toml:22:"), "{err}");
        assert!(err.contains("alarms.error_rate_percent"), "{err}");
        let text = format!("{MINIMAL}\n[env.dev.alarms]\ntopic_arn = \"pager\"\n");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.starts_with("config/test.toml:22:"), "{err}");
        assert!(err.contains("env.dev.alarms.topic_arn"), "{err}");
        let text =
            format!("{MINIMAL}\n[alarms]\ntopic = \"a\"\ntopic_arn = \"arn:aws:sns:r:1:b\"\n");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        let text = format!("{MINIMAL}\n[alarms]\np95 = 3\n");
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.contains("unknown field `p95`"), "{err}");
    }

    #[test]
    fn test_listener_needs_cidrs_and_a_free_port_located_at_the_alb_table() {
        let with_alb =
            |alb: &str| MINIMAL.replace("[services.web]", &format!("{alb}\n[services.web]"));
        let ok = parse(
            &with_alb("[alb]\ntest_listener_port = 8443\ntest_cidrs = [\"203.0.113.0/24\"]\n"),
            "dev",
        )
        .unwrap();
        assert_eq!(ok.alb.test_listener_port, Some(8443));
        let cases = [
            ("[alb]\ntest_listener_port = 8443\n", "needs alb.test_cidrs"),
            (
                "[alb]\ntest_cidrs = [\"10.0.0.0/8\"]\n",
                "needs alb.test_listener_port",
            ),
            (
                "[alb]\ntest_listener_port = 80\ntest_cidrs = [\"10.0.0.0/8\"]\n",
                "other than 80 and 443",
            ),
            (
                "[alb]\ntest_listener_port = 8443\ntest_cidrs = [\"10.0.0/8\"]\n",
                "not an IPv4 CIDR",
            ),
        ];
        for (alb, expected) in cases {
            let err = parse(&with_alb(alb), "dev").unwrap_err().to_string();
            // [alb] is on line 8, right before [services.web].
            assert!(err.starts_with("config/test.toml:8:"), "{alb}: {err}");
            assert!(err.contains(expected), "{alb}: {err}");
        }
    }

    #[test]
    fn rule_priorities_leave_the_catch_all_priority_to_the_default_service() {
        let text = MINIMAL.replace(
            "public = { default = true }",
            "public = { paths = [\"/web\"], priority = 50000 }",
        );
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.contains("must be 2-49999"), "{err}");
        assert!(err.starts_with("config/test.toml:8:"), "{err}");
        // 1 belongs to the internal-paths rule (`constructs::INTERNAL_PATHS_PRIORITY`).
        let text = MINIMAL.replace(
            "public = { default = true }",
            "public = { paths = [\"/web\"], priority = 1 }",
        );
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(
            err.contains("1 is the rule that keeps /ready and /metrics off the internet"),
            "{err}"
        );
    }

    #[test]
    fn own_listener_ports_are_free_and_unique() {
        // A second service routed by host name alone; `extra` is appended to its
        // `public` table, `alb` goes into an [alb] section.
        let with = |port: u16, extra: &str, alb: &str| {
            format!(
                "{MINIMAL}{alb}\n[services.admin]\nport = {port}\ncpu = 256\nmemory = 512\ndesired = 2\nmin = 2\nmax = 4\nhealth_command = [\"CMD\", \"/a\", \"--probe\"]\npublic = {{ hosts = [\"admin.*\"], priority = 10{extra} }}\n"
            )
        };
        let ok = parse(&with(8081, "", ""), "dev").unwrap();
        assert_eq!(
            ok.services["admin"]
                .public
                .as_ref()
                .unwrap()
                .listener_port(8081, false),
            Some(8081)
        );
        for (text, expected) in [
            // Its container port is the ALB's port 80 / 443 / the test listener's.
            (with(80, "", ""), "port 80, which another listener uses"),
            (
                with(8080, ", port = 443", ""),
                "port 443, which another listener uses",
            ),
            (
                with(
                    8443,
                    "",
                    "\n[alb]\ntest_listener_port = 8443\ntest_cidrs = [\"10.0.0.0/8\"]\n",
                ),
                "port 8443, which another listener uses",
            ),
            (with(8080, ", port = 0", ""), "port 0, which is not a port"),
        ] {
            let err = parse(&text, "dev").unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(err.contains("set services.admin.public.port"), "{err}");
        }
        // The default service has 80 (443) already.
        let text = MINIMAL.replace(
            "public = { default = true }",
            "public = { default = true, port = 8081 }",
        );
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(err.contains("services.web.public.port"), "{err}");
        // Two services on one port.
        let text = format!(
            "{}\n[services.other]\nport = 8081\ncpu = 256\nmemory = 512\ndesired = 2\nmin = 2\nmax = 4\nhealth_command = [\"CMD\", \"/o\", \"--probe\"]\npublic = {{ paths = [\"/o\"], priority = 20, port = 8081 }}\n",
            with(8081, "", "")
        );
        let err = parse(&text, "dev").unwrap_err().to_string();
        assert!(
            err.contains("both get an ALB listener on port 8081"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_says_where_stacks_live() {
        let err = StackConfig::load(Path::new("/nonexistent"), "voting", "dev")
            .unwrap_err()
            .to_string();
        assert!(err.contains("config/<stack>.toml"), "{err}");
    }

    #[test]
    fn database_roles_are_checked() {
        let with_postgres = |service: &str, tasks: &str| {
            MINIMAL.replace(
                "public = { default = true }\n",
                &format!(
                    "public = {{ default = true }}\nuses = [\"postgres\"]\n{service}\n\n{tasks}\n\n[postgres]\ninstance_class = \"db.t4g.micro\"\ndatabase = \"demo\"\n"
                ),
            )
        };
        let setup = "[tasks.db-setup]\nservice = \"web\"\ncommand = [\"/usr/local/bin/web\", \"db-roles\"]\ndatabase_admin = true";
        let config = parse(&with_postgres("", setup), "dev").unwrap();
        // By default a service's role owns the schema named after it.
        assert_eq!(config.database_access("web").owns, ["web"]);
        let err = parse(&with_postgres("", ""), "dev")
            .unwrap_err()
            .to_string();
        assert!(err.contains("database_admin = true"), "{err}");
        let err = parse(
            &with_postgres("database = { reads = [\"votes\"] }", setup),
            "dev",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("which no service owns"), "{err}");
        let err = parse(
            &with_postgres("database = { owns = [\"Bad-Name\"] }", setup),
            "dev",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("lowercase identifier"), "{err}");
        // The master user's name is taken.
        let err = parse(
            &with_postgres("", setup)
                .replace("[services.web]", "[services.slipway]")
                .replace("[env.prod.services.web]", "[env.prod.services.slipway]")
                .replace("service = \"web\"", "service = \"slipway\""),
            "dev",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("master user"), "{err}");
    }
}

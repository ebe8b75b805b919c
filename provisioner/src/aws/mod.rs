//! The AWS session: connection settings, service clients scoped to one stack and
//! environment, call statistics, errors phrased for the operator, waits, and the physical
//! values (`Resolved`, attributes) resources refer to each other by. What is done with
//! each kind of resource is in [`crate::resources`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::model::{Kind, Ref};
use crate::plan::{Attrs, Observed};

pub mod quotas;
pub mod tags;

/// What went wrong talking to AWS, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{resource}: {operation} failed: {message}{hint}")]
    Call {
        resource: String,
        operation: &'static str,
        code: Option<String>,
        message: String,
        hint: &'static str,
    },
    #[error("{resource}: still {state} after {waited:?} waiting for {what}; check it in the AWS console, then re-run (the next run continues where this one stopped)")]
    Timeout {
        resource: String,
        what: String,
        state: String,
        waited: Duration,
    },
    #[error("{resource}: {message}")]
    Unexpected { resource: String, message: String },
    #[error("no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile NAME (see `aws configure`)")]
    NoCredentials,
    #[error("no AWS region: pass --region or set AWS_REGION")]
    NoRegion,
}

impl AwsError {
    /// The AWS error code, if AWS sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Call { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Wraps an SDK error: which resource, which operation, what AWS said, what to do.
pub(crate) fn call_error<E>(
    resource: &str,
    operation: &'static str,
    err: aws_sdk_ec2::error::SdkError<E>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_ec2::error::SdkError;
    let code = err.code().map(str::to_owned);
    let message = match (err.message(), &err) {
        (Some(message), _) => format!("{}: {message}", code.as_deref().unwrap_or("error")),
        (None, SdkError::ServiceError(service)) => match &code {
            Some(code) => code.clone(),
            None => format!(
                "the endpoint answered HTTP {} without an AWS error (is this API supported there?)",
                service.raw().status().as_u16()
            ),
        },
        (None, SdkError::TimeoutError(_)) => "timed out waiting for AWS to answer".to_owned(),
        (None, SdkError::DispatchFailure(failure)) => {
            let kind = if failure.is_io() {
                "network error"
            } else if failure.is_timeout() {
                "connection timed out"
            } else {
                "request could not be sent"
            };
            // The source chain is prose (no Debug dump of the response).
            format!("could not reach AWS ({kind}): {}", source_chain(&err))
        }
        (None, _) => source_chain(&err),
    };
    let hint = hint_for(code.as_deref(), &message);
    AwsError::Call {
        resource: resource.to_owned(),
        operation,
        code,
        message,
        hint,
    }
}

/// `a: b: c` from an error's `source()` chain, each level displayed (never debugged).
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

fn hint_for(code: Option<&str>, message: &str) -> &'static str {
    match code {
        Some(c) if c.contains("AccessDenied") || c.contains("UnauthorizedOperation") => {
            " — the credentials in use lack this permission; use a role allowed to manage the stack"
        }
        Some(c) if c.contains("Throttl") || c.contains("RequestLimitExceeded") => {
            " — AWS kept throttling after retries; wait a minute and re-run"
        }
        Some(c) if c.contains("LimitExceeded") || c.contains("QuotaExceeded") => {
            " — an account quota is reached; raise it in Service Quotas or free capacity"
        }
        Some(c) if c.contains("DependencyViolation") || c.contains("InUse") => {
            " — something outside the stack still uses it; remove that, then re-run"
        }
        Some(c)
            if c.contains("InvalidClientTokenId")
                || c.contains("SignatureDoesNotMatch")
                || c.contains("ExpiredToken") =>
        {
            " — the AWS credentials are invalid or expired; refresh them and re-run"
        }
        _ if message.contains("credentials") => {
            " — configure AWS credentials (environment, --profile) and re-run"
        }
        _ if message.contains("could not reach AWS") => {
            " — AWS could not be reached; check the network, --region and --endpoint-url"
        }
        _ => "",
    }
}

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Counts operations as they go through the SDK: the mutating ones (for the idempotency
/// guarantee) and the peak number in flight (for the concurrency benchmark).
#[derive(Debug, Default)]
pub struct CallStats {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    calls: Mutex<Vec<String>>,
}

impl CallStats {
    /// Starts a new peak measurement (e.g. after the read-only observation phase).
    pub fn reset_peak(&self) {
        self.peak
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    /// `Service.Operation` of every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("stats lock").clone()
    }
    /// Calls that change something (everything but Describe/List/Get).
    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| {
                let operation = call.rsplit('.').next().unwrap_or(call);
                !["Describe", "List", "Get", "BatchGet", "Discover"]
                    .iter()
                    .any(|read| operation.starts_with(read))
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct StatsInterceptor(Arc<CallStats>);

impl Intercept for StatsInterceptor {
    fn name(&self) -> &'static str {
        "slipway-call-stats"
    }

    // Not `read_before_execution`: client interceptors run that before the operation's
    // own configuration (which carries its name) is loaded.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let name = format!("{}.{}", metadata.service(), metadata.name());
            self.0.calls.lock().expect("stats lock").push(name);
        }
        let now = self.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.peak.fetch_max(now, Ordering::SeqCst);
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Saturating: a call that failed before serialization was never counted in.
        let _ = self
            .0
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        Ok(())
    }
}

/// Service clients plus the stack identity every call is scoped to.
#[derive(Debug, Clone)]
pub struct Aws {
    pub stack: String,
    pub env: String,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub discovery: aws_sdk_servicediscovery::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
    pub stats: Arc<CallStats>,
    /// Longest wait for one resource to become usable or gone.
    pub wait_limit: Duration,
}

/// Attempts per call (throttling and 5xx are retried with backoff); AWS_MAX_ATTEMPTS
/// overrides the default of 8.
fn max_attempts() -> u32 {
    std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(8)
}

/// HTTPS client on rustls with the ring provider (no aws-lc, no OpenSSL to build).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK configuration: default chain (env, profile, SSO-less), rustls with ring,
/// standard retries with backoff for throttling.
pub async fn sdk_config(connection: &Connection) -> Result<SdkConfig, AwsError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(RetryConfig::standard().with_max_attempts(max_attempts()));
    if let Some(region) = &connection.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &connection.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(AwsError::NoRegion);
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(AwsError::NoCredentials);
    };
    use aws_credential_types::provider::ProvideCredentials;
    provider
        .provide_credentials()
        .await
        .map_err(|_| AwsError::NoCredentials)?;
    Ok(config)
}

macro_rules! client {
    ($krate:ident, $sdk:expr, $stats:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .interceptor(StatsInterceptor($stats.clone()))
                .build(),
        )
    };
}

impl Aws {
    /// Caps every wait for a resource to become usable or gone.
    pub fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    pub fn new(sdk: &SdkConfig, stack: &str, env: &str) -> Self {
        let stats = Arc::new(CallStats::default());
        Aws {
            stack: stack.to_owned(),
            env: env.to_owned(),
            region: sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
            ec2: client!(aws_sdk_ec2, sdk, stats),
            ecs: client!(aws_sdk_ecs, sdk, stats),
            ecr: client!(aws_sdk_ecr, sdk, stats),
            elb: client!(aws_sdk_elasticloadbalancingv2, sdk, stats),
            iam: client!(aws_sdk_iam, sdk, stats),
            logs: client!(aws_sdk_cloudwatchlogs, sdk, stats),
            autoscaling: client!(aws_sdk_applicationautoscaling, sdk, stats),
            elasticache: client!(aws_sdk_elasticache, sdk, stats),
            rds: client!(aws_sdk_rds, sdk, stats),
            secrets: client!(aws_sdk_secretsmanager, sdk, stats),
            tagging: client!(aws_sdk_resourcegroupstagging, sdk, stats),
            discovery: client!(aws_sdk_servicediscovery, sdk, stats),
            cloudwatch: client!(aws_sdk_cloudwatch, sdk, stats),
            sns: client!(aws_sdk_sns, sdk, stats),
            ssm: client!(aws_sdk_ssm, sdk, stats),
            quotas: client!(aws_sdk_servicequotas, sdk, stats),
            acm: client!(aws_sdk_acm, sdk, stats),
            route53: client!(aws_sdk_route53, sdk, stats),
            stats,
            wait_limit: Duration::from_secs(30 * 60),
        }
    }

    /// `<stack>-<env>-<id>`: the AWS name of a resource (composed, and checked at config
    /// load, by `names`).
    pub fn name(&self, id: &str) -> String {
        crate::names::resource_name(&self.stack, &self.env, id)
    }

    pub fn prefix(&self) -> String {
        format!("{}-{}-", self.stack, self.env)
    }

    /// The four ownership tags.
    pub fn tags(&self, id: &str) -> Vec<(String, String)> {
        tags::ownership(&self.stack, &self.env, id)
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect()
    }

    /// The logical id if `tags` mark a resource of this stack and environment.
    pub fn owned_id<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<String> {
        let tags: BTreeMap<&str, &str> = tags.into_iter().collect();
        let ours = tags.get(tags::STACK) == Some(&self.stack.as_str())
            && tags.get(tags::ENV) == Some(&self.env.as_str())
            && tags.get(tags::MANAGED_BY) == Some(&tags::SLIPWAY);
        ours.then(|| tags.get(tags::ID).map(|s| s.to_string()))
            .flatten()
    }
}

/// Physical values of already-existing resources, for resolving `${id}` references.
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    attrs: BTreeMap<String, Attrs>,
}

impl Resolved {
    pub fn new(attrs: BTreeMap<String, Attrs>) -> Self {
        Resolved { attrs }
    }

    pub fn insert(&mut self, id: &str, attrs: Attrs) {
        self.attrs.insert(id.to_owned(), attrs);
    }

    pub fn remove(&mut self, id: &str) {
        self.attrs.remove(id);
    }

    pub fn attrs(&self, id: &str) -> Option<&Attrs> {
        self.attrs.get(id)
    }

    /// The `key` attribute (`id`, `arn`, `name`…) of what `reference` points at; literal
    /// values (CIDRs, external ARNs) pass through.
    pub fn get(&self, reference: &Ref, key: &str) -> Result<String, AwsError> {
        let Some(id) = reference.logical_id() else {
            return Ok(reference.0.clone());
        };
        self.attrs
            .get(id)
            .and_then(|attrs| attrs.get(key))
            .cloned()
            .ok_or_else(|| AwsError::Unexpected {
                resource: id.to_owned(),
                message: format!("its {key} is not known yet (was it created?)"),
            })
    }

    /// The secret a reference means where a secret is expected (a task definition's
    /// `secrets`, `secretsmanager:` policy resources): a resource's `secret_arn` (an RDS
    /// instance: its managed master secret) when it has one, else its ARN.
    pub fn secret_arn(&self, reference: &Ref) -> Result<String, AwsError> {
        self.get(reference, "secret_arn")
            .or_else(|_| self.get(reference, "arn"))
    }

    /// An environment value: `${id}` becomes the resource's endpoint when it has one (an
    /// RDS instance: `DATABASE_HOST`), else its ARN (a secret:
    /// `DATABASE_PASSWORD_SECRET`); anything else stays as it is.
    pub fn environment_value(&self, value: &str) -> Result<String, AwsError> {
        let reference = Ref(value.to_owned());
        if reference.logical_id().is_none() {
            return Ok(value.to_owned());
        }
        self.get(&reference, "endpoint")
            .or_else(|_| self.get(&reference, "arn"))
    }

    pub fn all(&self, references: &[Ref], key: &str) -> Result<Vec<String>, AwsError> {
        references.iter().map(|r| self.get(r, key)).collect()
    }
}

/// Live feedback for one resource: what it is waiting on.
pub trait Progress: Send + Sync {
    fn waiting(&self, what: &str);
}

/// A no-op progress sink.
pub struct Quiet;
impl Progress for Quiet {
    fn waiting(&self, _what: &str) {}
}

/// Polls `check` until it yields `Some`, backing off from 200 ms to 10 s, reporting what
/// it waits on; gives up after `aws.wait_limit`.
pub(crate) async fn wait_until<T, F, Fut>(
    aws: &Aws,
    resource: &str,
    what: &str,
    progress: &dyn Progress,
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, String>, AwsError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match check().await? {
            Ok(value) => return Ok(value),
            Err(state) => {
                if started.elapsed() > aws.wait_limit {
                    return Err(AwsError::Timeout {
                        resource: resource.to_owned(),
                        what: what.to_owned(),
                        state,
                        waited: started.elapsed(),
                    });
                }
                progress.waiting(&format!("waiting for {what} (now {state})"));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// How long an answer "no such resource" about something this run just created is taken
/// for AWS's eventual consistency rather than the truth. "Eventual consistency in the
/// Amazon EC2 API" (EC2 developer guide): an ID returned by a create "might not have
/// propagated throughout the system", so a describe or modify right after it can fail with
/// `Invalid….NotFound`; retry "with exponential backoff … up to a few minutes".
const CONSISTENCY_WINDOW: Duration = Duration::from_secs(300);

/// The error codes AWS answers while a just-created resource is not visible everywhere yet.
pub(crate) fn not_visible_yet(code: Option<&str>) -> bool {
    code.is_some_and(|code| {
        // EC2: InvalidVpcID.NotFound, InvalidGroup.NotFound, InvalidSubnetID.NotFound,
        // InvalidInternetGatewayID.NotFound, InvalidAllocationID.NotFound,
        // InvalidRouteTableID.NotFound, InvalidNatGatewayID.NotFound…; NAT gateways also
        // answer NatGatewayNotFound; CloudWatch Logs ResourceNotFoundException.
        code.ends_with(".NotFound")
            || code == "NatGatewayNotFound"
            || code == "ResourceNotFoundException"
    })
}

/// Runs `call` — one that names a resource this run has just created — and retries it
/// with exponential backoff (0.5 s doubling to 10 s) while AWS says that resource does not
/// exist, for at most [`CONSISTENCY_WINDOW`] (or the run's wait limit, if shorter). Any
/// other answer, and "not found" after the window, is returned as it is.
pub(crate) async fn once_visible<T, F, Fut>(
    aws: &Aws,
    progress: &dyn Progress,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let started = Instant::now();
    let window = CONSISTENCY_WINDOW.min(aws.wait_limit);
    let mut delay = Duration::from_millis(500);
    loop {
        match call().await {
            Err(err) if not_visible_yet(err.code()) && started.elapsed() + delay <= window => {
                progress.waiting(&format!(
                    "waiting for AWS to see what was just created ({})",
                    err.code().unwrap_or("not found")
                ));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// How deletions treat data: final snapshots, deletion protection, secret recovery.
/// `Default` is the safe side: snapshots, protection kept, secrets recoverable for
/// [`SECRET_RECOVERY_DAYS`].
#[derive(Debug, Clone)]
pub struct DeleteOptions {
    /// Skip the final snapshots of RDS and ElastiCache (the CLI refuses this outside dev).
    pub no_snapshot: bool,
    /// Logical ids the operator named with `--allow-data-loss`: only their RDS deletion
    /// protection is lifted before deleting (otherwise AWS refuses, as it should).
    pub allow_data_loss: Vec<String>,
    /// Days Secrets Manager keeps a deleted secret restorable (DeleteSecret
    /// RecoveryWindowInDays: 7 to 30); `None` deletes at once (ForceDeleteWithoutRecovery),
    /// which the CLI does only in dev.
    pub secret_recovery_days: Option<i64>,
}

/// Recovery window for secrets deleted outside dev: the API's default and maximum
/// (DeleteSecret, AWS Secrets Manager API Reference: RecoveryWindowInDays 7-30, default 30).
pub const SECRET_RECOVERY_DAYS: i64 = 30;

impl Default for DeleteOptions {
    fn default() -> Self {
        DeleteOptions {
            no_snapshot: false,
            allow_data_loss: Vec::new(),
            secret_recovery_days: Some(SECRET_RECOVERY_DAYS),
        }
    }
}

impl DeleteOptions {
    /// The options for `env`: secrets are force-deleted only in `dev` (a name pending
    /// deletion would block the next `up` for the window; see `resources::secret`,
    /// which restores such a secret instead).
    pub fn for_env(env: &str, no_snapshot: bool, allow_data_loss: &[String]) -> Self {
        DeleteOptions {
            no_snapshot,
            allow_data_loss: allow_data_loss.to_vec(),
            secret_recovery_days: (!is_dev(env)).then_some(SECRET_RECOVERY_DAYS),
        }
    }

    /// Whether the operator named `id` with `--allow-data-loss`.
    pub fn allows(&self, id: &str) -> bool {
        self.allow_data_loss.iter().any(|a| a == id)
    }
}

/// `dev` is the one environment where data is disposable: no final snapshot needed,
/// secrets deleted at once.
pub fn is_dev(env: &str) -> bool {
    env == "dev"
}

/// A deterministic idempotency token for a create call: `sw-` and 32 hex digits (two
/// FNV-1a 64-bit hashes of `parts`, joined by NUL), 35 printable ASCII characters — within
/// EC2's 64 ASCII characters ("Ensuring idempotency", EC2 developer guide) and ECS
/// CreateService's 36 characters in the range 33-126 (ECS API Reference). The same stack,
/// environment, resource and inputs give the same token in every process, so two runs (or
/// a run repeated after its answer was lost) get one resource, not two. Callers include
/// inputs unique to the resource's incarnation (an Elastic IP's allocation id, a task
/// definition revision), because AWS answers a repeated token with the original result
/// for a while even after that resource was deleted. Not a secret and not cryptographic:
/// only distinctness matters.
pub(crate) fn client_token(parts: &[&str]) -> String {
    fn fnv(seed: u64, parts: &[&str]) -> u64 {
        let mut hash = seed;
        for (index, part) in parts.iter().enumerate() {
            let bytes = part.as_bytes().iter().copied();
            let separator = (index > 0).then_some(0u8);
            for byte in separator.into_iter().chain(bytes) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        hash
    }
    format!(
        "sw-{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325, parts),
        fnv(0x6c62_272e_07bb_0142, parts)
    )
}

/// Small helpers shared by the families.
pub(crate) fn attrs<const N: usize>(pairs: [(&str, Option<String>); N]) -> Attrs {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect()
}

pub(crate) fn require(attrs: &Attrs, resource: &str, key: &str) -> Result<String, AwsError> {
    attrs.get(key).cloned().ok_or_else(|| AwsError::Unexpected {
        resource: resource.to_owned(),
        message: format!("AWS did not report its {key}"),
    })
}

pub(crate) fn observed(
    id: &str,
    kind: Kind,
    spec: impl serde::Serialize,
    attrs: Attrs,
) -> Observed {
    Observed {
        id: id.to_owned(),
        kind,
        spec: serde_json::to_value(spec).expect("specs serialize"),
        attrs,
    }
}

#[cfg(test)]
mod token_tests {
    use super::client_token;

    #[test]
    fn client_tokens_are_deterministic_distinct_and_within_every_limit() {
        let token = client_token(&["voting", "dev", "nat-a", "subnet-1", "eipalloc-1"]);
        assert_eq!(
            token,
            client_token(&["voting", "dev", "nat-a", "subnet-1", "eipalloc-1"])
        );
        // EC2: 64 ASCII characters; ECS CreateService: 36 characters in 33-126.
        assert_eq!(token.len(), 35);
        assert!(token.bytes().all(|b| (33..=126).contains(&b)), "{token}");
        for other in [
            client_token(&["voting", "prod", "nat-a", "subnet-1", "eipalloc-1"]),
            client_token(&["voting", "dev", "nat-b", "subnet-1", "eipalloc-1"]),
            client_token(&["voting", "dev", "nat-a", "subnet-1", "eipalloc-2"]),
            // Parts are separated: moving a character between them changes the token.
            client_token(&["voting", "dev", "nat-a", "subnet-1e", "ipalloc-1"]),
        ] {
            assert_ne!(token, other);
        }
    }
}

/// Unit tests of paginated reads: an [`Aws`] whose clients reach nothing, and the SDK
/// config a test builds the one client it mocks from (aws-smithy-mocks).
#[cfg(test)]
pub(crate) mod mocked {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};

    use super::Aws;

    pub fn sdk_config() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "test",
            )))
            .http_client(create_mock_http_client())
            .build()
    }

    /// `voting`/`dev` with unmocked clients: replace the one under test.
    pub fn aws() -> Aws {
        Aws::new(&sdk_config(), "voting", "dev")
    }

    /// Answers with whichever of `rules` matches the request.
    pub fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
        rules.iter().fold(
            MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
            |interceptor, rule| interceptor.with_rule(rule),
        )
    }
}

//! Images, logs, the cluster and the Service Connect namespace.

use super::*;
use crate::model::ids;
use crate::model::*;
use crate::scope::{Section, Stack};

/// An ECR repository `repo-<name>`: scan on push, immutable tags, the newest 20 images kept.
///
/// ```
/// use slipway_cdk::constructs::l2::Repository;
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// let repo = Repository::new(&mut stack, "api").keep_images(5).build();
/// assert_eq!(repo.id(), "repo-api");
/// ```
pub struct Repository<'a> {
    stack: &'a mut Stack,
    name: String,
    spec: RepositorySpec,
}

/// An image repository.
#[derive(Debug, Clone)]
pub struct RepositoryHandle {
    id: String,
}

impl RepositoryHandle {
    /// The logical id (`repo-<name>`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl<'a> Repository<'a> {
    /// `repo-<name>` with the house defaults.
    pub fn new(stack: &'a mut Stack, name: &str) -> Self {
        Repository {
            stack,
            name: name.to_owned(),
            spec: RepositorySpec {
                scan_on_push: true,
                immutable_tags: true,
                keep_images: 20,
            },
        }
    }
    /// Tags may move (a `latest` CI pushes again).
    pub fn mutable_tags(mut self) -> Self {
        self.spec.immutable_tags = false;
        self
    }
    /// Lifecycle policy: keep the newest `count` images.
    pub fn keep_images(mut self, count: u32) -> Self {
        self.spec.keep_images = count;
        self
    }
    /// Adds the repository.
    pub fn build(self) -> RepositoryHandle {
        let id = ids::repository(&self.name);
        self.stack
            .add(Section::Images, &id, Spec::Repository(self.spec));
        RepositoryHandle { id }
    }
}

/// A log group `logs-<name>` kept `retention_days` (default 14).
///
/// ```
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// slipway_cdk::constructs::l2::LogGroup::new(&mut stack, "api").retention_days(30).build();
/// assert_eq!(stack.resource("logs-api").unwrap().spec_json()["retention_days"], 30);
/// ```
pub struct LogGroup<'a> {
    stack: &'a mut Stack,
    name: String,
    retention_days: i32,
}

impl<'a> LogGroup<'a> {
    /// `logs-<name>`, 14 days.
    pub fn new(stack: &'a mut Stack, name: &str) -> Self {
        LogGroup {
            stack,
            name: name.to_owned(),
            retention_days: 14,
        }
    }
    /// Days CloudWatch keeps the events.
    pub fn retention_days(mut self, days: i32) -> Self {
        self.retention_days = days;
        self
    }
    /// Adds the log group; returns its id.
    pub fn build(self) -> String {
        let id = ids::log_group(&self.name);
        self.stack.add(
            Section::Images,
            &id,
            Spec::LogGroup(LogGroupSpec {
                retention_days: self.retention_days,
            }),
        );
        id
    }
}

/// The ECS cluster (`cluster`, Container Insights on); its tasks run in the VPC's private
/// subnets.
///
/// ```
/// use slipway_cdk::constructs::l2::{Cluster, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// let cluster = Cluster::new(&mut stack, &vpc).build();
/// assert_eq!(cluster.vpc().private_subnets().len(), 2);
/// ```
pub struct Cluster<'a> {
    stack: &'a mut Stack,
    vpc: VpcHandle,
}

/// The cluster, with the network its tasks run in.
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    vpc: VpcHandle,
}

impl ClusterHandle {
    /// The network.
    pub fn vpc(&self) -> &VpcHandle {
        &self.vpc
    }
}

impl<'a> Cluster<'a> {
    /// The stack's cluster.
    pub fn new(stack: &'a mut Stack, vpc: &VpcHandle) -> Self {
        Cluster {
            stack,
            vpc: vpc.clone(),
        }
    }
    /// Adds it.
    pub fn build(self) -> ClusterHandle {
        self.stack.add(
            Section::Cluster,
            "cluster",
            Spec::Cluster(ClusterSpec {
                container_insights: true,
            }),
        );
        ClusterHandle { vpc: self.vpc }
    }
}

/// The Cloud Map namespace Service Connect uses (`<stack>-<env>.internal`).
#[derive(Debug, Clone)]
pub struct NamespaceHandle;

/// Adds the stack's Service Connect namespace.
///
/// ```
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// slipway_cdk::constructs::l2::namespace(&mut stack);
/// assert_eq!(stack.resource("namespace").unwrap().spec_json()["name"], "demo-dev.internal");
/// ```
pub fn namespace(stack: &mut Stack) -> NamespaceHandle {
    let name = format!("{}.internal", stack.prefix());
    stack.add(
        Section::Cluster,
        "namespace",
        Spec::Namespace(NamespaceSpec { name }),
    );
    NamespaceHandle
}

//! Typed resources. Every resource has a logical id (unique in its stack) and a spec;
//! specs refer to other resources through [`Ref`]s, which is how dependencies are known.
//! Specs double as the normalized form of what AWS reports, so planning is a comparison
//! of two values of the same type (see `plan.rs`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub mod ids;
pub mod state;
pub use state::{Attrs, Observed};

/// A reference to another resource of the stack, written `${logical-id}`. Values read
/// back from AWS carry physical ids here until normalization maps them to logical ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ref(pub String);

impl Ref {
    /// A reference to the resource with logical id `id`: `${id}`.
    pub fn to(id: &str) -> Self {
        Ref(format!("${{{id}}}"))
    }
    /// A value as AWS reported it (normalized later).
    pub fn physical(value: impl Into<String>) -> Self {
        Ref(value.into())
    }
    /// The logical id when this is a `${id}` reference.
    pub fn logical_id(&self) -> Option<&str> {
        parse_ref(&self.0)
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The logical id in a `${id}` reference, `None` for any other string (a physical id,
/// a CIDR, an ARN…).
pub fn parse_ref(value: &str) -> Option<&str> {
    value.strip_prefix("${")?.strip_suffix('}')
}

/// One resource of a stack: a logical id and the desired spec of one kind.
///
/// ```
/// use slipway_cdk::model::{LogGroupSpec, Ref, Resource, Spec};
///
/// let logs = Resource {
///     id: "logs-api".into(),
///     spec: Spec::LogGroup(LogGroupSpec { retention_days: 30 }),
///     after: Vec::new(),
/// };
/// assert_eq!(logs.kind().name(), "log_group");
/// assert_eq!(Ref::to(&logs.id).logical_id(), Some("logs-api"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Logical id, unique in the stack (`vpc`, `svc-api`…): what [`Ref`]s name, and the
    /// base of the AWS name (`<stack>-<env>-<id>`, see `names.rs`).
    pub id: String,
    /// The desired configuration; its kind is the `"kind"` tag when serialized.
    pub spec: Spec,
    /// Ordering-only dependencies (no value flows, but AWS needs the order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

impl Resource {
    /// The kind of this resource's spec.
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// The spec as JSON: the form diffs are computed on.
    pub fn spec_json(&self) -> serde_json::Value {
        self.spec.body()
    }

    /// Logical ids this resource refers to.
    pub fn dependencies(&self) -> Vec<String> {
        let mut found = self.after.clone();
        collect_refs(&self.spec_json(), &mut found);
        found.sort();
        found.dedup();
        found
    }
}

fn collect_refs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => {
            // `${id}:*` (an ARN plus wildcard, in IAM policies) refers to `id` too.
            if let Some(id) = parse_ref(s.strip_suffix(":*").unwrap_or(s)) {
                found.push(id.to_owned());
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}

/// THE list of resource kinds, once, with each kind's AWS-free metadata. It hands the
/// table to `$callback!` (a `macro_rules!` taking the rows below), so everything that
/// must cover every kind is generated from it and a kind missing anywhere is a compile
/// error: [`Spec`] and [`Kind`] with their metadata (here, via `specs!`), and the
/// provisioner's provider dispatch (`resources`, one `impl Provider` per kind).
///
/// A row: `Variant(SpecType) { name, label, immutable, create_secs, reads }`:
/// - `name`: the kind in snake_case, as plans and state write it (`"kind": "vpc"`); the
///   provisioner's provider module of the kind (`resources/<name>.rs`) is named after it;
/// - `label`: the human name printed in plans and progress;
/// - `immutable`: top-level spec fields AWS cannot change in place (a change means
///   replace);
/// - `create_secs`: typical seconds from "create" to "usable" on AWS (critical-path
///   estimates);
/// - `reads`: the IAM read actions observing this kind calls (the GitHub deploy role gets
///   their union on `*`; reads granted on the resources themselves are not listed);
/// - `writes`: the IAM actions `up` and `down` need to create, change, tag and delete this
///   kind, including those IAM checks without a call of their own (tag-on-create
///   `CreateTags`/`AddTags`/`TagResource`, `iam:PassRole`); `provision policy` (the
///   `policy` module) builds the operator's policy from them.
#[macro_export]
macro_rules! kinds {
    ($callback:ident) => {
        $callback! {
            Vpc(VpcSpec) {
                name: vpc,
                label: "vpc",
                immutable: ["cidr"],
                create_secs: 2,
                reads: ["ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"],
                writes: [
                    "ec2:CreateVpc",
                    "ec2:ModifyVpcAttribute",
                    "ec2:DeleteVpc",
                    "ec2:CreateTags",
                ],
            },
            InternetGateway(InternetGatewaySpec) {
                name: internet_gateway,
                label: "internet-gateway",
                immutable: ["vpc"],
                create_secs: 2,
                reads: ["ec2:DescribeInternetGateways"],
                writes: [
                    "ec2:CreateInternetGateway",
                    "ec2:AttachInternetGateway",
                    "ec2:DetachInternetGateway",
                    "ec2:DeleteInternetGateway",
                    "ec2:CreateTags",
                ],
            },
            Subnet(SubnetSpec) {
                name: subnet,
                label: "subnet",
                immutable: ["vpc", "cidr", "az", "public"],
                create_secs: 2,
                reads: ["ec2:DescribeSubnets"],
                writes: [
                    "ec2:CreateSubnet",
                    "ec2:ModifySubnetAttribute",
                    "ec2:DeleteSubnet",
                    "ec2:CreateTags",
                ],
            },
            NatGateway(NatGatewaySpec) {
                name: nat_gateway,
                label: "nat-gateway",
                immutable: ["subnet"],
                create_secs: 120,
                // With the Elastic IPs the gateways hold.
                reads: ["ec2:DescribeNatGateways", "ec2:DescribeAddresses"],
                writes: [
                    "ec2:AllocateAddress",
                    "ec2:CreateNatGateway",
                    "ec2:DeleteNatGateway",
                    "ec2:ReleaseAddress",
                    "ec2:CreateTags",
                ],
            },
            RouteTable(RouteTableSpec) {
                name: route_table,
                label: "route-table",
                immutable: ["vpc"],
                create_secs: 2,
                reads: ["ec2:DescribeRouteTables"],
                writes: [
                    "ec2:CreateRouteTable",
                    "ec2:CreateRoute",
                    "ec2:ReplaceRoute",
                    "ec2:AssociateRouteTable",
                    "ec2:DisassociateRouteTable",
                    "ec2:DeleteRouteTable",
                    "ec2:CreateTags",
                ],
            },
            SecurityGroup(SecurityGroupSpec) {
                name: security_group,
                label: "security-group",
                immutable: ["vpc", "description"],
                create_secs: 2,
                reads: ["ec2:DescribeSecurityGroups"],
                writes: [
                    "ec2:CreateSecurityGroup",
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupEgress",
                    "ec2:DeleteSecurityGroup",
                    "ec2:CreateTags",
                ],
            },
            Repository(RepositorySpec) {
                name: repository,
                label: "ecr-repository",
                immutable: [],
                create_secs: 2,
                reads: [
                    "ecr:DescribeRepositories",
                    "ecr:GetLifecyclePolicy",
                    "ecr:ListImages",
                    "ecr:ListTagsForResource",
                ],
                writes: [
                    "ecr:CreateRepository",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:PutImageTagMutability",
                    "ecr:PutLifecyclePolicy",
                    "ecr:DeleteRepository",
                    "ecr:TagResource",
                ],
            },
            LogGroup(LogGroupSpec) {
                name: log_group,
                label: "log-group",
                immutable: [],
                create_secs: 2,
                reads: ["logs:DescribeLogGroups", "logs:ListTagsForResource"],
                writes: [
                    "logs:CreateLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteLogGroup",
                    "logs:TagResource",
                ],
            },
            Role(RoleSpec) {
                name: role,
                label: "iam-role",
                immutable: [],
                create_secs: 2,
                reads: ["iam:ListRoles", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"],
                writes: [
                    "iam:CreateRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:DeleteRole",
                    "iam:TagRole",
                ],
            },
            Cluster(ClusterSpec) {
                name: cluster,
                label: "ecs-cluster",
                immutable: [],
                create_secs: 10,
                reads: ["ecs:DescribeClusters"],
                writes: [
                    "ecs:CreateCluster",
                    "ecs:UpdateClusterSettings",
                    "ecs:DeleteCluster",
                    "ecs:TagResource",
                ],
            },
            Namespace(NamespaceSpec) {
                name: namespace,
                label: "cloudmap-namespace",
                immutable: ["name"],
                create_secs: 30,
                reads: [
                    "servicediscovery:ListNamespaces",
                    "servicediscovery:GetNamespace",
                    "servicediscovery:ListTagsForResource",
                ],
                writes: [
                    "servicediscovery:CreateHttpNamespace",
                    "servicediscovery:DeleteNamespace",
                    "servicediscovery:TagResource",
                ],
            },
            LoadBalancer(LoadBalancerSpec) {
                name: load_balancer,
                label: "load-balancer",
                immutable: ["scheme"],
                create_secs: 180,
                reads: [
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeTags",
                ],
                writes: [
                    "elasticloadbalancing:CreateLoadBalancer",
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:AddTags",
                ],
            },
            TargetGroup(TargetGroupSpec) {
                name: target_group,
                label: "target-group",
                immutable: ["vpc", "port"],
                create_secs: 2,
                reads: [
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTags",
                ],
                writes: [
                    "elasticloadbalancing:CreateTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:AddTags",
                ],
            },
            Certificate(CertificateSpec) {
                name: certificate,
                label: "certificate",
                immutable: ["domain_name", "alternative_names"],
                // DNS validation: usually a few minutes once the records are in place
                // (ACM User Guide, "DNS validation").
                create_secs: 300,
                reads: [
                    "acm:ListCertificates",
                    "acm:ListTagsForCertificate",
                    "acm:DescribeCertificate",
                    "route53:ListHostedZonesByName",
                    "route53:ListResourceRecordSets",
                    "route53:GetChange",
                ],
                writes: [
                    "acm:RequestCertificate",
                    "acm:AddTagsToCertificate",
                    "acm:DeleteCertificate",
                    "route53:ChangeResourceRecordSets",
                ],
            },
            Listener(ListenerSpec) {
                name: listener,
                label: "listener",
                immutable: ["load_balancer", "port", "protocol"],
                create_secs: 2,
                reads: [
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeTags",
                ],
                writes: [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:AddTags",
                ],
            },
            ListenerRule(ListenerRuleSpec) {
                name: listener_rule,
                label: "listener-rule",
                immutable: ["listener"],
                create_secs: 2,
                reads: [
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTags",
                ],
                writes: [
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:SetRulePriorities",
                    "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:AddTags",
                ],
            },
            DnsRecord(DnsRecordSpec) {
                name: dns_record,
                label: "dns-record",
                immutable: ["zone", "name"],
                // Route 53 changes reach all its name servers within 60 s (Route 53 API
                // reference, GetChange).
                create_secs: 60,
                reads: [
                    "route53:ListResourceRecordSets",
                    "route53:GetChange",
                ],
                writes: ["route53:ChangeResourceRecordSets"],
            },
            Secret(SecretSpec) {
                name: secret,
                label: "secret",
                immutable: ["value"],
                create_secs: 2,
                // Never a secret's value.
                reads: ["secretsmanager:ListSecrets"],
                writes: [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:UpdateSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:RestoreSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:GetRandomPassword",
                    "secretsmanager:GetSecretValue",
                ],
            },
            CacheSubnetGroup(SubnetGroupSpec) {
                name: cache_subnet_group,
                label: "cache-subnet-group",
                immutable: [],
                create_secs: 2,
                reads: [
                    "elasticache:DescribeCacheSubnetGroups",
                    "elasticache:ListTagsForResource",
                ],
                writes: [
                    "elasticache:CreateCacheSubnetGroup",
                    "elasticache:DeleteCacheSubnetGroup",
                    "elasticache:AddTagsToResource",
                ],
            },
            ReplicationGroup(ReplicationGroupSpec) {
                name: replication_group,
                label: "redis",
                // Not `engine_version`: ElastiCache upgrades it in place
                // (ModifyReplicationGroup).
                immutable: ["subnet_group", "auth_secret"],
                create_secs: 600,
                reads: [
                    "elasticache:DescribeReplicationGroups",
                    "elasticache:DescribeCacheClusters",
                    "elasticache:ListTagsForResource",
                ],
                writes: [
                    "elasticache:CreateReplicationGroup",
                    "elasticache:ModifyReplicationGroup",
                    "elasticache:IncreaseReplicaCount",
                    "elasticache:DecreaseReplicaCount",
                    "elasticache:DeleteReplicationGroup",
                    "elasticache:CreateSnapshot",
                    "elasticache:AddTagsToResource",
                ],
            },
            DbSubnetGroup(SubnetGroupSpec) {
                name: db_subnet_group,
                label: "db-subnet-group",
                immutable: [],
                create_secs: 2,
                reads: ["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
                writes: [
                    "rds:CreateDBSubnetGroup",
                    "rds:ModifyDBSubnetGroup",
                    "rds:DeleteDBSubnetGroup",
                    "rds:AddTagsToResource",
                ],
            },
            DbInstance(DbInstanceSpec) {
                name: db_instance,
                label: "postgres",
                immutable: ["subnet_group", "database", "username"],
                create_secs: 480,
                reads: ["rds:DescribeDBInstances", "rds:ListTagsForResource"],
                writes: [
                    "rds:CreateDBInstance",
                    "rds:ModifyDBInstance",
                    "rds:DeleteDBInstance",
                    "rds:CreateDBSnapshot",
                    "rds:AddTagsToResource",
                ],
            },
            TaskDefinition(TaskDefinitionSpec) {
                name: task_definition,
                label: "task-definition",
                immutable: [],
                create_secs: 2,
                reads: [
                    "ecs:ListTaskDefinitionFamilies",
                    "ecs:ListTaskDefinitions",
                    "ecs:DescribeTaskDefinition",
                ],
                writes: [
                    "ecs:RegisterTaskDefinition",
                    "ecs:DeregisterTaskDefinition",
                    "ecs:DeleteTaskDefinitions",
                    "ecs:TagResource",
                    "iam:PassRole",
                ],
            },
            Service(ServiceSpec) {
                name: service,
                label: "ecs-service",
                immutable: ["cluster", "target_group", "container_port"],
                create_secs: 180,
                // ecs:DescribeServices is granted on the stack's services only.
                reads: ["ecs:ListServices"],
                writes: [
                    "ecs:CreateService",
                    "ecs:UpdateService",
                    "ecs:DeleteService",
                    "ecs:TagResource",
                    "iam:PassRole",
                ],
            },
            ScalableTarget(ScalableTargetSpec) {
                name: scalable_target,
                label: "scalable-target",
                immutable: ["service"],
                create_secs: 2,
                reads: ["application-autoscaling:DescribeScalableTargets"],
                writes: [
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:TagResource",
                ],
            },
            ScalingPolicy(ScalingPolicySpec) {
                name: scaling_policy,
                label: "scaling-policy",
                immutable: ["target", "metric"],
                create_secs: 2,
                reads: ["application-autoscaling:DescribeScalingPolicies"],
                writes: [
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                ],
            },
            OidcProvider(OidcProviderSpec) {
                name: oidc_provider,
                label: "oidc-provider",
                immutable: ["url"],
                create_secs: 2,
                reads: ["iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider"],
                writes: [
                    "iam:CreateOpenIDConnectProvider",
                    "iam:AddClientIDToOpenIDConnectProvider",
                    "iam:RemoveClientIDFromOpenIDConnectProvider",
                    "iam:UntagOpenIDConnectProvider",
                    "iam:DeleteOpenIDConnectProvider",
                    "iam:TagOpenIDConnectProvider",
                ],
            },
            Topic(TopicSpec) {
                name: topic,
                label: "sns-topic",
                immutable: ["name"],
                create_secs: 2,
                reads: ["sns:ListTopics", "sns:ListTagsForResource"],
                writes: [
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:TagResource",
                ],
            },
            Dashboard(DashboardSpec) {
                name: dashboard,
                label: "dashboard",
                immutable: [],
                create_secs: 2,
                reads: ["cloudwatch:ListDashboards", "cloudwatch:GetDashboard"],
                writes: [
                    "cloudwatch:PutDashboard",
                    "cloudwatch:DeleteDashboards",
                ],
            },
            Alarm(AlarmSpec) {
                name: alarm,
                label: "alarm",
                immutable: [],
                create_secs: 2,
                reads: ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
                writes: [
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:TagResource",
                ],
            },
            MetricFilter(MetricFilterSpec) {
                name: metric_filter,
                label: "metric-filter",
                immutable: ["log_group"],
                create_secs: 2,
                reads: ["logs:DescribeMetricFilters"],
                writes: [
                    "logs:PutMetricFilter",
                    "logs:DeleteMetricFilter",
                ],
            },
        }
    };
}
/// [`kinds!`] by path (`crate::model::kinds!`), wherever the crate root is.
pub use crate::kinds;

/// Generates [`Spec`], [`Kind`] and the kinds' metadata from the [`kinds!`] table.
macro_rules! specs {
    ($($variant:ident($ty:ident) {
        name: $name:ident,
        label: $label:literal,
        immutable: [$($immutable:literal),* $(,)?],
        create_secs: $secs:literal,
        reads: [$($read:literal),* $(,)?],
        writes: [$($write:literal),* $(,)?] $(,)?
    }),+ $(,)?) => {
        /// The kinds of resource the provisioner manages.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum Spec { $(
            #[doc = concat!("A `", stringify!($name), "` resource: see [`", stringify!($ty), "`].")]
            $variant($ty)
        ),+ }

        /// A [`Spec`]'s kind without its fields, with the kind's metadata from [`kinds!`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Kind { $(
            #[doc = concat!("The `", stringify!($name), "` kind (printed as `", $label, "`).")]
            $variant
        ),+ }

        impl Spec {
            /// The kind of this spec.
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$variant(_) => Kind::$variant),+ }
            }
            /// The spec's own fields as JSON (without the kind tag).
            pub fn body(&self) -> serde_json::Value {
                let value = match self { $(Spec::$variant(s) => serde_json::to_value(s)),+ };
                value.expect("specs are plain data and always serialize")
            }
        }

        impl Kind {
            /// Every kind, in the order of the [`kinds!`] table.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),+];
            /// The kind in snake_case, as plans and state write it (`"kind": "vpc"`).
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => stringify!($name)),+ }
            }
            /// Human name, as printed in plans and progress.
            pub fn label(self) -> &'static str {
                match self { $(Kind::$variant => $label),+ }
            }
            /// Top-level spec fields AWS cannot change in place: a change means replace.
            pub fn immutable_fields(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($immutable),*]),+ }
            }
            /// Typical time from "create" to "usable" on AWS, for critical-path estimates.
            pub fn typical_create_time(self) -> std::time::Duration {
                let secs: u64 = match self { $(Kind::$variant => $secs),+ };
                std::time::Duration::from_secs(secs)
            }
            /// The IAM read actions observing this kind calls (see [`kinds!`]).
            pub fn read_actions(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($read),*]),+ }
            }
            /// The IAM actions creating, changing, tagging and deleting this kind needs
            /// (see [`kinds!`]).
            pub fn write_actions(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($write),*]),+ }
            }
            /// Every kind's [`Kind::read_actions`], sorted, each once: what reading a
            /// whole stack needs.
            pub fn all_read_actions() -> Vec<&'static str> {
                let mut actions: Vec<&'static str> = Kind::ALL
                    .iter()
                    .flat_map(|kind| kind.read_actions().iter().copied())
                    .collect();
                actions.sort_unstable();
                actions.dedup();
                actions
            }
        }
    };
}

kinds!(specs);

/// A VPC (`AWS::EC2::VPC`, `ec2:CreateVpc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VpcSpec {
    /// IPv4 CIDR block (`CidrBlock`), e.g. `10.0.0.0/16`; replaces the VPC when changed.
    pub cidr: String,
    /// Amazon-provided DNS resolution in the VPC (`EnableDnsSupport`).
    pub dns_support: bool,
    /// Public DNS hostnames for instances with public IPs (`EnableDnsHostnames`);
    /// needs `dns_support`.
    pub dns_hostnames: bool,
}

/// An internet gateway attached to a VPC (`AWS::EC2::InternetGateway` plus its
/// `AWS::EC2::VPCGatewayAttachment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternetGatewaySpec {
    /// The VPC it is attached to (`${vpc}`); replaces the gateway when changed.
    pub vpc: Ref,
}

/// A subnet of a VPC in one availability zone (`AWS::EC2::Subnet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetSpec {
    /// The VPC it belongs to (`VpcId`).
    pub vpc: Ref,
    /// IPv4 CIDR block (`CidrBlock`), inside the VPC's, e.g. `10.0.1.0/24`.
    pub cidr: String,
    /// AZ suffix (`a`), region-independent.
    pub az: String,
    /// Public subnets map public IPs on launch; private ones never do.
    pub public: bool,
}

/// A public NAT gateway with its own Elastic IP (`AWS::EC2::NatGateway` plus an
/// `AWS::EC2::EIP`): private subnets' outbound internet access. Billed per hour and per GB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatGatewaySpec {
    /// The public subnet it sits in (it gets its own Elastic IP).
    pub subnet: Ref,
}

/// A route table with one default route, associated with some subnets
/// (`AWS::EC2::RouteTable`, `AWS::EC2::Route`, `AWS::EC2::SubnetRouteTableAssociation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTableSpec {
    /// The VPC it belongs to (`VpcId`).
    pub vpc: Ref,
    /// Target of 0.0.0.0/0: an internet gateway or a NAT gateway.
    pub default_route: Ref,
    /// Subnets associated with the table (one `SubnetRouteTableAssociation` each).
    pub subnets: Vec<Ref>,
}

/// One TCP ingress rule of a security group (`SecurityGroupIngress`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IngressRule {
    /// TCP port allowed (`FromPort` = `ToPort`).
    pub port: u16,
    /// `${sg-id}` for a security group source, otherwise a CIDR.
    pub source: Ref,
}

/// A security group (`AWS::EC2::SecurityGroup`), named `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    /// The VPC it belongs to (`VpcId`); replaces the group when changed.
    pub vpc: Ref,
    /// `GroupDescription`; AWS cannot change it in place (a change replaces the group).
    pub description: String,
    /// Sorted; TCP only.
    pub ingress: Vec<IngressRule>,
    /// false = no egress rule at all (data stores).
    pub egress_all: bool,
}

/// An ECR repository for one service's images (`AWS::ECR::Repository`), named
/// `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositorySpec {
    /// Basic image scanning on every push (`ImageScanningConfiguration.ScanOnPush`).
    pub scan_on_push: bool,
    /// Tags cannot be overwritten once pushed (`ImageTagMutability`: `IMMUTABLE`, else
    /// `MUTABLE`).
    pub immutable_tags: bool,
    /// Lifecycle policy: keep the newest N images.
    pub keep_images: u32,
}

/// A CloudWatch Logs log group (`AWS::Logs::LogGroup`), named `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogGroupSpec {
    /// Days events are kept (`RetentionInDays`); must be one of the values CloudWatch
    /// accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …).
    pub retention_days: i32,
}

/// One `Allow` statement of an IAM policy document (`Effect: Allow`, `Action`,
/// `Resource`, `Condition`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyStatement {
    /// Sorted action names.
    pub actions: Vec<String>,
    /// Sorted: `${id}` (that resource's ARN), `${id}:*` (ARN plus suffix) or literal ARNs / `*`.
    pub resources: Vec<String>,
    /// The statement's `Condition` block: operator (`StringEquals`…) → condition key →
    /// sorted values, all literal. Empty: no condition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl PolicyStatement {
    /// The `Condition` element IAM takes (`None` without conditions).
    pub fn condition_json(&self) -> Option<serde_json::Value> {
        (!self.conditions.is_empty()).then(|| serde_json::json!(self.conditions))
    }

    /// Parses a `Condition` element as IAM reports it (a single value may be a string).
    pub fn conditions_from_json(
        condition: &serde_json::Value,
    ) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        let mut conditions = BTreeMap::new();
        let Some(operators) = condition.as_object() else {
            return conditions;
        };
        for (operator, keys) in operators {
            let mut by_key = BTreeMap::new();
            for (key, values) in keys.as_object().into_iter().flatten() {
                let mut values: Vec<String> = match values {
                    serde_json::Value::String(v) => vec![v.clone()],
                    serde_json::Value::Array(items) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    other => vec![other.to_string()],
                };
                values.sort();
                by_key.insert(key.clone(), values);
            }
            conditions.insert(operator.clone(), by_key);
        }
        conditions
    }
}

/// An IAM role (`AWS::IAM::Role`): who may assume it, its single inline policy and its
/// attached AWS managed policies. Named `<stack>-<env>-<id>` under the stack's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSpec {
    /// Service principal allowed to assume the role; empty when `web_identity` says who may.
    pub principal: String,
    /// Set for roles assumed with a web identity token (GitHub Actions) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_identity: Option<WebIdentityTrust>,
    /// The role's single inline policy (sorted statements); none when empty.
    pub statements: Vec<PolicyStatement>,
    /// AWS managed policies attached to the role (sorted ARNs), for roles whose
    /// permissions AWS itself maintains as its services change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_policies: Vec<String>,
}

impl RoleSpec {
    /// A role an AWS service (`ecs-tasks.amazonaws.com`…) assumes.
    pub fn for_service(principal: &str, statements: Vec<PolicyStatement>) -> Self {
        RoleSpec {
            principal: principal.to_owned(),
            web_identity: None,
            statements,
            managed_policies: Vec::new(),
        }
    }

    /// A role an AWS service assumes with only AWS managed policies (ARNs) attached.
    pub fn for_service_with_managed(principal: &str, managed_policies: &[&str]) -> Self {
        let mut managed_policies: Vec<String> =
            managed_policies.iter().map(|p| p.to_string()).collect();
        managed_policies.sort();
        RoleSpec {
            principal: principal.to_owned(),
            web_identity: None,
            statements: Vec::new(),
            managed_policies,
        }
    }
}

/// Who may assume a role with `sts:AssumeRoleWithWebIdentity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebIdentityTrust {
    /// The IAM OIDC provider: `${github-oidc}` or an existing provider's ARN.
    pub provider: Ref,
    /// Required `aud` claim.
    pub audience: String,
    /// Accepted `sub` claims, sorted (e.g. `repo:owner/name:environment:voting-prod`).
    pub subjects: Vec<String>,
}

/// An IAM OpenID Connect identity provider (one per issuer URL per account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OidcProviderSpec {
    /// Issuer, `https://token.actions.githubusercontent.com` for GitHub Actions.
    pub url: String,
    /// Sorted audiences (client ids) tokens must carry.
    pub client_ids: Vec<String>,
}

/// An ECS cluster (`AWS::ECS::Cluster`), named `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// CloudWatch Container Insights (cluster setting `containerInsights`:
    /// `enabled` / `disabled`); adds CloudWatch metric charges.
    pub container_insights: bool,
}

/// A Cloud Map HTTP namespace (`AWS::ServiceDiscovery::HttpNamespace`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceSpec {
    /// Cloud Map HTTP namespace used by Service Connect.
    pub name: String,
}

/// An Application Load Balancer (`AWS::ElasticLoadBalancingV2::LoadBalancer`,
/// `Type: application`), named `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerSpec {
    /// `Scheme`: `internet-facing` or `internal`; replaces the load balancer when changed.
    pub scheme: String,
    /// `Subnets`: at least two, in different availability zones.
    pub subnets: Vec<Ref>,
    /// `SecurityGroups` attached to the load balancer.
    pub security_groups: Vec<Ref>,
    /// Drop request headers whose names are not `[-A-Za-z0-9]+` instead of passing them
    /// on to the services (ALB attribute `routing.http.drop_invalid_header_fields.enabled`).
    pub drop_invalid_headers: bool,
}

/// An HTTP target group of `ip` targets (Fargate tasks)
/// (`AWS::ElasticLoadBalancingV2::TargetGroup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupSpec {
    /// The VPC of its targets (`VpcId`); replaces the group when changed.
    pub vpc: Ref,
    /// Port traffic is sent to on the targets (`Port`); replaces the group when changed.
    pub port: u16,
    /// Path of the HTTP health check (`HealthCheckPath`), e.g. `/health`; interval,
    /// timeout and thresholds come from `settings::elb::TARGET_HEALTH`.
    pub health_path: String,
    /// Load-balancer cookie stickiness (`stickiness.enabled`, `stickiness.type = lb_cookie`).
    pub sticky: bool,
}

/// What a listener does with requests no rule matches (`DefaultActions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    /// Forward to this target group (`Type: forward`).
    Forward(Ref),
    /// A fixed 404 response (`Type: fixed-response`, see `settings::elb::NOT_FOUND`).
    NotFound,
    /// A permanent redirect to HTTPS on port 443 (`Type: redirect`, `HTTP_301`).
    RedirectHttps,
}

/// An ACM public certificate for the stack's `[domain]`, validated by DNS records ACM
/// names, which the provider writes into the hosted zone `zone` and waits on until ACM
/// has issued it (`AWS::CertificateManager::Certificate` with `DomainValidationOptions`).
/// Tagged like every resource, plus `slipway:zone` (where its validation records, and
/// the stack's alias records, are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateSpec {
    /// `DomainName`: `[domain] name`; replaces the certificate when changed.
    pub domain_name: String,
    /// `SubjectAlternativeNames` besides `domain_name` (`*.<domain>`); replaces the
    /// certificate when changed.
    pub alternative_names: Vec<String>,
    /// The Route 53 hosted zone (id) the validation records go in; `lookup:<domain>`
    /// until `plan`/`up` find it (see [`crate::domain::zone_lookup`]).
    pub zone: String,
    /// Whether ACM has issued it. Always wanted: a certificate still pending (an
    /// interrupted `up`) is updated by writing its validation records again and waiting.
    pub issued: bool,
}

/// A Route 53 alias `A` record pointing a name of the stack's `[domain]` at the ALB
/// (`AWS::Route53::RecordSet` with `AliasTarget`). Records cannot be tagged: the stack's
/// are those in its certificate's zone, under its domain, that point at its ALB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsRecordSpec {
    /// `HostedZoneId` (or `lookup:<domain>` until found); replaces the record when
    /// changed.
    pub zone: String,
    /// `Name`, without the trailing dot (`vote.example.com`); replaces the record when
    /// changed.
    pub name: String,
    /// The load balancer the alias points at (`AliasTarget`: its DNS name and canonical
    /// hosted zone).
    pub alias_target: Ref,
}

/// A load balancer listener (`AWS::ElasticLoadBalancingV2::Listener`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerSpec {
    /// The load balancer it listens on (`LoadBalancerArn`); replaces the listener when
    /// changed.
    pub load_balancer: Ref,
    /// Port it listens on (`Port`): 80, 443 or `[alb] test_listener_port`; replaces the
    /// listener when changed.
    pub port: u16,
    /// `Protocol`: `HTTP` or `HTTPS` (the latter needs `certificate_arn`).
    pub protocol: String,
    /// ACM certificate ARN for an `HTTPS` listener (`Certificates`); `None` for `HTTP`.
    pub certificate_arn: Option<String>,
    /// What requests no rule matches get (`DefaultActions`).
    pub default_action: DefaultAction,
    /// The TLS security policy of an HTTPS listener (none for HTTP, where ELB has none
    /// either); left out of the JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
}

/// A listener rule forwarding matching requests to a target group
/// (`AWS::ElasticLoadBalancingV2::ListenerRule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerRuleSpec {
    /// The listener it belongs to (`ListenerArn`); replaces the rule when changed.
    pub listener: Ref,
    /// `Priority`, 1–50000, unique per listener; lower numbers are evaluated first.
    pub priority: i32,
    /// Path patterns (`path-pattern` condition), e.g. `/api/*`; empty: no path condition.
    pub paths: Vec<String>,
    /// Host names (`host-header` condition); empty: no host condition.
    pub hosts: Vec<String>,
    /// Target group matching requests are forwarded to (weight 100 when
    /// `alternate_target_group` is set).
    pub target_group: Ref,
    /// ECS blue/green: the rule forwards to both groups (`target_group` weight 100, this
    /// one 0) and ECS moves the weights during a deployment. See `blue_green_pair`.
    #[serde(default)]
    pub alternate_target_group: Option<Ref>,
}

/// The alternate target group of a blue/green pair: `tg-<svc>` → `tg-<svc>-alt`.
pub fn alternate_target_group_id(primary: &str) -> String {
    format!("{primary}-alt")
}

/// The blue/green pair `(tg-<svc>, tg-<svc>-alt)` a target group id belongs to, whichever
/// of the two it is. ECS swaps which one serves production on every deployment, so
/// either counts as the one the config means.
pub fn blue_green_pair(target_group: &str) -> (String, String) {
    match target_group.strip_suffix("-alt") {
        Some(primary) => (primary.to_owned(), target_group.to_owned()),
        None => (
            target_group.to_owned(),
            alternate_target_group_id(target_group),
        ),
    }
}

/// Where a secret's value comes from; values never appear in plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretValue {
    /// A random token (Redis AUTH).
    RandomToken,
    /// `rediss://:<token>@<primary endpoint>:6379`.
    RedisUrl {
        /// The Redis replication group whose primary endpoint the URL names.
        replication_group: Ref,
        /// The [`SecretValue::RandomToken`] secret holding its AUTH token.
        auth: Ref,
    },
    /// `postgres://<user>:<password>@<endpoint>:5432/<db>?sslmode=require`, from the
    /// RDS-managed master secret.
    DatabaseUrl {
        /// The RDS instance (with `managed_master_password`) whose endpoint and master
        /// secret the URL is built from.
        instance: Ref,
    },
    /// A service's Postgres role: `{"username": <username>, "password": <random>}`, the
    /// shape of RDS-managed secrets. The service reads it at run time; the setup task
    /// sets the role's password from it.
    DatabaseRole {
        /// The Postgres role name (`username` in the secret).
        username: String,
    },
}

/// A Secrets Manager secret (`AWS::SecretsManager::Secret`), named `<stack>-<env>-<id>`;
/// its value is generated or derived, never written in config or plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretSpec {
    /// The secret's `Description`.
    pub description: String,
    /// Where the value comes from; replaces the secret when changed.
    pub value: SecretValue,
}

/// A subnet group for a data store: ElastiCache (`AWS::ElastiCache::SubnetGroup`)
/// or RDS (`AWS::RDS::DBSubnetGroup`), depending on the [`Spec`] variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetGroupSpec {
    /// `SubnetIds`: the (private) subnets the data store may use.
    pub subnets: Vec<Ref>,
}

/// A Redis replication group (`AWS::ElastiCache::ReplicationGroup`, engine `redis`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationGroupSpec {
    /// `CacheNodeType`, e.g. `cache.t4g.micro`.
    pub node_type: String,
    /// `EngineVersion`, e.g. `7.1`; upgraded in place.
    pub engine_version: String,
    /// Read replicas besides the primary (`NumCacheClusters` = `replicas` + 1).
    pub replicas: u8,
    /// `MultiAZEnabled` and `AutomaticFailoverEnabled`; needs at least one replica.
    pub multi_az: bool,
    /// TLS between clients and nodes (`TransitEncryptionEnabled`); required for AUTH.
    pub transit_encryption: bool,
    /// Encryption of data on disk (`AtRestEncryptionEnabled`).
    pub at_rest_encryption: bool,
    /// The cache subnet group (`CacheSubnetGroupName`); replaces the group when changed.
    pub subnet_group: Ref,
    /// `SecurityGroupIds` of the nodes.
    pub security_groups: Vec<Ref>,
    /// The secret holding the AUTH token (`AuthToken`), a [`SecretValue::RandomToken`];
    /// replaces the group when changed.
    pub auth_secret: Ref,
}

/// A PostgreSQL RDS instance (`AWS::RDS::DBInstance`, engine `postgres`), named
/// `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInstanceSpec {
    /// `DBInstanceClass`, e.g. `db.t4g.micro`.
    pub instance_class: String,
    /// `EngineVersion`: a major version (`15`, RDS picking the minor) or `major.minor`;
    /// upgraded in place.
    pub engine_version: String,
    /// Name of the database created with the instance (`DBName`); replaces it when changed.
    pub database: String,
    /// Master user name (`MasterUsername`); replaces the instance when changed.
    pub username: String,
    /// Storage in GiB (`AllocatedStorage`); RDS can grow it but never shrink it.
    pub allocated_storage_gb: i32,
    /// Days automated backups are kept (`BackupRetentionPeriod`), 0–35; 0 disables
    /// them.
    pub backup_retention_days: i32,
    /// A standby in another availability zone (`MultiAZ`); doubles the instance cost.
    pub multi_az: bool,
    /// `DeletionProtection`: RDS refuses to delete the instance while set.
    pub deletion_protection: bool,
    /// `StorageEncrypted` (with the AWS managed KMS key).
    pub storage_encrypted: bool,
    /// `PubliclyAccessible`: a public DNS name resolving to a public IP.
    pub publicly_accessible: bool,
    /// `ManageMasterUserPassword`: RDS generates the master password and keeps it in
    /// a Secrets Manager secret it manages.
    pub managed_master_password: bool,
    /// The DB subnet group (`DBSubnetGroupName`); replaces the instance when changed.
    pub subnet_group: Ref,
    /// `VPCSecurityGroups` of the instance.
    pub security_groups: Vec<Ref>,
}

/// The single container of a task definition (one entry of `ContainerDefinitions`,
/// always `Essential`, logging with `awslogs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Container `Name`, also its port mapping's name and the `awslogs-stream-prefix`;
    /// for a service's task, the service's name (the load balancer's `ContainerName`).
    pub name: String,
    /// The ECR repository the image comes from (`Image` = its URI + `:` + `image_tag`).
    pub image_repository: Ref,
    /// Image tag (`Image` suffix), e.g. a commit SHA.
    pub image_tag: String,
    /// 0: no port mapping (the debug task listens on nothing).
    pub port: u16,
    /// Overrides the image's `CMD` (`Command`); `None` keeps it.
    pub command: Option<Vec<String>>,
    /// Plain environment variables (`Environment`), name → value; a `${id}` value becomes
    /// that resource's ARN (a Postgres instance's: its endpoint address).
    pub environment: BTreeMap<String, String>,
    /// Variable name → secret (`${secret-id}` or an external ARN).
    pub secrets: BTreeMap<String, Ref>,
    /// Empty: no container health check (the debug task).
    pub health_command: Vec<String>,
    /// The log group the `awslogs` driver writes to (`awslogs-group`).
    pub log_group: Ref,
    /// `ReadonlyRootFilesystem`.
    pub read_only_root: bool,
    /// `User` the process runs as: a uid (`10001` for services, `root` for the debug
    /// task), `uid:gid` or a user name.
    pub user: String,
    /// Runs an init process as PID 1 (`LinuxParameters.InitProcessEnabled`), which
    /// reaps zombies and forwards signals.
    pub init_process: bool,
}

/// A Fargate task definition (`AWS::ECS::TaskDefinition`, network mode `awsvpc`),
/// family `<stack>-<env>-<id>`. Every change registers a new revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinitionSpec {
    /// Task CPU units (`Cpu`): 1024 = 1 vCPU; Fargate takes 256, 512, 1024, 2048, 4096…
    pub cpu: i32,
    /// Task memory in MiB (`Memory`); the allowed values depend on `cpu` (512–2048 for
    /// 256, …).
    pub memory: i32,
    /// Role ECS uses to pull the image, read secrets and write logs
    /// (`ExecutionRoleArn`).
    pub execution_role: Ref,
    /// Role the application's AWS calls run as (`TaskRoleArn`).
    pub task_role: Ref,
    /// The task's only container.
    pub container: ContainerSpec,
}

/// ECS Service Connect of a service (`ServiceConnectConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceConnectSpec {
    /// The Cloud Map namespace the service joins (`Namespace`).
    pub namespace: Ref,
    /// Set when the service accepts calls: the DNS name callers use.
    pub server_name: Option<String>,
}

/// An ECS service on Fargate (`AWS::ECS::Service`, `LaunchType: FARGATE`), named
/// `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// The cluster it runs in (`Cluster`); replaces the service when changed.
    pub cluster: Ref,
    /// The task definition revision it runs (`TaskDefinition`).
    pub task_definition: Ref,
    /// Tasks to keep running (`DesiredCount`); autoscaling moves it within its target's
    /// bounds.
    pub desired_count: i32,
    /// Subnets of the tasks' network interfaces (`AwsvpcConfiguration.Subnets`).
    pub subnets: Vec<Ref>,
    /// `AwsvpcConfiguration.SecurityGroups` of the tasks.
    pub security_groups: Vec<Ref>,
    /// `AssignPublicIp` (`ENABLED` / `DISABLED`): needed in public subnets without a
    /// NAT gateway to pull images.
    pub assign_public_ip: bool,
    /// Target group the tasks register in (`LoadBalancers`); `None` for a service the
    /// load balancer does not reach. Replaces the service when changed.
    pub target_group: Option<Ref>,
    /// Container port registered in the target group and offered through Service
    /// Connect; replaces the service when changed.
    pub container_port: u16,
    /// Fields moto does not store (see README); compared only when AWS reports them.
    pub enable_execute_command: bool,
    /// Deployment circuit breaker with automatic rollback
    /// (`DeploymentCircuitBreaker.Enable` and `.Rollback`).
    pub circuit_breaker_rollback: bool,
    /// Service Connect configuration; `None`: the service does not join a namespace.
    pub service_connect: Option<ServiceConnectSpec>,
    /// Created before its image was pushed: no tasks (desired 0, autoscaling 0-0) until
    /// the first `provision deploy` starts it at its configured counts. Set by `up` from
    /// what it observes (the provisioner's `first_release`), never by the constructs;
    /// carried by the service's [`crate::settings::ecs::AWAITING_RELEASE_TAG`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_release: bool,
}

/// An Application Auto Scaling target on a service's desired count
/// (`AWS::ApplicationAutoScaling::ScalableTarget`, `ecs:service:DesiredCount`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalableTargetSpec {
    /// The ECS service scaled (`ResourceId` `service/<cluster>/<service>`); replaces the
    /// target when changed.
    pub service: Ref,
    /// `MinCapacity`: fewest tasks.
    pub min: i32,
    /// `MaxCapacity`: most tasks.
    pub max: i32,
}

/// The predefined metric a target-tracking policy follows
/// (`PredefinedMetricType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    /// `ECSServiceAverageCPUUtilization`, in percent.
    Cpu,
    /// `ECSServiceAverageMemoryUtilization`, in percent.
    Memory,
    /// `ALBRequestCountPerTarget`: requests per target per minute.
    AlbRequestsPerTarget {
        /// The load balancer (first half of `ResourceLabel`).
        load_balancer: Ref,
        /// The target group (second half of `ResourceLabel`).
        target_group: Ref,
    },
}

/// A target-tracking scaling policy (`AWS::ApplicationAutoScaling::ScalingPolicy`,
/// `TargetTrackingScaling`); cooldowns come from `settings::autoscaling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicySpec {
    /// The scalable target it scales (`ScalingTargetId`); replaces the policy when
    /// changed.
    pub target: Ref,
    /// The metric tracked; replaces the policy when changed.
    pub metric: ScalingMetric,
    /// Value the metric is kept at (`TargetValue`): percent for CPU/memory, requests
    /// per target for ALB requests.
    pub target_value: f64,
}

/// An SNS topic alarms notify (`[alarms] topic = "name"`); named by config, not by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Topic name (`TopicName`); replaces the topic when changed.
    pub name: String,
}

/// The stack's CloudWatch dashboard, named `<stack>-<env>` (dashboards cannot be tagged).
/// `body` is the dashboard JSON with `${id}` where a resource's CloudWatch name goes (its
/// load balancer / target group label, else its name); the region is added when it is
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSpec {
    /// Dashboard JSON (`DashboardBody`) with `${id}` placeholders.
    pub body: serde_json::Value,
}

/// One metric a CloudWatch alarm (or metric math) reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricStatSpec {
    /// CloudWatch namespace, e.g. `AWS/ApplicationELB`, `AWS/ECS`.
    pub namespace: String,
    /// Metric name (`MetricName`), e.g. `HTTPCode_Target_5XX_Count`.
    pub metric: String,
    /// Dimension name → value: `${id}` (that resource's label, else name) or a literal.
    pub dimensions: BTreeMap<String, Ref>,
    /// `Sum`, `Average`, `Maximum`, `p95`…
    pub stat: String,
    /// Period in seconds (`Period`): a multiple of 60 (10 and 30 only for high-resolution
    /// metrics).
    pub period: i32,
}

/// A metric data query of an alarm: a metric, or an expression over the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmQuery {
    /// Query id (`Id`): lower-case start, unique in the alarm; expressions use it.
    pub id: String,
    /// A metric math expression (`Expression`) over other queries' ids; `None` when
    /// `metric` is set.
    pub expression: Option<String>,
    /// The metric read (`MetricStat`); `None` when `expression` is set.
    pub metric: Option<MetricStatSpec>,
    /// Exactly one query per alarm returns data: what the threshold applies to.
    pub return_data: bool,
}

/// A CloudWatch metric alarm (`AWS::CloudWatch::Alarm`), named `<stack>-<env>-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSpec {
    /// `AlarmDescription`.
    pub description: String,
    /// `Metrics`: the queries, exactly one with `return_data`.
    pub queries: Vec<AlarmQuery>,
    /// `GreaterThanThreshold`, `LessThanThreshold`…
    pub comparison: String,
    /// `Threshold` the returned value is compared to.
    pub threshold: f64,
    /// `EvaluationPeriods`: periods looked at.
    pub evaluation_periods: i32,
    /// `DatapointsToAlarm`: breaching periods among `evaluation_periods` that raise
    /// the alarm.
    pub datapoints_to_alarm: i32,
    /// `notBreaching`, `breaching`, `missing`, `ignore`.
    pub treat_missing_data: String,
    /// SNS topics notified on ALARM and OK (`${topic}` or an external ARN).
    pub actions: Vec<Ref>,
}

/// A metric filter on a log group (untaggable: owned by its `<stack>-<env>-` name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFilterSpec {
    /// The log group filtered (`LogGroupName`); replaces the filter when changed.
    pub log_group: Ref,
    /// CloudWatch Logs filter pattern (`FilterPattern`), e.g. `"ERROR"`.
    pub pattern: String,
    /// Namespace of the metric emitted (`MetricNamespace`).
    pub namespace: String,
    /// Name of the metric emitted (`MetricName`).
    pub metric: String,
    /// The value emitted per matching event.
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_as_plans_write_it() {
        for kind in Kind::ALL {
            // A known variant fails on its missing fields, an unknown one on its name.
            let err = serde_json::from_value::<Spec>(serde_json::json!({"kind": kind.name()}))
                .expect_err("no spec without fields");
            assert!(
                !err.to_string().contains("unknown variant"),
                "{kind:?}: {err}"
            );
        }
    }

    /// Route 53 creates and deletes records with one action: a change batch of
    /// `CREATE`/`UPSERT`/`DELETE` changes (Route 53 API reference,
    /// ChangeResourceRecordSets).
    const ROUTE53_CHANGE: &str = "route53:ChangeResourceRecordSets";

    #[test]
    fn every_kind_says_how_it_is_written() {
        // `provision policy` grants these: a kind without them could not be created.
        for kind in Kind::ALL {
            let writes = kind.write_actions();
            assert!(
                writes.iter().any(|a| a.contains(":Create")
                    || a.contains(":Put")
                    || a.contains(":Register")
                    || a.contains(":Allocate")
                    || a.contains(":Request")
                    || *a == ROUTE53_CHANGE),
                "{kind:?}: {writes:?} create nothing"
            );
            assert!(
                writes.iter().any(|a| a.contains(":Delete")
                    || a.contains(":Deregister")
                    || *a == ROUTE53_CHANGE),
                "{kind:?}: {writes:?} delete nothing"
            );
            assert!(
                writes
                    .iter()
                    .all(|a| a.split_once(':').is_some_and(|(s, op)| {
                        !s.is_empty() && op.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    })),
                "{kind:?}: {writes:?} are not service:Operation actions"
            );
        }
    }

    #[test]
    fn every_kind_says_how_it_is_read() {
        // Observing a kind with no read action would fail for the GitHub deploy role.
        for kind in Kind::ALL {
            let reads = kind.read_actions();
            assert!(!reads.is_empty(), "{kind:?} lists no read action");
            assert!(
                reads
                    .iter()
                    .all(|a| a.split_once(':').is_some_and(|(s, op)| {
                        !s.is_empty()
                            && ["Describe", "List", "Get"]
                                .iter()
                                .any(|r| op.starts_with(r))
                    })),
                "{kind:?}: {reads:?} are not service:Describe…/List…/Get… actions"
            );
        }
    }
}

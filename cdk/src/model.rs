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

pub fn parse_ref(value: &str) -> Option<&str> {
    value.strip_prefix("${")?.strip_suffix('}')
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub spec: Spec,
    /// Ordering-only dependencies (no value flows, but AWS needs the order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

impl Resource {
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
        pub enum Spec { $($variant($ty)),+ }

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Kind { $($variant),+ }

        impl Spec {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VpcSpec {
    pub cidr: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternetGatewaySpec {
    pub vpc: Ref,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetSpec {
    pub vpc: Ref,
    pub cidr: String,
    /// AZ suffix (`a`), region-independent.
    pub az: String,
    /// Public subnets map public IPs on launch; private ones never do.
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatGatewaySpec {
    /// The public subnet it sits in (it gets its own Elastic IP).
    pub subnet: Ref,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTableSpec {
    pub vpc: Ref,
    /// Target of 0.0.0.0/0: an internet gateway or a NAT gateway.
    pub default_route: Ref,
    pub subnets: Vec<Ref>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IngressRule {
    pub port: u16,
    /// `${sg-id}` for a security group source, otherwise a CIDR.
    pub source: Ref,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    pub vpc: Ref,
    pub description: String,
    /// Sorted; TCP only.
    pub ingress: Vec<IngressRule>,
    /// false = no egress rule at all (data stores).
    pub egress_all: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositorySpec {
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    /// Lifecycle policy: keep the newest N images.
    pub keep_images: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogGroupSpec {
    pub retention_days: i32,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub container_insights: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceSpec {
    /// Cloud Map HTTP namespace used by Service Connect.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerSpec {
    pub scheme: String,
    pub subnets: Vec<Ref>,
    pub security_groups: Vec<Ref>,
    /// Drop request headers whose names are not `[-A-Za-z0-9]+` instead of passing them
    /// on to the services (ALB attribute `routing.http.drop_invalid_header_fields.enabled`).
    pub drop_invalid_headers: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupSpec {
    pub vpc: Ref,
    pub port: u16,
    pub health_path: String,
    pub sticky: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    Forward(Ref),
    NotFound,
    RedirectHttps,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerSpec {
    pub load_balancer: Ref,
    pub port: u16,
    pub protocol: String,
    pub certificate_arn: Option<String>,
    pub default_action: DefaultAction,
    /// The TLS security policy of an HTTPS listener (none for HTTP, where ELB has none
    /// either); left out of the JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerRuleSpec {
    pub listener: Ref,
    pub priority: i32,
    pub paths: Vec<String>,
    pub hosts: Vec<String>,
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
    RedisUrl { replication_group: Ref, auth: Ref },
    /// `postgres://<user>:<password>@<endpoint>:5432/<db>?sslmode=require`, from the
    /// RDS-managed master secret.
    DatabaseUrl { instance: Ref },
    /// A service's Postgres role: `{"username": <username>, "password": <random>}`, the
    /// shape of RDS-managed secrets. The service reads it at run time; the setup task
    /// sets the role's password from it.
    DatabaseRole { username: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretSpec {
    pub description: String,
    pub value: SecretValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetGroupSpec {
    pub subnets: Vec<Ref>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationGroupSpec {
    pub node_type: String,
    pub engine_version: String,
    pub replicas: u8,
    pub multi_az: bool,
    pub transit_encryption: bool,
    pub at_rest_encryption: bool,
    pub subnet_group: Ref,
    pub security_groups: Vec<Ref>,
    pub auth_secret: Ref,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInstanceSpec {
    pub instance_class: String,
    pub engine_version: String,
    pub database: String,
    pub username: String,
    pub allocated_storage_gb: i32,
    pub backup_retention_days: i32,
    pub multi_az: bool,
    pub deletion_protection: bool,
    pub storage_encrypted: bool,
    pub publicly_accessible: bool,
    pub managed_master_password: bool,
    pub subnet_group: Ref,
    pub security_groups: Vec<Ref>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image_repository: Ref,
    pub image_tag: String,
    /// 0: no port mapping (the debug task listens on nothing).
    pub port: u16,
    pub command: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    /// Variable name → secret (`${secret-id}` or an external ARN).
    pub secrets: BTreeMap<String, Ref>,
    /// Empty: no container health check (the debug task).
    pub health_command: Vec<String>,
    pub log_group: Ref,
    pub read_only_root: bool,
    pub user: String,
    pub init_process: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinitionSpec {
    pub cpu: i32,
    pub memory: i32,
    pub execution_role: Ref,
    pub task_role: Ref,
    pub container: ContainerSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceConnectSpec {
    pub namespace: Ref,
    /// Set when the service accepts calls: the DNS name callers use.
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub cluster: Ref,
    pub task_definition: Ref,
    pub desired_count: i32,
    pub subnets: Vec<Ref>,
    pub security_groups: Vec<Ref>,
    pub assign_public_ip: bool,
    pub target_group: Option<Ref>,
    pub container_port: u16,
    /// Fields moto does not store (see README); compared only when AWS reports them.
    pub enable_execute_command: bool,
    pub circuit_breaker_rollback: bool,
    pub service_connect: Option<ServiceConnectSpec>,
    /// Created before its image was pushed: no tasks (desired 0, autoscaling 0-0) until
    /// the first `provision deploy` starts it at its configured counts. Set by `up` from
    /// what it observes (the provisioner's `first_release`), never by the constructs;
    /// carried by the service's [`crate::settings::ecs::AWAITING_RELEASE_TAG`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_release: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalableTargetSpec {
    pub service: Ref,
    pub min: i32,
    pub max: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    Cpu,
    Memory,
    AlbRequestsPerTarget {
        load_balancer: Ref,
        target_group: Ref,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicySpec {
    pub target: Ref,
    pub metric: ScalingMetric,
    pub target_value: f64,
}

/// An SNS topic alarms notify (`[alarms] topic = "name"`); named by config, not by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
}

/// The stack's CloudWatch dashboard, named `<stack>-<env>` (dashboards cannot be tagged).
/// `body` is the dashboard JSON with `${id}` where a resource's CloudWatch name goes (its
/// load balancer / target group label, else its name); the region is added when it is
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSpec {
    pub body: serde_json::Value,
}

/// One metric a CloudWatch alarm (or metric math) reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricStatSpec {
    pub namespace: String,
    pub metric: String,
    /// Dimension name → value: `${id}` (that resource's label, else name) or a literal.
    pub dimensions: BTreeMap<String, Ref>,
    /// `Sum`, `Average`, `Maximum`, `p95`…
    pub stat: String,
    pub period: i32,
}

/// A metric data query of an alarm: a metric, or an expression over the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmQuery {
    pub id: String,
    pub expression: Option<String>,
    pub metric: Option<MetricStatSpec>,
    /// Exactly one query per alarm returns data: what the threshold applies to.
    pub return_data: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSpec {
    pub description: String,
    pub queries: Vec<AlarmQuery>,
    /// `GreaterThanThreshold`, `LessThanThreshold`…
    pub comparison: String,
    pub threshold: f64,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    /// `notBreaching`, `breaching`, `missing`, `ignore`.
    pub treat_missing_data: String,
    /// SNS topics notified on ALARM and OK (`${topic}` or an external ARN).
    pub actions: Vec<Ref>,
}

/// A metric filter on a log group (untaggable: owned by its `<stack>-<env>-` name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFilterSpec {
    pub log_group: Ref,
    pub pattern: String,
    pub namespace: String,
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

    #[test]
    fn every_kind_says_how_it_is_written() {
        // `provision policy` grants these: a kind without them could not be created.
        for kind in Kind::ALL {
            let writes = kind.write_actions();
            assert!(
                writes.iter().any(|a| a.contains(":Create")
                    || a.contains(":Put")
                    || a.contains(":Register")
                    || a.contains(":Allocate")),
                "{kind:?}: {writes:?} create nothing"
            );
            assert!(
                writes
                    .iter()
                    .any(|a| a.contains(":Delete") || a.contains(":Deregister")),
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

//! The IAM policy an operator needs to run `provision up` and `provision down` for one
//! stack and environment (`provision policy`), least privilege: the actions are those of
//! the resource kinds the stack uses (their `writes` in the
//! [`kinds!`](crate::model::kinds) table), every kind's `reads` (observing lists every
//! kind) and the few the commands call for the whole stack
//! ([`STACK_READS`], [`SCOPED_READS`], the lock), and each write is scoped as narrowly as its service allows
//! (the Service Authorization Reference, "Actions, resources, and condition keys for …"):
//!
//! - **By name** where the stack's AWS names are known in advance (`<stack>-<env>-<id>`,
//!   role path `/slipway/<stack>/<env>/`): IAM roles, CloudWatch Logs, ECR, ECS, RDS,
//!   ElastiCache, Secrets Manager, CloudWatch alarms and the dashboard, SNS topics, the lock
//!   parameter.
//! - **By tag** where AWS assigns the ids (EC2, Elastic Load Balancing, Cloud Map,
//!   Application Auto Scaling): creating only with the stack's ownership tags
//!   (`aws:RequestTag/slipway:stack` and `…/slipway:env`), changing and deleting only what
//!   carries them (`aws:ResourceTag/…`), tagging only as part of a create
//!   (`ec2:CreateAction`, `elasticloadbalancing:CreateAction`).
//! - **On `*`** only where the action takes no resource: the reads that list resources to
//!   find the stack's by tag, `ecs:DeregisterTaskDefinition`,
//!   `secretsmanager:GetRandomPassword`, `tag:GetResources`, `servicequotas:GetServiceQuota`.
//!
//! Region and account stay `*`: the names and tags carry the stack and environment.
//!
//! ```
//! use slipway_cdk::config::{repo_config_dir, StackConfig};
//!
//! let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
//! let resources = slipway_cdk::constructs::expand(&config);
//! let policy = slipway_cdk::policy::operator_policy("voting", "dev", &resources);
//! assert!(policy.allows_action("ec2:CreateVpc"));
//! println!("{}", serde_json::to_string_pretty(&policy.document()).unwrap());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{Kind, Resource, Spec};
use crate::names;
use crate::settings::tags;

/// Reads `up` and `down` call for the whole stack, beyond observing each kind: zones,
/// account quotas, the leftover scan, waiting on Cloud Map operations.
pub const STACK_READS: &[&str] = &[
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAvailabilityZones",
    "servicediscovery:GetOperation",
    "servicequotas:GetServiceQuota",
    "tag:GetResources",
];

/// Reads `up` and `down` call on resources of the stack (so granted on their names):
/// a repository's images (`up` waits for tasks only when the image is pushed) and the
/// stack's ECS services.
pub const SCOPED_READS: &[&str] = &["ecr:DescribeImages", "ecs:DescribeServices"];

/// The lock parameter's actions (`up` and `down` hold the stack's lock).
pub const LOCK_ACTIONS: &[&str] = &[
    "ssm:DeleteParameter",
    "ssm:GetParameter",
    "ssm:PutParameter",
];

/// Writes that take no resource (IAM's "*" only), per the Service Authorization Reference.
const RESOURCELESS: &[&str] = &[
    "ecs:DeregisterTaskDefinition",
    "secretsmanager:GetRandomPassword",
];

/// Services whose resources get AWS-assigned ids: scoped by the ownership tags, and the
/// action that tags at creation with the condition key naming that creation (`None`:
/// the service has no such key; the tags themselves are the condition).
const TAG_SCOPED: &[(&str, &str, Option<&str>)] = &[
    ("ec2", "ec2:CreateTags", Some("ec2:CreateAction")),
    (
        "elasticloadbalancing",
        "elasticloadbalancing:AddTags",
        Some("elasticloadbalancing:CreateAction"),
    ),
    ("servicediscovery", "servicediscovery:TagResource", None),
    (
        "application-autoscaling",
        "application-autoscaling:TagResource",
        None,
    ),
    // ACM takes aws:RequestTag on RequestCertificate and aws:ResourceTag on the rest.
    ("acm", "acm:AddTagsToCertificate", None),
];

/// What the tag-scoped statements of `service` name as resources once the resource exists
/// (changing, deleting, tagging): its ARN pattern where every resource of the kind has
/// one and the service's actions take it (ACM: `certificate/*`), else `*`.
fn tag_scoped_resources(service: &str) -> Vec<String> {
    match service {
        "acm" => vec!["arn:aws:acm:*:*:certificate/*".to_owned()],
        _ => vec!["*".to_owned()],
    }
}

/// Creates of tag-scoped services that carry no tags (they add to a tagged resource).
const UNTAGGED_CREATES: &[&str] = &["ec2:CreateRoute"];

/// One statement of the policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// What the statement is for (the policy's `Sid`).
    pub sid: String,
    /// Sorted action names.
    pub actions: Vec<String>,
    /// Sorted ARN patterns (`*` where the actions take no resource).
    pub resources: Vec<String>,
    /// Operator → condition key → values (empty: none).
    pub conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The operator's policy for one stack and environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorPolicy {
    /// The stack it is for.
    pub stack: String,
    /// The environment it is for.
    pub env: String,
    /// Its statements, reads first.
    pub statements: Vec<Statement>,
}

impl OperatorPolicy {
    /// The IAM policy document (JSON), as `provision policy` prints it.
    pub fn document(&self) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut statement = json!({
                    "Sid": s.sid,
                    "Effect": "Allow",
                    "Action": s.actions,
                    "Resource": s.resources,
                });
                if !s.conditions.is_empty() {
                    statement["Condition"] = json!(s.conditions);
                }
                statement
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    /// Every action some statement allows (on some resource), sorted.
    pub fn actions(&self) -> BTreeSet<&str> {
        self.statements
            .iter()
            .flat_map(|s| s.actions.iter().map(String::as_str))
            .collect()
    }

    /// Whether some statement allows `action` (on some resource, under some condition).
    pub fn allows_action(&self, action: &str) -> bool {
        self.actions().contains(action)
    }
}

/// The stack's AWS names and ownership tags, as ARN patterns and condition values.
struct Scope<'a> {
    stack: &'a str,
    env: &'a str,
    /// `<stack>-<env>-`: every named resource of the stack starts with it.
    prefix: String,
}

impl Scope<'_> {
    fn own_tags(&self, key: &str) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            (
                format!("{key}/{}", tags::STACK),
                vec![self.stack.to_owned()],
            ),
            (format!("{key}/{}", tags::ENV), vec![self.env.to_owned()]),
        ])
    }

    /// ARN patterns of the stack's resources of `service` (by name).
    fn named(&self, service: &str, resources: &[Resource]) -> Vec<String> {
        let p = &self.prefix;
        match service {
            "iam" => vec![format!(
                "arn:aws:iam::*:role{}*",
                names::role_path(self.stack, self.env)
            )],
            "logs" => vec![
                format!("arn:aws:logs:*:*:log-group:{p}*"),
                format!("arn:aws:logs:*:*:log-group:{p}*:*"),
            ],
            "ecr" => vec![format!("arn:aws:ecr:*:*:repository/{p}*")],
            "ecs" => vec![
                format!("arn:aws:ecs:*:*:cluster/{p}*"),
                format!("arn:aws:ecs:*:*:service/{p}*/{p}*"),
                format!("arn:aws:ecs:*:*:task-definition/{p}*:*"),
            ],
            // Instances take the engine's default option and parameter groups.
            "rds" => vec![
                format!("arn:aws:rds:*:*:db:{p}*"),
                format!("arn:aws:rds:*:*:subgrp:{p}*"),
                format!("arn:aws:rds:*:*:snapshot:{p}*"),
                "arn:aws:rds:*:*:og:default*".to_owned(),
                "arn:aws:rds:*:*:pg:default*".to_owned(),
            ],
            // Groups take the engine's default parameter group; nodes are clusters.
            "elasticache" => vec![
                format!("arn:aws:elasticache:*:*:replicationgroup:{p}*"),
                format!("arn:aws:elasticache:*:*:cluster:{p}*"),
                format!("arn:aws:elasticache:*:*:subnetgroup:{p}*"),
                format!("arn:aws:elasticache:*:*:snapshot:{p}*"),
                "arn:aws:elasticache:*:*:parametergroup:default*".to_owned(),
            ],
            "secretsmanager" => vec![format!("arn:aws:secretsmanager:*:*:secret:{p}*")],
            // Target tracking policies make the caller manage their alarms.
            "cloudwatch" => vec![
                format!("arn:aws:cloudwatch:*:*:alarm:{p}*"),
                format!("arn:aws:cloudwatch:*:*:alarm:TargetTracking-service/{p}*"),
                format!(
                    "arn:aws:cloudwatch::*:dashboard/{}",
                    names::dashboard_name(self.stack, self.env)
                ),
            ],
            // Topics are named by the config, not by id.
            "sns" => resources
                .iter()
                .filter_map(|r| match &r.spec {
                    Spec::Topic(topic) => Some(format!("arn:aws:sns:*:*:{}", topic.name)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn statement(
    sid: &str,
    actions: impl IntoIterator<Item = impl Into<String>>,
    resources: Vec<String>,
    conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Statement {
    let mut actions: Vec<String> = actions.into_iter().map(Into::into).collect();
    actions.sort();
    actions.dedup();
    let mut resources = resources;
    resources.sort();
    resources.dedup();
    Statement {
        sid: sid.to_owned(),
        actions,
        resources,
        conditions,
    }
}

fn sid(service: &str, what: &str) -> String {
    let camel: String = service
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    format!("{camel}{what}")
}

/// The least-privilege policy for running `up` and `down` on `resources` (the expanded
/// stack `stack`-`env`); see the module docs for how each service is scoped.
pub fn operator_policy(stack: &str, env: &str, resources: &[Resource]) -> OperatorPolicy {
    let scope = Scope {
        stack,
        env,
        prefix: names::resource_name(stack, env, ""),
    };
    let kinds: BTreeSet<Kind> = resources.iter().map(Resource::kind).collect();
    let mut statements = Vec::new();

    // Observing lists every kind, used or not (a kind the config dropped is still found).
    let mut reads: BTreeSet<&str> = STACK_READS.iter().copied().collect();
    reads.extend(Kind::all_read_actions());
    statements.push(statement("Read", reads, vec!["*".into()], BTreeMap::new()));
    statements.push(statement(
        "StackLock",
        LOCK_ACTIONS.iter().copied(),
        vec![format!(
            "arn:aws:ssm:*:*:parameter{}",
            names::lock_parameter_name(stack, env)
        )],
        BTreeMap::new(),
    ));

    // Writes by service.
    let mut by_service: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for read in SCOPED_READS {
        let service = read.split_once(':').map_or("", |(s, _)| s);
        let prefix = format!("{service}:");
        let used = kinds
            .iter()
            .any(|k| k.write_actions().iter().any(|w| w.starts_with(&prefix)));
        if used {
            by_service.entry(service).or_default().insert(read);
        }
    }
    for kind in &kinds {
        for action in kind.write_actions() {
            if let Some((service, _)) = action.split_once(':') {
                by_service.entry(service).or_default().insert(action);
            }
        }
    }
    let resourceless: Vec<&str> = by_service
        .values()
        .flatten()
        .copied()
        .filter(|a| RESOURCELESS.contains(a))
        .collect();
    if !resourceless.is_empty() {
        statements.push(statement(
            "NoResourceLevelPermissions",
            resourceless,
            vec!["*".into()],
            BTreeMap::new(),
        ));
    }
    for (service, actions) in &by_service {
        let actions: Vec<&str> = actions
            .iter()
            .copied()
            .filter(|a| !RESOURCELESS.contains(a))
            .collect();
        if let Some((_, tagging, create_key)) = TAG_SCOPED.iter().find(|t| t.0 == *service) {
            let mut scoped = tag_scoped(&scope, service, &actions, tagging, *create_key);
            if *service == "acm" {
                limit_certificate_requests(&mut scoped, resources);
            }
            statements.extend(scoped);
        } else if *service == "iam" {
            statements.extend(iam(&scope, &actions, resources));
        } else if *service == "route53" {
            statements.extend(route53(&actions, resources));
        } else {
            let arns = scope.named(service, resources);
            statements.push(statement(
                &sid(service, "Stack"),
                actions,
                arns,
                BTreeMap::new(),
            ));
        }
    }
    statements.extend(rds_managed_secret(&scope, resources));
    statements.extend(service_linked_roles(&kinds));
    OperatorPolicy {
        stack: stack.to_owned(),
        env: env.to_owned(),
        statements,
    }
}

/// Create with the ownership tags; change, delete (and use as the parent of a create)
/// what carries them; tag only while creating.
fn tag_scoped(
    scope: &Scope,
    service: &str,
    actions: &[&str],
    tagging: &str,
    create_key: Option<&str>,
) -> Vec<Statement> {
    let creates: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| {
            let op = a.split_once(':').map_or("", |(_, op)| op);
            (op.starts_with("Create")
                || op.starts_with("Allocate")
                || op.starts_with("Register")
                || op.starts_with("Request"))
                && *a != tagging
                && !UNTAGGED_CREATES.contains(a)
        })
        .collect();
    // Creates stay in the change statement where they act on an existing parent (EC2's
    // subnets in a tagged VPC); where the resources have an ARN pattern of their own the
    // creates have no parent (ACM) and the pattern would not match them anyway.
    let own_pattern = tag_scoped_resources(service) != ["*"];
    let changes: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| *a != tagging && !(own_pattern && creates.contains(a)))
        .collect();
    let mut statements = vec![
        statement(
            &sid(service, "CreateTagged"),
            creates.iter().copied(),
            vec!["*".into()],
            BTreeMap::from([("StringEquals".to_owned(), scope.own_tags("aws:RequestTag"))]),
        ),
        statement(
            &sid(service, "ChangeTagged"),
            changes,
            tag_scoped_resources(service),
            BTreeMap::from([("StringEquals".to_owned(), scope.own_tags("aws:ResourceTag"))]),
        ),
    ];
    if actions.contains(&tagging) {
        let conditions = match create_key {
            Some(key) => {
                let names: Vec<String> = creates
                    .iter()
                    .map(|a| a.split_once(':').map_or("", |(_, op)| op).to_owned())
                    .collect();
                BTreeMap::from([(key.to_owned(), names)])
            }
            None => scope.own_tags("aws:RequestTag"),
        };
        statements.push(statement(
            &sid(service, "TagOnCreate"),
            [tagging],
            tag_scoped_resources(service),
            BTreeMap::from([("StringEquals".to_owned(), conditions)]),
        ));
    }
    statements
}

/// Certificates requested only for the stack's `[domain]` names and only with DNS
/// validation (ACM's condition keys of RequestCertificate, Service Authorization
/// Reference: "Actions, resources, and condition keys for AWS Certificate Manager").
fn limit_certificate_requests(statements: &mut [Statement], resources: &[Resource]) {
    let names: BTreeSet<String> = resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::Certificate(c) => {
                Some(std::iter::once(c.domain_name.clone()).chain(c.alternative_names.clone()))
            }
            _ => None,
        })
        .flatten()
        .collect();
    let create = sid("acm", "CreateTagged");
    for statement in statements.iter_mut().filter(|s| s.sid == create) {
        statement.conditions.insert(
            "ForAllValues:StringEquals".to_owned(),
            BTreeMap::from([(
                "acm:DomainNames".to_owned(),
                names.iter().cloned().collect(),
            )]),
        );
        statement
            .conditions
            .entry("StringEquals".to_owned())
            .or_default()
            .insert("acm:ValidationMethod".to_owned(), vec!["DNS".to_owned()]);
    }
}

/// Record changes only in the `[domain]`'s hosted zone (any zone while `up` has still to
/// find it by name), only of the domain's names and its subdomains (the alias records
/// and ACM's validation records, `_….<domain>`), only of the two record types the stack
/// writes (condition keys of ChangeResourceRecordSets, Service Authorization Reference:
/// "Actions, resources, and condition keys for Amazon Route 53").
fn route53(actions: &[&str], resources: &[Resource]) -> Vec<Statement> {
    let mut zones = BTreeSet::new();
    let mut names = BTreeSet::new();
    for resource in resources {
        if let Spec::Certificate(certificate) = &resource.spec {
            let zone = match crate::domain::zone_lookup_name(&certificate.zone) {
                Some(_) => "*",
                None => crate::domain::bare_zone_id(&certificate.zone),
            };
            zones.insert(format!("arn:aws:route53:::hostedzone/{zone}"));
            names.insert(certificate.domain_name.clone());
            names.insert(format!("*.{}", certificate.domain_name));
        }
    }
    if actions.is_empty() || zones.is_empty() {
        return Vec::new();
    }
    vec![statement(
        "Route53DomainRecords",
        actions.iter().copied(),
        zones.into_iter().collect(),
        BTreeMap::from([
            (
                "ForAllValues:StringLike".to_owned(),
                BTreeMap::from([(
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames".to_owned(),
                    names.into_iter().collect(),
                )]),
            ),
            (
                "ForAllValues:StringEquals".to_owned(),
                BTreeMap::from([(
                    "route53:ChangeResourceRecordSetsRecordTypes".to_owned(),
                    vec!["A".to_owned(), "CNAME".to_owned()],
                )]),
            ),
        ]),
    )]
}

/// Roles under the stack's path, passed only to ECS; the GitHub OIDC provider by its URL.
fn iam(scope: &Scope, actions: &[&str], resources: &[Resource]) -> Vec<Statement> {
    let roles = scope.named("iam", resources);
    let (oidc, role_actions): (Vec<&str>, Vec<&str>) = actions
        .iter()
        .copied()
        .filter(|a| *a != "iam:PassRole")
        .partition(|a| a.contains("OpenIDConnectProvider"));
    let mut statements = vec![statement(
        "IamStackRoles",
        role_actions,
        roles.clone(),
        BTreeMap::new(),
    )];
    if actions.contains(&"iam:PassRole") {
        statements.push(statement(
            "IamPassStackRolesToEcs",
            ["iam:PassRole"],
            roles,
            BTreeMap::from([(
                "StringEquals".to_owned(),
                BTreeMap::from([(
                    "iam:PassedToService".to_owned(),
                    vec![
                        "ecs-tasks.amazonaws.com".to_owned(),
                        "ecs.amazonaws.com".to_owned(),
                    ],
                )]),
            )]),
        ));
    }
    let providers: Vec<String> = resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::OidcProvider(p) => Some(format!(
                "arn:aws:iam::*:oidc-provider/{}",
                p.url.trim_start_matches("https://")
            )),
            _ => None,
        })
        .collect();
    if !oidc.is_empty() && !providers.is_empty() {
        statements.push(statement(
            "IamGithubOidcProvider",
            oidc,
            providers,
            BTreeMap::new(),
        ));
    }
    statements
}

/// RDS keeps the master password of an instance with a managed password in a secret of
/// its own (`rds!db-…`), created with the caller's permissions and tagged by RDS with the
/// instance's ARN; `up` reads it to write `DATABASE_URL`. Scoped to secrets of this
/// stack's instances by that tag.
fn rds_managed_secret(scope: &Scope, resources: &[Resource]) -> Vec<Statement> {
    let managed = resources
        .iter()
        .any(|r| matches!(&r.spec, Spec::DbInstance(db) if db.managed_master_password));
    if !managed {
        return Vec::new();
    }
    let instance_tag = |key: &str| {
        BTreeMap::from([(
            "StringLike".to_owned(),
            BTreeMap::from([(
                format!("{key}/aws:rds:primaryDBInstanceArn"),
                vec![format!("arn:aws:rds:*:*:db:{}*", scope.prefix)],
            )]),
        )])
    };
    let secrets = || vec!["arn:aws:secretsmanager:*:*:secret:rds!*".to_owned()];
    vec![
        statement(
            "RdsManagedMasterSecretCreate",
            ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
            secrets(),
            instance_tag("aws:RequestTag"),
        ),
        statement(
            "RdsManagedMasterSecretRead",
            ["secretsmanager:GetSecretValue"],
            secrets(),
            instance_tag("aws:ResourceTag"),
        ),
    ]
}

/// Services that create a service-linked role the first time an account uses them (with
/// the caller's permission), per kind.
fn service_linked_roles(kinds: &BTreeSet<Kind>) -> Option<Statement> {
    let services: BTreeSet<&str> = kinds
        .iter()
        .filter_map(|kind| match kind {
            Kind::Cluster | Kind::Service => Some("ecs.amazonaws.com"),
            Kind::LoadBalancer => Some("elasticloadbalancing.amazonaws.com"),
            Kind::DbInstance => Some("rds.amazonaws.com"),
            Kind::ReplicationGroup => Some("elasticache.amazonaws.com"),
            Kind::ScalableTarget => Some("ecs.application-autoscaling.amazonaws.com"),
            _ => None,
        })
        .collect();
    let services: Vec<String> = services.into_iter().map(str::to_owned).collect();
    (!services.is_empty()).then(|| {
        statement(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            vec!["arn:aws:iam::*:role/aws-service-role/*".into()],
            BTreeMap::from([(
                "StringEquals".to_owned(),
                BTreeMap::from([("iam:AWSServiceName".to_owned(), services)]),
            )]),
        )
    })
}

#[cfg(test)]
mod tests;

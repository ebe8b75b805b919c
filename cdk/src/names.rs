//! Every name and free text the provisioner sends to AWS, how it is composed, and the
//! length and character rules AWS's API references document for it. Pure: no SDK calls.
//!
//! The AWS layer sends exactly what the composing functions here return
//! ([`resource_name`], [`dashboard_name`], [`role_path`], [`INLINE_POLICY_NAME`],
//! [`final_snapshot_id`]) or what the expansion's specs carry (descriptions, topic and
//! namespace names), and [`crate::stack::check_names`] validates those same values.
//! `StackConfig::parse` runs it, so a stack or environment whose names AWS would refuse
//! fails when its config is loaded — before any AWS call, `plan --offline` included —
//! instead of halfway through an `up`.
//!
//! Names are never shortened or hashed to fit: a name that is too long is an error
//! naming the resource, the AWS name, the rule and the limit, and saying how long
//! `--env` may be. Predictable names (`<stack>-<env>-<logical id>`) are what `plan`
//! finds resources by and what operators type in the console, so they are kept whole.
//!
//! moto enforces few of these rules; real AWS enforces all of them. When an `aws/*.rs`
//! create function starts sending a new name or text, add it to [`texts_of`].

use std::fmt;

use crate::model::{Resource, Spec};

/// The CloudWatch namespace of a stack's own metrics (`Slipway/<stack>-<env>`): services
/// log them as Embedded Metric Format lines, metric filters write them.
///
/// ```
/// assert_eq!(slipway_cdk::names::metrics_namespace("voting", "dev"), "Slipway/voting-dev");
/// ```
pub fn metrics_namespace(stack: &str, env: &str) -> String {
    format!("Slipway/{stack}-{env}")
}

/// `<stack>-<env>-<id>`: the AWS name of most resources (`Aws::name`).
pub fn resource_name(stack: &str, env: &str, id: &str) -> String {
    format!("{stack}-{env}-{id}")
}

/// `<stack>-<env>`: the stack's CloudWatch dashboard (dashboards cannot be tagged, so the
/// name is how `plan` finds it).
pub fn dashboard_name(stack: &str, env: &str) -> String {
    format!("{stack}-{env}")
}

/// `/slipway/<stack>/<env>/`: the IAM path of the stack's roles (how `down` finds them).
pub fn role_path(stack: &str, env: &str) -> String {
    format!("/slipway/{stack}/{env}/")
}

/// The name of each role's single inline policy.
pub const INLINE_POLICY_NAME: &str = "slipway";

/// The SSM parameter holding the stack's lock (the provisioner's `lock` module takes it
/// for `up`, `down`, `deploy` and `rollback`; the GitHub deploy role may write it).
pub fn lock_parameter_name(stack: &str, env: &str) -> String {
    format!("/slipway/{stack}/{env}/lock")
}

/// The final snapshot taken before an RDS instance or ElastiCache replication group is
/// deleted: `<name>-final-<unix seconds>`.
pub fn final_snapshot_id(instance: &str, unix_seconds: u64) -> String {
    format!("{instance}-final-{unix_seconds}")
}

/// The largest Unix time [`crate::stack::check_names`] assumes for [`final_snapshot_id`] (ten digits: good
/// until the year 2286).
const LONGEST_UNIX_SECONDS: u64 = 9_999_999_999;

/// A constraint on the shape of a value beyond its length and characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The first character is a letter.
    LetterFirst,
    /// Does not start with a hyphen.
    NoLeadingHyphen,
    /// Does not end with a hyphen.
    NoTrailingHyphen,
    /// No two hyphens in a row.
    NoDoubleHyphen,
    /// Does not start with this prefix.
    NotPrefix(&'static str),
    /// Is not exactly this word.
    NotExactly(&'static str),
    /// Does not end in a hyphen and six characters (Secrets Manager appends `-xxxxxx` to
    /// its ARNs; such a name makes partial-ARN lookups ambiguous).
    NoSixCharacterSuffix,
    /// `/`, or `/…/` (IAM paths).
    SlashDelimited,
    /// ECR's repository pattern: `/`-separated components of lowercase letters and
    /// digits, joined inside a component by `.`, `_`, `__` or runs of `-`.
    EcrComponents,
}

impl Shape {
    fn holds(self, value: &str) -> bool {
        match self {
            Shape::LetterFirst => value.starts_with(|c: char| c.is_ascii_alphabetic()),
            Shape::NoLeadingHyphen => !value.starts_with('-'),
            Shape::NoTrailingHyphen => !value.ends_with('-'),
            Shape::NoDoubleHyphen => !value.contains("--"),
            Shape::NotPrefix(prefix) => !value.to_ascii_lowercase().starts_with(prefix),
            Shape::NotExactly(word) => !value.eq_ignore_ascii_case(word),
            Shape::NoSixCharacterSuffix => value
                .rsplit_once('-')
                .is_none_or(|(_, tail)| tail.chars().count() != 6),
            Shape::SlashDelimited => {
                value == "/" || (value.len() > 2 && value.starts_with('/') && value.ends_with('/'))
            }
            Shape::EcrComponents => value.split('/').all(ecr_component),
        }
    }

    fn describe(self) -> String {
        match self {
            Shape::LetterFirst => "must start with a letter".into(),
            Shape::NoLeadingHyphen => "must not start with a hyphen".into(),
            Shape::NoTrailingHyphen => "must not end with a hyphen".into(),
            Shape::NoDoubleHyphen => "must not contain two hyphens in a row".into(),
            Shape::NotPrefix(prefix) => format!("must not start with `{prefix}`"),
            Shape::NotExactly(word) => format!("must not be `{word}`"),
            Shape::NoSixCharacterSuffix => {
                "must not end with a hyphen and six characters (Secrets Manager's ARN suffix)"
                    .into()
            }
            Shape::SlashDelimited => "must be `/` or start and end with `/`".into(),
            Shape::EcrComponents => "must be `/`-separated lowercase letters and digits joined by `.`, `_`, `__` or hyphens (no separator first, last or doubled)".into(),
        }
    }
}

/// One component of an ECR repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn ecr_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !component.starts_with(alnum) || !component.ends_with(alnum) {
        return false;
    }
    // Every run of separators between alphanumerics is `.`, `_`, `__` or hyphens only.
    component
        .split(alnum)
        .filter(|run| !run.is_empty())
        .all(|run| run == "." || run == "_" || run == "__" || run.chars().all(|c| c == '-'))
}

/// What AWS accepts for one name or text, as its API reference documents it.
#[derive(Debug)]
pub struct Rule {
    /// What the value is, in the operator's words (`target group name`).
    pub what: &'static str,
    /// The API parameter and where AWS documents it.
    pub source: &'static str,
    /// Shortest length, in characters.
    pub min: usize,
    /// Longest length, in characters.
    pub max: usize,
    /// Which characters are allowed.
    pub allowed: fn(char) -> bool,
    /// The same, in words.
    pub allowed_text: &'static str,
    /// Further constraints on the value's shape.
    pub shape: &'static [Shape],
}

/// Why a value breaks its [`Rule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Longer than the rule allows.
    TooLong {
        /// The value's length, in characters.
        len: usize,
        /// The most the rule allows.
        max: usize,
    },
    /// Shorter than the rule requires.
    TooShort {
        /// The value's length, in characters.
        len: usize,
        /// The fewest the rule requires.
        min: usize,
    },
    /// The first character the rule does not allow.
    Character(char),
    /// A shape constraint the value breaks.
    Shape(Shape),
}

impl Rule {
    /// Checks `value` against the rule: length first, then characters, then shape.
    pub fn check(&self, value: &str) -> Result<(), Violation> {
        let len = value.chars().count();
        if len > self.max {
            return Err(Violation::TooLong { len, max: self.max });
        }
        if len < self.min {
            return Err(Violation::TooShort { len, min: self.min });
        }
        if let Some(bad) = value.chars().find(|c| !(self.allowed)(*c)) {
            return Err(Violation::Character(bad));
        }
        match self.shape.iter().find(|shape| !shape.holds(value)) {
            Some(shape) => Err(Violation::Shape(*shape)),
            None => Ok(()),
        }
    }

    /// The violation in words, for error messages.
    pub fn explain(&self, violation: &Violation) -> String {
        match violation {
            Violation::TooLong { len, max } => {
                format!("is {len} characters, AWS allows at most {max}")
            }
            Violation::TooShort { len, min } => {
                format!("is {len} characters, AWS needs at least {min}")
            }
            Violation::Character(c) => format!(
                "contains {c:?}, which AWS does not allow (allowed: {})",
                self.allowed_text
            ),
            Violation::Shape(shape) => shape.describe(),
        }
    }
}

fn alnum_hyphen(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}
/// Lowercase only where AWS stores the value lowercased: an uppercase name would come
/// back different from what the config says and `plan` would never find it.
fn lower_alnum_hyphen(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}
fn alnum_underscore_hyphen(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}
fn security_group_text(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}
fn iam_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}
fn any_char(_: char) -> bool {
    true
}
fn not_control(c: char) -> bool {
    !c.is_control()
}

/// Free text with only a length limit (descriptions).
const fn free_text(what: &'static str, source: &'static str, min: usize, max: usize) -> Rule {
    Rule {
        what,
        source,
        min,
        max,
        allowed: any_char,
        allowed_text: "any",
        shape: &[],
    }
}

/// ECS names: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and
/// hyphens are allowed."
const fn ecs_name(what: &'static str, source: &'static str) -> Rule {
    Rule {
        what,
        source,
        min: 1,
        max: 255,
        allowed: alnum_underscore_hyphen,
        allowed_text: "letters, digits, `_` and `-`",
        shape: &[],
    }
}

/// ElastiCache and RDS identifiers: stored lowercase, a letter first, no trailing hyphen,
/// no two hyphens in a row.
const fn lowercase_identifier(what: &'static str, source: &'static str, max: usize) -> Rule {
    Rule {
        what,
        source,
        min: 1,
        max,
        allowed: lower_alnum_hyphen,
        allowed_text: "lowercase letters, digits and hyphens",
        shape: &[
            Shape::LetterFirst,
            Shape::NoTrailingHyphen,
            Shape::NoDoubleHyphen,
        ],
    }
}

/// EC2 CreateSecurityGroup `GroupName`: "Up to 255 characters in length. Cannot start
/// with sg-. Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*".
pub static SECURITY_GROUP_NAME: Rule = Rule {
    what: "security group name",
    source: "EC2 API Reference, CreateSecurityGroup GroupName",
    min: 1,
    max: 255,
    allowed: security_group_text,
    allowed_text: "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
    shape: &[Shape::NotPrefix("sg-")],
};

/// EC2 CreateSecurityGroup `Description`: "Up to 255 characters in length. Valid
/// characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*" (no apostrophe).
pub static SECURITY_GROUP_DESCRIPTION: Rule = Rule {
    what: "security group description",
    source: "EC2 API Reference, CreateSecurityGroup Description",
    shape: &[],
    ..SECURITY_GROUP_NAME
};

/// EC2 `Tag` `Value` (the `Name` tag of VPC resources): "a maximum of 256 Unicode
/// characters".
pub static EC2_TAG_VALUE: Rule = free_text("Name tag", "EC2 API Reference, Tag Value", 0, 256);

/// ELBv2 CreateLoadBalancer `Name`: "a maximum of 32 characters, must contain only
/// alphanumeric characters or hyphens, must not begin or end with a hyphen, and must not
/// begin with \"internal-\"".
pub static LOAD_BALANCER: Rule = Rule {
    what: "load balancer name",
    source: "Elastic Load Balancing API Reference, CreateLoadBalancer Name",
    min: 1,
    max: 32,
    allowed: alnum_hyphen,
    allowed_text: "letters, digits and hyphens",
    shape: &[
        Shape::NoLeadingHyphen,
        Shape::NoTrailingHyphen,
        Shape::NotPrefix("internal-"),
    ],
};

/// ELBv2 CreateTargetGroup `Name`: "a maximum of 32 characters, must contain only
/// alphanumeric characters or hyphens, and must not begin or end with a hyphen".
pub static TARGET_GROUP: Rule = Rule {
    what: "target group name",
    source: "Elastic Load Balancing API Reference, CreateTargetGroup Name",
    shape: &[Shape::NoLeadingHyphen, Shape::NoTrailingHyphen],
    ..LOAD_BALANCER
};

/// ElastiCache CreateReplicationGroup `ReplicationGroupId`: "stored as a lowercase
/// string … from 1 to 40 alphanumeric characters or hyphens. The first character must be
/// a letter. A name cannot end with a hyphen or contain two consecutive hyphens."
pub static REPLICATION_GROUP_ID: Rule = lowercase_identifier(
    "ElastiCache replication group id",
    "ElastiCache API Reference, CreateReplicationGroup ReplicationGroupId",
    40,
);

/// ElastiCache DeleteReplicationGroup `FinalSnapshotIdentifier`. The API reference states
/// no constraint; snapshot names are held to the replication group id's rules (a letter
/// first, letters, digits and hyphens, no `--`, no trailing hyphen) and 255 characters,
/// which a name derived from a valid group id ([`final_snapshot_id`]) always meets.
pub static CACHE_SNAPSHOT_NAME: Rule = lowercase_identifier(
    "ElastiCache final snapshot name",
    "ElastiCache API Reference, DeleteReplicationGroup FinalSnapshotIdentifier",
    255,
);

/// ElastiCache CreateCacheSubnetGroup `CacheSubnetGroupName`: "stored as a lowercase
/// string … no more than 255 alphanumeric characters or hyphens".
pub static CACHE_SUBNET_GROUP: Rule = Rule {
    what: "ElastiCache subnet group name",
    source: "ElastiCache API Reference, CreateCacheSubnetGroup CacheSubnetGroupName",
    min: 1,
    max: 255,
    allowed: lower_alnum_hyphen,
    allowed_text: "lowercase letters, digits and hyphens",
    shape: &[],
};

/// RDS CreateDBInstance `DBInstanceIdentifier`: "stored as a lowercase string … from 1
/// to 63 letters, numbers, or hyphens. First character must be a letter. Can't end with
/// a hyphen or contain two consecutive hyphens."
pub static DB_INSTANCE_ID: Rule = lowercase_identifier(
    "RDS instance identifier",
    "RDS API Reference, CreateDBInstance DBInstanceIdentifier",
    63,
);

/// RDS DeleteDBInstance `FinalDBSnapshotIdentifier`: "1 to 255 letters or numbers. First
/// character must be a letter. Can't end with a hyphen or contain two consecutive
/// hyphens."
pub static DB_SNAPSHOT_ID: Rule = lowercase_identifier(
    "RDS final snapshot identifier",
    "RDS API Reference, DeleteDBInstance FinalDBSnapshotIdentifier",
    255,
);

/// RDS CreateDBSubnetGroup `DBSubnetGroupName`: "stored as a lowercase string … no more
/// than 255 letters, numbers, periods, underscores, spaces, or hyphens. Must not be
/// default. First character must be a letter."
pub static DB_SUBNET_GROUP: Rule = Rule {
    what: "RDS subnet group name",
    source: "RDS API Reference, CreateDBSubnetGroup DBSubnetGroupName",
    min: 1,
    max: 255,
    allowed: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._ -".contains(c),
    allowed_text: "lowercase letters, digits, periods, underscores, spaces and hyphens",
    shape: &[Shape::LetterFirst, Shape::NotExactly("default")],
};

/// IAM CreateRole `RoleName`: length 1-64, pattern `[\w+=,.@-]+`.
pub static IAM_ROLE: Rule = Rule {
    what: "IAM role name",
    source: "IAM API Reference, CreateRole RoleName",
    min: 1,
    max: 64,
    allowed: iam_name,
    allowed_text: "letters, digits and _+=,.@-",
    shape: &[],
};

/// IAM CreateRole `Path`: length 1-512, pattern `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`.
pub static IAM_PATH: Rule = Rule {
    what: "IAM role path",
    source: "IAM API Reference, CreateRole Path",
    min: 1,
    max: 512,
    allowed: |c| ('\u{21}'..='\u{7e}').contains(&c),
    allowed_text: "printable ASCII without spaces",
    shape: &[Shape::SlashDelimited],
};

/// IAM PutRolePolicy `PolicyName`: length 1-128, pattern `[\w+=,.@-]+`.
pub static IAM_INLINE_POLICY: Rule = Rule {
    what: "IAM inline policy name",
    source: "IAM API Reference, PutRolePolicy PolicyName",
    min: 1,
    max: 128,
    allowed: iam_name,
    allowed_text: "letters, digits and _+=,.@-",
    shape: &[],
};

/// CloudWatch Logs CreateLogGroup `logGroupName`: length 1-512, pattern
/// `[\.\-_/#A-Za-z0-9]+`.
pub static LOG_GROUP: Rule = Rule {
    what: "log group name",
    source: "CloudWatch Logs API Reference, CreateLogGroup logGroupName",
    min: 1,
    max: 512,
    allowed: |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
    allowed_text: "letters, digits and ._-/#",
    shape: &[],
};

/// CloudWatch Logs PutMetricFilter `filterName`: length 1-512, pattern `[^:*]*`.
pub static METRIC_FILTER: Rule = Rule {
    what: "metric filter name",
    source: "CloudWatch Logs API Reference, PutMetricFilter filterName",
    min: 1,
    max: 512,
    allowed: |c| c != ':' && c != '*',
    allowed_text: "anything but `:` and `*`",
    shape: &[],
};

/// CloudWatch Logs MetricTransformation `metricNamespace` / `metricName`: at most 255,
/// pattern `[^:*$]*`.
pub static METRIC_NAMESPACE_OR_NAME: Rule = Rule {
    what: "metric filter namespace or metric name",
    source: "CloudWatch Logs API Reference, MetricTransformation metricNamespace/metricName",
    min: 1,
    max: 255,
    allowed: |c| c != ':' && c != '*' && c != '$',
    allowed_text: "anything but `:`, `*` and `$`",
    shape: &[],
};

/// SNS CreateTopic `Name`: "only uppercase and lowercase ASCII letters, numbers,
/// underscores, and hyphens, and must be between 1 and 256 characters long".
pub static SNS_TOPIC: Rule = Rule {
    what: "SNS topic name",
    source: "SNS API Reference, CreateTopic Name",
    min: 1,
    max: 256,
    allowed: alnum_underscore_hyphen,
    allowed_text: "letters, digits, `_` and `-`",
    shape: &[],
};

/// Secrets Manager CreateSecret `Name`: length 1-512, "ASCII letters, numbers, and the
/// following characters: /_+=.@-"; "Do not end your secret name with a hyphen followed
/// by six characters".
pub static SECRET_NAME: Rule = Rule {
    what: "secret name",
    source: "Secrets Manager API Reference, CreateSecret Name",
    min: 1,
    max: 512,
    allowed: |c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c),
    allowed_text: "letters, digits and /_+=.@-",
    shape: &[Shape::NoSixCharacterSuffix],
};

/// Secrets Manager CreateSecret `Description`: at most 2048 characters.
pub static SECRET_DESCRIPTION: Rule = free_text(
    "secret description",
    "Secrets Manager API Reference, CreateSecret Description",
    0,
    2048,
);

/// ECR CreateRepository `repositoryName`: length 2-256, pattern
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub static ECR_REPOSITORY: Rule = Rule {
    what: "ECR repository name",
    source: "ECR API Reference, CreateRepository repositoryName",
    min: 2,
    max: 256,
    allowed: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c),
    allowed_text: "lowercase letters, digits and ._-/",
    shape: &[Shape::EcrComponents],
};

/// CloudWatch PutDashboard `DashboardName`: "The maximum length is 255, and valid
/// characters are A-Z, a-z, 0-9, \"-\", and \"_\"".
pub static DASHBOARD: Rule = Rule {
    what: "dashboard name",
    source: "CloudWatch API Reference, PutDashboard DashboardName",
    min: 1,
    max: 255,
    allowed: alnum_underscore_hyphen,
    allowed_text: "letters, digits, `-` and `_`",
    shape: &[],
};

/// CloudWatch PutMetricAlarm `AlarmName`: length 1-255, UTF-8 without ASCII control
/// characters.
pub static ALARM_NAME: Rule = Rule {
    what: "alarm name",
    source: "CloudWatch API Reference, PutMetricAlarm AlarmName",
    min: 1,
    max: 255,
    allowed: not_control,
    allowed_text: "anything but control characters",
    shape: &[],
};

/// CloudWatch PutMetricAlarm `AlarmDescription`: length 0-1024.
pub static ALARM_DESCRIPTION: Rule = free_text(
    "alarm description",
    "CloudWatch API Reference, PutMetricAlarm AlarmDescription",
    0,
    1024,
);

/// ECS CreateCluster `clusterName`: "Up to 255 letters (uppercase and lowercase),
/// numbers, underscores, and hyphens are allowed."
pub static ECS_CLUSTER: Rule = ecs_name(
    "ECS cluster name",
    "ECS API Reference, CreateCluster clusterName",
);

/// ECS CreateService `serviceName`: "Up to 255 letters (uppercase and lowercase),
/// numbers, underscores, and hyphens are allowed."
pub static ECS_SERVICE: Rule = ecs_name(
    "ECS service name",
    "ECS API Reference, CreateService serviceName",
);

/// ECS RegisterTaskDefinition `family`: "Up to 255 letters (uppercase and lowercase),
/// numbers, underscores, and hyphens are allowed."
pub static ECS_FAMILY: Rule = ecs_name(
    "task definition family",
    "ECS API Reference, RegisterTaskDefinition family",
);

/// ECS ContainerDefinition `name`: "Up to 255 letters (uppercase and lowercase),
/// numbers, underscores, and hyphens are allowed."
pub static ECS_CONTAINER: Rule = ecs_name(
    "container name",
    "ECS API Reference, ContainerDefinition name",
);

/// ECS PortMapping `name` (Service Connect): "up to 64 characters … lowercase letters,
/// numbers, underscores (_), and hyphens (-). The name can't start with a hyphen."
pub static ECS_PORT_NAME: Rule = Rule {
    what: "port mapping name",
    source: "ECS API Reference, PortMapping name",
    min: 1,
    max: 64,
    allowed: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-',
    allowed_text: "lowercase letters, digits, `_` and `-`",
    shape: &[Shape::NoLeadingHyphen],
};

/// Application Auto Scaling PutScalingPolicy `PolicyName`: length 1-256, pattern
/// `\p{Print}+`.
pub static SCALING_POLICY: Rule = Rule {
    what: "scaling policy name",
    source: "Application Auto Scaling API Reference, PutScalingPolicy PolicyName",
    min: 1,
    max: 256,
    allowed: not_control,
    allowed_text: "printable characters",
    shape: &[],
};

/// Cloud Map CreateHttpNamespace `Name`: pattern `^(?!arn:)[!-~]{1,1024}$`.
pub static CLOUD_MAP_NAMESPACE: Rule = Rule {
    what: "Cloud Map namespace name",
    source: "Cloud Map API Reference, CreateHttpNamespace Name",
    min: 1,
    max: 1024,
    allowed: |c| ('!'..='~').contains(&c),
    allowed_text: "printable ASCII without spaces",
    shape: &[Shape::NotPrefix("arn:")],
};

/// Cloud Map CreateHttpNamespace `CreatorRequestId`: at most 64 characters.
pub static CLOUD_MAP_REQUEST_ID: Rule = free_text(
    "Cloud Map creator request id",
    "Cloud Map API Reference, CreateHttpNamespace CreatorRequestId",
    1,
    64,
);

fn dns_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')
}

fn dns_name_or_wildcard_char(c: char) -> bool {
    dns_name_char(c) || c == '*'
}

/// ACM RequestCertificate `DomainName`: "The first domain name you enter cannot exceed
/// 64 octets, including periods" (ACM User Guide, "Requesting a public certificate"; the
/// API's own limit, 253, is for the others). The labels themselves are checked where the
/// stack file is read ([`crate::domain::domain_name_problem`]).
pub static ACM_DOMAIN_NAME: Rule = Rule {
    what: "ACM certificate domain name",
    source: "ACM User Guide, Requesting a public certificate; ACM API Reference, RequestCertificate DomainName",
    min: 1,
    max: 64,
    allowed: dns_name_char,
    allowed_text: "lowercase letters, digits, `-` and `.`",
    shape: &[Shape::NoLeadingHyphen, Shape::NoTrailingHyphen],
};

/// ACM RequestCertificate `SubjectAlternativeNames` members: 1-253 characters, a
/// wildcard first label allowed.
pub static ACM_ALTERNATIVE_NAME: Rule = Rule {
    what: "ACM certificate alternative name",
    source: "ACM API Reference, RequestCertificate SubjectAlternativeNames",
    min: 1,
    max: 253,
    allowed: dns_name_or_wildcard_char,
    allowed_text: "lowercase letters, digits, `-`, `.` and a leading `*.`",
    shape: &[Shape::NoTrailingHyphen],
};

/// Route 53 ResourceRecordSet `Name`: a DNS name, at most 255 octets with the final dot
/// (Route 53 Developer Guide, "DNS domain name format"; the API field allows 1024).
pub static ROUTE53_RECORD_NAME: Rule = Rule {
    what: "Route 53 record name",
    source: "Route 53 Developer Guide, DNS domain name format",
    min: 1,
    max: 254,
    allowed: dns_name_char,
    allowed_text: "lowercase letters, digits, `-` and `.`",
    shape: &[Shape::NoLeadingHyphen, Shape::NoTrailingHyphen],
};

/// Route 53 ChangeBatch `Comment`: at most 256 characters.
pub static ROUTE53_CHANGE_COMMENT: Rule = free_text(
    "Route 53 change comment",
    "Route 53 API Reference, ChangeBatch Comment",
    0,
    256,
);

/// The comment of every Route 53 change batch the provider sends for `id`.
pub fn route53_change_comment(stack: &str, env: &str, id: &str) -> String {
    format!("slipway {stack}-{env}: {id}")
}

/// One name or text the provisioner sends to AWS.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The logical id of the resource it belongs to.
    pub id: String,
    /// The exact value sent.
    pub value: String,
    /// The AWS rule the value is checked against.
    pub rule: &'static Rule,
    /// The value contains `--env` once (a shorter environment name shortens it).
    pub has_env: bool,
}

/// Appends the names and texts AWS is sent for `resource` of stack `stack`, environment
/// `env` (each kind's match arm mirrors what its create function in the provisioner's
/// `aws/*.rs` sends). [`crate::stack::sent_texts`] calls it for every resource of the
/// expansion.
pub fn texts_of(stack: &str, env: &str, resource: &Resource, sent: &mut Vec<Sent>) {
    let id = resource.id.as_str();
    let mut push = |value: String, rule: &'static Rule, has_env: bool| {
        sent.push(Sent {
            id: id.to_owned(),
            value,
            rule,
            has_env,
        })
    };
    let name = resource_name(stack, env, id);
    match &resource.spec {
        // EC2 resources carry their name only as a `Name` tag.
        Spec::Vpc(_)
        | Spec::InternetGateway(_)
        | Spec::Subnet(_)
        | Spec::NatGateway(_)
        | Spec::RouteTable(_) => push(name, &EC2_TAG_VALUE, true),
        Spec::SecurityGroup(s) => {
            push(name.clone(), &SECURITY_GROUP_NAME, true);
            push(name, &EC2_TAG_VALUE, true);
            push(s.description.clone(), &SECURITY_GROUP_DESCRIPTION, false);
        }
        Spec::Repository(_) => push(name, &ECR_REPOSITORY, true),
        Spec::LogGroup(_) => push(name, &LOG_GROUP, true),
        Spec::Role(_) => {
            push(name, &IAM_ROLE, true);
            push(role_path(stack, env), &IAM_PATH, true);
            push(INLINE_POLICY_NAME.to_owned(), &IAM_INLINE_POLICY, false);
        }
        Spec::Cluster(_) => push(name, &ECS_CLUSTER, true),
        Spec::Namespace(s) => {
            push(s.name.clone(), &CLOUD_MAP_NAMESPACE, true);
            push(name, &CLOUD_MAP_REQUEST_ID, true);
        }
        Spec::LoadBalancer(_) => push(name, &LOAD_BALANCER, true),
        Spec::TargetGroup(_) => push(name, &TARGET_GROUP, true),
        Spec::Secret(s) => {
            push(name, &SECRET_NAME, true);
            push(s.description.clone(), &SECRET_DESCRIPTION, false);
        }
        Spec::CacheSubnetGroup(_) => push(name, &CACHE_SUBNET_GROUP, true),
        Spec::ReplicationGroup(_) => {
            push(name.clone(), &REPLICATION_GROUP_ID, true);
            push(
                final_snapshot_id(&name, LONGEST_UNIX_SECONDS),
                &CACHE_SNAPSHOT_NAME,
                true,
            );
        }
        Spec::DbSubnetGroup(_) => push(name, &DB_SUBNET_GROUP, true),
        Spec::DbInstance(_) => {
            push(name.clone(), &DB_INSTANCE_ID, true);
            push(
                final_snapshot_id(&name, LONGEST_UNIX_SECONDS),
                &DB_SNAPSHOT_ID,
                true,
            );
        }
        Spec::TaskDefinition(s) => {
            push(name, &ECS_FAMILY, true);
            push(s.container.name.clone(), &ECS_CONTAINER, false);
            if s.container.port != 0 {
                push(s.container.name.clone(), &ECS_PORT_NAME, false);
            }
        }
        Spec::Service(_) => push(name, &ECS_SERVICE, true),
        Spec::ScalingPolicy(_) => push(name, &SCALING_POLICY, true),
        Spec::Topic(s) => push(s.name.clone(), &SNS_TOPIC, false),
        Spec::Dashboard(_) => push(dashboard_name(stack, env), &DASHBOARD, true),
        Spec::Alarm(s) => {
            push(name, &ALARM_NAME, true);
            push(s.description.clone(), &ALARM_DESCRIPTION, false);
        }
        Spec::MetricFilter(s) => {
            push(name, &METRIC_FILTER, true);
            push(s.namespace.clone(), &METRIC_NAMESPACE_OR_NAME, true);
            push(s.metric.clone(), &METRIC_NAMESPACE_OR_NAME, false);
        }
        Spec::Certificate(s) => {
            push(s.domain_name.clone(), &ACM_DOMAIN_NAME, false);
            for alternative in &s.alternative_names {
                push(alternative.clone(), &ACM_ALTERNATIVE_NAME, false);
            }
            push(
                route53_change_comment(stack, env, id),
                &ROUTE53_CHANGE_COMMENT,
                true,
            );
        }
        Spec::DnsRecord(s) => {
            push(format!("{}.", s.name), &ROUTE53_RECORD_NAME, false);
            push(
                route53_change_comment(stack, env, id),
                &ROUTE53_CHANGE_COMMENT,
                true,
            );
        }
        // Nameless: listeners and rules are known by ARN, scalable targets by their
        // service, the OIDC provider by its issuer URL.
        Spec::Listener(_)
        | Spec::ListenerRule(_)
        | Spec::ScalableTarget(_)
        | Spec::OidcProvider(_) => {}
    }
}

/// A name or text AWS would refuse.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The logical id of the resource the value belongs to.
    pub id: String,
    /// The value AWS would refuse.
    pub value: String,
    /// The AWS rule it breaks.
    pub rule: &'static Rule,
    /// How it breaks the rule.
    pub violation: Violation,
    has_env: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} `{}` {} ({})",
            self.id,
            self.rule.what,
            self.value,
            self.rule.explain(&self.violation),
            self.rule.source
        )
    }
}

/// The names and texts of a stack AWS would refuse, and what to do about them.
#[derive(Debug, Clone, thiserror::Error)]
pub struct NameErrors {
    /// The stack's name.
    pub stack: String,
    /// The environment's name (`--env`).
    pub env: String,
    /// Every refused value, one per resource and rule.
    pub problems: Vec<Problem>,
    /// The longest `--env` with which every length-limited name fits (`None`: the
    /// environment is not what makes them too long; `Some(0)`: no environment name
    /// fits, the stack or service names are too long).
    pub longest_env: Option<usize>,
}

impl fmt::Display for NameErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        writeln!(
            f,
            "stack `{}` in environment `{}` has {count} AWS name{} or text{} AWS would refuse (names are never shortened, so nothing was sent):",
            self.stack,
            self.env,
            if count == 1 { "" } else { "s" },
            if count == 1 { "" } else { "s" },
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        match self.longest_env {
            Some(0) => write!(
                f,
                "no --env fits: shorten stack.name or the service and task names that make these names long"
            ),
            Some(longest) => write!(
                f,
                "use an --env of at most {longest} characters for stack `{}` (`{}` is {}), or shorten stack.name or the service names",
                self.stack,
                self.env,
                self.env.chars().count()
            ),
            None => write!(
                f,
                "change what produces it (--env, stack.name, a service or task name, alarms.topic) so that each obeys its rule above"
            ),
        }
    }
}

/// Checks `sent` against the rules; `stack` and `env` word the advice.
pub fn check_sent(stack: &str, env: &str, sent: &[Sent]) -> Result<(), NameErrors> {
    let mut problems: Vec<Problem> = Vec::new();
    for item in sent {
        if let Err(violation) = item.rule.check(&item.value) {
            let duplicate = problems
                .iter()
                .any(|p| p.value == item.value && std::ptr::eq(p.rule, item.rule));
            if !duplicate {
                problems.push(Problem {
                    id: item.id.clone(),
                    value: item.value.clone(),
                    rule: item.rule,
                    violation,
                    has_env: item.has_env,
                });
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    // Advice on --env only when a name is too long because of it.
    let env_len = env.chars().count();
    let env_is_the_cause = problems
        .iter()
        .any(|p| p.has_env && matches!(p.violation, Violation::TooLong { .. }));
    let longest_env = env_is_the_cause.then(|| {
        sent.iter()
            .filter(|s| s.has_env)
            .map(|s| {
                let fixed = s.value.chars().count().saturating_sub(env_len);
                s.rule.max.saturating_sub(fixed)
            })
            .min()
            .unwrap_or(0)
    });
    Err(NameErrors {
        stack: stack.to_owned(),
        env: env.to_owned(),
        problems,
        longest_env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(rule: &Rule, value: &str) -> Violation {
        rule.check(value)
            .expect_err(&format!("{} `{value}` should fail", rule.what))
    }

    #[test]
    fn security_group_texts_allow_only_ec2s_characters() {
        // The bug: an apostrophe in sg-debug's description made CreateSecurityGroup fail.
        assert_eq!(
            fails(
                &SECURITY_GROUP_DESCRIPTION,
                "debug: operator's debug task, no ingress"
            ),
            Violation::Character('\'')
        );
        let every_allowed = "aZ09 ._-:/()#,@[]+=&;{}!$*";
        assert_eq!(SECURITY_GROUP_DESCRIPTION.check(every_allowed), Ok(()));
        assert_eq!(SECURITY_GROUP_NAME.check(every_allowed), Ok(()));
        for bad in [
            '\'', '"', '%', '?', '<', '>', '|', '\\', '~', '^', 'é', '\n',
        ] {
            assert_eq!(
                fails(&SECURITY_GROUP_DESCRIPTION, &format!("ok {bad}")),
                Violation::Character(bad)
            );
        }
        assert_eq!(SECURITY_GROUP_DESCRIPTION.check(&"d".repeat(255)), Ok(()));
        assert_eq!(
            fails(&SECURITY_GROUP_DESCRIPTION, &"d".repeat(256)),
            Violation::TooLong { len: 256, max: 255 }
        );
        assert!(matches!(
            fails(&SECURITY_GROUP_DESCRIPTION, ""),
            Violation::TooShort { .. }
        ));
        assert_eq!(
            fails(&SECURITY_GROUP_NAME, "sg-dev-sg-alb"),
            Violation::Shape(Shape::NotPrefix("sg-"))
        );
        assert_eq!(SECURITY_GROUP_NAME.check("sgx-dev-sg-alb"), Ok(()));
    }

    #[test]
    fn load_balancer_and_target_group_names_fit_in_32_alphanumerics_and_hyphens() {
        for rule in [&LOAD_BALANCER, &TARGET_GROUP] {
            assert_eq!(rule.check(&"a".repeat(32)), Ok(()));
            assert_eq!(
                fails(rule, &"a".repeat(33)),
                Violation::TooLong { len: 33, max: 32 }
            );
            assert_eq!(
                fails(rule, "-voting"),
                Violation::Shape(Shape::NoLeadingHyphen)
            );
            assert_eq!(
                fails(rule, "voting-"),
                Violation::Shape(Shape::NoTrailingHyphen)
            );
            assert_eq!(fails(rule, "voting_dev"), Violation::Character('_'));
            assert_eq!(fails(rule, "voting.dev"), Violation::Character('.'));
        }
        assert_eq!(
            fails(&LOAD_BALANCER, "internal-dev-alb"),
            Violation::Shape(Shape::NotPrefix("internal-"))
        );
        assert_eq!(TARGET_GROUP.check("internal-dev-tg-web"), Ok(()));
    }

    #[test]
    fn elasticache_and_rds_identifiers_start_with_a_letter_without_double_or_trailing_hyphens() {
        for (rule, max) in [
            (&REPLICATION_GROUP_ID, 40),
            (&DB_INSTANCE_ID, 63),
            (&DB_SNAPSHOT_ID, 255),
            (&CACHE_SNAPSHOT_NAME, 255),
        ] {
            assert_eq!(rule.check(&"r".repeat(max)), Ok(()), "{}", rule.what);
            assert_eq!(
                fails(rule, &"r".repeat(max + 1)),
                Violation::TooLong { len: max + 1, max }
            );
            assert_eq!(
                fails(rule, "1voting-dev-redis"),
                Violation::Shape(Shape::LetterFirst)
            );
            assert_eq!(
                fails(rule, "voting-dev--redis"),
                Violation::Shape(Shape::NoDoubleHyphen)
            );
            assert_eq!(
                fails(rule, "voting-dev-"),
                Violation::Shape(Shape::NoTrailingHyphen)
            );
            // AWS stores these lowercased: an uppercase name would never be found again.
            assert_eq!(fails(rule, "Voting-dev"), Violation::Character('V'));
            assert_eq!(fails(rule, "voting_dev"), Violation::Character('_'));
        }
    }

    #[test]
    fn subnet_group_names() {
        assert_eq!(CACHE_SUBNET_GROUP.check(&"c".repeat(255)), Ok(()));
        assert!(matches!(
            fails(&CACHE_SUBNET_GROUP, &"c".repeat(256)),
            Violation::TooLong { .. }
        ));
        assert_eq!(fails(&CACHE_SUBNET_GROUP, "a.b"), Violation::Character('.'));
        assert_eq!(
            DB_SUBNET_GROUP.check("voting-dev_postgres.subnets 1"),
            Ok(())
        );
        assert!(matches!(
            fails(&DB_SUBNET_GROUP, &"d".repeat(256)),
            Violation::TooLong { .. }
        ));
        assert_eq!(
            fails(&DB_SUBNET_GROUP, "default"),
            Violation::Shape(Shape::NotExactly("default"))
        );
        assert_eq!(
            fails(&DB_SUBNET_GROUP, "9-subnets"),
            Violation::Shape(Shape::LetterFirst)
        );
    }

    #[test]
    fn iam_names_and_paths() {
        assert_eq!(IAM_ROLE.check(&"r".repeat(64)), Ok(()));
        assert_eq!(
            fails(&IAM_ROLE, &"r".repeat(65)),
            Violation::TooLong { len: 65, max: 64 }
        );
        assert_eq!(IAM_ROLE.check("a_B+=,.@-9"), Ok(()));
        assert_eq!(fails(&IAM_ROLE, "a/b"), Violation::Character('/'));
        assert_eq!(fails(&IAM_ROLE, "a b"), Violation::Character(' '));
        assert_eq!(IAM_INLINE_POLICY.check(&"p".repeat(128)), Ok(()));
        assert_eq!(
            fails(&IAM_INLINE_POLICY, &"p".repeat(129)),
            Violation::TooLong { len: 129, max: 128 }
        );
        assert_eq!(IAM_INLINE_POLICY.check(INLINE_POLICY_NAME), Ok(()));
        assert_eq!(IAM_PATH.check("/"), Ok(()));
        assert_eq!(IAM_PATH.check(&role_path("voting", "dev")), Ok(()));
        assert_eq!(
            fails(&IAM_PATH, "/slipway"),
            Violation::Shape(Shape::SlashDelimited)
        );
        assert_eq!(fails(&IAM_PATH, "/a b/"), Violation::Character(' '));
        assert!(matches!(
            fails(&IAM_PATH, &format!("/{}/", "p".repeat(511))),
            Violation::TooLong { .. }
        ));
    }

    #[test]
    fn cloudwatch_names() {
        assert_eq!(LOG_GROUP.check(&"l".repeat(512)), Ok(()));
        assert!(matches!(
            fails(&LOG_GROUP, &"l".repeat(513)),
            Violation::TooLong { .. }
        ));
        assert_eq!(LOG_GROUP.check("/ecs/voting-dev#1_a.b"), Ok(()));
        assert_eq!(fails(&LOG_GROUP, "a:b"), Violation::Character(':'));
        assert_eq!(METRIC_FILTER.check(&"f".repeat(512)), Ok(()));
        assert_eq!(fails(&METRIC_FILTER, "a*"), Violation::Character('*'));
        assert_eq!(fails(&METRIC_FILTER, "a:b"), Violation::Character(':'));
        assert_eq!(METRIC_NAMESPACE_OR_NAME.check("Slipway/voting-dev"), Ok(()));
        assert_eq!(
            fails(&METRIC_NAMESPACE_OR_NAME, "cost$"),
            Violation::Character('$')
        );
        assert!(matches!(
            fails(&METRIC_NAMESPACE_OR_NAME, &"m".repeat(256)),
            Violation::TooLong { .. }
        ));
        assert_eq!(DASHBOARD.check(&"d".repeat(255)), Ok(()));
        assert!(matches!(
            fails(&DASHBOARD, &"d".repeat(256)),
            Violation::TooLong { .. }
        ));
        assert_eq!(fails(&DASHBOARD, "voting.dev"), Violation::Character('.'));
        assert_eq!(ALARM_NAME.check(&"a".repeat(255)), Ok(()));
        assert!(matches!(
            fails(&ALARM_NAME, &"a".repeat(256)),
            Violation::TooLong { .. }
        ));
        assert_eq!(fails(&ALARM_NAME, "a\tb"), Violation::Character('\t'));
        assert_eq!(ALARM_DESCRIPTION.check(&"d".repeat(1024)), Ok(()));
        assert!(matches!(
            fails(&ALARM_DESCRIPTION, &"d".repeat(1025)),
            Violation::TooLong { .. }
        ));
    }

    #[test]
    fn sns_secrets_and_ecr() {
        assert_eq!(SNS_TOPIC.check(&"t".repeat(256)), Ok(()));
        assert!(matches!(
            fails(&SNS_TOPIC, &"t".repeat(257)),
            Violation::TooLong { .. }
        ));
        assert_eq!(
            fails(&SNS_TOPIC, "voting.alerts"),
            Violation::Character('.')
        );
        assert_eq!(SECRET_NAME.check(&"s".repeat(512)), Ok(()));
        assert!(matches!(
            fails(&SECRET_NAME, &"s".repeat(513)),
            Violation::TooLong { .. }
        ));
        assert_eq!(SECRET_NAME.check("voting-dev-redis/url_+=.@"), Ok(()));
        assert_eq!(fails(&SECRET_NAME, "a b"), Violation::Character(' '));
        assert_eq!(
            fails(&SECRET_NAME, "voting-dev-secret"),
            Violation::Shape(Shape::NoSixCharacterSuffix)
        );
        assert_eq!(SECRET_DESCRIPTION.check(&"d".repeat(2048)), Ok(()));
        assert!(matches!(
            fails(&SECRET_DESCRIPTION, &"d".repeat(2049)),
            Violation::TooLong { .. }
        ));
        assert_eq!(ECR_REPOSITORY.check("ab"), Ok(()));
        assert_eq!(ECR_REPOSITORY.check(&"r".repeat(256)), Ok(()));
        assert!(matches!(
            fails(&ECR_REPOSITORY, "a"),
            Violation::TooShort { len: 1, min: 2 }
        ));
        assert!(matches!(
            fails(&ECR_REPOSITORY, &"r".repeat(257)),
            Violation::TooLong { .. }
        ));
        for ok in ["voting-dev-repo-vote", "team/app", "a__b", "a---b", "a.b_c"] {
            assert_eq!(ECR_REPOSITORY.check(ok), Ok(()), "{ok}");
        }
        for bad in ["-ab", "ab-", "a/-b", "a..b", "a___b", "a._b", "a//b", "ab/"] {
            assert_eq!(
                fails(&ECR_REPOSITORY, bad),
                Violation::Shape(Shape::EcrComponents),
                "{bad}"
            );
        }
        assert_eq!(fails(&ECR_REPOSITORY, "Voting"), Violation::Character('V'));
    }

    #[test]
    fn ecs_autoscaling_and_cloud_map_names() {
        for rule in [&ECS_CLUSTER, &ECS_SERVICE, &ECS_FAMILY, &ECS_CONTAINER] {
            assert_eq!(rule.check(&"e".repeat(255)), Ok(()));
            assert!(matches!(
                fails(rule, &"e".repeat(256)),
                Violation::TooLong { .. }
            ));
            assert_eq!(rule.check("Voting_dev-1"), Ok(()));
            assert_eq!(fails(rule, "voting.dev"), Violation::Character('.'));
        }
        assert_eq!(ECS_PORT_NAME.check(&"p".repeat(64)), Ok(()));
        assert!(matches!(
            fails(&ECS_PORT_NAME, &"p".repeat(65)),
            Violation::TooLong { .. }
        ));
        assert_eq!(
            fails(&ECS_PORT_NAME, "-api"),
            Violation::Shape(Shape::NoLeadingHyphen)
        );
        assert_eq!(fails(&ECS_PORT_NAME, "Api"), Violation::Character('A'));
        assert_eq!(SCALING_POLICY.check(&"s".repeat(256)), Ok(()));
        assert!(matches!(
            fails(&SCALING_POLICY, &"s".repeat(257)),
            Violation::TooLong { .. }
        ));
        assert_eq!(CLOUD_MAP_NAMESPACE.check("voting-dev.internal"), Ok(()));
        assert_eq!(
            fails(&CLOUD_MAP_NAMESPACE, "a b"),
            Violation::Character(' ')
        );
        assert_eq!(
            fails(&CLOUD_MAP_NAMESPACE, "arn:x"),
            Violation::Shape(Shape::NotPrefix("arn:"))
        );
        assert_eq!(CLOUD_MAP_REQUEST_ID.check(&"c".repeat(64)), Ok(()));
        assert!(matches!(
            fails(&CLOUD_MAP_REQUEST_ID, &"c".repeat(65)),
            Violation::TooLong { .. }
        ));
        assert_eq!(EC2_TAG_VALUE.check(&"n".repeat(256)), Ok(()));
        assert!(matches!(
            fails(&EC2_TAG_VALUE, &"n".repeat(257)),
            Violation::TooLong { .. }
        ));
    }
}

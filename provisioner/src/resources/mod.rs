//! The provider layer: everything that calls AWS to manage the stack's resources, one
//! file per resource kind behind one trait, [`Provider`].
//!
//! - `resources/<kind>.rs` (`vpc.rs`, `target_group.rs`, …, named by the kind's `name` in
//!   the `kinds!` table of [`crate::model`]) holds that kind's `impl Provider`: how it is
//!   observed (found by tags or names and normalized into its spec), created (waiting until
//!   usable), updated and deleted (waiting until gone), and which error codes mean "already
//!   gone". Helpers only that kind uses sit in the same file.
//! - `resources/<family>_common.rs` holds what a service family shares: EC2 tags and
//!   filters (`ec2_common`), ELBv2 listings and tag batches (`elb_common`), ECS ownership
//!   (`ecs_common`), RDS/ElastiCache tags, upgrades and snapshot names (`data_common`),
//!   IAM tags (`iam_common`), scalable-target listing (`autoscaling_common`), CloudWatch
//!   dimensions (`cloudwatch_common`), Route 53 zones and record changes
//!   (`route53_common`).
//! - This module generates, from the `kinds!` table, one provider type per kind (named
//!   like the kind: [`Vpc`], [`TargetGroup`]…), the `mod` declaration of its file, and
//!   the exhaustive dispatch ([`create`], [`update`], [`delete`], [`observe`]). A kind in
//!   the table without its file, or whose file does not implement [`Provider`] with the
//!   kind's spec, does not compile.
//! - [`leftovers`] is the post-`down` scan for anything still tagged as the stack's.
//!
//! **Adding a resource kind** touches its spec and its row in the `kinds!` table
//! (`model.rs`: name, label, immutable fields, typical create time, the read actions
//! observing it needs and the write actions creating, changing and deleting it — the
//! `Kind` enum, the plan's replace rules, the graph's timings, the GitHub deploy role's
//! read list, `provision policy`'s statements and the dispatch here follow from the
//! row), its
//! `resources/<name>.rs` (`impl Provider for super::<Kind>`), and the construct that adds
//! it to stacks (`constructs.rs` or `constructs/`): three files. The compiler then asks
//! for a fourth, on purpose: the kind's CloudFormation rendering in `synth.rs`, which
//! matches every spec so `provision synth` never drops one.
//!
//! Observation reads each kind concurrently; listings several kinds start from (ELBv2
//! load balancers and their listeners, the ECS cluster, the scalable targets) are read
//! once per observation through [`Scan`], so every call is made once, as a single
//! family-wide read would.

use std::collections::BTreeMap;

use tokio::sync::OnceCell;

use crate::aws::{wait_until, Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::model::{Kind, Resource, Spec};
use crate::plan::{Attrs, Observed};

pub(crate) mod autoscaling_common;
pub(crate) mod cloudwatch_common;
pub(crate) mod data_common;
pub(crate) mod ec2_common;
pub(crate) mod ecs_common;
pub(crate) mod elb_common;
pub(crate) mod iam_common;
pub mod leftovers;
pub(crate) mod route53_common;

pub use elb_common::forward_groups;
pub use leftovers::{leftovers, Leftover};
pub use nat_gateway::release_unused_addresses;
pub use repository::{has_image_tag, image_tag, ImageTag, IMAGE_TAGS};
pub use route53_common::{find_public_zone, resolve_zone_lookups};
pub use scaling_policy::repoint_requests_policy;
pub use service::{service_status, ServiceStatus};
pub use subnet::choose_zones;

/// What the provisioner does with one kind of resource on AWS. Implemented once per kind,
/// in `resources/<kind>.rs`, on the kind's provider type.
pub(crate) trait Provider {
    /// The kind's spec (its model type).
    type Spec;

    /// Whether an error code this kind's delete may answer means it is already gone (the
    /// delete then counts as done, so `down` can be re-run): the kind's `…NotFound` codes;
    /// for the EC2 kinds any `….NotFound`/`….Malformed` (`ec2_common::missing`).
    fn gone(code: &str) -> bool;

    /// The stack's resources of this kind, found by tags (or names where the kind cannot
    /// be tagged) and normalized into specs.
    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError>;

    /// Creates `id` and waits until it is usable; returns its attributes.
    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError>;

    /// Whether [`Provider::create`] is a put: the same call creates the resource or
    /// replaces its definition (PutScalingPolicy, PutMetricAlarm, RegisterTaskDefinition…),
    /// so it updates too.
    const PUT: bool = false;

    /// Brings the live `id` (attributes `current`) to `spec`. By default a put kind puts
    /// again, and any other kind has no field that can change in place: its immutable
    /// fields make the plan replace it.
    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _current: &Attrs,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        if Self::PUT {
            return Self::create(aws, id, spec, resolved, progress).await;
        }
        Err(AwsError::Unexpected {
            resource: id.to_owned(),
            message: "has no updatable fields (the plan should have replaced it)".into(),
        })
    }

    /// Deletes the live `id` (attributes `current`) and waits until it is gone.
    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError>;
}

/// One observation of the stack: the session, and the listings several kinds start from,
/// each read at most once however many kinds (running concurrently) ask for it.
pub(crate) struct Scan<'a> {
    pub(crate) aws: &'a Aws,
    elb: OnceCell<elb_common::Listing>,
    elb_routes: OnceCell<elb_common::Routes>,
    clusters: OnceCell<Vec<Observed>>,
    scalable_targets: OnceCell<autoscaling_common::Targets>,
    certificates: OnceCell<Vec<Observed>>,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(aws: &'a Aws) -> Self {
        Scan {
            aws,
            elb: OnceCell::new(),
            elb_routes: OnceCell::new(),
            clusters: OnceCell::new(),
            scalable_targets: OnceCell::new(),
            certificates: OnceCell::new(),
        }
    }
}

/// Generates the provider types, their modules and the dispatch from the `kinds!` table.
macro_rules! providers {
    ($($variant:ident($ty:ident) { name: $name:ident, $($meta:tt)* }),+ $(,)?) => {
        $(
            pub mod $name;

            #[doc = concat!("The provider of [`Kind::", stringify!($variant), "`] (`resources/", stringify!($name), ".rs`).")]
            #[derive(Debug, Clone, Copy)]
            pub struct $variant;
        )+

        /// Creates `resource` and waits until it is usable; returns its attributes.
        pub async fn create(
            aws: &Aws,
            resource: &Resource,
            resolved: &Resolved,
            progress: &dyn Progress,
        ) -> Result<Attrs, AwsError> {
            let id = resource.id.as_str();
            match &resource.spec {
                $(Spec::$variant(spec) => {
                    <$variant as Provider>::create(aws, id, spec, resolved, progress).await
                })+
            }
        }

        /// Brings an existing resource to `resource`'s spec (only `changes` differ).
        pub async fn update(
            aws: &Aws,
            resource: &Resource,
            resolved: &Resolved,
            progress: &dyn Progress,
        ) -> Result<Attrs, AwsError> {
            let id = resource.id.as_str();
            let current = resolved.attrs(id).cloned().unwrap_or_default();
            match &resource.spec {
                $(Spec::$variant(spec) => {
                    <$variant as Provider>::update(aws, id, spec, &current, resolved, progress).await
                })+
            }
        }

        async fn delete_once(
            aws: &Aws,
            observed: &Observed,
            options: &DeleteOptions,
            progress: &dyn Progress,
        ) -> Result<(), AwsError> {
            let (id, current) = (observed.id.as_str(), &observed.attrs);
            match observed.kind {
                $(Kind::$variant => {
                    <$variant as Provider>::delete(aws, id, current, options, progress).await
                })+
            }
        }

        async fn observe_kind(scan: &Scan<'_>, kind: Kind) -> Result<Vec<Observed>, AwsError> {
            match kind {
                $(Kind::$variant => <$variant as Provider>::observe(scan).await,)+
            }
        }

        /// Whether `code`, answered by a delete of a `kind`, means it is already gone.
        pub fn gone(kind: Kind, code: &str) -> bool {
            match kind {
                $(Kind::$variant => <$variant as Provider>::gone(code),)+
            }
        }
    };
}

crate::model::kinds!(providers);

/// The stack's resources of `kinds`, each kind observed concurrently (shared listings
/// read once, see [`Scan`]).
pub(crate) async fn observe_kinds(aws: &Aws, kinds: &[Kind]) -> Result<Vec<Observed>, AwsError> {
    let scan = Scan::new(aws);
    let found =
        futures::future::try_join_all(kinds.iter().map(|&kind| observe_kind(&scan, kind))).await?;
    Ok(found.into_iter().flatten().collect())
}

/// Reads every resource of the stack from AWS (all kinds concurrently). Resources
/// claiming a logical id another already has are left out of the result but never
/// silently: each is reported on stderr (see [`observe_all`] for callers that act on them).
pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let (all, duplicates) = observe_all(aws).await?;
    for line in duplicate_report(&all, &duplicates) {
        eprintln!("warning: {line}");
    }
    Ok(all)
}

/// A physical identifier of `observed` for messages (id, else name, else ARN).
pub fn physical_id(observed: &Observed) -> &str {
    ["id", "name", "arn"]
        .iter()
        .find_map(|key| observed.attrs.get(*key))
        .map(String::as_str)
        .unwrap_or("(no id reported)")
}

/// One line per duplicated logical id: which copy the plan uses, which others exist, and
/// what to do about them.
pub fn duplicate_report(all: &[Observed], duplicates: &[Observed]) -> Vec<String> {
    let mut lines = Vec::new();
    for kept in all {
        let copies: Vec<&str> = duplicates
            .iter()
            .filter(|d| duplicate_of(&d.id) == Some(kept.id.as_str()))
            .map(physical_id)
            .collect();
        if copies.is_empty() {
            continue;
        }
        lines.push(format!(
            "{} {} exists {} times, all tagged slipway:id={}: {} (used by this run) and {} \
             (not managed: a concurrent or interrupted earlier run made it). Delete the extra \
             one(s) in the console or with the AWS CLI once nothing uses them (`provision down` \
             deletes every copy)",
            kept.kind.label(),
            kept.id,
            copies.len() + 1,
            kept.id,
            physical_id(kept),
            copies.join(", ")
        ));
    }
    lines
}

/// Every resource of the stack, split into the one per logical id the plan works with and
/// the duplicates: further resources carrying the same `slipway:id` tag (two runs at once,
/// or a create retried after its answer was lost). Duplicates get the id `<id>#<n>` (n ≥ 2,
/// see [`duplicate_of`]), so `down` can delete them with everything else.
pub async fn observe_all(aws: &Aws) -> Result<(Vec<Observed>, Vec<Observed>), AwsError> {
    let mut all = observe_kinds(aws, Kind::ALL).await?;
    // By id, then by physical id: which copy is used does not depend on listing order.
    all.sort_by(|x, y| {
        x.id.cmp(&y.id)
            .then_with(|| physical_id(x).cmp(physical_id(y)))
    });
    Ok(split_duplicates(all))
}

/// The logical id a duplicate (`<id>#<n>`, from [`observe_all`]) duplicates.
pub fn duplicate_of(id: &str) -> Option<&str> {
    id.split_once('#').map(|(original, _)| original)
}

/// Splits sorted `all` into one resource per logical id and the rest (renamed `<id>#2`,
/// `<id>#3`…). The copy kept is the one the rest of the stack uses: the most referenced
/// by other resources' specs (subnets name their VPC, routes their gateways…), the first
/// by physical id on a tie — so an extra, empty copy never displaces the one in use.
pub fn split_duplicates(all: Vec<Observed>) -> (Vec<Observed>, Vec<Observed>) {
    let mut referenced: BTreeMap<String, usize> = BTreeMap::new();
    for observed in &all {
        count_strings(&observed.spec, &mut referenced);
    }
    let uses = |o: &Observed| -> usize {
        o.attrs
            .iter()
            .filter(|(key, _)| !key.starts_with('_'))
            .map(|(_, value)| referenced.get(value).copied().unwrap_or(0))
            .sum()
    };
    let mut kept: Vec<Observed> = Vec::new();
    let mut duplicates = Vec::new();
    let mut group: Vec<Observed> = Vec::new();
    let mut flush = |group: &mut Vec<Observed>| {
        if group.is_empty() {
            return;
        }
        // Stable: on equal use the first (lowest physical id) stays first.
        let best = (0..group.len())
            .max_by_key(|&i| (uses(&group[i]), std::cmp::Reverse(i)))
            .expect("a non-empty group");
        let chosen = group.remove(best);
        for (n, mut extra) in group.drain(..).enumerate() {
            extra.id = format!("{}#{}", extra.id, n + 2);
            duplicates.push(extra);
        }
        kept.push(chosen);
    };
    for observed in all {
        if group.first().is_some_and(|g| g.id != observed.id) {
            flush(&mut group);
        }
        group.push(observed);
    }
    flush(&mut group);
    (kept, duplicates)
}

/// Counts every string value in `value` (how often each physical id is referenced).
fn count_strings(value: &serde_json::Value, counts: &mut BTreeMap<String, usize>) {
    match value {
        serde_json::Value::String(s) => {
            let s = s.strip_suffix(":*").unwrap_or(s);
            *counts.entry(s.to_owned()).or_insert(0) += 1;
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| count_strings(v, counts)),
        serde_json::Value::Object(map) => map.values().for_each(|v| count_strings(v, counts)),
        _ => {}
    }
}

/// Deletes a live resource and waits until it is gone.
pub async fn delete(
    aws: &Aws,
    observed: &Observed,
    options: &DeleteOptions,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    // AWS releases what held a resource (network interfaces, mapped public IPs, draining
    // tasks, Service Connect's Cloud Map services) some time after the holder is gone:
    // "still in use" means wait and try again, not fail.
    wait_until(
        aws,
        &observed.id,
        "what still uses it to be released",
        progress,
        || async {
            match delete_once(aws, observed, options, progress).await {
                Ok(()) => Ok(Ok(())),
                Err(err) if err.code().is_some_and(still_in_use) => {
                    Ok(Err(err.code().unwrap_or("in use").to_owned()))
                }
                Err(err) => Err(err),
            }
        },
    )
    .await
}

fn still_in_use(code: &str) -> bool {
    matches!(
        code,
        "DependencyViolation"
            | "ResourceInUse"
            | "ResourceInUseException"
            | "ClusterContainsTasksException"
            | "ClusterContainsServicesException"
            | "CacheSubnetGroupInUse"
            | "InvalidDBSubnetGroupStateFault"
            | "InvalidCacheClusterState"
    )
}

/// A deletion's result with "already gone" (an error code `gone` accepts, usually
/// [`Provider::gone`]) counted as success, so `down` can be re-run after an interruption.
pub(crate) fn deleted<T>(
    result: Result<T, AwsError>,
    gone: impl Fn(&str) -> bool,
) -> Result<(), AwsError> {
    match result {
        Ok(_) => Ok(()),
        Err(err) if err.code().is_some_and(gone) => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::{duplicate_report, split_duplicates};
    use crate::model::Kind;
    use crate::plan::Observed;

    fn vpc(id: &str, physical: &str) -> Observed {
        Observed {
            id: id.into(),
            kind: Kind::Vpc,
            spec: serde_json::json!({}),
            attrs: [("id".to_string(), physical.to_string())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn duplicates_are_kept_apart_and_reported_with_their_ids() {
        // Sorted as observe_all sorts: by logical id, then physical id.
        let all = vec![
            vpc("igw", "igw-1"),
            vpc("vpc", "vpc-0aaa"),
            vpc("vpc", "vpc-0bbb"),
            vpc("vpc", "vpc-0ccc"),
        ];
        let (kept, duplicates) = split_duplicates(all);
        let ids =
            |list: &[Observed]| -> Vec<String> { list.iter().map(|o| o.id.clone()).collect() };
        assert_eq!(ids(&kept), ["igw", "vpc"]);
        assert_eq!(ids(&duplicates), ["vpc#2", "vpc#3"]);
        let report = duplicate_report(&kept, &duplicates);
        assert_eq!(report.len(), 1, "{report:?}");
        // The copy the rest of the stack references is kept, even when it sorts last.
        let mut subnet = vpc("subnet-a", "subnet-1");
        subnet.spec = serde_json::json!({"vpc": "vpc-0ccc"});
        let (kept_used, extra) =
            split_duplicates(vec![subnet, vpc("vpc", "vpc-0aaa"), vpc("vpc", "vpc-0ccc")]);
        assert_eq!(kept_used[1].attrs["id"], "vpc-0ccc");
        assert_eq!(
            (extra[0].id.as_str(), extra[0].attrs["id"].as_str()),
            ("vpc#2", "vpc-0aaa")
        );
        assert!(
            report[0].starts_with("vpc vpc exists 3 times")
                && report[0].contains("vpc-0aaa (used by this run) and vpc-0bbb, vpc-0ccc"),
            "{}",
            report[0]
        );
    }
}

//! What the `[domain]` kinds (certificate, dns_record) share on Route 53: finding the
//! hosted zone a domain's records go in, reading the records of a name, changing them and
//! waiting until the change has reached every Route 53 name server.
//!
//! Route 53 records cannot be tagged: a record is the stack's when it sits in the zone
//! its certificate's `slipway:zone` tag names, under the certificate's domain, and (alias
//! records) points at the stack's ALB, or (validation records) is one of the
//! certificate's.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};

use crate::aws::{call_error, wait_until, Aws, AwsError, Progress};
use crate::model::{Resource, Spec};
use slipway_cdk::domain;

/// The most records one ListResourceRecordSets page holds (Route 53 API reference:
/// "MaxItems … If you specify a value greater than 300, Route 53 returns only the first
/// 300").
const RECORDS_PER_PAGE: i32 = 300;

/// A name as Route 53 writes it back, in the form specs use: lowercase, no trailing dot,
/// `\052` (how Route 53 returns `*`) as `*` (Route 53 Developer Guide, "DNS domain name
/// format").
pub(crate) fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.')
        .replace("\\052", "*")
        .to_ascii_lowercase()
}

/// An ALB's DNS name as an alias target names it: Route 53 returns it with a trailing dot,
/// and the console writes `dualstack.` in front; either way the same load balancer.
pub(crate) fn normalize_alias_target(dns_name: &str) -> String {
    let name = normalize_name(dns_name);
    name.strip_prefix("dualstack.")
        .map(str::to_owned)
        .unwrap_or(name)
}

/// A spec's hosted zone id; an error if it is still a lookup (a plan made offline).
pub(crate) fn resolved_zone<'a>(id: &str, zone: &'a str) -> Result<&'a str, AwsError> {
    match domain::zone_lookup_name(zone) {
        Some(name) => Err(AwsError::Unexpected {
            resource: id.to_owned(),
            message: format!(
                "the hosted zone of {name} was not looked up (a plan made offline cannot be applied)"
            ),
        }),
        None => Ok(zone),
    }
}

/// Replaces every `lookup:<domain>` zone of `resources` (certificate and records of a
/// `[domain]` without `zone_id`) by the id of the public hosted zone found for it.
pub async fn resolve_zone_lookups(aws: &Aws, resources: &mut [Resource]) -> Result<(), AwsError> {
    let mut found: std::collections::BTreeMap<String, String> = Default::default();
    for resource in resources.iter_mut() {
        let zone = match &mut resource.spec {
            Spec::Certificate(certificate) => &mut certificate.zone,
            Spec::DnsRecord(record) => &mut record.zone,
            _ => continue,
        };
        let Some(name) = domain::zone_lookup_name(zone).map(str::to_owned) else {
            continue;
        };
        if !found.contains_key(&name) {
            let id = find_public_zone(aws, &name).await?;
            found.insert(name.clone(), id);
        }
        *zone = found[&name].clone();
    }
    Ok(())
}

/// The public hosted zone of this account for `name`: the zone named `name`, else the one
/// named after its nearest parent (with two labels at least). A private zone is never
/// it (public certificates are validated through public DNS), and two public zones of
/// the same name are an ambiguity the operator settles with `[domain] zone_id`.
pub async fn find_public_zone(aws: &Aws, name: &str) -> Result<String, AwsError> {
    let resource = format!("domain {name}");
    for candidate in domain::zone_candidates(name) {
        let wanted = format!("{candidate}.");
        let mut public = Vec::new();
        let mut start: (Option<String>, Option<String>) = (Some(candidate.to_owned()), None);
        // ListHostedZonesByName lists every zone from `DNSName` on, in name order
        // (labels reversed), not only that name: stop at the first other name.
        'pages: loop {
            let out = aws
                .route53
                .list_hosted_zones_by_name()
                .set_dns_name(start.0.clone())
                .set_hosted_zone_id(start.1.clone())
                .send()
                .await
                .map_err(|e| call_error(&resource, "ListHostedZonesByName", e))?;
            for zone in out.hosted_zones() {
                if !zone.name().eq_ignore_ascii_case(&wanted) {
                    break 'pages;
                }
                let private = zone.config().is_some_and(|c| c.private_zone());
                if !private {
                    public.push(domain::bare_zone_id(zone.id()).to_owned());
                }
            }
            if !out.is_truncated() {
                break;
            }
            start = (
                out.next_dns_name().map(str::to_owned),
                out.next_hosted_zone_id().map(str::to_owned),
            );
        }
        match public.as_slice() {
            [] => continue,
            [only] => return Ok(only.clone()),
            several => {
                return Err(AwsError::Unexpected {
                    resource,
                    message: format!(
                        "this account has {} public hosted zones named {candidate} ({}): set [domain] zone_id to the one the domain is delegated to",
                        several.len(),
                        several.join(", ")
                    ),
                })
            }
        }
    }
    Err(AwsError::Unexpected {
        resource,
        message: format!(
            "no public Route 53 hosted zone in this account for {name} or a parent domain: create one (`aws route53 create-hosted-zone --name {name} --caller-reference $(date +%s)`) and point the domain's NS records at its name servers, or set [domain] zone_id"
        ),
    })
}

/// The records of exactly `name` and `kind` in `zone` (none, or one set).
pub(crate) async fn record_set(
    aws: &Aws,
    resource: &str,
    zone: &str,
    name: &str,
    kind: RrType,
) -> Result<Option<ResourceRecordSet>, AwsError> {
    let out = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .start_record_type(kind.clone())
        .max_items(1)
        .send()
        .await
        .map_err(|e| call_error(resource, "ListResourceRecordSets", e))?;
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|set| normalize_name(set.name()) == normalize_name(name) && *set.r#type() == kind)
        .cloned())
}

/// `vote.example.com` → `com.example.vote`: the order ListResourceRecordSets lists in.
fn reversed(name: &str) -> String {
    name.split('.').rev().collect::<Vec<_>>().join(".")
}

/// Every record set in `zone` named `domain` or under it. Route 53 lists names in order
/// with labels reversed (`com.example`, `com.example.vote`, …), so from `domain` on the
/// listing holds them in one run with the few names that merely begin like it
/// (`com.example-old`, skipped); it stops at the first name past that run.
pub(crate) async fn records_under(
    aws: &Aws,
    zone: &str,
    domain: &str,
) -> Result<Vec<ResourceRecordSet>, AwsError> {
    let resource = format!("hosted zone {zone}");
    let suffix = format!(".{domain}");
    let run = reversed(domain);
    let mut found = Vec::new();
    // (name, type, identifier): a page can end inside a group of records of one name and
    // type with routing policies; the identifier says where in it the next one starts.
    let mut start: (Option<String>, Option<RrType>, Option<String>) =
        (Some(domain.to_owned()), None, None);
    loop {
        let out = aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .set_start_record_name(start.0.clone())
            .set_start_record_type(start.1.clone())
            .set_start_record_identifier(start.2.clone())
            .max_items(RECORDS_PER_PAGE)
            .send()
            .await
            .map_err(|e| call_error(&resource, "ListResourceRecordSets", e))?;
        for set in out.resource_record_sets() {
            let name = normalize_name(set.name());
            if !reversed(&name).starts_with(&run) {
                return Ok(found);
            }
            if name == domain || name.ends_with(&suffix) {
                found.push(set.clone());
            }
        }
        if !out.is_truncated() {
            return Ok(found);
        }
        start = (
            out.next_record_name().map(str::to_owned),
            out.next_record_type().cloned(),
            out.next_record_identifier().map(str::to_owned),
        );
    }
}

/// An alias `A` record `name` → the load balancer `dns_name` (in its canonical hosted zone
/// `alb_zone`). Target health is evaluated: with no healthy target Route 53 still answers
/// (a single record has no alternative), but the setting is what failover needs later.
pub(crate) fn alias_record(
    name: &str,
    dns_name: &str,
    alb_zone: &str,
) -> Result<ResourceRecordSet, AwsError> {
    let build = |message: String| AwsError::Unexpected {
        resource: name.to_owned(),
        message,
    };
    ResourceRecordSet::builder()
        .name(format!("{name}."))
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .hosted_zone_id(alb_zone)
                .dns_name(dns_name)
                .evaluate_target_health(true)
                .build()
                .map_err(|e| build(e.to_string()))?,
        )
        .build()
        .map_err(|e| build(e.to_string()))
}

/// A `CNAME` record `name` → `value` (ACM's validation records; ACM suggests no TTL, 300 s
/// is what the ACM console writes).
pub(crate) fn cname_record(name: &str, value: &str) -> Result<ResourceRecordSet, AwsError> {
    let build = |message: String| AwsError::Unexpected {
        resource: name.to_owned(),
        message,
    };
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(|e| build(e.to_string()))?,
        )
        .build()
        .map_err(|e| build(e.to_string()))
}

/// Applies `changes` to `zone` in one batch (all or none) and waits until Route 53 reports
/// them `INSYNC` on every name server.
pub(crate) async fn change(
    aws: &Aws,
    resource: &str,
    zone: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    if changes.is_empty() {
        return Ok(());
    }
    let build = |message: String| AwsError::Unexpected {
        resource: resource.to_owned(),
        message,
    };
    let changes = changes
        .into_iter()
        .map(|(action, set)| {
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(|e| build(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .comment(slipway_cdk::names::route53_change_comment(
                    &aws.stack, &aws.env, resource,
                ))
                .set_changes(Some(changes))
                .build()
                .map_err(|e| build(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| call_error(resource, "ChangeResourceRecordSets", e))?;
    let change_id = out
        .change_info()
        .map(|info| info.id().to_owned())
        .unwrap_or_default();
    wait_until(
        aws,
        resource,
        "the DNS change to reach Route 53's name servers",
        progress,
        || async {
            let out = aws
                .route53
                .get_change()
                .id(&change_id)
                .send()
                .await
                .map_err(|e| call_error(resource, "GetChange", e))?;
            let status = out.change_info().map(|info| info.status().clone());
            Ok(match status {
                Some(ChangeStatus::Insync) => Ok(()),
                other => Err(other.map_or_else(|| "unknown".into(), |s| s.as_str().to_owned())),
            })
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_a_domain_are_one_run_in_listing_order() {
        // Sorted as Route 53 (and moto) list: by the reversed name.
        let mut names = [
            "example.com",
            "api.dev.example.com",
            "dev-old.example.com",
            "dev.example.com",
            "zz.example.com",
            "_x.dev.example.com",
        ];
        names.sort_by_key(|n| reversed(n));
        let run = reversed("dev.example.com");
        let inside: Vec<&str> = names
            .iter()
            .copied()
            .skip_while(|n| !reversed(n).starts_with(&run))
            .take_while(|n| reversed(n).starts_with(&run))
            .collect();
        assert_eq!(
            inside,
            vec![
                "dev.example.com",
                "dev-old.example.com",
                "_x.dev.example.com",
                "api.dev.example.com"
            ]
        );
    }

    #[test]
    fn names_compare_as_route53_writes_them_back() {
        assert_eq!(normalize_name("Vote.Example.com."), "vote.example.com");
        assert_eq!(normalize_name("\\052.example.com."), "*.example.com");
        assert_eq!(
            normalize_alias_target("dualstack.my-alb-1.us-east-1.elb.amazonaws.com."),
            "my-alb-1.us-east-1.elb.amazonaws.com"
        );
    }
}

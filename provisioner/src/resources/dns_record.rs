//! Route 53 alias records of a `[domain]`: `<subdomain>.<domain>` → the stack's ALB.
//! Records cannot be tagged; the stack's are the alias `A` records in its certificate's
//! zone, named the certificate's domain or one label under it, that point at its ALB.
//! A record of that name the stack did not make (pointing elsewhere) is never
//! overwritten: `up` stops and says so.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_route53::types::{ChangeAction, RrType};

use super::certificate::{DOMAIN, ZONE};
use super::load_balancer::CANONICAL_ZONE;
use super::route53_common::{
    alias_record, change, normalize_alias_target, normalize_name, record_set, records_under,
    resolved_zone,
};
use super::{Provider, Scan};
use crate::aws::{observed, Aws, AwsError, DeleteOptions, Progress, Resolved};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::domain;

/// The attribute holding the record's name as Route 53 has it.
const NAME: &str = "_name";
/// The attribute holding the DNS name the record pointed at when it was made or read.
const TARGET: &str = "_target";

/// Whether `name` is `domain` or one label under it (what a public service is published
/// at).
fn published_name(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
}

/// Writes `spec`'s alias record (`action`: create or upsert).
async fn write(
    aws: &Aws,
    id: &str,
    spec: &DnsRecordSpec,
    resolved: &Resolved,
    action: ChangeAction,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let zone = resolved_zone(id, &spec.zone)?;
    let dns_name = resolved.get(&spec.alias_target, "dns")?;
    let alb_zone = resolved.get(&spec.alias_target, CANONICAL_ZONE)?;
    if action == ChangeAction::Create {
        // CREATE fails on an existing record anyway; asking first says whose it is.
        for kind in [RrType::A, RrType::Cname] {
            if let Some(existing) = record_set(aws, id, zone, &spec.name, kind).await? {
                let points_at = existing
                    .alias_target()
                    .map(|a| a.dns_name().to_owned())
                    .or_else(|| {
                        existing
                            .resource_records()
                            .first()
                            .map(|r| r.value().to_owned())
                    })
                    .unwrap_or_default();
                return Err(AwsError::Unexpected {
                    resource: id.to_owned(),
                    message: format!(
                        "{} already has a {} record in hosted zone {zone} (pointing at {points_at}) that this stack did not make; Slipway does not overwrite it. Delete it if it is unused, or publish the service under another name (services.<name>.public.subdomain)",
                        spec.name,
                        existing.r#type().as_str()
                    ),
                });
            }
        }
    }
    let record = alias_record(&spec.name, &dns_name, &alb_zone)?;
    change(aws, id, zone, vec![(action, record)], progress).await?;
    Ok(BTreeMap::from([
        (NAME.to_owned(), format!("{}.", spec.name)),
        (ZONE.to_owned(), zone.to_owned()),
        (TARGET.to_owned(), normalize_alias_target(&dns_name)),
    ]))
}

impl Provider for super::DnsRecord {
    type Spec = DnsRecordSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "NoSuchHostedZone")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        // The stack's load balancers by DNS name, as ELB reports it (what the ALB's `dns`
        // attribute holds, so normalization maps it to `${alb}`).
        let albs: BTreeMap<String, String> = scan
            .elb()
            .await?
            .load_balancers
            .iter()
            .filter_map(|(_, lb)| lb.dns_name())
            .map(|dns| (normalize_alias_target(dns), dns.to_owned()))
            .collect();
        let places: BTreeSet<(String, String)> = scan
            .certificates()
            .await?
            .iter()
            .filter_map(|c| Some((c.attrs.get(ZONE)?.clone(), c.attrs.get(DOMAIN)?.clone())))
            .filter(|(zone, domain)| !zone.is_empty() && !domain.is_empty())
            .collect();
        let mut found = Vec::new();
        if albs.is_empty() {
            return Ok(found);
        }
        for (zone, domain) in places {
            // A zone deleted under the stack holds none of its records any more.
            let sets = match records_under(scan.aws, &zone, &domain).await {
                Ok(sets) => sets,
                Err(err) if err.code() == Some("NoSuchHostedZone") => continue,
                Err(err) => return Err(err),
            };
            for set in sets {
                let name = normalize_name(set.name());
                let Some(target) = set.alias_target() else {
                    continue;
                };
                let Some(alb_dns) = albs.get(&normalize_alias_target(target.dns_name())) else {
                    continue;
                };
                if *set.r#type() != RrType::A || !published_name(&name, &domain) {
                    continue;
                }
                found.push(observed(
                    &domain::record_id(&name),
                    Kind::DnsRecord,
                    DnsRecordSpec {
                        zone: zone.clone(),
                        name: name.clone(),
                        alias_target: Ref::physical(alb_dns.clone()),
                    },
                    BTreeMap::from([
                        (NAME.to_owned(), set.name().to_owned()),
                        (ZONE.to_owned(), zone.clone()),
                        (TARGET.to_owned(), normalize_alias_target(target.dns_name())),
                    ]),
                ));
            }
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        write(aws, id, spec, resolved, ChangeAction::Create, progress).await
    }

    /// The record is the stack's (observation found it pointing at its ALB): re-pointed
    /// in place, e.g. at a replaced load balancer.
    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _current: &Attrs,
        resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        write(aws, id, spec, resolved, ChangeAction::Upsert, progress).await
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let (Some(name), Some(zone)) = (current.get(NAME), current.get(ZONE)) else {
            return Err(AwsError::Unexpected {
                resource: id.to_owned(),
                message: "its name and hosted zone are unknown".into(),
            });
        };
        // Route 53 deletes a record only when given exactly as it is.
        let existing = match record_set(aws, id, zone, name, RrType::A).await {
            Ok(existing) => existing,
            Err(err) if err.code().is_some_and(Self::gone) => return Ok(()),
            Err(err) => return Err(err),
        };
        let Some(existing) = existing else {
            return Ok(());
        };
        // Pointed elsewhere since (someone took the name over): no longer the stack's.
        let target = existing
            .alias_target()
            .map(|a| normalize_alias_target(a.dns_name()));
        if target.as_ref() != current.get(TARGET) {
            return Ok(());
        }
        super::deleted(
            change(
                aws,
                id,
                zone,
                vec![(ChangeAction::Delete, existing)],
                progress,
            )
            .await,
            Self::gone,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_names_are_the_domain_or_one_label_under_it() {
        assert!(published_name("example.com", "example.com"));
        assert!(published_name("vote.example.com", "example.com"));
        assert!(!published_name("a.vote.example.com", "example.com"));
        assert!(!published_name("xexample.com", "example.com"));
        assert!(!published_name("example.org", "example.com"));
    }
}

//! The exact ACM and Route 53 requests of a `[domain]` where moto is not AWS (checked with
//! aws-smithy-mocks): moto's ListHostedZonesByName returns only zones of exactly the name
//! asked for (AWS lists every zone from that name on, in order), its certificates have
//! their validation records at once and are visible at once (ACM: not found for a few
//! seconds, then without records), are never refused, and may be deleted while a
//! listener uses them (ACM answers ResourceInUseException until the listener lets go).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_acm::operation::describe_certificate::DescribeCertificateOutput;
use aws_sdk_acm::types::{
    CertificateDetail, CertificateStatus, DomainValidation, FailureReason, RecordType,
};
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
use aws_sdk_route53::types::{
    ChangeAction, ChangeInfo, ChangeStatus, HostedZone, HostedZoneConfig, RrType,
};
use aws_smithy_mocks::{mock, Rule, RuleMode};
use provisioner::aws::{Aws, DeleteOptions, Quiet, Resolved};
use provisioner::model::{CertificateSpec, Kind, Resource, Spec};
use provisioner::plan::Observed;
use provisioner::resources;

const REGION: &str = "us-east-1";
const ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/ours";
const RECORD: &str = "_3639ac514e785e898d2646601fa951d5.example.com.";
const VALUE: &str = "_98d2646601fa951d53639ac514e785e8.xlfgrmvvlj.acm-validations.aws.";

fn aws_with(acm: &[&Rule], route53: &[&Rule]) -> Aws {
    let mut aws =
        common::mocks::aws(REGION, "notes", "dev").with_wait_limit(Duration::from_secs(30));
    aws.acm = common::mocks::client!(aws_sdk_acm, REGION, acm.iter().copied(), RuleMode::MatchAny);
    aws.route53 = common::mocks::client!(
        aws_sdk_route53,
        REGION,
        route53.iter().copied(),
        RuleMode::MatchAny
    );
    aws
}

fn zone(id: &str, name: &str, private: bool) -> HostedZone {
    HostedZone::builder()
        .id(format!("/hostedzone/{id}"))
        .name(name)
        .caller_reference(id)
        .config(HostedZoneConfig::builder().private_zone(private).build())
        .build()
        .unwrap()
}

/// A one-page ListHostedZonesByName answer to a request for `dns_name`, as AWS gives it:
/// the zones from that name on (`zones`).
fn zones_from(dns_name: &'static str, zones: Vec<HostedZone>) -> Rule {
    mock!(aws_sdk_route53::Client::list_hosted_zones_by_name)
        .match_requests(move |input| input.dns_name() == Some(dns_name))
        .then_output(move || {
            ListHostedZonesByNameOutput::builder()
                .set_hosted_zones(Some(zones.clone()))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        })
}

#[tokio::test]
async fn the_zone_lookup_reads_past_other_names_and_private_zones_to_the_nearest_public_parent() {
    // No public zone `dev.example.com` (a private one, and after it the next names), so
    // the parent's public zone holds the records.
    let dev = zones_from(
        "dev.example.com",
        vec![
            zone("ZPRIVATE", "dev.example.com.", true),
            zone("ZOTHER", "other.example.com.", false),
        ],
    );
    let parent = zones_from(
        "example.com",
        vec![
            zone("ZPUBLIC", "example.com.", false),
            zone("ZPRIVATE", "dev.example.com.", true),
        ],
    );
    let aws = aws_with(&[], &[&dev, &parent]);
    assert_eq!(
        resources::find_public_zone(&aws, "dev.example.com")
            .await
            .unwrap(),
        "ZPUBLIC"
    );
    assert_eq!((dev.num_calls(), parent.num_calls()), (1, 1));
}

#[tokio::test]
async fn two_public_zones_of_one_name_across_pages_need_a_zone_id() {
    let first = mock!(aws_sdk_route53::Client::list_hosted_zones_by_name)
        .match_requests(|input| {
            input.dns_name() == Some("example.com") && input.hosted_zone_id().is_none()
        })
        .then_output(|| {
            ListHostedZonesByNameOutput::builder()
                .hosted_zones(zone("ZONE1", "example.com.", false))
                .is_truncated(true)
                .next_dns_name("example.com.")
                .next_hosted_zone_id("ZONE2")
                .max_items(1)
                .build()
                .unwrap()
        });
    let second = mock!(aws_sdk_route53::Client::list_hosted_zones_by_name)
        .match_requests(|input| {
            input.dns_name() == Some("example.com.") && input.hosted_zone_id() == Some("ZONE2")
        })
        .then_output(|| {
            ListHostedZonesByNameOutput::builder()
                .hosted_zones(zone("ZONE2", "example.com.", false))
                .is_truncated(false)
                .max_items(1)
                .build()
                .unwrap()
        });
    let aws = aws_with(&[], &[&first, &second]);
    let err = resources::find_public_zone(&aws, "example.com")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 public hosted zones named example.com (ZONE1, ZONE2)")
            && err.contains("set [domain] zone_id"),
        "{err}"
    );
}

#[tokio::test]
async fn no_zone_for_the_domain_says_how_to_make_one() {
    let none = zones_from("example.com", vec![zone("ZORG", "example.org.", false)]);
    let aws = aws_with(&[], &[&none]);
    let err = resources::find_public_zone(&aws, "example.com")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no public Route 53 hosted zone") && err.contains("create-hosted-zone"),
        "{err}"
    );
}

fn validation(domain: &str, with_record: bool) -> DomainValidation {
    let mut option = DomainValidation::builder()
        .domain_name(domain)
        .validation_domain(domain);
    if with_record {
        option = option.resource_record(
            aws_sdk_acm::types::ResourceRecord::builder()
                .name(RECORD)
                .r#type(RecordType::Cname)
                .value(VALUE)
                .build()
                .unwrap(),
        );
    }
    option.build().unwrap()
}

fn detail(arn: &str, status: CertificateStatus, records: bool) -> DescribeCertificateOutput {
    detail_failed(arn, status, records, None)
}

fn detail_failed(
    arn: &str,
    status: CertificateStatus,
    records: bool,
    failure: Option<FailureReason>,
) -> DescribeCertificateOutput {
    DescribeCertificateOutput::builder()
        .certificate(
            CertificateDetail::builder()
                .certificate_arn(arn)
                .domain_name("example.com")
                .subject_alternative_names("example.com")
                .subject_alternative_names("*.example.com")
                .status(status)
                .domain_validation_options(validation("example.com", records))
                .domain_validation_options(validation("*.example.com", records))
                .set_failure_reason(failure)
                .build(),
        )
        .build()
}

fn certificate() -> Resource {
    Resource {
        id: "certificate-example.com".into(),
        spec: Spec::Certificate(CertificateSpec {
            domain_name: "example.com".into(),
            alternative_names: vec!["*.example.com".into()],
            zone: "ZPUBLIC".into(),
            issued: true,
        }),
        after: Vec::new(),
    }
}

fn change_done(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder()
        .id("/change/C1")
        .status(status)
        .submitted_at(aws_smithy_types::DateTime::from_secs(0))
        .build()
        .unwrap()
}

/// ChangeResourceRecordSets' answer: the change, in `status`.
fn changed(status: ChangeStatus) -> ChangeResourceRecordSetsOutput {
    ChangeResourceRecordSetsOutput::builder()
        .change_info(change_done(status))
        .build()
}

/// GetChange answering that every change reached Route 53's name servers.
fn in_sync() -> Rule {
    mock!(aws_sdk_route53::Client::get_change).then_output(|| {
        GetChangeOutput::builder()
            .change_info(change_done(ChangeStatus::Insync))
            .build()
    })
}

#[tokio::test]
async fn a_certificate_is_requested_its_shared_validation_record_written_once_and_waited_on_until_issued(
) {
    let request = mock!(aws_sdk_acm::Client::request_certificate)
        .match_requests(|input| {
            let tags: BTreeMap<&str, &str> = input
                .tags()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default()))
                .collect();
            let token = input.idempotency_token().unwrap_or_default();
            input.domain_name() == Some("example.com")
                && input.subject_alternative_names() == ["*.example.com"]
                && input.validation_method() == Some(&aws_sdk_acm::types::ValidationMethod::Dns)
                // IdempotencyToken: 1-32 word characters (ACM API reference).
                && (1..=32).contains(&token.len())
                && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && tags.get("slipway:zone") == Some(&"ZPUBLIC")
                && tags.get("slipway:id") == Some(&"certificate-example.com")
                && tags.get("slipway:stack") == Some(&"notes")
        })
        .then_output(|| {
            aws_sdk_acm::operation::request_certificate::RequestCertificateOutput::builder()
                .certificate_arn(ARN)
                .build()
        });
    // Not found for a few seconds after the request, then without its records, then
    // with them; issued after validating.
    let describe = mock!(aws_sdk_acm::Client::describe_certificate)
        .match_requests(|input| input.certificate_arn() == Some(ARN))
        .sequence()
        .error(|| {
            aws_sdk_acm::operation::describe_certificate::DescribeCertificateError::ResourceNotFoundException(
                aws_sdk_acm::types::error::ResourceNotFoundException::builder()
                    .message(format!("Could not find certificate {ARN}."))
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("ResourceNotFoundException")
                            .build(),
                    )
                    .build(),
            )
        })
        .output(|| detail(ARN, CertificateStatus::PendingValidation, false))
        .output(|| detail(ARN, CertificateStatus::PendingValidation, true))
        .output(|| detail(ARN, CertificateStatus::PendingValidation, true))
        .output(|| detail(ARN, CertificateStatus::Issued, true))
        .build();
    // One record for the domain and its wildcard (ACM names the same one for both).
    let upsert = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .match_requests(|input| {
            let changes = input
                .change_batch()
                .map(|b| b.changes())
                .unwrap_or_default();
            input.hosted_zone_id() == Some("ZPUBLIC")
                && changes.len() == 1
                && changes[0].action() == &ChangeAction::Upsert
                && changes[0].resource_record_set().is_some_and(|set| {
                    set.name() == RECORD
                        && set.r#type() == &RrType::Cname
                        && set.ttl() == Some(300)
                        && set.resource_records().len() == 1
                        && set.resource_records()[0].value() == VALUE
                })
        })
        .then_output(|| changed(ChangeStatus::Pending));
    let synced = mock!(aws_sdk_route53::Client::get_change)
        // The SDK trims the `/change/` prefix ChangeResourceRecordSets answers with.
        .match_requests(|input| input.id() == Some("C1"))
        .sequence()
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_done(ChangeStatus::Pending))
                .build()
        })
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_done(ChangeStatus::Insync))
                .build()
        })
        .build();
    let aws = aws_with(&[&request, &describe], &[&upsert, &synced]);
    let attrs = resources::create(&aws, &certificate(), &Resolved::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(attrs.get("arn").map(String::as_str), Some(ARN));
    assert_eq!(attrs.get("_zone").map(String::as_str), Some("ZPUBLIC"));
    assert_eq!(
        (
            request.num_calls(),
            describe.num_calls(),
            upsert.num_calls(),
            synced.num_calls()
        ),
        (1, 5, 1, 2)
    );
}

#[tokio::test]
async fn a_certificate_acm_refuses_stops_up_with_the_reason_and_what_to_do() {
    let request = mock!(aws_sdk_acm::Client::request_certificate).then_output(|| {
        aws_sdk_acm::operation::request_certificate::RequestCertificateOutput::builder()
            .certificate_arn(ARN)
            .build()
    });
    let describe = mock!(aws_sdk_acm::Client::describe_certificate)
        .sequence()
        .output(|| detail(ARN, CertificateStatus::PendingValidation, true))
        .output(|| {
            detail_failed(
                ARN,
                CertificateStatus::Failed,
                true,
                Some(FailureReason::CaaError),
            )
        })
        .build();
    let upsert = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .then_output(|| changed(ChangeStatus::Insync));
    let synced = in_sync();
    let aws = aws_with(&[&request, &describe], &[&upsert, &synced]);
    let err = resources::create(&aws, &certificate(), &Resolved::default(), &Quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("FAILED (CAA_ERROR)")
            && err.contains("0 issue \"amazon.com\"")
            && err.contains("provision down"),
        "{err}"
    );
}

fn ours_observed() -> Observed {
    Observed {
        id: "certificate-example.com".into(),
        kind: Kind::Certificate,
        spec: serde_json::json!({}),
        attrs: [
            ("arn", ARN),
            ("_zone", "ZPUBLIC"),
            ("_domain", "example.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    }
}

#[tokio::test]
async fn a_certificate_in_use_is_retried_then_deleted_and_its_validation_record_stays() {
    // In use by a listener at first (the listener's change has not reached ACM yet).
    let delete = mock!(aws_sdk_acm::Client::delete_certificate)
        .match_requests(|input| input.certificate_arn() == Some(ARN))
        .sequence()
        .error(|| {
            aws_sdk_acm::operation::delete_certificate::DeleteCertificateError::ResourceInUseException(
                aws_sdk_acm::types::error::ResourceInUseException::builder()
                    .message("Certificate is in use by arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/notes-dev-alb/1")
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("ResourceInUseException")
                            .build(),
                    )
                    .build(),
            )
        })
        .output(|| aws_sdk_acm::operation::delete_certificate::DeleteCertificateOutput::builder().build())
        .build();
    // No Route 53 rule: the validation record is the domain's in this account and every
    // region (other certificates of the domain renew with it), so a change would fail
    // the test.
    let aws = aws_with(&[&delete], &[]);
    resources::delete(&aws, &ours_observed(), &DeleteOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(delete.num_calls(), 2);
}

#[tokio::test]
async fn a_record_pointed_elsewhere_since_is_no_longer_the_stacks_and_down_leaves_it() {
    let now_theirs = mock!(aws_sdk_route53::Client::list_resource_record_sets)
        .match_requests(|input| {
            input.hosted_zone_id() == Some("ZPUBLIC")
                && input.start_record_name() == Some("api.example.com.")
                && input.start_record_type() == Some(&RrType::A)
        })
        .then_output(|| {
            aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput::builder()
                .resource_record_sets(
                    aws_sdk_route53::types::ResourceRecordSet::builder()
                        .name("api.example.com.")
                        .r#type(RrType::A)
                        .alias_target(
                            aws_sdk_route53::types::AliasTarget::builder()
                                .hosted_zone_id("Z35SXDOTRQ7X7K")
                                .dns_name("dualstack.someone-elses-alb-2.us-east-1.elb.amazonaws.com.")
                                .evaluate_target_health(false)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .is_truncated(false)
                .max_items(1)
                .build()
                .unwrap()
        });
    // No ChangeResourceRecordSets rule: a DELETE would fail the test.
    let aws = aws_with(&[], &[&now_theirs]);
    let record = Observed {
        id: "dns-api.example.com".into(),
        kind: Kind::DnsRecord,
        spec: serde_json::json!({}),
        attrs: [
            ("_name", "api.example.com."),
            ("_zone", "ZPUBLIC"),
            ("_target", "notes-dev-alb-1.us-east-1.elb.amazonaws.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    resources::delete(&aws, &record, &DeleteOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(now_theirs.num_calls(), 1);
}

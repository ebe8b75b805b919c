//! ACM public certificates of a `[domain]`, validated by DNS: the provider writes the
//! validation records ACM names into the Route 53 hosted zone and waits until ACM has
//! issued the certificate, as CloudFormation does for a certificate whose
//! `DomainValidationOptions` name a hosted zone.

use std::collections::BTreeMap;

use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Tag, ValidationMethod};
use aws_sdk_route53::types::ChangeAction;

use super::route53_common::{change, cname_record, resolved_zone};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, wait_until, Aws, AwsError, DeleteOptions, Progress,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

/// The tag naming the hosted zone of a certificate's validation records and of the
/// stack's alias records (records cannot be tagged: observation finds them through it).
pub(crate) const ZONE_TAG: &str = "slipway:zone";
/// Attributes observation of the records reads off a certificate (`_`: not identifiers).
pub(crate) const ZONE: &str = "_zone";
pub(crate) const DOMAIN: &str = "_domain";

impl Scan<'_> {
    /// The stack's certificates, read once per observation (the records start from them).
    pub(crate) async fn certificates(&self) -> Result<&Vec<Observed>, AwsError> {
        self.certificates
            .get_or_try_init(|| list_stack_certificates(self.aws))
            .await
    }
}

/// Every certificate ARN of the account in this region (ListCertificates, paginated; all
/// statuses, RSA 2048 keys: the key type ACM uses when a request names none).
async fn all_certificate_arns(aws: &Aws) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = aws
            .acm
            .list_certificates()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| call_error("certificates", "ListCertificates", e))?;
        arns.extend(
            out.certificate_summary_list()
                .iter()
                .filter_map(|c| c.certificate_arn())
                .map(str::to_owned),
        );
        match out.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(arns),
        }
    }
}

async fn describe(aws: &Aws, id: &str, arn: &str) -> Result<CertificateDetail, AwsError> {
    aws.acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| call_error(id, "DescribeCertificate", e))?
        .certificate
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: "DescribeCertificate returned no certificate".into(),
        })
}

async fn list_stack_certificates(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let mut found = Vec::new();
    for arn in all_certificate_arns(aws).await? {
        let tags = aws
            .acm
            .list_tags_for_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .map_err(|e| call_error(&arn, "ListTagsForCertificate", e))?;
        let tags: BTreeMap<&str, &str> = tags
            .tags()
            .iter()
            .map(|t| (t.key(), t.value().unwrap_or_default()))
            .collect();
        let Some(id) = aws.owned_id(tags.iter().map(|(k, v)| (*k, *v))) else {
            continue;
        };
        let zone = tags.get(ZONE_TAG).copied().unwrap_or_default().to_owned();
        let detail = describe(aws, &id, &arn).await?;
        let domain_name = detail.domain_name().unwrap_or_default().to_owned();
        // ACM lists the domain name among the alternative names too.
        let mut alternative_names: Vec<String> = detail
            .subject_alternative_names()
            .iter()
            .filter(|name| **name != domain_name)
            .cloned()
            .collect();
        alternative_names.sort();
        found.push(observed(
            &id,
            Kind::Certificate,
            CertificateSpec {
                domain_name: domain_name.clone(),
                alternative_names,
                zone: zone.clone(),
                issued: detail.status() == Some(&CertificateStatus::Issued),
            },
            attrs([
                ("arn", Some(arn.clone())),
                (ZONE, Some(zone)),
                (DOMAIN, Some(domain_name)),
            ]),
        ));
    }
    Ok(found)
}

/// `(name, value)` of each validation record ACM asks for, once per name (the domain and
/// its wildcard share one).
fn validation_records(detail: &CertificateDetail) -> BTreeMap<String, String> {
    detail
        .domain_validation_options()
        .iter()
        .filter_map(|option| option.resource_record())
        .map(|record| (record.name().to_owned(), record.value().to_owned()))
        .collect()
}

/// What to do about a certificate ACM will not issue, by its `FailureReason` (ACM API
/// reference, CertificateDetail; ACM User Guide, "Troubleshoot certificate requests").
fn failure_hint(reason: &str) -> &'static str {
    match reason {
        "CAA_ERROR" => "a CAA record of the domain does not allow Amazon to issue for it: add `0 issue \"amazon.com\"` to the domain's CAA records (ACM User Guide, \"CAA records\")",
        "DOMAIN_NOT_ALLOWED" | "INVALID_PUBLIC_DOMAIN" => "ACM does not issue public certificates for this name: use a registered public domain",
        "ADDITIONAL_VERIFICATION_REQUIRED" => "ACM needs more information to issue it: open a case with AWS Support",
        _ => "see the certificate in the ACM console",
    }
}

/// Writes the validation records of certificate `arn` into `zone` and waits until ACM has
/// issued it.
async fn validate(
    aws: &Aws,
    id: &str,
    arn: &str,
    zone: &str,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    // "After successful completion of the RequestCertificate action, there is a delay of
    // several seconds before you can retrieve information about the new certificate"
    // (ACM API Reference, RequestCertificate): not found yet, then the validation options
    // without their `ResourceRecord`, then the records.
    let records = wait_until(
        aws,
        id,
        "ACM to name the DNS validation records",
        progress,
        || async {
            let detail = match describe(aws, id, arn).await {
                Ok(detail) => detail,
                Err(err) if err.code() == Some("ResourceNotFoundException") => {
                    return Ok(Err("not visible yet".to_owned()))
                }
                Err(err) => return Err(err),
            };
            let options = detail.domain_validation_options();
            let assigned =
                !options.is_empty() && options.iter().all(|o| o.resource_record().is_some());
            Ok(if assigned {
                Ok(validation_records(&detail))
            } else {
                Err("without validation records".to_owned())
            })
        },
    )
    .await?;
    let changes = records
        .iter()
        .map(|(name, value)| Ok((ChangeAction::Upsert, cname_record(name, value)?)))
        .collect::<Result<Vec<_>, AwsError>>()?;
    change(aws, id, zone, changes, progress).await?;
    let pending = format!(
        "PENDING_VALIDATION (ACM looks the validation records up in public DNS: is the domain delegated to the name servers of hosted zone {zone}?)"
    );
    wait_until(aws, id, "ACM to issue the certificate", progress, || async {
        let detail = describe(aws, id, arn).await?;
        match detail.status() {
            Some(CertificateStatus::Issued) => Ok(Ok(())),
            Some(CertificateStatus::PendingValidation) | None => Ok(Err(pending.clone())),
            Some(other) => {
                let reason = detail
                    .failure_reason()
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_else(|| "no reason given".into());
                Err(AwsError::Unexpected {
                    resource: id.to_owned(),
                    message: format!(
                        "ACM will not issue {arn}: {} ({reason}); {}. Then delete it (`provision down`, or `aws acm delete-certificate --certificate-arn {arn}`) and run `provision up` again",
                        other.as_str(),
                        failure_hint(&reason)
                    ),
                })
            }
        }
    })
    .await
}

fn acm_tags(aws: &Aws, id: &str, zone: &str) -> Result<Vec<Tag>, AwsError> {
    aws.tags(id)
        .into_iter()
        .chain([(ZONE_TAG.to_owned(), zone.to_owned())])
        .map(|(key, value)| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| AwsError::Unexpected {
                    resource: id.to_owned(),
                    message: e.to_string(),
                })
        })
        .collect()
}

impl Provider for super::Certificate {
    type Spec = CertificateSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ResourceNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        Ok(scan.certificates().await?.clone())
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let zone = resolved_zone(id, &spec.zone)?;
        // Retries of this one request (the SDK's) get the same certificate; a later run
        // finds one made by an interrupted run by its tags. At most 32 word characters.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default();
        let token = crate::aws::client_token(&[&aws.stack, &aws.env, id, &now])
            .trim_start_matches("sw-")
            .to_owned();
        let out = aws
            .acm
            .request_certificate()
            .domain_name(&spec.domain_name)
            .set_subject_alternative_names(
                (!spec.alternative_names.is_empty()).then(|| spec.alternative_names.clone()),
            )
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(token)
            .set_tags(Some(acm_tags(aws, id, zone)?))
            .send()
            .await
            .map_err(|e| call_error(id, "RequestCertificate", e))?;
        let arn = out.certificate_arn().unwrap_or_default().to_owned();
        validate(aws, id, &arn, zone, progress).await?;
        Ok(attrs([
            ("arn", Some(arn)),
            (ZONE, Some(zone.to_owned())),
            (DOMAIN, Some(spec.domain_name.clone())),
        ]))
    }

    /// A certificate left pending (an interrupted `up`) or whose zone changed: its tags
    /// name the zone, its validation records are written there, and ACM is waited on.
    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let arn = require(current, id, "arn")?;
        let zone = resolved_zone(id, &spec.zone)?;
        aws.acm
            .add_tags_to_certificate()
            .certificate_arn(&arn)
            .set_tags(Some(acm_tags(aws, id, zone)?))
            .send()
            .await
            .map_err(|e| call_error(id, "AddTagsToCertificate", e))?;
        validate(aws, id, &arn, zone, progress).await?;
        let mut attrs = current.clone();
        attrs.insert(ZONE.into(), zone.to_owned());
        Ok(attrs)
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        let arn = require(current, id, "arn")?;
        // ACM refuses to delete a certificate a listener uses (ResourceInUseException,
        // which the caller retries: the listener goes first, or moves to the new
        // certificate, and ACM lets go a moment later).
        //
        // Its validation record stays in the zone. ACM gives every certificate of a
        // domain in the account the same record, in every region ("Each record, created
        // specifically for your domain and your account … the CNAME validation token
        // works for any AWS Region", ACM User Guide, "DNS validation"): another
        // certificate of the domain, here or in another region (CloudFront's, in
        // us-east-1), may renew with it, and no region-wide listing can prove otherwise.
        // The record is inert without a certificate that asks for it.
        super::deleted(
            aws.acm
                .delete_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteCertificate", e)),
            Self::gone,
        )
    }
}

//! `[domain]` end to end against moto (ACM and Route 53): the hosted zone found by name
//! (a private zone of the same name passed over), a record the stack did not make left
//! alone and named, the certificate requested, validated through records in the zone and
//! waited on until issued, HTTPS with the redirect, an alias record per public service,
//! a clean second plan, clickable `https://` URLs, the operator policy covering every
//! ACM and Route 53 call, and `down` removing the certificate and the alias records (the
//! validation record stays: every certificate of the domain in the account uses it).
//!
//! What moto does not do like ACM (the validation records' names are not per account,
//! ResourceRecord is there at once, no FAILED status) is covered with the exact requests
//! in `domain_requests.rs`.

mod common;

use std::collections::BTreeSet;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
    Vpc, VpcRegion,
};
use common::iam_eval::{assert_outcomes, request};
use common::{load_balancer_listeners, Moto, REGION};
use serde_json::{json, Value};

/// The two public services of `cdk/tests/domain.rs`, under `example.com`.
fn stack_file() -> String {
    format!(
        "{}\n[domain]\nname = \"example.com\"\n",
        include_str!("../../cdk/tests/fixtures/notes.toml")
    )
}

fn record(name: &str, kind: RrType, value: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(kind)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap()
}

async fn change(
    aws: &provisioner::aws::Aws,
    zone: &str,
    action: ChangeAction,
    set: ResourceRecordSet,
) {
    aws.route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(action)
                        .resource_record_set(set)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// `(name, type, alias target or first value)` of every record in `zone`, NS and SOA aside.
async fn records(aws: &provisioner::aws::Aws, zone: &str) -> BTreeSet<(String, String, String)> {
    let out = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    out.resource_record_sets()
        .iter()
        .filter(|set| !matches!(set.r#type(), RrType::Ns | RrType::Soa))
        .map(|set| {
            let points_at = set
                .alias_target()
                .map(|a| a.dns_name().trim_end_matches('.').to_owned())
                .or_else(|| set.resource_records().first().map(|r| r.value().to_owned()))
                .unwrap_or_default();
            (
                set.name().trim_end_matches('.').to_owned(),
                set.r#type().as_str().to_owned(),
                points_at,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_is_served_over_https_under_its_own_names_and_down_removes_only_what_the_stack_made(
) {
    let moto = Moto::start();
    let aws = moto.aws("notes", "dev").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.toml"), stack_file()).unwrap();
    let config_dir = dir.path().to_str().unwrap();

    // The account: a public zone for the domain, a private one of the same name (never
    // the one to validate a public certificate in), and records of its owner's.
    let zone = aws
        .route53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("public")
        .send()
        .await
        .unwrap();
    let zone_id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    let vpc = aws
        .ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .unwrap();
    aws.route53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("private")
        .hosted_zone_config(HostedZoneConfig::builder().private_zone(true).build())
        .vpc(
            Vpc::builder()
                .vpc_region(VpcRegion::from(REGION))
                .vpc_id(vpc.vpc().unwrap().vpc_id().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    change(
        &aws,
        &zone_id,
        ChangeAction::Create,
        record("www.example.com", RrType::A, "192.0.2.10"),
    )
    .await;
    let theirs = record("api.example.com", RrType::Cname, "legacy.example.net");
    change(&aws, &zone_id, ChangeAction::Create, theirs.clone()).await;

    let provision = |args: &[&str]| {
        let mut all = vec!["--config-dir", config_dir, "--yes"];
        all.extend(args);
        moto.provision(&all)
    };

    // `api.example.com` is someone else's: `up` stops there and says whose it is.
    let mut refused = None;
    let refused_actions = moto.recorded_actions(|| refused = Some(provision(&["up"])));
    let refused = refused.unwrap();
    assert_ne!(refused.code(), 0, "{}", refused.stdout());
    let said = format!("{}{}", refused.stdout(), refused.stderr());
    assert!(
        said.contains("api.example.com already has a CNAME record")
            && said.contains("legacy.example.net")
            && said.contains("does not overwrite"),
        "{said}"
    );
    assert!(records(&aws, &zone_id).await.contains(&(
        "api.example.com".into(),
        "CNAME".into(),
        "legacy.example.net".into()
    )));

    // Once it is gone, the next `up` finishes what the first left (recording every call
    // for the policy check below).
    change(&aws, &zone_id, ChangeAction::Delete, theirs).await;
    let mut up = None;
    let up_actions = moto.recorded_actions(|| up = Some(provision(&["--output", "json", "up"])));
    let up = up.unwrap();
    up.ok();
    assert!(
        up.json()["outcome"]["failed"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{}",
        up.stdout()
    );

    // The certificate: issued, for the domain and its wildcard, tagged as the stack's and
    // with the zone of its records.
    let certificates = aws.acm.list_certificates().send().await.unwrap();
    let summaries = certificates.certificate_summary_list();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let arn = summaries[0].certificate_arn().unwrap().to_owned();
    let detail = aws
        .acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap()
        .certificate
        .unwrap();
    assert_eq!(detail.status().unwrap().as_str(), "ISSUED");
    assert_eq!(detail.domain_name(), Some("example.com"));
    assert!(detail
        .subject_alternative_names()
        .contains(&"*.example.com".to_owned()));
    let tags = aws
        .acm
        .list_tags_for_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    let tag = |key: &str| {
        tags.tags()
            .iter()
            .find(|t| t.key() == key)
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    assert_eq!(tag("slipway:stack").as_deref(), Some("notes"));
    assert_eq!(
        tag("slipway:id").as_deref(),
        Some("certificate-example.com")
    );
    assert_eq!(tag("slipway:zone"), Some(zone_id.clone()));

    // HTTPS on 443 with the certificate and the TLS 1.3/1.2 policy; 80 redirects; no
    // listener of api's own (it has a name of its own).
    let (lb, listeners) = load_balancer_listeners(&aws, "notes-dev-alb").await;
    let alb_dns = lb.dns_name().unwrap().to_owned();
    let ports: BTreeSet<i32> = listeners.iter().map(|(l, _)| l.port().unwrap()).collect();
    assert_eq!(ports, BTreeSet::from([80, 443]));
    let https = &listeners
        .iter()
        .find(|(l, _)| l.port() == Some(443))
        .unwrap()
        .0;
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(arn.as_str())
    );
    assert_eq!(
        https.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    let http = &listeners
        .iter()
        .find(|(l, _)| l.port() == Some(80))
        .unwrap()
        .0;
    let redirect = http.default_actions()[0].redirect_config().unwrap();
    assert_eq!(
        (
            redirect.protocol(),
            redirect.port(),
            redirect.status_code().map(|c| c.as_str())
        ),
        (Some("HTTPS"), Some("443"), Some("HTTP_301"))
    );

    // The zone: its owner's record untouched, an alias per public service to the ALB, and
    // ACM's validation record (one for the domain and its wildcard).
    let owners = BTreeSet::from([(
        "www.example.com".to_owned(),
        "A".to_owned(),
        "192.0.2.10".to_owned(),
    )]);
    let now = records(&aws, &zone_id).await;
    let added: BTreeSet<_> = now.difference(&owners).cloned().collect();
    let validation: Vec<_> = added
        .iter()
        .filter(|(_, kind, _)| kind == "CNAME")
        .collect();
    assert_eq!(validation.len(), 1, "{added:?}");
    assert!(validation[0].0.starts_with('_') && validation[0].0.ends_with(".example.com"));
    let validation_name = validation[0].0.to_lowercase();
    let validation_record = validation[0].clone();
    for name in ["web.example.com", "api.example.com"] {
        assert!(
            added.contains(&(name.into(), "A".into(), alb_dns.clone())),
            "{name} → {alb_dns} missing: {added:?}"
        );
    }
    assert_eq!(added.len(), 3, "{added:?}");
    assert!(now.is_superset(&owners));

    // Nothing left to do: the zone found again by name, the records read back as the
    // stack's.
    let plan = provision(&["--output", "json", "plan"]).json();
    let changes: Vec<&Value> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .collect();
    assert!(changes.is_empty(), "{changes:#?}");

    // Clickable addresses, the certificate in the outputs, and its price: nothing.
    let status = provision(&["--output", "json", "status"]).json();
    let url = |service: &str| {
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["service"] == service)
            .map(|row| row["url"].clone())
    };
    assert_eq!(url("web"), Some(Value::from("https://web.example.com/")));
    assert_eq!(url("api"), Some(Value::from("https://api.example.com/")));
    let outputs = provision(&["--output", "json", "outputs"]).json();
    assert_eq!(outputs["certificate_arn"], Value::from(arn.clone()));
    assert_eq!(outputs["domain"], "example.com");
    let cost = provision(&["--output", "json", "cost", "--offline"]).json();
    let line = cost["estimate"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == "ACM public certificate")
        .cloned()
        .unwrap_or_else(|| panic!("{cost:#}"));
    assert_eq!(line["monthly"], 0.0);

    let mut down = None;
    let down_actions = moto.recorded_actions(|| {
        down = Some(provision(&["--output", "json", "down", "--no-snapshot"]))
    });
    down.unwrap().ok();
    // The alias records are gone; the zone, its owner's records and ACM's validation
    // record stay (the domain's in this account, for any certificate of it in any region).
    let mut kept = owners.clone();
    kept.insert(validation_record.clone());
    assert_eq!(records(&aws, &zone_id).await, kept);
    let certificates = aws.acm.list_certificates().send().await.unwrap();
    assert!(certificates.certificate_summary_list().is_empty());

    // `provision policy` allows every ACM and Route 53 call `up` and `down` made.
    let policy = provision(&["policy", "--json"]).json();
    let allowed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let domain_calls: BTreeSet<&String> = refused_actions
        .iter()
        .chain(&up_actions)
        .chain(&down_actions)
        .filter(|a| a.starts_with("acm:") || a.starts_with("route53:"))
        .collect();
    for expected in [
        "acm:RequestCertificate",
        "acm:DescribeCertificate",
        "acm:DeleteCertificate",
        "route53:ListHostedZonesByName",
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
        "route53:ListResourceRecordSets",
    ] {
        assert!(
            domain_calls.contains(&expected.to_owned()),
            "{expected} not called: {domain_calls:?}"
        );
    }
    let missing: Vec<&&String> = domain_calls
        .iter()
        .filter(|a| !allowed.contains(**a))
        .collect();
    assert!(missing.is_empty(), "the policy lacks {missing:?}");

    // ...and only for this stack's domain and zone (the IAM policy evaluator).
    let ours =
        json!({"aws:RequestTag/slipway:stack": "notes", "aws:RequestTag/slipway:env": "dev"});
    let requesting = |names: &[&str], method: &str| {
        let mut context = ours.clone();
        context["acm:DomainNames"] = json!(names);
        context["acm:ValidationMethod"] = json!(method);
        request("acm:RequestCertificate", "*", context)
    };
    let certificate = format!("arn:aws:acm:{REGION}:123456789012:certificate/1");
    let owned_by = |stack: &str| json!({"aws:ResourceTag/slipway:stack": stack, "aws:ResourceTag/slipway:env": "dev"});
    let changing = |zone: &str, names: &[&str], kinds: &[&str]| {
        request(
            "route53:ChangeResourceRecordSets",
            format!("arn:aws:route53:::hostedzone/{zone}"),
            json!({
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                "route53:ChangeResourceRecordSetsRecordTypes": kinds,
            }),
        )
    };
    assert_outcomes(
        "arn:aws:iam::123456789012:role/notes-dev-operator",
        &policy,
        vec![
            (true, requesting(&["example.com", "*.example.com"], "DNS")),
            (
                false,
                requesting(&["example.com", "shop.example.org"], "DNS"),
            ),
            (false, requesting(&["example.com"], "EMAIL")),
            (
                true,
                request(
                    "acm:DeleteCertificate",
                    certificate.clone(),
                    owned_by("notes"),
                ),
            ),
            (
                false,
                request("acm:DeleteCertificate", certificate, owned_by("shop")),
            ),
            (
                true,
                changing(
                    &zone_id,
                    &["web.example.com", &validation_name],
                    &["A", "CNAME"],
                ),
            ),
            (false, changing(&zone_id, &["www.example.org"], &["A"])),
            (false, changing(&zone_id, &["web.example.com"], &["MX"])),
            // Any zone: the stack file names no zone_id, so `provision policy` (offline)
            // cannot name it; with zone_id the statement names that zone alone
            // (cdk/tests/domain.rs).
        ],
    );
}

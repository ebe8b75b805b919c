//! `[domain]`: what a stack file with a domain expands to (certificate, HTTPS with a
//! redirect, alias records, no per-service ports), what it synthesizes, costs and needs
//! in IAM, and the stack files refused with a message.

use std::path::Path;

use serde_json::json;
use slipway_cdk::config::{ConfigError, StackConfig};
use slipway_cdk::constructs::expand;
use slipway_cdk::model::{Resource, Spec};

/// Two public services, the default one and one routed by host name.
const BASE: &str = include_str!("fixtures/notes.toml");

fn parse(extra: &str, env: &str) -> Result<StackConfig, ConfigError> {
    StackConfig::parse(Path::new("notes.toml"), &format!("{BASE}{extra}"), env)
}

fn find<'a>(resources: &'a [Resource], id: &str) -> &'a Spec {
    &resources
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
        .spec
}

/// [`BASE`] with `from` replaced by `to` (which must be there), then `extra`.
fn parse_edited(from: &str, to: &str, extra: &str, env: &str) -> Result<StackConfig, ConfigError> {
    assert!(BASE.contains(from), "the fixture has no `{from}`");
    let text = format!("{}{extra}", BASE.replace(from, to));
    StackConfig::parse(Path::new("notes.toml"), &text, env)
}

fn refused(extra: &str) -> String {
    parse(extra, "dev").expect_err("refused").to_string()
}

/// Why the edited stack file (see [`parse_edited`]) is refused in dev.
fn refused_edited(from: &str, to: &str, extra: &str) -> String {
    parse_edited(from, to, extra, "dev")
        .expect_err("refused")
        .to_string()
}

#[test]
fn a_domain_gets_a_certificate_https_a_redirect_and_a_record_per_public_service() {
    let config = parse("\n[domain]\nname = \"example.com\"\n", "dev").unwrap();
    let resources = expand(&config);
    let Spec::Certificate(certificate) = find(&resources, "certificate-example.com") else {
        panic!("not a certificate")
    };
    assert_eq!(certificate.domain_name, "example.com");
    assert_eq!(certificate.alternative_names, vec!["*.example.com"]);
    assert_eq!(certificate.zone, "lookup:example.com");
    assert!(certificate.issued);

    let https = serde_json::to_value(find(&resources, "listener-https")).unwrap();
    assert_eq!(https["port"], 443);
    assert_eq!(https["certificate_arn"], "${certificate-example.com}");
    assert_eq!(https["ssl_policy"], "ELBSecurityPolicy-TLS13-1-2-2021-06");
    let http = serde_json::to_value(find(&resources, "listener-http")).unwrap();
    assert_eq!(http["default_action"], "redirect_https");

    for (service, name) in [("web", "web.example.com"), ("api", "api.example.com")] {
        let id = format!("dns-{name}");
        let Spec::DnsRecord(record) = find(&resources, &id) else {
            panic!("{id} is not a record")
        };
        assert_eq!(record.name, name, "{service}");
        assert_eq!(record.alias_target.0, "${alb}");
        assert_eq!(record.zone, "lookup:example.com");
        // Deleted before the certificate (observation finds records through it).
        let resource = resources.iter().find(|r| r.id == id).unwrap();
        assert_eq!(resource.after, vec!["certificate-example.com"]);
    }
    // With its own name the host-routed service needs no port of its own; the ALB
    // opens 80 and 443 only.
    assert!(!resources.iter().any(|r| r.id == "listener-port-api"));
    let alb_sg = serde_json::to_value(find(&resources, "sg-alb")).unwrap();
    let ports: Vec<i64> = alb_sg["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, vec![80, 443], "{alb_sg}");
}

#[test]
fn without_a_domain_the_same_stack_has_no_certificate_and_a_port_for_the_host_routed_service() {
    let resources = expand(&parse("", "dev").unwrap());
    assert!(!resources
        .iter()
        .any(|r| matches!(r.spec, Spec::Certificate(_) | Spec::DnsRecord(_))));
    assert!(resources.iter().any(|r| r.id == "listener-port-api"));
}

#[test]
fn zone_id_subdomains_and_env_overrides() {
    let extra = r#"
[domain]
name = "example.com"
zone_id = "/hostedzone/Z0123456789ABC"

[env.dev.domain]
name = "dev.example.com"
"#;
    let prod = expand(&parse(extra, "prod").unwrap());
    let Spec::Certificate(certificate) = find(&prod, "certificate-example.com") else {
        panic!()
    };
    assert_eq!(certificate.zone, "Z0123456789ABC");
    let dev = expand(&parse(extra, "dev").unwrap());
    assert!(dev.iter().any(|r| r.id == "certificate-dev.example.com"));
    assert!(dev.iter().any(|r| r.id == "dns-api.dev.example.com"));

    let config = parse_edited(
        "public = { default = true }",
        "public = { default = true, subdomain = \"@\" }",
        "\n[domain]\nname = \"example.com\"\n",
        "dev",
    )
    .unwrap();
    let resources = expand(&config);
    assert!(resources.iter().any(|r| r.id == "dns-example.com"));
    assert!(!resources.iter().any(|r| r.id == "dns-web.example.com"));
}

#[test]
fn bad_domains_are_refused_with_what_to_do() {
    let cases = [
        ("[domain]\nname = \"Example.com\"", "lowercase"),
        ("[domain]\nname = \"localhost\"", "at least two labels"),
        (
            &format!("[domain]\nname = \"{}.example.com\"", "a".repeat(60)),
            "ACM takes at most 64",
        ),
        ("[domain]\nname = \"example.com\"\nzone_id = \"zone-1\"", "hosted zone id"),
        (
            "[alb]\ncertificate_arn = \"arn:aws:acm:us-east-1:1:certificate/x\"\n[domain]\nname = \"example.com\"",
            "remove alb.certificate_arn",
        ),
    ];
    for (extra, expected) in cases {
        let message = refused(&format!("\n{extra}\n"));
        assert!(message.contains(expected), "{extra}: {message}");
    }
    let domain = "\n[domain]\nname = \"example.com\"\n";
    let default = "public = { default = true }";
    // A host-routed service whose own name its hosts do not match.
    let message = refused_edited("hosts = [\"api.*\"]", "hosts = [\"backend.*\"]", domain);
    assert!(
        message.contains("`api.example.com`, which none of its public.hosts (backend.*) matches"),
        "{message}"
    );
    // Two services at one name.
    let message = refused_edited(
        default,
        "public = { default = true, subdomain = \"api\" }",
        domain,
    );
    assert!(
        message.contains("both published at `api.example.com`"),
        "{message}"
    );
    // A subdomain of two labels, and one without a domain.
    let message = refused_edited(
        default,
        "public = { default = true, subdomain = \"a.b\" }",
        domain,
    );
    assert!(message.contains("one DNS label"), "{message}");
    let message = refused_edited(
        default,
        "public = { default = true, subdomain = \"www\" }",
        "",
    );
    assert!(message.contains("has no [domain]"), "{message}");
}

#[test]
fn synth_writes_the_certificate_validation_and_alias_records() {
    let config = parse("\n[domain]\nname = \"example.com\"\n", "dev").unwrap();
    let template = slipway_cdk::synth::cloudformation("notes", "dev", &expand(&config)).unwrap();
    let resources = &template["Resources"];
    let certificate = &resources["CertificateExampleCom"];
    assert_eq!(certificate["Type"], "AWS::CertificateManager::Certificate");
    let zone = json!({"Ref": "HostedZoneExampleCom"});
    assert_eq!(
        certificate["Properties"]["DomainValidationOptions"],
        json!([
            {"DomainName": "example.com", "HostedZoneId": zone},
            {"DomainName": "*.example.com", "HostedZoneId": zone},
        ])
    );
    assert_eq!(certificate["Properties"]["ValidationMethod"], "DNS");
    assert_eq!(
        template["Parameters"]["HostedZoneExampleCom"]["Type"],
        "AWS::Route53::HostedZone::Id"
    );
    let record = &resources["DnsApiExampleCom"];
    assert_eq!(record["Type"], "AWS::Route53::RecordSet");
    assert_eq!(
        record["Properties"]["AliasTarget"],
        json!({
            "DNSName": {"Fn::GetAtt": ["Alb", "DNSName"]},
            "HostedZoneId": {"Fn::GetAtt": ["Alb", "CanonicalHostedZoneID"]},
            "EvaluateTargetHealth": true,
        })
    );
    assert_eq!(
        resources["ListenerHttps"]["Properties"]["Certificates"],
        json!([{"CertificateArn": {"Ref": "CertificateExampleCom"}}])
    );

    // With a zone id there is nothing to look up: no parameter.
    let config = parse(
        "\n[domain]\nname = \"example.com\"\nzone_id = \"Z0123456789ABC\"\n",
        "dev",
    )
    .unwrap();
    let template = slipway_cdk::synth::cloudformation("notes", "dev", &expand(&config)).unwrap();
    assert!(template.get("Parameters").is_none());
    assert_eq!(
        template["Resources"]["DnsWebExampleCom"]["Properties"]["HostedZoneId"],
        "Z0123456789ABC"
    );
}

#[test]
fn the_operator_policy_changes_records_only_in_the_zone_under_the_domain() {
    let config = parse(
        "\n[domain]\nname = \"example.com\"\nzone_id = \"Z0123456789ABC\"\n",
        "dev",
    )
    .unwrap();
    let policy = slipway_cdk::policy::operator_policy("notes", "dev", &expand(&config));
    let route53 = policy
        .statements
        .iter()
        .find(|s| s.sid == "Route53DomainRecords")
        .expect("a Route 53 statement");
    assert_eq!(route53.actions, vec!["route53:ChangeResourceRecordSets"]);
    assert_eq!(
        route53.resources,
        vec!["arn:aws:route53:::hostedzone/Z0123456789ABC"]
    );
    assert_eq!(
        route53.conditions["ForAllValues:StringLike"]
            ["route53:ChangeResourceRecordSetsNormalizedRecordNames"],
        vec!["*.example.com", "example.com"]
    );
    // ACM: requested only with the stack's tags, deleted only when it carries them.
    let create = policy
        .statements
        .iter()
        .find(|s| s.sid.starts_with("Acm") && s.actions.contains(&"acm:RequestCertificate".into()))
        .expect("an ACM statement");
    assert!(create.conditions["StringEquals"].contains_key("aws:RequestTag/slipway:stack"));
    assert_eq!(
        create.conditions["StringEquals"]["acm:ValidationMethod"],
        vec!["DNS"]
    );
    assert_eq!(
        create.conditions["ForAllValues:StringEquals"]["acm:DomainNames"],
        vec!["*.example.com", "example.com"]
    );
    for action in [
        "acm:DeleteCertificate",
        "acm:ListCertificates",
        "route53:ListHostedZonesByName",
        "route53:GetChange",
    ] {
        assert!(policy.allows_action(action), "{action}");
    }
}

#[test]
fn certificates_and_alias_records_cost_nothing_and_say_so() {
    use slipway_cdk::cost::{estimate, items_from_resources, PriceTable};
    let table = PriceTable::offline();
    let plain = estimate(
        &items_from_resources(&expand(&parse("", "dev").unwrap())),
        &table,
    );
    let config = parse("\n[domain]\nname = \"example.com\"\n", "dev").unwrap();
    let with_domain = estimate(&items_from_resources(&expand(&config)), &table);
    let line = |item: &str| {
        with_domain
            .lines
            .iter()
            .find(|l| l.item == item)
            .unwrap_or_else(|| panic!("no {item} line"))
    };
    assert_eq!(line("ACM public certificate").monthly, 0.0);
    assert_eq!(line("Route 53 alias records").monthly, 0.0);
    assert!(line("Route 53 alias records")
        .quantity
        .starts_with("2 × $0"));
    // One listener port fewer (api's own), nothing else billed differently.
    assert!((with_domain.total() - plain.total()).abs() < 0.01);
}

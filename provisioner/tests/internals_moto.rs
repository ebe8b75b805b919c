//! Against moto: what `up` builds for health checks, internal endpoints and queue alarms
//! (issue 11, items 3, 8 and 12), the exact CreateRule request of the internal-paths
//! rule from moto's request recorder, and a clean `plan` afterwards.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{config_copy, edit_config, Moto};

/// `%XX` and `+` decoding of a form-encoded query-protocol body (a `%` without two hex
/// digits stays as it is).
fn form_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The form parameters of every recorded ELB request with `Action=<action>`.
fn recorded_requests(recording: &str, action: &str) -> Vec<BTreeMap<String, String>> {
    recording
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let request: serde_json::Value = serde_json::from_str(line).unwrap();
            let body = request["body"].as_str()?;
            let body = if request["body_encoded"].as_bool() == Some(true) {
                String::from_utf8(aws_smithy_types::base64::decode(body).ok()?).ok()?
            } else {
                body.to_owned()
            };
            // Query-protocol (form) bodies only: JSON and CBOR bodies are other services'.
            if body.starts_with('{') {
                return None;
            }
            let params: BTreeMap<String, String> = body
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (form_decode(k), form_decode(v)))
                .collect();
            (params.get("Action").map(String::as_str) == Some(action)).then_some(params)
        })
        .collect()
}

#[tokio::test]
async fn up_keeps_internal_paths_off_the_listener_checks_readiness_and_alarms_on_the_queue() {
    let moto = Moto::start();
    moto.moto_api("POST", "/moto-api/recorder/reset-recording");
    moto.moto_api("POST", "/moto-api/recorder/start-recording");
    moto.provision(&["--stack", "voting", "--yes", "--output", "json", "up"])
        .ok();
    moto.moto_api("POST", "/moto-api/recorder/stop-recording");
    let recording = moto.moto_api("GET", "/moto-api/recorder/download-recording");
    let aws = moto.aws("voting", "dev").await;

    // Item 12: the internal-paths rule, exactly as sent. ALB allows at most three values
    // per condition and five wildcards per rule; this sends two of each.
    let internal_tg = aws
        .elb
        .describe_target_groups()
        .names("voting-dev-tg-internal")
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    let internal_arn = internal_tg.target_group_arn().unwrap();
    let create_rules = recorded_requests(&recording, "CreateRule");
    let internal: Vec<_> = create_rules
        .iter()
        .filter(|p| p.get("Priority").map(String::as_str) == Some("1"))
        .collect();
    // One per listener: the shared one (80) and result's own (8081, issue 13 item 2).
    assert_eq!(
        internal.len(),
        2,
        "one internal-paths rule per listener: {create_rules:#?}"
    );
    let on_listeners: BTreeSet<&str> = internal.iter().map(|p| p["ListenerArn"].as_str()).collect();
    assert_eq!(on_listeners.len(), 2, "{internal:#?}");
    for sent in &internal {
        let sent: BTreeMap<&str, &str> = sent
            .iter()
            .filter(|(k, _)| k.starts_with("Conditions.") || k.starts_with("Actions."))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let expected: BTreeMap<&str, &str> = [
            ("Conditions.member.1.Field", "path-pattern"),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.1",
                "*/ready",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.2",
                "*/metrics",
            ),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", internal_arn),
        ]
        .into();
        assert_eq!(sent, expected);
    }

    // It is live, first on the listener, and its group has no targets: the ALB answers
    // those paths itself (503) and never reaches a task.
    let (_, listeners) = common::load_balancer_listeners(&aws, "voting-dev-alb").await;
    let mut ports: Vec<i32> = listeners.iter().filter_map(|(l, _)| l.port()).collect();
    ports.sort();
    assert_eq!(ports, [80, 8081]);
    for (_, rules) in &listeners {
        let first = rules
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .min_by_key(|r| r.priority().unwrap().parse::<i32>().unwrap())
            .unwrap();
        assert_eq!(first.priority(), Some("1"));
        assert_eq!(
            first.conditions()[0]
                .path_pattern_config()
                .unwrap()
                .values(),
            ["*/ready", "*/metrics"]
        );
        assert_eq!(first.actions()[0].target_group_arn(), Some(internal_arn));
    }
    let health = aws
        .elb
        .describe_target_health()
        .target_group_arn(internal_arn)
        .send()
        .await
        .unwrap();
    assert!(health.target_health_descriptions().is_empty());

    // Item 3: the load balancer asks readiness and tolerates a failover-long outage (5
    // failures 30 s apart) before ECS would replace a task; the container check is
    // liveness.
    for name in [
        "voting-dev-tg-vote",
        "voting-dev-tg-vote-alt",
        "voting-dev-tg-result",
    ] {
        let tg = aws
            .elb
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .unwrap()
            .target_groups()[0]
            .clone();
        assert_eq!(tg.health_check_path(), Some("/ready"), "{name}");
        assert_eq!(tg.health_check_interval_seconds(), Some(30), "{name}");
        assert_eq!(tg.health_check_timeout_seconds(), Some(5), "{name}");
        assert_eq!(tg.unhealthy_threshold_count(), Some(5), "{name}");
        assert_eq!(tg.healthy_threshold_count(), Some(2), "{name}");
    }
    for service in ["vote", "result", "worker"] {
        let definition = aws
            .ecs
            .describe_task_definition()
            .task_definition(format!("voting-dev-taskdef-{service}"))
            .send()
            .await
            .unwrap();
        let container = &definition
            .task_definition()
            .unwrap()
            .container_definitions()[0];
        assert_eq!(
            container.health_check().unwrap().command(),
            ["CMD", &format!("/usr/local/bin/{service}"), "--probe"],
            "{service}: liveness"
        );
        let environment: BTreeMap<&str, &str> = container
            .environment()
            .iter()
            .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
            .collect();
        // Every service reports its metrics to CloudWatch as EMF lines (issue 14, item 4;
        // issue 11's item 8 had only the worker, for its queue): the stack's namespace and
        // its own `Service` dimension. Dev's Redis has no replica to wait for.
        assert_eq!(
            environment.get("METRICS_NAMESPACE").copied(),
            Some("Slipway/voting-dev"),
            "{service}"
        );
        assert_eq!(
            environment.get("METRICS_SERVICE").copied(),
            Some(service),
            "{service}"
        );
        assert!(!environment.contains_key("REDIS_REPLICAS"), "{service}");
    }

    // Item 8: alarms on the EMF metrics the worker logs.
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("voting-dev-alarm-queue-")
        .send()
        .await
        .unwrap();
    let by_name: BTreeMap<&str, _> = alarms
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap(), a))
        .collect();
    assert_eq!(
        by_name.keys().copied().collect::<Vec<_>>(),
        [
            "voting-dev-alarm-queue-votes-age",
            "voting-dev-alarm-queue-votes-depth"
        ]
    );
    for (name, metric, threshold) in [
        ("voting-dev-alarm-queue-votes-depth", "QueueDepth", 1000.0),
        (
            "voting-dev-alarm-queue-votes-age",
            "QueueOldestAgeSeconds",
            300.0,
        ),
    ] {
        let alarm = by_name[name];
        assert_eq!(alarm.threshold(), Some(threshold), "{name}");
        let stat = alarm.metrics()[0].metric_stat().unwrap();
        let metric_id = stat.metric().unwrap();
        assert_eq!(metric_id.namespace(), Some("Slipway/voting-dev"), "{name}");
        assert_eq!(metric_id.metric_name(), Some(metric), "{name}");
        let dimensions: Vec<(&str, &str)> = metric_id
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(dimensions, [("Queue", "votes")], "{name}");
        assert_eq!(stat.stat(), Some("Maximum"), "{name}");
    }

    // Nothing to do after up: the new rule, groups and alarms read back as configured.
    let plan = moto.provision(&["--stack", "voting", "plan"]);
    assert!(plan.ok().contains("No changes"), "{}", plan.stdout());
    moto.assert_requests_valid();
}

/// With `[alb] certificate_arn` every HTTPS listener (443, and result's own 8081) accepts
/// TLS 1.3 and 1.2 only (issue 13 item 3, its TLS part), port 80 only redirects, and the
/// policy ELB reports back is no drift.
#[tokio::test]
async fn https_listeners_get_a_modern_tls_policy_and_80_redirects() {
    let moto = Moto::start();
    // moto's ELB takes only certificates its ACM knows; the provisioner has no ACM client.
    let requested = moto.json_call(
        "acm",
        "CertificateManager.RequestCertificate",
        r#"{"DomainName":"vote.example.com","ValidationMethod":"DNS"}"#,
    );
    let requested: serde_json::Value = serde_json::from_str(&requested).unwrap();
    let arn = requested["CertificateArn"].as_str().unwrap().to_owned();
    let config = config_copy();
    edit_config(
        config.path(),
        "voting",
        "[network]",
        &format!("[alb]\ncertificate_arn = \"{arn}\"\n\n[network]"),
    );
    let dir = config.path().to_str().unwrap();
    moto.provision(&["--stack", "voting", "--config-dir", dir, "--yes", "up"])
        .ok();
    let aws = moto.aws("voting", "dev").await;
    let (_, listeners) = common::load_balancer_listeners(&aws, "voting-dev-alb").await;
    let mut seen: Vec<(i32, String, Option<String>, Option<String>)> = listeners
        .iter()
        .map(|(l, _)| {
            let https = l.protocol().map(|p| p.as_str()) == Some("HTTPS");
            (
                l.port().unwrap(),
                l.protocol().unwrap().as_str().to_owned(),
                // moto reports its default policy for HTTP listeners too; ELB has none.
                l.ssl_policy().filter(|_| https).map(str::to_owned),
                l.certificates()
                    .first()
                    .and_then(|c| c.certificate_arn())
                    .map(str::to_owned),
            )
        })
        .collect();
    seen.sort();
    let tls = Some("ELBSecurityPolicy-TLS13-1-2-2021-06".to_owned());
    assert_eq!(
        seen,
        [
            (80, "HTTP".to_owned(), None, None),
            (443, "HTTPS".to_owned(), tls.clone(), Some(arn.clone())),
            (8081, "HTTPS".to_owned(), tls, Some(arn.clone())),
        ]
    );
    let http = listeners
        .iter()
        .find(|(l, _)| l.port() == Some(80))
        .unwrap();
    let redirect = http.0.default_actions()[0].redirect_config().unwrap();
    assert_eq!(
        (redirect.protocol(), redirect.port(), redirect.status_code()),
        (
            Some("HTTPS"),
            Some("443"),
            Some(&aws_sdk_elasticloadbalancingv2::types::RedirectActionStatusCodeEnum::Http301)
        )
    );
    let plan = moto.provision(&["--stack", "voting", "--config-dir", dir, "plan"]);
    assert!(plan.ok().contains("No changes"), "{}", plan.stdout());
    moto.assert_requests_valid();
}

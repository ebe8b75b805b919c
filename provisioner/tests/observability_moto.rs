//! End to end against moto: `up` creates the stack's dashboard (with panels on the
//! services' own EMF metrics), alarms (dependency failures as the services report them
//! included), log metric filters and SNS topic; `plan` then has nothing to do; `status` shows the dashboard and
//! what is firing; `down` removes them all. CloudWatch reaches moto through
//! `tests/moto_cbor.py` (moto has no RPC v2 CBOR, the SDK's only CloudWatch protocol).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::StateValue;
use common::{edit_config, Moto};
use serde_json::Value;

/// shop without its Redis cache (moto cannot delete ElastiCache, see README), with an SNS
/// topic the alarms notify.
fn shop_config() -> tempfile::TempDir {
    let config = common::shop_without_redis();
    edit_config(
        config.path(),
        "shop",
        "\n[env.prod.network]\n",
        "\n[alarms]\ntopic = \"shop-dev-alerts\"\np95_ms = 750\n\n[env.prod.network]\n",
    );
    config
}

#[tokio::test]
async fn up_creates_dashboard_alarms_filters_and_topic_and_down_removes_them() {
    let moto = Moto::start();
    let config = shop_config();
    let dir = config.path().to_str().unwrap();
    let run = |command: &str| moto.json_command("shop", Some(dir), command);
    run("up").ok();
    let aws = moto.aws("shop", "dev").await;

    // The SNS topic, owned by the stack.
    let topics = aws.sns.list_topics().send().await.unwrap();
    let topic = topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .find(|arn| arn.ends_with(":shop-dev-alerts"))
        .expect("the alarm topic exists")
        .to_owned();

    // Dashboard: one per stack, named <stack>-<env>, real dimension values, the region.
    let dashboard = aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name("shop-dev")
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(dashboard.dashboard_body().unwrap()).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    let titles: BTreeSet<&str> = widgets
        .iter()
        .map(|w| w["properties"]["title"].as_str().unwrap())
        .collect();
    for service in ["users", "products", "orders"] {
        for panel in [
            "requests per minute",
            "response time p50 / p95 (s)",
            "5xx rate (% of requests)",
            "CPU and memory (%)",
            "tasks running / desired",
            "task restarts",
        ] {
            let title = format!("{service}: {panel}");
            assert!(
                titles.contains(title.as_str()),
                "no `{title}` in {titles:?}"
            );
        }
    }
    assert!(titles.contains("postgres: CPU (%)") && titles.contains("postgres: connections"));
    assert!(
        !titles.iter().any(|t| t.starts_with("redis")),
        "no Redis here"
    );
    assert!(widgets
        .iter()
        .all(|w| w["properties"]["region"] == common::REGION));
    let text = body.to_string();
    assert!(!text.contains("${"), "unresolved reference in {text}");
    assert!(text.contains("\"targetgroup/shop-dev-tg-users/"), "{text}");
    // Both groups of the blue/green pair: ECS serves from either after a deployment.
    assert!(
        text.contains("\"targetgroup/shop-dev-tg-users-alt/"),
        "{text}"
    );
    assert!(text.contains("\"app/shop-dev-alb/"), "{text}");
    assert!(text.contains("\"shop-dev-service-orders\""), "{text}");
    assert!(text.contains("\"shop-dev-postgres\""), "{text}");
    // The services' own metrics (EMF lines): namespace, metric names as the services'
    // lines carry them, and the `Service` dimension.
    for title in [
        "orders: created / rejected per minute",
        "products: cache hits / misses / errors per minute",
        "users: dependency checks",
    ] {
        assert!(titles.contains(title), "no `{title}` in {titles:?}");
    }
    let cache = widgets
        .iter()
        .find(|w| w["properties"]["title"] == "products: cache hits / misses / errors per minute")
        .unwrap();
    assert_eq!(
        cache["properties"]["metrics"][0],
        serde_json::json!(["Slipway/shop-dev", "products_cache_total{result=hit}", "Service", "products", {"stat": "Sum", "label": "hit"}])
    );

    // Alarms: per service, plus Postgres connection failures; all notify the topic.
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("shop-dev-")
        .send()
        .await
        .unwrap();
    let by_name: BTreeMap<&str, &aws_sdk_cloudwatch::types::MetricAlarm> = alarms
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap(), a))
        .collect();
    let mut expected: BTreeSet<String> = ["shop-dev-alarm-db-connections".to_owned()].into();
    for service in ["users", "products", "orders"] {
        for suffix in ["5xx", "p95", "unhealthy", "tasks", "cpu", "dependencies"] {
            expected.insert(format!("shop-dev-alarm-{service}-{suffix}"));
        }
    }
    assert_eq!(
        by_name
            .keys()
            .map(|k| k.to_string())
            .collect::<BTreeSet<_>>(),
        expected
    );
    for alarm in by_name.values() {
        assert_eq!(alarm.alarm_actions(), [topic.as_str()], "{alarm:?}");
        assert_eq!(alarm.ok_actions(), [topic.as_str()], "{alarm:?}");
    }
    let rate = by_name["shop-dev-alarm-orders-5xx"];
    assert_eq!(rate.threshold(), Some(5.0));
    let queries: BTreeMap<&str, &aws_sdk_cloudwatch::types::MetricDataQuery> = rate
        .metrics()
        .iter()
        .map(|q| (q.id().unwrap(), q))
        .collect();
    assert_eq!(
        queries["rate"].expression(),
        Some("100 * (FILL(errors_primary, 0) + FILL(errors_alternate, 0)) / (FILL(requests_primary, 0) + FILL(requests_alternate, 0))")
    );
    let metric_name = |id: &str| {
        queries[id]
            .metric_stat()
            .and_then(|s| s.metric())
            .and_then(|m| m.metric_name())
            .unwrap()
            .to_owned()
    };
    let target_group = |id: &str| {
        queries[id]
            .metric_stat()
            .and_then(|s| s.metric())
            .map(|m| m.dimensions())
            .unwrap_or_default()
            .iter()
            .find(|d| d.name() == Some("TargetGroup"))
            .and_then(|d| d.value())
            .unwrap()
            .to_owned()
    };
    for group in ["primary", "alternate"] {
        assert_eq!(
            metric_name(&format!("errors_{group}")),
            "HTTPCode_Target_5XX_Count"
        );
        assert_eq!(metric_name(&format!("requests_{group}")), "RequestCount");
    }
    assert!(target_group("errors_primary").starts_with("targetgroup/shop-dev-tg-orders/"));
    assert!(target_group("errors_alternate").starts_with("targetgroup/shop-dev-tg-orders-alt/"));
    assert_eq!(
        target_group("requests_alternate"),
        target_group("errors_alternate")
    );
    let returning: Vec<&str> = rate
        .metrics()
        .iter()
        .filter(|q| q.return_data() == Some(true))
        .filter_map(|q| q.id())
        .collect();
    assert_eq!(returning, ["rate"], "exactly one query returns data");
    let p95 = by_name["shop-dev-alarm-users-p95"];
    assert_eq!(p95.threshold(), Some(0.75), "p95_ms = 750 from [alarms]");
    assert_eq!(p95.metrics()[0].metric_stat().unwrap().stat(), Some("p95"));
    assert_eq!(p95.metrics()[1].metric_stat().unwrap().stat(), Some("p95"));
    assert_eq!(
        p95.metrics()[2].expression(),
        Some("IF(p95_primary > p95_alternate, p95_primary, p95_alternate)")
    );
    let tasks = by_name["shop-dev-alarm-users-tasks"];
    let names: BTreeSet<String> = tasks
        .metrics()
        .iter()
        .filter_map(|q| q.metric_stat()?.metric()?.metric_name().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        ["DesiredTaskCount".to_owned(), "RunningTaskCount".to_owned()].into()
    );
    let cpu = by_name["shop-dev-alarm-users-cpu"];
    assert_eq!(cpu.threshold(), Some(85.0));
    let dimensions: BTreeMap<&str, &str> = cpu.metrics()[0]
        .metric_stat()
        .unwrap()
        .metric()
        .unwrap()
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    assert_eq!(
        dimensions,
        [
            ("ClusterName", "shop-dev-cluster"),
            ("ServiceName", "shop-dev-service-users")
        ]
        .into()
    );
    let db = by_name["shop-dev-alarm-db-connections"];
    let stat = db.metrics()[0].metric_stat().unwrap();
    assert_eq!(
        (
            stat.metric().unwrap().namespace(),
            stat.metric().unwrap().metric_name(),
            stat.stat()
        ),
        (
            Some("Slipway/shop-dev"),
            Some("DbConnectionFailures"),
            Some("Sum")
        )
    );

    // Dependency failures as the orders service reports them (its EMF lines).
    let dependencies = by_name["shop-dev-alarm-orders-dependencies"];
    let stat = dependencies.metrics()[0].metric_stat().unwrap();
    let metric = stat.metric().unwrap();
    assert_eq!(
        (metric.namespace(), metric.metric_name(), stat.stat()),
        (
            Some("Slipway/shop-dev"),
            Some("dependency_check_failures_total"),
            Some("Sum")
        )
    );
    assert_eq!(
        metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect::<Vec<_>>(),
        [("Service", "orders")]
    );
    assert_eq!(
        (
            dependencies.threshold(),
            dependencies.datapoints_to_alarm(),
            dependencies.evaluation_periods()
        ),
        (Some(1.0), Some(2), Some(3))
    );

    // Metric filters: every Postgres consumer's log group, the exact platform marker.
    let filters = aws.logs.describe_metric_filters().send().await.unwrap();
    let found: BTreeMap<&str, &str> = filters
        .metric_filters()
        .iter()
        .map(|f| (f.log_group_name().unwrap(), f.filter_pattern().unwrap()))
        .collect();
    let pattern = "{ $.event = \"db_connection_failed\" }";
    assert_eq!(
        found,
        [
            ("shop-dev-logs-orders", pattern),
            ("shop-dev-logs-products", pattern),
            ("shop-dev-logs-users", pattern)
        ]
        .into()
    );
    for filter in filters.metric_filters() {
        let t = &filter.metric_transformations()[0];
        assert_eq!(
            (t.metric_namespace(), t.metric_name(), t.metric_value()),
            ("Slipway/shop-dev", "DbConnectionFailures", "1")
        );
    }

    // Read back and normalized, everything matches the config.
    let plan = run("plan").json();
    let changed: Vec<&Value> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .collect();
    assert!(changed.is_empty(), "{changed:?}");

    // status: the dashboard URL, then an alarm forced into ALARM with its reason.
    let status = |moto: &Moto| {
        moto.provision(&["--stack", "shop", "--config-dir", dir, "status"])
            .ok()
    };
    let calm = status(&moto);
    assert!(
        calm.contains("dashboard: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/shop-dev"),
        "{calm}"
    );
    assert!(calm.contains("no alarms firing"), "{calm}");
    aws.cloudwatch
        .set_alarm_state()
        .alarm_name("shop-dev-alarm-orders-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("forced by the test")
        .send()
        .await
        .unwrap();
    let firing = status(&moto);
    assert!(firing.contains("alarms firing (1):"), "{firing}");
    assert!(
        firing.contains("shop-dev-alarm-orders-5xx: forced by the test"),
        "{firing}"
    );
    let json = run("status").json();
    assert_eq!(
        json["alarms_firing"],
        serde_json::json!([{"name": "shop-dev-alarm-orders-5xx", "reason": "forced by the test"}])
    );

    // down removes all of it and the leftover scan is clean.
    let down = run("down");
    down.ok();
    assert_eq!(down.json()["details"]["leftovers"], serde_json::json!([]));
    let left = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("shop-dev-")
        .send()
        .await
        .unwrap();
    assert!(left.metric_alarms().is_empty());
    let dashboards = aws.cloudwatch.list_dashboards().send().await.unwrap();
    assert!(dashboards.dashboard_entries().is_empty());
    let filters = aws.logs.describe_metric_filters().send().await.unwrap();
    assert!(filters.metric_filters().is_empty());
    let topics = aws.sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty());
}

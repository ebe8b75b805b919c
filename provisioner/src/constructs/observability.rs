//! The `observability` construct: one CloudWatch dashboard per stack, alarms per service
//! (and on Postgres connection failures, counted from the services' JSON logs by metric
//! filters), optionally an SNS topic the alarms notify.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{consumers, Builder};
use crate::config::{DataStore, StackConfig};
use crate::model::*;

/// The `event` field the platform crate logs on every failed Postgres connection
/// (`services/platform/src/db.rs`); the metric filters match exactly this.
pub const DB_CONNECTION_FAILED_EVENT: &str = "db_connection_failed";
/// The JSON log pattern of a failed Postgres connection (events are flattened into the
/// top level of each JSON line).
pub const DB_CONNECTION_FAILED_PATTERN: &str = "{ $.event = \"db_connection_failed\" }";
/// The metric the filters emit (one per failed connection) and the alarm sums.
pub const DB_CONNECTION_FAILURES_METRIC: &str = "DbConnectionFailures";
/// Logical id of the SNS topic `[alarms] topic = "…"` creates.
pub const TOPIC_ID: &str = "alarm-topic";
/// Logical id of the dashboard (its AWS name is `<stack>-<env>`).
pub const DASHBOARD_ID: &str = "dashboard";
const PERIOD: i32 = 60;

/// Namespace of the stack's own metrics (from metric filters).
pub fn namespace(config: &StackConfig) -> String {
    format!("Slipway/{}", config.prefix())
}

/// The generated alarms `provision deploy` attaches to a service's deployments: target
/// 5xx rate, p95 latency and unhealthy hosts, for services behind the load balancer.
pub fn deploy_alarm_ids(config: &StackConfig, service: &str) -> Vec<String> {
    match config.services.get(service) {
        Some(s) if s.public.is_some() => ["5xx", "p95", "unhealthy"]
            .iter()
            .map(|suffix| format!("alarm-{service}-{suffix}"))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn observability(stack: &mut Builder, config: &StackConfig) {
    let alarms = &config.alarms;
    let actions = match (&alarms.topic, &alarms.topic_arn) {
        (Some(name), _) => {
            stack.add(TOPIC_ID, Spec::Topic(TopicSpec { name: name.clone() }));
            vec![Ref::to(TOPIC_ID)]
        }
        (None, Some(arn)) => vec![Ref::physical(arn.clone())],
        (None, None) => Vec::new(),
    };
    let alarm = |description: String,
                 queries: Vec<AlarmQuery>,
                 comparison: &str,
                 threshold: f64,
                 (datapoints, periods): (i32, i32)| {
        Spec::Alarm(AlarmSpec {
            description,
            queries,
            comparison: comparison.into(),
            threshold,
            evaluation_periods: periods,
            datapoints_to_alarm: datapoints,
            treat_missing_data: "notBreaching".into(),
            actions: actions.clone(),
        })
    };
    for (name, service) in &config.services {
        let ecs = ecs_dimensions(name);
        if service.public.is_some() {
            let alb = alb_dimensions(name);
            stack.add(
                &format!("alarm-{name}-5xx"),
                alarm(
                    format!(
                        "{name}: more than {}% of requests answered 5xx by the service (3 of 5 minutes)",
                        alarms.error_rate_percent
                    ),
                    vec![
                        query("errors", metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", &alb, "Sum")),
                        query("requests", metric("AWS/ApplicationELB", "RequestCount", &alb, "Sum")),
                        expression("rate", "100 * FILL(errors, 0) / requests"),
                    ],
                    "GreaterThanThreshold",
                    alarms.error_rate_percent,
                    (3, 5),
                ),
            );
            stack.add(
                &format!("alarm-{name}-p95"),
                alarm(
                    format!(
                        "{name}: 95th percentile response time above {} ms (3 of 5 minutes)",
                        alarms.p95_ms
                    ),
                    vec![returning(query(
                        "p95",
                        metric("AWS/ApplicationELB", "TargetResponseTime", &alb, "p95"),
                    ))],
                    "GreaterThanThreshold",
                    alarms.p95_ms / 1000.0,
                    (3, 5),
                ),
            );
            stack.add(
                &format!("alarm-{name}-unhealthy"),
                alarm(
                    format!("{name}: the load balancer has seen unhealthy targets for 2 minutes"),
                    vec![returning(query(
                        "unhealthy",
                        metric("AWS/ApplicationELB", "UnHealthyHostCount", &alb, "Maximum"),
                    ))],
                    "GreaterThanThreshold",
                    0.0,
                    (2, 2),
                ),
            );
        }
        stack.add(
            &format!("alarm-{name}-tasks"),
            alarm(
                format!("{name}: fewer tasks running than desired for 5 minutes"),
                vec![
                    query(
                        "running",
                        metric("ECS/ContainerInsights", "RunningTaskCount", &ecs, "Average"),
                    ),
                    query(
                        "desired",
                        metric("ECS/ContainerInsights", "DesiredTaskCount", &ecs, "Average"),
                    ),
                    expression("missing", "desired - running"),
                ],
                "GreaterThanThreshold",
                0.0,
                (5, 5),
            ),
        );
        stack.add(
            &format!("alarm-{name}-cpu"),
            alarm(
                format!(
                    "{name}: average CPU above {}% for 5 minutes (autoscaling is not keeping up)",
                    alarms.cpu_percent
                ),
                vec![returning(query(
                    "cpu",
                    metric("AWS/ECS", "CPUUtilization", &ecs, "Average"),
                ))],
                "GreaterThanThreshold",
                alarms.cpu_percent,
                (5, 5),
            ),
        );
    }
    let postgres_consumers = if config.postgres.is_some() {
        consumers(config, DataStore::Postgres)
    } else {
        Vec::new()
    };
    for name in &postgres_consumers {
        stack.add(
            &format!("filter-{name}-db"),
            Spec::MetricFilter(MetricFilterSpec {
                log_group: Ref::to(&format!("logs-{name}")),
                pattern: DB_CONNECTION_FAILED_PATTERN.into(),
                namespace: namespace(config),
                metric: DB_CONNECTION_FAILURES_METRIC.into(),
                value: "1".into(),
            }),
        );
    }
    if !postgres_consumers.is_empty() {
        let failures = MetricStatSpec {
            namespace: namespace(config),
            metric: DB_CONNECTION_FAILURES_METRIC.into(),
            dimensions: BTreeMap::new(),
            stat: "Sum".into(),
            period: PERIOD,
        };
        stack.add(
            "alarm-db-connections",
            alarm(
                format!(
                    "Postgres connections failed (services {}) in 3 of the last 5 minutes",
                    postgres_consumers
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                vec![returning(query("failures", failures))],
                "GreaterThanOrEqualToThreshold",
                1.0,
                (3, 5),
            ),
        );
        // The alarm reads what the filters emit: create them first.
        for name in &postgres_consumers {
            stack.after("alarm-db-connections", &format!("filter-{name}-db"));
        }
    }
    stack.add(
        DASHBOARD_ID,
        Spec::Dashboard(DashboardSpec {
            body: dashboard_body(config),
        }),
    );
}

fn ecs_dimensions(service: &str) -> BTreeMap<String, Ref> {
    [
        ("ClusterName".to_owned(), Ref::to("cluster")),
        (
            "ServiceName".to_owned(),
            Ref::to(&format!("service-{service}")),
        ),
    ]
    .into()
}

fn alb_dimensions(service: &str) -> BTreeMap<String, Ref> {
    [
        ("LoadBalancer".to_owned(), Ref::to("alb")),
        ("TargetGroup".to_owned(), Ref::to(&format!("tg-{service}"))),
    ]
    .into()
}

fn metric(
    namespace: &str,
    name: &str,
    dimensions: &BTreeMap<String, Ref>,
    stat: &str,
) -> MetricStatSpec {
    MetricStatSpec {
        namespace: namespace.into(),
        metric: name.into(),
        dimensions: dimensions.clone(),
        stat: stat.into(),
        period: PERIOD,
    }
}

fn query(id: &str, metric: MetricStatSpec) -> AlarmQuery {
    AlarmQuery {
        id: id.into(),
        expression: None,
        metric: Some(metric),
        return_data: false,
    }
}

fn returning(mut query: AlarmQuery) -> AlarmQuery {
    query.return_data = true;
    query
}

fn expression(id: &str, expression: &str) -> AlarmQuery {
    AlarmQuery {
        id: id.into(),
        expression: Some(expression.into()),
        metric: None,
        return_data: true,
    }
}

/// A dashboard metric line: namespace, name, dimension pairs, then rendering options.
fn line(namespace: &str, name: &str, dimensions: &[(&str, String)], options: Value) -> Value {
    let mut items = vec![json!(namespace), json!(name)];
    for (key, value) in dimensions {
        items.push(json!(key));
        items.push(json!(value));
    }
    items.push(options);
    Value::Array(items)
}

fn widget(title: String, metrics: Vec<Value>, extra: Value) -> Value {
    let mut properties = json!({
        "title": title,
        "view": "timeSeries",
        "period": PERIOD,
        "metrics": metrics,
    });
    if let (Some(target), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        target.extend(extra);
    }
    json!({"type": "metric", "properties": properties})
}

/// The dashboard JSON: per service request rate, p50/p95 latency, 5xx rate, CPU and
/// memory, running vs desired tasks, task restarts; database CPU/connections (and
/// connection failures); Redis memory/evictions. Widgets flow three to a row.
pub fn dashboard_body(config: &StackConfig) -> Value {
    let mut widgets = Vec::new();
    for (name, service) in &config.services {
        let ecs = [
            ("ClusterName", "${cluster}".to_owned()),
            ("ServiceName", format!("${{service-{name}}}")),
        ];
        if service.public.is_some() {
            let alb = [
                ("TargetGroup", format!("${{tg-{name}}}")),
                ("LoadBalancer", "${alb}".to_owned()),
            ];
            let elb = "AWS/ApplicationELB";
            widgets.push(widget(
                format!("{name}: requests per minute"),
                vec![line(
                    elb,
                    "RequestCount",
                    &alb,
                    json!({"stat": "Sum", "label": "requests"}),
                )],
                json!({}),
            ));
            widgets.push(widget(
                format!("{name}: response time p50 / p95 (s)"),
                vec![
                    line(
                        elb,
                        "TargetResponseTime",
                        &alb,
                        json!({"stat": "p50", "label": "p50"}),
                    ),
                    line(
                        elb,
                        "TargetResponseTime",
                        &alb,
                        json!({"stat": "p95", "label": "p95"}),
                    ),
                ],
                json!({}),
            ));
            widgets.push(widget(
                format!("{name}: 5xx rate (% of requests)"),
                vec![
                    json!([{"expression": "100 * FILL(errors, 0) / requests", "label": "5xx %", "id": "rate"}]),
                    line(elb, "HTTPCode_Target_5XX_Count", &alb, json!({"stat": "Sum", "id": "errors", "visible": false})),
                    line(elb, "RequestCount", &alb, json!({"stat": "Sum", "id": "requests", "visible": false})),
                ],
                json!({}),
            ));
        }
        widgets.push(widget(
            format!("{name}: CPU and memory (%)"),
            vec![
                line(
                    "AWS/ECS",
                    "CPUUtilization",
                    &ecs,
                    json!({"stat": "Average", "label": "CPU"}),
                ),
                line(
                    "AWS/ECS",
                    "MemoryUtilization",
                    &ecs,
                    json!({"stat": "Average", "label": "memory"}),
                ),
            ],
            json!({}),
        ));
        widgets.push(widget(
            format!("{name}: tasks running / desired"),
            vec![
                line(
                    "ECS/ContainerInsights",
                    "RunningTaskCount",
                    &ecs,
                    json!({"stat": "Average", "label": "running"}),
                ),
                line(
                    "ECS/ContainerInsights",
                    "DesiredTaskCount",
                    &ecs,
                    json!({"stat": "Average", "label": "desired"}),
                ),
            ],
            json!({}),
        ));
        widgets.push(widget(
            format!("{name}: task restarts"),
            vec![line(
                "ECS/ContainerInsights",
                "RestartCount",
                &ecs,
                json!({"stat": "Sum", "label": "restarts"}),
            )],
            json!({}),
        ));
    }
    if config.postgres.is_some() {
        let db = [("DBInstanceIdentifier", "${postgres}".to_owned())];
        widgets.push(widget(
            "postgres: CPU (%)".into(),
            vec![line(
                "AWS/RDS",
                "CPUUtilization",
                &db,
                json!({"stat": "Average", "label": "CPU"}),
            )],
            json!({}),
        ));
        widgets.push(widget(
            "postgres: connections".into(),
            vec![
                line(
                    "AWS/RDS",
                    "DatabaseConnections",
                    &db,
                    json!({"stat": "Average", "label": "open"}),
                ),
                line(
                    &namespace(config),
                    DB_CONNECTION_FAILURES_METRIC,
                    &[],
                    json!({"stat": "Sum", "label": "failed (from service logs)"}),
                ),
            ],
            json!({}),
        ));
    }
    if config.redis.is_some() {
        // Metrics are per cache node; `-001` is the first member of the replication group.
        let redis = [("CacheClusterId", format!("{}-redis-001", config.prefix()))];
        widgets.push(widget(
            "redis: memory used (%)".into(),
            vec![line(
                "AWS/ElastiCache",
                "DatabaseMemoryUsagePercentage",
                &redis,
                json!({"stat": "Maximum", "label": "memory"}),
            )],
            json!({}),
        ));
        widgets.push(widget(
            "redis: evictions".into(),
            vec![line(
                "AWS/ElastiCache",
                "Evictions",
                &redis,
                json!({"stat": "Sum", "label": "evictions"}),
            )],
            json!({}),
        ));
    }
    for (index, widget) in widgets.iter_mut().enumerate() {
        let object = widget.as_object_mut().expect("widgets are objects");
        object.insert("x".into(), json!((index % 3) * 8));
        object.insert("y".into(), json!((index / 3) * 6));
        object.insert("width".into(), json!(8));
        object.insert("height".into(), json!(6));
    }
    json!({"widgets": widgets})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::repo_config_dir;
    use crate::constructs::expand;

    fn load(stack: &str, env: &str) -> StackConfig {
        StackConfig::load(&repo_config_dir(), stack, env).unwrap()
    }

    fn spec<'a>(resources: &'a [Resource], id: &str) -> &'a Spec {
        &resources
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .spec
    }

    #[test]
    fn dashboard_has_every_panel_of_the_issue_for_each_service_and_data_store() {
        let body = dashboard_body(&load("voting", "dev"));
        let widgets = body["widgets"].as_array().unwrap();
        let titles: Vec<&str> = widgets
            .iter()
            .map(|w| w["properties"]["title"].as_str().unwrap())
            .collect();
        for service in ["vote", "result"] {
            for panel in [
                "requests per minute",
                "response time p50 / p95 (s)",
                "5xx rate (% of requests)",
                "CPU and memory (%)",
                "tasks running / desired",
                "task restarts",
            ] {
                assert!(
                    titles.contains(&format!("{service}: {panel}").as_str()),
                    "{titles:?}"
                );
            }
        }
        // The worker has no load balancer: no request, latency or 5xx panels.
        assert!(titles.iter().all(|t| !t.starts_with("worker: re")));
        assert!(titles.contains(&"worker: tasks running / desired"));
        for store in [
            "postgres: CPU (%)",
            "postgres: connections",
            "redis: memory used (%)",
            "redis: evictions",
        ] {
            assert!(titles.contains(&store), "{titles:?}");
        }
        // Latency percentiles and the 5xx expression over hidden inputs.
        let latency = &widgets[1]["properties"]["metrics"];
        assert_eq!(latency[0][6]["stat"], "p50");
        assert_eq!(latency[1][6]["stat"], "p95");
        let rate = widgets
            .iter()
            .find(|w| w["properties"]["title"] == "vote: 5xx rate (% of requests)")
            .unwrap();
        assert_eq!(
            rate["properties"]["metrics"][0][0]["expression"],
            "100 * FILL(errors, 0) / requests"
        );
        assert_eq!(
            rate["properties"]["metrics"][1],
            json!(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "TargetGroup", "${tg-vote}", "LoadBalancer", "${alb}", {"stat": "Sum", "id": "errors", "visible": false}])
        );
        let redis = widgets
            .iter()
            .find(|w| w["properties"]["title"] == "redis: evictions")
            .unwrap();
        assert_eq!(redis["properties"]["metrics"][0][3], "voting-dev-redis-001");
        // A grid of three 8-wide widgets per row.
        assert_eq!(
            (widgets[4]["x"].clone(), widgets[4]["y"].clone()),
            (json!(8), json!(6))
        );
    }

    #[test]
    fn alarms_per_service_with_default_thresholds_and_no_topic() {
        let resources = expand(&load("voting", "dev"));
        let Spec::Alarm(rate) = spec(&resources, "alarm-vote-5xx") else {
            panic!()
        };
        assert_eq!(rate.threshold, 5.0);
        assert_eq!(rate.comparison, "GreaterThanThreshold");
        assert_eq!((rate.datapoints_to_alarm, rate.evaluation_periods), (3, 5));
        assert!(rate.actions.is_empty());
        let returning: Vec<&str> = rate
            .queries
            .iter()
            .filter(|q| q.return_data)
            .map(|q| q.id.as_str())
            .collect();
        assert_eq!(returning, ["rate"]);
        let errors = rate.queries[0].metric.as_ref().unwrap();
        assert_eq!(
            (errors.metric.as_str(), errors.stat.as_str()),
            ("HTTPCode_Target_5XX_Count", "Sum")
        );
        assert_eq!(errors.dimensions["TargetGroup"], Ref::to("tg-vote"));
        let Spec::Alarm(p95) = spec(&resources, "alarm-result-p95") else {
            panic!()
        };
        assert_eq!(p95.threshold, 1.0, "1000 ms, in seconds");
        let Spec::Alarm(tasks) = spec(&resources, "alarm-worker-tasks") else {
            panic!()
        };
        assert_eq!(
            tasks.queries[2].expression.as_deref(),
            Some("desired - running")
        );
        assert_eq!(
            tasks.queries[0].metric.as_ref().unwrap().dimensions["ServiceName"],
            Ref::to("service-worker")
        );
        let Spec::Alarm(cpu) = spec(&resources, "alarm-worker-cpu") else {
            panic!()
        };
        assert_eq!(cpu.threshold, 85.0);
        assert!(
            !resources.iter().any(|r| r.id == "alarm-worker-5xx"),
            "no load balancer, no 5xx alarm"
        );
        assert!(!resources.iter().any(|r| r.kind() == Kind::Topic));
    }

    #[test]
    fn postgres_consumers_get_a_metric_filter_and_one_alarm_on_their_sum() {
        let resources = expand(&load("voting", "dev"));
        let filters: Vec<&str> = resources
            .iter()
            .filter(|r| r.kind() == Kind::MetricFilter)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(filters, ["filter-result-db", "filter-worker-db"]);
        let Spec::MetricFilter(filter) = spec(&resources, "filter-worker-db") else {
            panic!()
        };
        assert_eq!(filter.pattern, "{ $.event = \"db_connection_failed\" }");
        assert!(filter.pattern.contains(DB_CONNECTION_FAILED_EVENT));
        assert_eq!(filter.log_group, Ref::to("logs-worker"));
        assert_eq!(
            (
                filter.namespace.as_str(),
                filter.metric.as_str(),
                filter.value.as_str()
            ),
            ("Slipway/voting-dev", "DbConnectionFailures", "1")
        );
        let alarm = resources
            .iter()
            .find(|r| r.id == "alarm-db-connections")
            .unwrap();
        assert_eq!(
            alarm.dependencies(),
            ["filter-result-db", "filter-worker-db"]
        );
        let Spec::Alarm(spec) = &alarm.spec else {
            panic!()
        };
        let metric = spec.queries[0].metric.as_ref().unwrap();
        assert_eq!(
            (metric.metric.as_str(), metric.stat.as_str()),
            ("DbConnectionFailures", "Sum")
        );
        assert!(metric.dimensions.is_empty(), "one metric for all consumers");
        // sums has no Postgres: no filters, no connection alarm.
        let sums = expand(&load("sums", "dev"));
        assert!(!sums
            .iter()
            .any(|r| r.kind() == Kind::MetricFilter || r.id == "alarm-db-connections"));
    }

    #[test]
    fn a_topic_in_config_is_created_and_every_alarm_notifies_it() {
        let mut config = load("voting", "dev");
        config.alarms.topic = Some("voting-alerts".into());
        let resources = expand(&config);
        assert_eq!(
            spec(&resources, TOPIC_ID),
            &Spec::Topic(TopicSpec {
                name: "voting-alerts".into()
            })
        );
        for resource in &resources {
            if let Spec::Alarm(alarm) = &resource.spec {
                assert_eq!(alarm.actions, [Ref::to(TOPIC_ID)], "{}", resource.id);
            }
        }
        config.alarms.topic = None;
        config.alarms.topic_arn = Some("arn:aws:sns:us-east-1:1:ops".into());
        let resources = expand(&config);
        assert!(!resources.iter().any(|r| r.kind() == Kind::Topic));
        let Spec::Alarm(alarm) = spec(&resources, "alarm-vote-p95") else {
            panic!()
        };
        assert_eq!(
            alarm.actions,
            [Ref::physical("arn:aws:sns:us-east-1:1:ops")]
        );
    }

    #[test]
    fn deploys_get_the_load_balanced_alarms() {
        let config = load("voting", "dev");
        assert_eq!(
            deploy_alarm_ids(&config, "vote"),
            ["alarm-vote-5xx", "alarm-vote-p95", "alarm-vote-unhealthy"]
        );
        assert!(deploy_alarm_ids(&config, "worker").is_empty());
        let ids: Vec<String> = expand(&config).into_iter().map(|r| r.id).collect();
        for id in deploy_alarm_ids(&config, "result") {
            assert!(ids.contains(&id), "{id} is generated");
        }
    }
}

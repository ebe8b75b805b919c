//! The `observability` construct: one CloudWatch dashboard per stack, alarms per service
//! (and on Postgres connection failures, counted from the services' JSON logs by metric
//! filters), optionally an SNS topic the alarms notify.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::consumers;
use crate::config::{DataStore, StackConfig};
use crate::model::*;
use crate::scope::{Section, Stack};

/// The `event` field the platform crate logs on every failed Postgres connection
/// (`services/platform/src/db.rs`); the metric filters match exactly this.
pub const DB_CONNECTION_FAILED_EVENT: &str = "db_connection_failed";
/// The JSON log pattern of a failed Postgres connection (events are flattened into the
/// top level of each JSON line).
pub const DB_CONNECTION_FAILED_PATTERN: &str = "{ $.event = \"db_connection_failed\" }";
/// The metric the filters emit (one per failed connection) and the alarm sums.
pub const DB_CONNECTION_FAILURES_METRIC: &str = "DbConnectionFailures";
/// The queue metrics services log as CloudWatch Embedded Metric Format lines (the voting
/// worker, `services/voting/worker/src/emf.rs`), in [`namespace`] with one dimension,
/// [`QUEUE_DIMENSION`] = the Redis list key.
pub const QUEUE_DEPTH_METRIC: &str = "QueueDepth";
/// Seconds the oldest entry of the queue has been waiting.
pub const QUEUE_AGE_METRIC: &str = "QueueOldestAgeSeconds";
/// The dimension naming the queue.
pub const QUEUE_DIMENSION: &str = "Queue";
/// The dimension of every service's own metrics (the EMF lines of platform::emf, in
/// [`namespace`]): the service's name, from `METRICS_SERVICE`.
pub const SERVICE_DIMENSION: &str = "Service";
/// Failed readiness checks of a service's dependencies, all dependencies together
/// (platform::metrics::names::DEPENDENCY_FAILURES; one per failed check, and the services
/// check once per report as well as whenever the load balancer asks `/ready`).
pub const DEPENDENCY_FAILURES_METRIC: &str = "dependency_check_failures_total";
/// 1 while a dependency answers its check, 0 while not; one series per dependency,
/// named `dependency_up{dependency=<name>}` (platform::emf::series_name).
pub const DEPENDENCY_UP_METRIC: &str = "dependency_up";
/// Logical id of the SNS topic `[alarms] topic = "…"` creates.
pub const TOPIC_ID: &str = "alarm-topic";
/// Logical id of the dashboard (its AWS name is `<stack>-<env>`).
pub const DASHBOARD_ID: &str = "dashboard";
const PERIOD: i32 = 60;

/// Namespace of the stack's own metrics (from metric filters).
pub fn namespace(config: &StackConfig) -> String {
    crate::names::metrics_namespace(&config.stack, &config.env)
}

/// The generated alarms `provision deploy` attaches to a service's deployments: target
/// 5xx rate, p95 latency and unhealthy hosts, for services behind the load balancer.
pub fn deploy_alarm_ids(config: &StackConfig, service: &str) -> Vec<String> {
    match config.services.get(service) {
        Some(s) if s.public.is_some() => ["5xx", "p95", "unhealthy"]
            .iter()
            .map(|suffix| crate::model::ids::alarm(&format!("{service}-{suffix}")))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn observability(stack: &mut Stack, config: &StackConfig) {
    let alarms = &config.alarms;
    let actions = match (&alarms.topic, &alarms.topic_arn) {
        (Some(name), _) => {
            stack.add(
                Section::Observability,
                TOPIC_ID,
                Spec::Topic(TopicSpec { name: name.clone() }),
            );
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
            let pair = TargetGroupPair::of(name);
            stack.add(Section::Observability,
                &crate::model::ids::alarm(&format!("{name}-5xx")),
                alarm(
                    format!(
                        "{name}: more than {}% of requests answered 5xx by the service, over both blue/green target groups (3 of 5 minutes)",
                        alarms.error_rate_percent
                    ),
                    pair.error_rate_queries(),
                    "GreaterThanThreshold",
                    alarms.error_rate_percent,
                    (3, 5),
                ),
            );
            stack.add(Section::Observability,
                &crate::model::ids::alarm(&format!("{name}-p95")),
                alarm(
                    format!(
                        "{name}: 95th percentile response time above {} ms in either blue/green target group (3 of 5 minutes)",
                        alarms.p95_ms
                    ),
                    pair.p95_queries(),
                    "GreaterThanThreshold",
                    alarms.p95_ms / 1000.0,
                    (3, 5),
                ),
            );
            stack.add(Section::Observability,
                &crate::model::ids::alarm(&format!("{name}-unhealthy")),
                alarm(
                    format!("{name}: the load balancer has seen unhealthy targets in either blue/green target group for 2 minutes"),
                    pair.unhealthy_queries(),
                    "GreaterThanThreshold",
                    0.0,
                    (2, 2),
                ),
            );
        }
        stack.add(
            Section::Observability,
            &crate::model::ids::alarm(&format!("{name}-tasks")),
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
            Section::Observability,
            &crate::model::ids::alarm(&format!("{name}-cpu")),
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
    // Queues: entries piling up (the worker is down, slow or stuck on its database) and
    // entries waiting too long. Maximum: every worker reports the same queue.
    let queues: std::collections::BTreeSet<&String> =
        config.services.values().flat_map(|s| &s.queues).collect();
    for queue in queues {
        let dimensions = BTreeMap::from([(QUEUE_DIMENSION.to_owned(), Ref::physical(queue))]);
        stack.add(
            Section::Observability,
            &crate::model::ids::alarm(&format!("queue-{queue}-depth")),
            alarm(
                format!(
                    "queue {queue}: more than {} entries waiting or in flight for 5 minutes",
                    alarms.queue_depth
                ),
                vec![returning(query(
                    "depth",
                    metric(
                        &namespace(config),
                        QUEUE_DEPTH_METRIC,
                        &dimensions,
                        "Maximum",
                    ),
                ))],
                "GreaterThanThreshold",
                alarms.queue_depth,
                (5, 5),
            ),
        );
        stack.add(
            Section::Observability,
            &crate::model::ids::alarm(&format!("queue-{queue}-age")),
            alarm(
                format!(
                    "queue {queue}: the oldest entry has waited more than {} s (3 of 3 minutes)",
                    alarms.queue_age_seconds
                ),
                vec![returning(query(
                    "age",
                    metric(&namespace(config), QUEUE_AGE_METRIC, &dimensions, "Maximum"),
                ))],
                "GreaterThanThreshold",
                alarms.queue_age_seconds,
                (3, 3),
            ),
        );
    }
    // Dependencies as the services see them: a failed readiness check of Postgres, Redis
    // or another dependency, in 2 of the last 3 minutes.
    for (name, service) in &config.services {
        if service.uses.is_empty() {
            continue;
        }
        let dimensions = service_dimensions(name);
        stack.add(Section::Observability,
            &crate::model::ids::alarm(&format!("{name}-dependencies")),
            alarm(
                format!(
                    "{name}: readiness checks found a dependency ({}) unreachable in 2 of the last 3 minutes",
                    service
                        .uses
                        .iter()
                        .map(store_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                vec![returning(query(
                    "failures",
                    metric(
                        &namespace(config),
                        DEPENDENCY_FAILURES_METRIC,
                        &dimensions,
                        "Sum",
                    ),
                ))],
                "GreaterThanOrEqualToThreshold",
                1.0,
                (2, 3),
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
            Section::Observability,
            &format!("filter-{name}-db"),
            Spec::MetricFilter(MetricFilterSpec {
                log_group: Ref::to(&ids::log_group(name)),
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
            Section::Observability,
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
        Section::Observability,
        DASHBOARD_ID,
        Spec::Dashboard(DashboardSpec {
            body: dashboard_body(config),
        }),
    );
}

/// Checks an alarm's metric data queries against what PutMetricAlarm accepts (API
/// reference, `MetricDataQuery`: "as many as 10 structures that contain a MetricStat
/// parameter … and as many as 10 structures that contain the Expression parameter",
/// exactly one returning the data the alarm watches; each `Id` unique, "the valid
/// characters are letters, numbers, and underscore. The first character must be a
/// lowercase letter"), and that every lowercase name an expression uses is another
/// query's id (metric math functions are uppercase). moto checks none of this.
pub fn check_alarm_queries(queries: &[AlarmQuery]) -> Result<(), String> {
    const MAX_PER_KIND: usize = 10;
    let metrics = queries.iter().filter(|q| q.metric.is_some()).count();
    let expressions = queries.iter().filter(|q| q.expression.is_some()).count();
    if metrics > MAX_PER_KIND || expressions > MAX_PER_KIND {
        return Err(format!(
            "{metrics} metric and {expressions} expression queries; PutMetricAlarm accepts at most {MAX_PER_KIND} of each"
        ));
    }
    let returning = queries.iter().filter(|q| q.return_data).count();
    if returning != 1 {
        return Err(format!(
            "{returning} queries return data; exactly one must (the series the alarm watches)"
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for query in queries {
        let id = query.id.as_str();
        let valid = id.len() <= 255
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "query id `{id}`: use letters, digits and `_`, starting with a lowercase letter"
            ));
        }
        if !ids.insert(id) {
            return Err(format!("query id `{id}` is used twice"));
        }
        if query.metric.is_some() == query.expression.is_some() {
            return Err(format!(
                "query `{id}` must have either a metric or an expression"
            ));
        }
    }
    for query in queries {
        let Some(expression) = &query.expression else {
            continue;
        };
        let names = expression
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with(|c: char| c.is_ascii_lowercase()));
        for name in names {
            if name == query.id || !ids.contains(name) {
                return Err(format!(
                    "expression `{}` of query `{}` uses `{name}`, which is not another query's id",
                    expression, query.id
                ));
            }
        }
    }
    Ok(())
}

/// A data store as the services name its readiness check (and the `dependency` label).
pub fn store_name(store: &DataStore) -> &'static str {
    match store {
        DataStore::Postgres => "postgres",
        DataStore::Redis => "redis",
    }
}

/// The dimensions of a service's own metrics.
fn service_dimensions(service: &str) -> BTreeMap<String, Ref> {
    BTreeMap::from([(SERVICE_DIMENSION.to_owned(), Ref::physical(service))])
}

fn ecs_dimensions(service: &str) -> BTreeMap<String, Ref> {
    [
        ("ClusterName".to_owned(), Ref::to("cluster")),
        ("ServiceName".to_owned(), Ref::to(&ids::service(service))),
    ]
    .into()
}

/// The blue/green target group pair of a load-balanced service (`tg-<svc>` and
/// `tg-<svc>-alt`, see [`blue_green_pair`]). ECS moves production between the two on
/// every deployment, so every alarm and panel on a target group metric reads both: the
/// idle group reports no data, which the math below treats as zero.
struct TargetGroupPair {
    primary: String,
    alternate: String,
}

/// Query id suffixes of the two groups of a pair (ids: a lowercase letter first, then
/// letters, digits and `_`).
const PAIR_SUFFIXES: [&str; 2] = ["primary", "alternate"];

impl TargetGroupPair {
    fn of(service: &str) -> Self {
        let (primary, alternate) = blue_green_pair(&ids::target_group(service));
        TargetGroupPair { primary, alternate }
    }

    /// `(query id suffix, target group id)` of each group.
    fn groups(&self) -> [(&'static str, &str); 2] {
        [
            (PAIR_SUFFIXES[0], self.primary.as_str()),
            (PAIR_SUFFIXES[1], self.alternate.as_str()),
        ]
    }

    /// One query per group of `metric`/`stat`, ids `<prefix>_primary`, `<prefix>_alternate`.
    fn metric_queries(&self, prefix: &str, metric_name: &str, stat: &str) -> Vec<AlarmQuery> {
        self.groups()
            .iter()
            .map(|(suffix, group)| {
                query(
                    &format!("{prefix}_{suffix}"),
                    metric(
                        "AWS/ApplicationELB",
                        metric_name,
                        &alb_dimensions(group),
                        stat,
                    ),
                )
            })
            .collect()
    }

    /// 5xx share of all requests of both groups. Arithmetic treats missing points as 0
    /// and drops a point that would divide by zero (CloudWatch User Guide, "Metric math
    /// syntax and functions", basic arithmetic): no traffic on either group yields no
    /// point, which `notBreaching` keeps calm. FILL makes the idle group's gaps explicit.
    fn error_rate_queries(&self) -> Vec<AlarmQuery> {
        let mut queries = self.metric_queries("errors", "HTTPCode_Target_5XX_Count", "Sum");
        queries.extend(self.metric_queries("requests", "RequestCount", "Sum"));
        queries.push(expression("rate", &error_rate_expression()));
        queries
    }

    /// The higher p95 of the two groups. `IF` rather than `MAX([…])`: the guide advises
    /// against MAX/SUM/AVG in alarms (they act differently when the alarm asks for more
    /// points), and a comparison treats the idle group's missing point as 0, so the
    /// serving group's value wins.
    fn p95_queries(&self) -> Vec<AlarmQuery> {
        let mut queries = self.metric_queries("p95", "TargetResponseTime", "p95");
        queries.push(expression(
            "p95",
            "IF(p95_primary > p95_alternate, p95_primary, p95_alternate)",
        ));
        queries
    }

    /// Unhealthy targets in either group (the sum of both groups' maxima).
    fn unhealthy_queries(&self) -> Vec<AlarmQuery> {
        let mut queries = self.metric_queries("unhealthy", "UnHealthyHostCount", "Maximum");
        queries.push(expression(
            "unhealthy",
            "FILL(unhealthy_primary, 0) + FILL(unhealthy_alternate, 0)",
        ));
        queries
    }
}

/// `100 * (errors of both groups) / (requests of both groups)`, query ids as
/// [`TargetGroupPair::error_rate_queries`] names them (the dashboard uses the same).
fn error_rate_expression() -> String {
    let filled = |prefix: &str| {
        PAIR_SUFFIXES
            .iter()
            .map(|suffix| format!("FILL({prefix}_{suffix}, 0)"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    format!("100 * ({}) / ({})", filled("errors"), filled("requests"))
}

fn alb_dimensions(target_group: &str) -> BTreeMap<String, Ref> {
    [
        ("LoadBalancer".to_owned(), Ref::to("alb")),
        ("TargetGroup".to_owned(), Ref::to(target_group)),
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

/// The dashboard JSON: per service request rate, p50/p95 latency, 5xx rate (over both
/// target groups of the blue/green pair), CPU and memory, running vs desired tasks, task
/// restarts; database CPU/connections (and connection failures); Redis memory/evictions.
/// Widgets flow three to a row.
pub fn dashboard_body(config: &StackConfig) -> Value {
    let mut widgets = Vec::new();
    for (name, service) in &config.services {
        let ecs = [
            ("ClusterName", "${cluster}".to_owned()),
            ("ServiceName", format!("${{service-{name}}}")),
        ];
        if service.public.is_some() {
            let pair = TargetGroupPair::of(name);
            let elb = "AWS/ApplicationELB";
            // One line per group of the blue/green pair (ECS moves traffic between them),
            // `id` (for expressions) and label from the group.
            let per_group = |metric_name: &str, stat: &str, prefix: &str, visible: bool| {
                pair.groups()
                    .iter()
                    .map(|(suffix, group)| {
                        let dimensions = [
                            ("TargetGroup", format!("${{{group}}}")),
                            ("LoadBalancer", "${alb}".to_owned()),
                        ];
                        let mut options = json!({"stat": stat, "id": format!("{prefix}_{suffix}")});
                        if visible {
                            options["label"] = json!(format!("{prefix} {group}"));
                        } else {
                            options["visible"] = json!(false);
                        }
                        line(elb, metric_name, &dimensions, options)
                    })
                    .collect::<Vec<_>>()
            };
            let mut requests = vec![json!([{
                "expression": "FILL(requests_primary, 0) + FILL(requests_alternate, 0)",
                "label": "requests",
                "id": "requests"
            }])];
            requests.extend(per_group("RequestCount", "Sum", "requests", true));
            widgets.push(widget(
                format!("{name}: requests per minute"),
                requests,
                json!({}),
            ));
            let mut latency = per_group("TargetResponseTime", "p50", "p50", true);
            latency.extend(per_group("TargetResponseTime", "p95", "p95", true));
            widgets.push(widget(
                format!("{name}: response time p50 / p95 (s)"),
                latency,
                json!({}),
            ));
            let mut rate = vec![json!([{
                "expression": error_rate_expression(),
                "label": "5xx %",
                "id": "rate"
            }])];
            rate.extend(per_group(
                "HTTPCode_Target_5XX_Count",
                "Sum",
                "errors",
                false,
            ));
            rate.extend(per_group("RequestCount", "Sum", "requests", false));
            widgets.push(widget(
                format!("{name}: 5xx rate (% of requests)"),
                rate,
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
    widgets.extend(app_widgets(config));
    for (index, widget) in widgets.iter_mut().enumerate() {
        let object = widget.as_object_mut().expect("widgets are objects");
        object.insert("x".into(), json!((index % 3) * 8));
        object.insert("y".into(), json!((index / 3) * 6));
        object.insert("width".into(), json!(8));
        object.insert("height".into(), json!(6));
    }
    json!({"widgets": widgets})
}

/// One line of a panel on the services' own metrics: the dimension (name, value), the
/// metric as the EMF lines name it, the statistic and the legend.
type AppLine = ((&'static str, String), String, &'static str, String);

/// Panels on the services' own metrics (platform::emf, in [`namespace`]), for the
/// services and queues the stack has: votes accepted vs stored, batch write time and the
/// queues (voting), socket.io clients, orders, the products cache, sum durations, and
/// every data-store user's dependency checks. The names are those of
/// platform::metrics::names (the tests compare).
fn app_panels(config: &StackConfig) -> Vec<(String, Vec<AppLine>)> {
    let has = |name: &str| config.services.contains_key(name);
    let of = |service: &str| (SERVICE_DIMENSION, service.to_owned());
    let line = |service: &str, metric: &str, stat: &'static str, label: &str| -> AppLine {
        (of(service), metric.to_owned(), stat, label.to_owned())
    };
    let mut panels = Vec::new();
    if has("vote") && has("worker") {
        panels.push((
            "votes accepted / stored per minute".to_owned(),
            vec![
                line("vote", "votes_queued_total", "Sum", "accepted (vote)"),
                line("worker", "votes_processed_total", "Sum", "stored (worker)"),
            ],
        ));
    }
    let queues: std::collections::BTreeSet<&String> =
        config.services.values().flat_map(|s| &s.queues).collect();
    for queue in queues {
        let on = |metric: &str, label: &str| -> AppLine {
            (
                (QUEUE_DIMENSION, queue.clone()),
                metric.to_owned(),
                "Maximum",
                label.to_owned(),
            )
        };
        panels.push((
            format!("queue {queue}: depth / oldest entry age (s)"),
            vec![
                on(QUEUE_DEPTH_METRIC, "depth"),
                on(QUEUE_AGE_METRIC, "oldest age (s)"),
            ],
        ));
    }
    if has("worker") {
        let write = "votes_db_write_duration_seconds";
        panels.push((
            "worker: batch write time p50 / p95 (s)".to_owned(),
            vec![
                line("worker", write, "p50", "p50"),
                line("worker", write, "p95", "p95"),
            ],
        ));
    }
    if has("result") {
        panels.push((
            "result: socket.io clients (busiest task)".to_owned(),
            vec![line(
                "result",
                "result_socket_clients",
                "Maximum",
                "clients",
            )],
        ));
    }
    if has("orders") {
        panels.push((
            "orders: created / rejected per minute".to_owned(),
            vec![
                line("orders", "orders_created_total", "Sum", "created"),
                line("orders", "orders_rejected_total", "Sum", "rejected"),
            ],
        ));
    }
    if has("products") {
        panels.push((
            "products: cache hits / misses / errors per minute".to_owned(),
            ["hit", "miss", "error"]
                .iter()
                .map(|result| {
                    line(
                        "products",
                        &format!("products_cache_total{{result={result}}}"),
                        "Sum",
                        result,
                    )
                })
                .collect(),
        ));
    }
    if has("api") {
        let duration = "sums_compute_duration_seconds";
        panels.push((
            "api: sum duration p50 / p95 (s) and sums per minute".to_owned(),
            vec![
                line("api", duration, "p50", "p50 (s)"),
                line("api", duration, "p95", "p95 (s)"),
                line("api", "sums_computed_total", "Sum", "sums"),
            ],
        ));
    }
    for (name, service) in &config.services {
        if service.uses.is_empty() {
            continue;
        }
        let mut lines = vec![line(
            name,
            DEPENDENCY_FAILURES_METRIC,
            "Sum",
            "failed checks",
        )];
        for store in &service.uses {
            let store = store_name(store);
            lines.push(line(
                name,
                &format!("{DEPENDENCY_UP_METRIC}{{dependency={store}}}"),
                "Minimum",
                &format!("{store} up (1) / down (0)"),
            ));
        }
        panels.push((format!("{name}: dependency checks"), lines));
    }
    panels
}

fn app_widgets(config: &StackConfig) -> Vec<Value> {
    let namespace = namespace(config);
    app_panels(config)
        .into_iter()
        .map(|(title, lines)| {
            let lines = lines
                .into_iter()
                .map(|((key, value), metric, stat, label)| {
                    line(
                        &namespace,
                        &metric,
                        &[(key, value)],
                        json!({"stat": stat, "label": label}),
                    )
                })
                .collect();
            widget(title, lines, json!({}))
        })
        .collect()
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
        // Latency percentiles per group of the pair, and the 5xx expression over hidden
        // inputs of both groups.
        let latency = &widgets[1]["properties"]["metrics"];
        let stats: Vec<(&str, &str)> = latency
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l[6]["stat"].as_str().unwrap(), l[3].as_str().unwrap()))
            .collect();
        assert_eq!(
            stats,
            [
                ("p50", "${tg-result}"),
                ("p50", "${tg-result-alt}"),
                ("p95", "${tg-result}"),
                ("p95", "${tg-result-alt}")
            ]
        );
        let rate = widgets
            .iter()
            .find(|w| w["properties"]["title"] == "vote: 5xx rate (% of requests)")
            .unwrap();
        assert_eq!(
            rate["properties"]["metrics"][0][0]["expression"],
            "100 * (FILL(errors_primary, 0) + FILL(errors_alternate, 0)) / (FILL(requests_primary, 0) + FILL(requests_alternate, 0))"
        );
        assert_eq!(
            rate["properties"]["metrics"][1],
            json!(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "TargetGroup", "${tg-vote}", "LoadBalancer", "${alb}", {"stat": "Sum", "id": "errors_primary", "visible": false}])
        );
        assert_eq!(
            rate["properties"]["metrics"][2],
            json!(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "TargetGroup", "${tg-vote-alt}", "LoadBalancer", "${alb}", {"stat": "Sum", "id": "errors_alternate", "visible": false}])
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
        for (index, group) in [(0, "tg-vote"), (1, "tg-vote-alt")] {
            let errors = rate.queries[index].metric.as_ref().unwrap();
            assert_eq!(
                (errors.metric.as_str(), errors.stat.as_str()),
                ("HTTPCode_Target_5XX_Count", "Sum")
            );
            assert_eq!(errors.dimensions["TargetGroup"], Ref::to(group));
        }
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
    fn data_store_users_get_a_dependency_alarm_and_panel() {
        let config = load("shop", "dev");
        let resources = expand(&config);
        for service in ["users", "products", "orders"] {
            let Spec::Alarm(alarm) = spec(&resources, &format!("alarm-{service}-dependencies"))
            else {
                panic!()
            };
            let metric = alarm.queries[0].metric.as_ref().unwrap();
            assert_eq!(
                (
                    metric.namespace.as_str(),
                    metric.metric.as_str(),
                    metric.stat.as_str()
                ),
                ("Slipway/shop-dev", DEPENDENCY_FAILURES_METRIC, "Sum")
            );
            assert_eq!(metric.dimensions["Service"], Ref::physical(service));
            assert_eq!(
                (alarm.datapoints_to_alarm, alarm.evaluation_periods),
                (2, 3)
            );
            assert_eq!(alarm.threshold, 1.0);
        }
        let body = dashboard_body(&config);
        let products = body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["properties"]["title"] == "products: dependency checks")
            .unwrap();
        assert_eq!(
            products["properties"]["metrics"][2],
            json!(["Slipway/shop-dev", "dependency_up{dependency=redis}", "Service", "products", {"stat": "Minimum", "label": "redis up (1) / down (0)"}])
        );
        // sums' client uses no data store: no dependency alarm.
        let sums = expand(&load("sums", "dev"));
        assert!(sums.iter().any(|r| r.id == "alarm-api-dependencies"));
        assert!(!sums.iter().any(|r| r.id == "alarm-client-dependencies"));
        // The voting dashboard has the queue and votes panels.
        let voting = dashboard_body(&load("voting", "dev"));
        let titles: Vec<&str> = voting["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["properties"]["title"].as_str().unwrap())
            .collect();
        for title in [
            "votes accepted / stored per minute",
            "queue votes: depth / oldest entry age (s)",
            "worker: batch write time p50 / p95 (s)",
            "worker: dependency checks",
        ] {
            assert!(titles.contains(&title), "{titles:?}");
        }
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

    /// The target group every metric query of `alarm` reads, in order.
    fn target_groups_read(alarm: &AlarmSpec) -> Vec<String> {
        alarm
            .queries
            .iter()
            .filter_map(|q| q.metric.as_ref()?.dimensions.get("TargetGroup"))
            .map(|r| r.0.clone())
            .collect()
    }

    #[test]
    fn target_group_alarms_and_panels_follow_both_groups_of_the_blue_green_pair() {
        for (stack, services) in [
            ("voting", &["vote", "result"][..]),
            ("shop", &["users", "products", "orders"][..]),
            ("sums", &["client"][..]),
        ] {
            let config = load(stack, "dev");
            let resources = expand(&config);
            for service in services {
                let mut pair = [
                    format!("${{tg-{service}}}"),
                    format!("${{tg-{service}-alt}}"),
                ];
                pair.sort();
                for suffix in ["5xx", "p95", "unhealthy"] {
                    let id = format!("alarm-{service}-{suffix}");
                    let Spec::Alarm(alarm) = spec(&resources, &id) else {
                        panic!("{id} is not an alarm")
                    };
                    let mut read = target_groups_read(alarm);
                    read.sort();
                    read.dedup();
                    assert_eq!(read, pair, "{stack}: {id}");
                    // Both groups are resources of the stack: the alarm waits for them.
                    let alarm_resource = resources.iter().find(|r| r.id == id).unwrap();
                    for group in [
                        ids::target_group(service),
                        ids::alternate_target_group(service),
                    ] {
                        assert!(
                            alarm_resource.dependencies().contains(&group),
                            "{id} depends on {group}"
                        );
                    }
                }
                let body = dashboard_body(&config);
                for panel in [
                    "requests per minute",
                    "response time p50 / p95 (s)",
                    "5xx rate (% of requests)",
                ] {
                    let title = format!("{service}: {panel}");
                    let widget = body["widgets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|w| w["properties"]["title"] == title.as_str())
                        .unwrap_or_else(|| panic!("{stack}: no {title}"));
                    let groups: std::collections::BTreeSet<&str> = widget["properties"]["metrics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|line| {
                            let items = line.as_array()?;
                            let at = items.iter().position(|v| v == "TargetGroup")?;
                            items[at + 1].as_str()
                        })
                        .collect();
                    assert_eq!(
                        groups,
                        pair.iter().map(String::as_str).collect(),
                        "{stack}: {title}"
                    );
                }
            }
        }
    }

    #[test]
    fn pair_expressions_combine_both_groups_and_return_one_series() {
        let resources = expand(&load("voting", "dev"));
        let expression = |id: &str| {
            let Spec::Alarm(alarm) = spec(&resources, id) else {
                panic!()
            };
            let returning: Vec<&AlarmQuery> =
                alarm.queries.iter().filter(|q| q.return_data).collect();
            assert_eq!(returning.len(), 1, "{id}");
            returning[0].expression.clone().unwrap()
        };
        assert_eq!(
            expression("alarm-vote-5xx"),
            "100 * (FILL(errors_primary, 0) + FILL(errors_alternate, 0)) / (FILL(requests_primary, 0) + FILL(requests_alternate, 0))"
        );
        assert_eq!(
            expression("alarm-vote-p95"),
            "IF(p95_primary > p95_alternate, p95_primary, p95_alternate)"
        );
        assert_eq!(
            expression("alarm-vote-unhealthy"),
            "FILL(unhealthy_primary, 0) + FILL(unhealthy_alternate, 0)"
        );
    }

    #[test]
    fn every_generated_alarm_is_one_put_metric_alarm_accepts() {
        for stack in ["voting", "sums", "shop"] {
            for env in ["dev", "prod"] {
                let mut config = load(stack, env);
                config.alarms.topic = Some(format!("{stack}-alerts"));
                for resource in expand(&config) {
                    if let Spec::Alarm(alarm) = &resource.spec {
                        check_alarm_queries(&alarm.queries)
                            .unwrap_or_else(|e| panic!("{stack}-{env} {}: {e}", resource.id));
                    }
                }
            }
        }
    }

    #[test]
    fn alarm_queries_put_metric_alarm_would_refuse_are_caught() {
        let stat = || {
            metric(
                "AWS/ECS",
                "CPUUtilization",
                &ecs_dimensions("vote"),
                "Average",
            )
        };
        let ok = vec![
            query("a", stat()),
            query("b", stat()),
            expression("total", "a + b"),
        ];
        assert_eq!(check_alarm_queries(&ok), Ok(()));

        let eleven_metrics: Vec<AlarmQuery> = (0..11)
            .map(|i| query(&format!("m{i}"), stat()))
            .chain([expression("e", "m0")])
            .collect();
        assert!(check_alarm_queries(&eleven_metrics)
            .unwrap_err()
            .contains("at most 10"));
        let eleven_expressions: Vec<AlarmQuery> = [query("m", stat())]
            .into_iter()
            .chain((0..11).map(|i| AlarmQuery {
                return_data: i == 0,
                ..expression(&format!("e{i}"), "m")
            }))
            .collect();
        assert!(check_alarm_queries(&eleven_expressions)
            .unwrap_err()
            .contains("at most 10"));

        let mut two_returning = ok.clone();
        two_returning[0].return_data = true;
        assert!(check_alarm_queries(&two_returning)
            .unwrap_err()
            .contains("2 queries return data"));
        let mut none_returning = ok.clone();
        none_returning[2].return_data = false;
        assert!(check_alarm_queries(&none_returning)
            .unwrap_err()
            .contains("0 queries return data"));

        for bad in ["Errors", "1x", "errors-blue", ""] {
            let mut queries = ok.clone();
            queries[0].id = bad.into();
            assert!(
                check_alarm_queries(&queries)
                    .unwrap_err()
                    .contains("query id"),
                "{bad:?}"
            );
        }
        let mut duplicate = ok.clone();
        duplicate[1].id = "a".into();
        assert!(check_alarm_queries(&duplicate)
            .unwrap_err()
            .contains("used twice"));
        let mut both = ok.clone();
        both[0].expression = Some("b".into());
        assert!(check_alarm_queries(&both)
            .unwrap_err()
            .contains("either a metric or an expression"));
        let mut typo = ok.clone();
        typo[2].expression = Some("a + c".into());
        assert!(check_alarm_queries(&typo).unwrap_err().contains("uses `c`"));
        let mut itself = ok;
        itself[2].expression = Some("FILL(total, 0)".into());
        assert!(check_alarm_queries(&itself)
            .unwrap_err()
            .contains("uses `total`"));
    }
}

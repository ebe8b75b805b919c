//! The dashboard and alarms read exactly the application metrics the services emit: every
//! metric and dimension they reference (provisioner's observability construct) against
//! the names the services record under and the EMF reporter's series names
//! (`platform::metrics::names`, `platform::emf`). An integration test, not a unit test of
//! the core crate: the core must not depend on the service platform (it pulls in the
//! AWS SDK for Secrets Manager).

use provisioner::config::{repo_config_dir, StackConfig};
use provisioner::constructs::expand;
use provisioner::constructs::observability::{
    dashboard_body, namespace, store_name, QUEUE_DIMENSION, SERVICE_DIMENSION,
};
use provisioner::model::Spec;

/// What the services' EMF lines carry (platform::emf), per `Service` dimension value
/// of the repository's stacks, from the names the services record under.
fn emitted(config: &StackConfig, service: &str) -> Vec<String> {
    use platform::emf::series_name;
    use platform::metrics::names;
    let mut metrics: Vec<String> = match service {
        "vote" => vec![names::VOTES_QUEUED.into()],
        "worker" => vec![
            names::VOTES_PROCESSED.into(),
            names::VOTES_DB_WRITE_DURATION.into(),
        ],
        "result" => vec![names::RESULT_SOCKET_CLIENTS.into()],
        "orders" => vec![names::ORDERS_CREATED.into(), names::ORDERS_REJECTED.into()],
        "products" => ["hit", "miss", "error"]
            .iter()
            .map(|result| series_name(names::PRODUCTS_CACHE, [("result", *result)]))
            .collect(),
        "api" => vec![
            names::SUMS_COMPUTED.into(),
            names::SUMS_COMPUTE_DURATION.into(),
        ],
        _ => Vec::new(),
    };
    metrics.extend([
        names::HTTP_REQUESTS.to_owned(),
        names::HTTP_REQUEST_DURATION.to_owned(),
        names::DEPENDENCY_FAILURES.to_owned(),
    ]);
    for store in &config.services[service].uses {
        metrics.push(series_name(
            names::DEPENDENCY_UP,
            [(names::DEPENDENCY_LABEL, store_name(store))],
        ));
    }
    metrics
}

#[test]
fn every_app_metric_of_the_dashboard_and_alarms_is_one_the_services_emit() {
    let mut references = 0;
    for stack in ["voting", "sums", "shop"] {
        let config = StackConfig::load(&repo_config_dir(), stack, "dev").unwrap();
        let namespace = namespace(&config);
        let mut read: Vec<(String, String, String)> = Vec::new();
        for widget in dashboard_body(&config)["widgets"].as_array().unwrap() {
            for line in widget["properties"]["metrics"].as_array().unwrap() {
                let items = line.as_array().unwrap();
                if items[0] != namespace.as_str() || items.len() != 5 {
                    continue;
                }
                let text = |i: usize| items[i].as_str().unwrap().to_owned();
                read.push((text(2), text(3), text(1)));
            }
        }
        for resource in expand(&config) {
            let Spec::Alarm(alarm) = &resource.spec else {
                continue;
            };
            for metric in alarm.queries.iter().filter_map(|q| q.metric.as_ref()) {
                if metric.namespace != namespace || metric.dimensions.is_empty() {
                    continue;
                }
                for (key, value) in &metric.dimensions {
                    read.push((key.clone(), value.0.clone(), metric.metric.clone()));
                }
            }
        }
        for (key, value, metric) in &read {
            if key == platform::emf::SERVICE_DIMENSION {
                assert!(
                    emitted(&config, value).contains(metric),
                    "{stack}: {value} emits no {metric}"
                );
            } else {
                assert_eq!(key, platform::emf::QUEUE_DIMENSION, "{stack}: {metric}");
                assert!(
                    [
                        platform::metrics::names::QUEUE_DEPTH,
                        platform::metrics::names::QUEUE_OLDEST_AGE
                    ]
                    .contains(&metric.as_str()),
                    "{stack}: {metric}"
                );
                assert!(config.services.values().any(|s| s.queues.contains(value)));
            }
        }
        references += read.len();
    }
    assert!(references >= 30, "only {references} app metric references");
    assert_eq!(SERVICE_DIMENSION, platform::emf::SERVICE_DIMENSION);
    assert_eq!(QUEUE_DIMENSION, platform::emf::QUEUE_DIMENSION);
}

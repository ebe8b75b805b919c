//! Properties of docker-compose.yml (after `<<` merges and interpolation from
//! .env.example) and of .env.example itself.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{app, binary_path, data_store, APPS, DATA_STORES, JOBS};
use deploy_checks::{
    source_with_workspace_dependencies, workspace_packages, workspace_root, ComposeFile, Dockerfile,
};
use serde_norway::Value;
use testkit::compose::scalar_text;

/// The monitoring profile's long-running services: published port (on 127.0.0.1 only,
/// the same inside the container) and the path their health check asks.
struct Monitor {
    service: &'static str,
    port: u16,
    health_path: &'static str,
}

const MONITORS: &[Monitor] = &[
    Monitor {
        service: "prometheus",
        port: 9090,
        health_path: "/-/ready",
    },
    Monitor {
        service: "grafana",
        port: 3000,
        health_path: "/api/health",
    },
];

fn compose() -> ComposeFile {
    ComposeFile::workspace().unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(scalar_text).collect())
        .unwrap_or_default()
}

fn profiles(compose: &ComposeFile, service: &str) -> Vec<String> {
    strings(&compose.service(service).unwrap()["profiles"])
}

/// Service names in the stack that `--profile <profile>` (or no profile) starts.
fn services_in(compose: &ComposeFile, profile: Option<&str>) -> BTreeSet<String> {
    compose
        .service_names()
        .into_iter()
        .filter(|service| {
            let profiles = profiles(compose, service);
            match profile {
                None => profiles.is_empty(),
                Some(profile) => profiles.iter().any(|p| p == profile),
            }
        })
        .collect()
}

fn networks(compose: &ComposeFile, service: &str) -> BTreeSet<String> {
    match &compose.service(service).unwrap()["networks"] {
        Value::Sequence(_) => strings(&compose.service(service).unwrap()["networks"])
            .into_iter()
            .collect(),
        Value::Mapping(map) => map.keys().filter_map(scalar_text).collect(),
        _ => BTreeSet::new(),
    }
}

fn network_is_internal(compose: &ComposeFile, network: &str) -> bool {
    compose.document()["networks"][network]["internal"].as_bool() == Some(true)
}

fn network_has_no_nat(compose: &ComposeFile, network: &str) -> bool {
    let options = &compose.document()["networks"][network]["driver_opts"];
    options["com.docker.network.bridge.enable_ip_masquerade"]
        .as_str()
        .is_some_and(|value| value == "false")
}

/// A published port in the short syntax: `[ip:]host:container`.
#[derive(Debug, PartialEq, Eq)]
struct Published {
    ip: Option<String>,
    host: u16,
    container: u16,
}

fn published(compose: &ComposeFile, service: &str) -> Vec<Published> {
    strings(&compose.service(service).unwrap()["ports"])
        .iter()
        .map(|raw| {
            let text = compose.interpolate(raw).unwrap();
            let parts: Vec<&str> = text.split(':').collect();
            let port = |part: &str| -> u16 {
                part.parse()
                    .unwrap_or_else(|_| panic!("{service}: port {text:?} is not host:container"))
            };
            match parts.as_slice() {
                [host, container] => Published {
                    ip: None,
                    host: port(host),
                    container: port(container),
                },
                [ip, host, container] => Published {
                    ip: Some((*ip).to_owned()),
                    host: port(host),
                    container: port(container),
                },
                _ => panic!("{service}: unexpected port syntax {text:?}"),
            }
        })
        .collect()
}

fn healthcheck(compose: &ComposeFile, service: &str) -> Vec<String> {
    strings(&compose.service(service).unwrap()["healthcheck"]["test"])
}

fn depends_on(compose: &ComposeFile, service: &str) -> BTreeMap<String, String> {
    match &compose.service(service).unwrap()["depends_on"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(name, spec)| {
                (
                    scalar_text(name).unwrap(),
                    spec["condition"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("{service}: depends_on must use the long form with conditions: {other:?}"),
    }
}

fn text(compose: &ComposeFile, service: &str, key: &str) -> Option<String> {
    scalar_text(&compose.service(service).unwrap()[key])
        .filter(|value| !value.is_empty())
        .map(|value| compose.interpolate(&value).unwrap())
}

fn is_long_running(compose: &ComposeFile, service: &str) -> bool {
    text(compose, service, "restart").as_deref() == Some("unless-stopped")
}

#[test]
fn the_default_stack_is_the_voting_app_and_profiles_add_the_others() {
    let compose = compose();
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        services_in(&compose, None),
        set(&["vote", "result", "worker", "redis", "db"])
    );
    assert_eq!(services_in(&compose, Some("seed")), set(&["seed"]));
    assert_eq!(services_in(&compose, Some("debug")), set(&["debug"]));
    assert_eq!(
        services_in(&compose, Some("sums")),
        set(&["sums-client", "sums-api", "sums-redis"])
    );
    assert_eq!(
        services_in(&compose, Some("shop")),
        set(&[
            "shop-users",
            "shop-products",
            "shop-orders",
            "shop-users-setup",
            "shop-products-setup",
            "shop-orders-setup",
            "shop-db"
        ])
    );
    assert_eq!(
        services_in(&compose, Some("monitoring")),
        set(&["prometheus", "grafana", "grafana-password"])
    );
    for service in compose.service_names() {
        assert!(
            profiles(&compose, &service).len() <= 1,
            "{service} belongs to several profiles"
        );
    }
}

#[test]
fn application_containers_are_built_from_their_dockerfile_target() {
    let compose = compose();
    let dockerfile = Dockerfile::load("Dockerfile").unwrap();
    for app in APPS {
        let service = compose.service(app.service).unwrap();
        assert_eq!(
            service["build"]["context"].as_str(),
            Some("."),
            "{}",
            app.service
        );
        assert_eq!(
            service["build"]["target"].as_str(),
            Some(app.target),
            "{}",
            app.service
        );
        assert!(
            dockerfile.stage(app.target).is_some(),
            "no target {}",
            app.target
        );
        let image = compose
            .interpolate(service["image"].as_str().unwrap())
            .unwrap();
        assert!(
            image.starts_with(&format!("slipway/{}:", app.service)),
            "{}: image {image}",
            app.service
        );
        let expected_profiles: Vec<String> = app.profile.iter().map(|p| (*p).to_owned()).collect();
        assert_eq!(
            profiles(&compose, app.service),
            expected_profiles,
            "{}",
            app.service
        );
    }
    let debug = compose.service("debug").unwrap();
    assert_eq!(debug["build"]["context"].as_str(), Some("services/debug"));
}

#[test]
fn redis_and_postgres_use_the_official_alpine_images_with_persistent_named_volumes() {
    let compose = compose();
    let declared_volumes = compose.document()["volumes"].as_mapping().unwrap().clone();
    for store in DATA_STORES {
        let service = compose.service(store.service).unwrap();
        assert_eq!(
            service["image"].as_str(),
            Some(store.image),
            "{}",
            store.service
        );
        let mounts = strings(&service["volumes"]);
        let named = mounts
            .iter()
            .find_map(|mount| {
                let (source, target) = mount.split_once(':')?;
                (target == store.data_path && !source.starts_with(['.', '/'])).then_some(source)
            })
            .unwrap_or_else(|| panic!("{}: no named volume at {}", store.service, store.data_path));
        assert!(
            declared_volumes.contains_key(named),
            "volume {named} is not declared under top-level volumes"
        );
        let expected: Vec<String> = store.profile.iter().map(|p| (*p).to_owned()).collect();
        assert_eq!(
            profiles(&compose, store.service),
            expected,
            "{}",
            store.service
        );
        if store.image.starts_with("redis:") {
            let command = strings(&service["command"]);
            let appendonly = command.iter().position(|arg| arg == "--appendonly");
            assert_eq!(
                appendonly
                    .and_then(|index| command.get(index + 1))
                    .map(String::as_str),
                Some("yes"),
                "{}: Redis must keep an append-only file",
                store.service
            );
        } else {
            let env = compose.environment(store.service).unwrap();
            assert_eq!(env["POSTGRES_USER"], "postgres", "{}", store.service);
            assert_eq!(env["POSTGRES_PASSWORD"], "postgres", "{}", store.service);
        }
    }
}

#[test]
fn the_data_tier_sits_on_an_internal_network_without_a_route_out() {
    let compose = compose();
    assert!(
        network_is_internal(&compose, "backend"),
        "backend must be internal"
    );
    assert!(!network_is_internal(&compose, "frontend"));
    for store in DATA_STORES {
        let attached = networks(&compose, store.service);
        assert!(
            attached.contains("backend"),
            "{} is not on backend",
            store.service
        );
        assert!(
            !attached.contains("frontend"),
            "{} is on frontend",
            store.service
        );
        for network in &attached {
            assert!(
                network_is_internal(&compose, network) || network_has_no_nat(&compose, network),
                "{}: network {network} would give the data tier a route out",
                store.service
            );
        }
    }
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(networks(&compose, "vote"), set(&["frontend", "backend"]));
    assert_eq!(networks(&compose, "result"), set(&["frontend", "backend"]));
    assert_eq!(networks(&compose, "worker"), set(&["backend"]));
    assert_eq!(networks(&compose, "debug"), set(&["frontend", "backend"]));
}

#[test]
fn only_web_apps_are_published_beyond_loopback_and_the_data_tier_only_on_it() {
    let compose = compose();
    for service in compose.service_names() {
        let ports = published(&compose, &service);
        if let Some(store) = data_store(&service) {
            match store.loopback_port {
                Some(host) => assert_eq!(
                    ports,
                    [Published {
                        ip: Some("127.0.0.1".into()),
                        host,
                        container: store.port
                    }],
                    "{service}"
                ),
                None => assert!(ports.is_empty(), "{service} must not be published"),
            }
        } else if let Some(app) = common::APPS.iter().find(|app| app.service == service) {
            match app.host_port {
                Some(host) => assert_eq!(
                    ports,
                    [Published {
                        ip: None,
                        host,
                        container: app.port.unwrap()
                    }],
                    "{service}"
                ),
                None => assert!(ports.is_empty(), "{service} must not be published"),
            }
        } else if let Some(monitor) = MONITORS.iter().find(|m| m.service == service) {
            assert_eq!(
                ports,
                [Published {
                    ip: Some("127.0.0.1".into()),
                    host: monitor.port,
                    container: monitor.port
                }],
                "{service}: metrics and dashboards are for this machine only"
            );
        } else {
            assert!(ports.is_empty(), "{service} must not be published");
        }
        // Docker sets up publishing only through a non-internal network (moby#36174).
        if !ports.is_empty() {
            assert!(
                networks(&compose, &service)
                    .iter()
                    .any(|network| !network_is_internal(&compose, network)),
                "{service} publishes ports but is only on internal networks"
            );
        }
    }
}

#[test]
fn every_long_running_service_has_a_health_check() {
    let compose = compose();
    for service in compose.service_names() {
        if !is_long_running(&compose, &service) {
            continue;
        }
        let test = healthcheck(&compose, &service);
        if let Some(app) = APPS.iter().find(|app| app.service == service) {
            assert_eq!(
                test,
                ["CMD", &binary_path(app.binaries[0]), "--probe", "ready"],
                "{service}: a compose health check gates depends_on: probe its own /ready"
            );
        } else if let Some(monitor) = MONITORS.iter().find(|m| m.service == service) {
            let url = format!("http://127.0.0.1:{}{}", monitor.port, monitor.health_path);
            assert_eq!(test, ["CMD", "wget", "-q", "--spider", &url], "{service}");
        } else if service.contains("redis") {
            assert_eq!(test, ["CMD", "redis-cli", "ping"], "{service}");
        } else if service.ends_with("db") {
            assert_eq!(
                test.get(..2),
                Some(&["CMD".to_owned(), "pg_isready".to_owned()][..])
            );
            assert!(
                test.contains(&"127.0.0.1".to_owned()),
                "{service}: check over TCP"
            );
        } else {
            panic!("{service}: unknown long-running service");
        }
    }
    // Every long-running application container is one of these.
    for app in APPS.iter().filter(|app| app.long_running()) {
        assert!(
            is_long_running(&compose, app.service),
            "{}: restart policy",
            app.service
        );
    }
}

#[test]
fn services_wait_for_healthy_dependencies_and_the_shop_for_its_setup_job() {
    let compose = compose();
    let expected: &[(&str, &[(&str, &str)])] = &[
        ("vote", &[("redis", "service_healthy")]),
        ("result", &[("db", "service_healthy")]),
        (
            "worker",
            &[("redis", "service_healthy"), ("db", "service_healthy")],
        ),
        (
            "seed",
            &[
                ("vote", "service_healthy"),
                ("result", "service_healthy"),
                ("worker", "service_healthy"),
            ],
        ),
        // The debug shell must start even when the data tier is unhealthy.
        (
            "debug",
            &[("redis", "service_started"), ("db", "service_started")],
        ),
        ("sums-client", &[("sums-api", "service_healthy")]),
        ("sums-api", &[("sums-redis", "service_healthy")]),
        ("shop-users-setup", &[("shop-db", "service_healthy")]),
        (
            "shop-products-setup",
            &[("shop-db", "service_healthy"), ("redis", "service_healthy")],
        ),
        (
            "shop-orders-setup",
            &[("shop-db", "service_healthy"), ("redis", "service_healthy")],
        ),
        (
            "shop-users",
            &[
                ("shop-users-setup", "service_completed_successfully"),
                ("shop-db", "service_healthy"),
            ],
        ),
        (
            "shop-products",
            &[
                ("shop-products-setup", "service_completed_successfully"),
                ("shop-db", "service_healthy"),
                ("redis", "service_healthy"),
            ],
        ),
        // Grafana starts only after the password check passed.
        (
            "grafana",
            &[
                ("grafana-password", "service_completed_successfully"),
                ("prometheus", "service_healthy"),
            ],
        ),
        (
            "shop-orders",
            &[
                ("shop-orders-setup", "service_completed_successfully"),
                ("shop-db", "service_healthy"),
                ("redis", "service_healthy"),
                ("shop-users", "service_healthy"),
                ("shop-products", "service_healthy"),
            ],
        ),
    ];
    for (service, dependencies) in expected {
        let expected: BTreeMap<String, String> = dependencies
            .iter()
            .map(|(name, condition)| ((*name).to_owned(), (*condition).to_owned()))
            .collect();
        assert_eq!(depends_on(&compose, service), expected, "{service}");
    }
    // Nothing else waits on anything, and every awaited service can satisfy the condition.
    let listed: BTreeSet<&str> = expected.iter().map(|(service, _)| *service).collect();
    for service in compose.service_names() {
        let dependencies = depends_on(&compose, &service);
        if !listed.contains(service.as_str()) {
            assert!(dependencies.is_empty(), "{service}: unexpected depends_on");
        }
        for (dependency, condition) in dependencies {
            if condition == "service_healthy" {
                assert!(
                    !healthcheck(&compose, &dependency).is_empty(),
                    "{service} waits for {dependency} to be healthy, which has no health check"
                );
            }
            // A dependency must be started by the same `--profile` (or by default).
            let theirs = profiles(&compose, &dependency);
            let ours = profiles(&compose, &service);
            assert!(
                theirs.is_empty() || theirs == ours,
                "{service} ({ours:?}) depends on {dependency} ({theirs:?})"
            );
        }
    }
}

#[test]
fn restart_limits_and_read_only_root_filesystems() {
    let compose = compose();
    for service in compose.service_names() {
        let definition = compose.service(&service).unwrap();
        let restart = text(&compose, &service, "restart").unwrap_or_default();
        let one_off = ["seed", "debug", "grafana-password"].contains(&service.as_str())
            || JOBS.iter().any(|job| job.service == service);
        let expected_restart = if one_off { "no" } else { "unless-stopped" };
        assert_eq!(restart, expected_restart, "{service}: restart policy");

        let limits = &definition["deploy"]["resources"]["limits"];
        assert!(
            scalar_text(&limits["cpus"])
                .is_some_and(|cpus| cpus.parse::<f64>().is_ok_and(|c| c > 0.0)),
            "{service}: no CPU limit"
        );
        assert!(
            scalar_text(&limits["memory"])
                .is_some_and(|memory| memory.ends_with('M') || memory.ends_with('G')),
            "{service}: no memory limit"
        );

        // The interactive debug shell is the one container people write into.
        if service != "debug" {
            assert_eq!(
                definition["read_only"].as_bool(),
                Some(true),
                "{service}: read_only"
            );
        }
        let runs_our_image = APPS.iter().any(|app| app.service == service)
            || JOBS.iter().any(|job| job.service == service);
        if runs_our_image {
            assert_eq!(
                strings(&definition["cap_drop"]),
                ["ALL"],
                "{service}: cap_drop"
            );
            assert_eq!(
                strings(&definition["security_opt"]),
                ["no-new-privileges:true"],
                "{service}: security_opt"
            );
        }
    }
}

#[test]
fn each_application_gets_exactly_its_variables_pointing_at_real_services() {
    let compose = compose();
    for app in APPS {
        let env = compose.environment(app.service).unwrap();
        let keys: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = app.env.iter().copied().collect();
        assert_eq!(keys, expected, "{}: environment variables", app.service);
        if let Some(port) = app.port {
            assert_eq!(env["PORT"], port.to_string(), "{}: PORT", app.service);
        }
        assert_eq!(env["LOG_FORMAT"], "json", "{}", app.service);
        for (key, value) in &env {
            let Ok(url) = url::Url::parse(value) else {
                continue;
            };
            let Some(host) = url.host_str() else { continue };
            let target_port = if let Some(store) = data_store(host) {
                store.port
            } else {
                let target = APPS
                    .iter()
                    .find(|other| other.service == host)
                    .unwrap_or_else(|| panic!("{}: {key} names unknown host {host}", app.service));
                target.port.expect("a long-running target")
            };
            let port = url
                .port_or_known_default()
                .unwrap_or_else(|| match url.scheme() {
                    "postgres" | "postgresql" => 5432,
                    "redis" => 6379,
                    other => panic!("{}: {key} has scheme {other} and no port", app.service),
                });
            assert_eq!(port, target_port, "{}: {key}={value}", app.service);
            // The target must run whenever this service runs.
            let theirs = profiles(&compose, host);
            assert!(
                theirs.is_empty() || theirs == profiles(&compose, app.service),
                "{}: {key} names {host}, which another profile starts",
                app.service
            );
            if url.scheme().starts_with("postgres") {
                assert_eq!(url.username(), "postgres");
                assert_eq!(url.password(), Some("postgres"), "{}: {key}", app.service);
            }
        }
    }
    let debug = compose.environment("debug").unwrap();
    assert_eq!(debug["REDIS_URL"], "redis://redis:6379/0");
    assert_eq!(
        debug["DATABASE_URL"],
        "postgres://postgres:postgres@db/postgres"
    );
    assert_eq!(compose.environment("sums-api").unwrap()["CRASH_ON_N"], "13");
}

/// A renamed variable must fail here before it fails a deployment: every variable the
/// compose file sets (beyond PORT and LOG_FORMAT, which every service reads through the
/// platform crate) is read by name in the package or a workspace library it uses.
#[test]
fn the_binaries_read_the_variables_compose_sets() {
    let compose = compose();
    let packages = workspace_packages().unwrap();
    for app in APPS {
        let sources: String = app
            .binaries
            .iter()
            .map(|binary| {
                let package = packages
                    .iter()
                    .find(|package| package.name == *binary)
                    .unwrap_or_else(|| panic!("{binary} is not a workspace package yet"));
                source_with_workspace_dependencies(package, &packages)
            })
            .collect();
        for key in compose.environment(app.service).unwrap().keys() {
            if key == "PORT" || key == "LOG_FORMAT" {
                continue;
            }
            assert!(
                sources.contains(&format!("\"{key}\"")),
                "{}: compose sets {key}, but {:?} never read it by that name",
                app.service,
                app.binaries
            );
        }
    }
}

#[test]
fn env_example_documents_every_variable_with_the_inline_default() {
    let compose = compose();
    let text = std::fs::read_to_string(workspace_root().join("docker-compose.yml")).unwrap();
    let mut used = BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closed ${") + start;
        let expression = &rest[start + 2..end];
        let (name, default) = expression.split_once(":-").unwrap_or((expression, ""));
        let previous = used.insert(name.to_owned(), default.to_owned());
        assert!(
            previous.is_none_or(|previous| previous == default),
            "{name} has different defaults in docker-compose.yml"
        );
        rest = &rest[end..];
    }
    let documented: BTreeMap<String, String> = compose.variables().clone();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        used.keys().collect::<Vec<_>>(),
        ".env.example and docker-compose.yml must name the same variables"
    );
    for (name, default) in &used {
        assert_eq!(
            &documented[name], default,
            ".env.example {name} vs the compose default"
        );
    }
}

#[test]
fn the_debug_container_is_interactive_on_both_networks() {
    let compose = compose();
    let debug = compose.service("debug").unwrap();
    assert_eq!(debug["stdin_open"].as_bool(), Some(true));
    assert_eq!(debug["tty"].as_bool(), Some(true));
}

#[test]
fn shop_jobs_run_the_service_image_with_its_configuration_before_the_service() {
    let compose = compose();
    for job in JOBS {
        let app = app(job.app);
        let definition = compose.service(job.service).unwrap();
        let service = compose.service(app.service).unwrap();
        assert_eq!(
            definition["build"], service["build"],
            "{}: build",
            job.service
        );
        assert_eq!(
            definition["image"], service["image"],
            "{}: image",
            job.service
        );
        assert_eq!(
            profiles(&compose, job.service),
            profiles(&compose, app.service)
        );
        let binary = binary_path(app.binaries[0]);
        let script = job
            .subcommands
            .iter()
            .map(|subcommand| format!("{binary} {subcommand}"))
            .collect::<Vec<_>>()
            .join(" && ");
        assert_eq!(
            strings(&definition["command"]),
            ["/bin/sh", "-c", script.as_str()],
            "{}: command",
            job.service
        );
        let mut expected = compose.environment(app.service).unwrap();
        expected.remove("PORT");
        assert_eq!(
            compose.environment(job.service).unwrap(),
            expected,
            "{}: the job must see the service's configuration",
            job.service
        );
        assert_eq!(
            depends_on(&compose, app.service)
                .get(job.service)
                .map(String::as_str),
            Some("service_completed_successfully"),
            "{} must wait for {}",
            app.service,
            job.service
        );
        assert!(healthcheck(&compose, job.service).is_empty());
    }
}

/// `name:tag@sha256:<64 hex digits>`.
fn pinned_by_tag_and_digest(image: &str) -> bool {
    let Some((reference, digest)) = image.split_once("@sha256:") else {
        return false;
    };
    let tagged = reference
        .rsplit_once(':')
        .is_some_and(|(name, tag)| !name.is_empty() && !tag.is_empty() && !tag.contains('/'));
    tagged && digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn monitoring_images_are_pinned_by_tag_and_digest() {
    let compose = compose();
    for service in ["prometheus", "grafana", "grafana-password"] {
        let image = text(&compose, service, "image").unwrap_or_default();
        assert!(
            pinned_by_tag_and_digest(&image),
            "{service}: image {image:?} must be name:tag@sha256:digest"
        );
    }
    assert_eq!(
        text(&compose, "grafana-password", "image"),
        text(&compose, "grafana", "image"),
        "the password check runs Grafana's own image (no extra pull)"
    );
    assert!(!pinned_by_tag_and_digest("prom/prometheus:v2.53.0"));
    assert!(!pinned_by_tag_and_digest("prom/prometheus@sha256:0"));
}

#[test]
fn prometheus_discovers_every_long_running_application_by_its_compose_name_and_port() {
    let path = workspace_root().join("monitoring/prometheus/prometheus.yml");
    let config: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut discovered = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        assert!(
            job["static_configs"].is_null(),
            "{}: no hand-kept target lists, only DNS names",
            path.display()
        );
        for sd in job["dns_sd_configs"].as_sequence().into_iter().flatten() {
            assert_eq!(sd["type"].as_str(), Some("A"), "{sd:?}");
            let port = sd["port"].as_u64().unwrap();
            for name in strings(&sd["names"]) {
                assert!(
                    discovered.insert((name.clone(), port)),
                    "{name} listed twice"
                );
            }
        }
    }
    let expected: BTreeSet<(String, u64)> = APPS
        .iter()
        .filter(|app| app.long_running())
        .map(|app| (app.service.to_owned(), u64::from(app.port.unwrap())))
        .collect();
    assert_eq!(
        discovered, expected,
        "prometheus.yml must name every long-running application with its PORT"
    );
    // Prometheus resolves those names on the network every application joins.
    let compose = compose();
    assert!(networks(&compose, "prometheus").contains("backend"));
    for app in APPS.iter().filter(|app| app.long_running()) {
        assert!(
            networks(&compose, app.service).contains("backend"),
            "{}: Prometheus could not reach it",
            app.service
        );
    }
    // Neither monitoring network gives a route out.
    for service in ["prometheus", "grafana"] {
        for network in networks(&compose, service) {
            assert!(
                network_is_internal(&compose, &network) || network_has_no_nat(&compose, &network),
                "{service}: network {network} has a route out"
            );
        }
    }
}

#[test]
fn grafana_has_no_default_password_and_no_anonymous_access() {
    let compose = compose();
    let grafana = compose.service("grafana").unwrap();
    let environment = &grafana["environment"];
    assert_eq!(
        environment["GF_SECURITY_ADMIN_PASSWORD"].as_str(),
        Some("${GRAFANA_ADMIN_PASSWORD:-}")
    );
    assert_eq!(
        environment["GF_AUTH_ANONYMOUS_ENABLED"].as_str(),
        Some("false")
    );
    assert_eq!(
        environment["GF_USERS_ALLOW_SIGN_UP"].as_str(),
        Some("false")
    );
    let check = compose.service("grafana-password").unwrap();
    assert_eq!(
        check["environment"]["GF_SECURITY_ADMIN_PASSWORD"].as_str(),
        Some("${GRAFANA_ADMIN_PASSWORD:-}")
    );
    assert_eq!(
        compose
            .variables()
            .get("GRAFANA_ADMIN_PASSWORD")
            .map(String::as_str),
        Some(""),
        ".env.example must not hold a usable Grafana password"
    );
    // The check itself, run by the shell Grafana's image ships (POSIX sh).
    let script = strings(&check["entrypoint"]).join(" ");
    let script = script
        .strip_prefix("/bin/sh -c ")
        .expect("entrypoint is /bin/sh -c SCRIPT")
        .replace("$$", "$");
    for (password, accepted) in [("", false), ("admin", false), ("s3cret-Pw", true)] {
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .env_clear()
            .env("GF_SECURITY_ADMIN_PASSWORD", password)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.success(), accepted, "password {password:?}");
    }
}

//! `provision init`: this repository's compose file against its hand-written stacks, a
//! compose file the repository has never seen through init → plan → up → down, and
//! `--stack` being required when config/ holds more than one stack.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use provisioner::config::StackConfig;
use provisioner::constructs::expand;
use provisioner::init::{translate, InitOptions};
use serde_json::Value;

use common::{repo_root, Moto};

/// `provision ARGS` in `dir`, with no AWS or Slipway settings from the caller.
fn provision_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provision"));
    command.args(args).current_dir(dir).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("SLIPWAY_") {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("provision runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Leaf values of a JSON document by path (`/container/environment/PORT`).
fn leaves(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{path}/{k}"), out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{path}/{i}"), out);
            }
        }
        other => {
            out.insert(path, other.clone());
        }
    }
}

/// Every difference between two expansions: `<resource id><path>`, as
/// `(path, init's value, config's value)`; a resource only one side has is one entry.
fn differences(init: &StackConfig, reference: &StackConfig) -> Vec<(String, String, String)> {
    let by_id = |config: &StackConfig| -> BTreeMap<String, Value> {
        expand(config)
            .into_iter()
            .map(|r| (r.id.clone(), serde_json::to_value(&r).unwrap()))
            .collect()
    };
    let (ours, theirs) = (by_id(init), by_id(reference));
    let mut out = Vec::new();
    for id in ours
        .keys()
        .chain(theirs.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (ours.get(id), theirs.get(id)) {
            (Some(a), Some(b)) => {
                let (mut la, mut lb) = (BTreeMap::new(), BTreeMap::new());
                leaves(a, id.clone(), &mut la);
                leaves(b, id.clone(), &mut lb);
                for path in la
                    .keys()
                    .chain(lb.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                {
                    let (va, vb) = (la.get(path), lb.get(path));
                    if va != vb {
                        let show = |v: Option<&Value>| v.map_or("-".into(), |v| v.to_string());
                        out.push((path.clone(), show(va), show(vb)));
                    }
                }
            }
            (a, _) => out.push((
                id.clone(),
                if a.is_some() { "present" } else { "absent" }.into(),
                if a.is_some() { "absent" } else { "present" }.into(),
            )),
        }
    }
    out
}

/// Settings compose cannot express, copied from the hand-written stack before expanding
/// (each must really differ, or the entry is stale).
type Normalize = (
    &'static str,
    fn(&mut StackConfig, &StackConfig) -> bool,
    &'static str,
);

const CIDR: Normalize = (
    "network.cidr",
    |ours, theirs| {
        let differs = ours.network.cidr != theirs.network.cidr;
        ours.network.cidr = theirs.network.cidr.clone();
        differs
    },
    "the VPC's address plan is the operator's choice; compose has none (init writes 10.0.0.0/16)",
);

/// Expanded resources that differ, by path prefix (`<id>` or `<id>/<field>`), and why.
/// Every entry must match at least one difference, and every difference an entry.
struct Allowed(&'static str, &'static str);

fn compare(profiles: &[&str], stack: &str, normalize: &[Normalize], allowed: &[Allowed]) {
    let compose = std::fs::read_to_string(repo_root().join("docker-compose.yml")).unwrap();
    let translation = translate(
        &compose,
        &InitOptions {
            source: "docker-compose.yml".into(),
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            stack: Some(stack.into()),
        },
    )
    .unwrap_or_else(|err| panic!("init {profiles:?}: {err}"));
    let mut ours = StackConfig::parse(Path::new("init.toml"), &translation.text, "dev")
        .unwrap_or_else(|err| panic!("{err}\n{}", translation.text));
    let theirs = StackConfig::load(&repo_root().join("config"), stack, "dev").unwrap();
    for (field, apply, reason) in normalize {
        assert!(
            apply(&mut ours, &theirs),
            "{stack}: normalizing {field} ({reason}) changed nothing: remove it"
        );
    }
    // `provision push` builds what compose builds: the same context, Dockerfile and stage.
    for (name, service) in &theirs.services {
        assert_eq!(
            ours.services.get(name).map(|s| &s.build),
            Some(&service.build),
            "{stack}/{name}: init's [services.{name}.build] differs from config/{stack}.toml's"
        );
    }
    let diffs = differences(&ours, &theirs);
    let mut unexplained = Vec::new();
    let mut used = vec![false; allowed.len()];
    for (path, a, b) in &diffs {
        match allowed.iter().position(|Allowed(prefix, _)| {
            path == prefix || path.starts_with(&format!("{prefix}/"))
        }) {
            Some(i) => {
                used[i] = true;
                eprintln!("{stack}: {path}: init {a}, config {b} ({})", allowed[i].1);
            }
            None => unexplained.push(format!("{path}: init {a}, config/{stack}.toml {b}")),
        }
    }
    assert!(
        unexplained.is_empty(),
        "{stack}: differences without a listed reason:\n{}\n--- init wrote:\n{}",
        unexplained.join("\n"),
        translation.text
    );
    let stale: Vec<String> = allowed
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(Allowed(prefix, reason), _)| format!("{prefix} ({reason})"))
        .collect();
    assert!(
        stale.is_empty(),
        "{stack}: listed differences that no longer occur: {stale:?}"
    );
}

const DATABASE: Normalize = (
    "postgres.database",
    |ours, theirs| {
        let (Some(a), Some(b)) = (ours.postgres.as_mut(), theirs.postgres.as_ref()) else {
            return false;
        };
        let differs = a.database != b.database;
        a.database = b.database.clone();
        differs
    },
    "compose's services use Postgres's default database `postgres` (and DATABASE_NAME follows it into every task); config/voting.toml names it `votes`",
);

/// Priority of the listener rules: compose has no order between published services.
const ROUTING_ORDER: &str = "compose has no order between published services: init numbers the rules 10, 20, … after the default service";

#[test]
fn init_of_the_voting_profile_matches_config_voting_but_for_listed_reasons() {
    compare(
        &[],
        "voting",
        &[CIDR, DATABASE],
        &[
            Allowed("rule-result", "config/voting.toml routes result by `Host: result.*`, which gives it a listener of its own on its port 8081 (reachable on the ALB's name as http://<alb>:8081/); init routes it by path /result on the shared listener"),
            Allowed("listener-port-result", "same: result's own listener"),
            Allowed("rule-internal-port-result", "same: the internal-paths rule on result's own listener"),
            Allowed("sg-alb/spec/ingress", "same: the ALB admits port 8081 for result's own listener"),
            Allowed("tg-result/spec/sticky", "socket.io long polling needs stickiness: config/voting.toml knows it, compose cannot say it"),
            Allowed("tg-result-alt/spec/sticky", "same: the blue/green alternate target group"),
            Allowed("task-db-setup/spec/container/environment/DATABASE_ROLES", "compose logs every service in as the superuser; config/voting.toml gives worker `owns public` and result `reads public`, init the default (each owns a schema named after it)"),
            Allowed("scaling-vote/spec/max", "a capacity decision compose does not express: config/voting.toml lets vote grow to 6 tasks, init writes max(4, 2 × desired)"),
            Allowed("alarm-queue-votes-age", "config/voting.toml has the worker report its Redis queue `votes` to CloudWatch (`queues`); compose has no such notion: the queue's alarms"),
            Allowed("alarm-queue-votes-depth", "same: the queue's alarms"),
            Allowed("dashboard/spec/body/widgets", "same: the queue's depth / oldest-age panel (widget 20) is not on init's dashboard, so every later widget sits one place earlier there"),
        ],
    );
}

#[test]
fn init_of_the_sums_profile_matches_config_sums_but_for_listed_reasons() {
    const PUBLIC_API: &str = "compose publishes the API on :8888 for local testing, so init makes it public (path /api); config/sums.toml keeps it private, reachable only from the client";
    compare(
        &["sums"],
        "sums",
        &[CIDR],
        &[
            Allowed("taskdef-api/spec/container/environment/CRASH_ON_N", "compose turns the deliberate crash on for the local drill; config/sums.toml leaves it off"),
            Allowed("rule-api", PUBLIC_API),
            Allowed("tg-api", PUBLIC_API),
            Allowed("tg-api-alt", PUBLIC_API),
            Allowed("service-api/after", PUBLIC_API),
            Allowed("service-api/spec/target_group", PUBLIC_API),
            Allowed("sg-api/spec/ingress", "same: the API admits the load balancer besides the client"),
            Allowed("alarm-api-5xx", "a public service gets the load balancer's alarms"),
            Allowed("alarm-api-p95", "same"),
            Allowed("alarm-api-unhealthy", "same"),
            Allowed("scaling-api-requests", "a public service scales on requests per target"),
            Allowed("scaling-api-memory", "a private one on memory instead"),
            Allowed("dashboard/spec/body/widgets", "the dashboard shows a public API's requests where it shows a private one's CPU"),
            Allowed("scaling-api/spec/max", "a capacity decision compose does not express: config/sums.toml lets the API grow to 6 tasks, init writes max(4, 2 × desired)"),
            Allowed("scaling-client/spec/max", "a capacity decision compose does not express: config/sums.toml lets the client grow to 6 tasks, init writes max(4, 2 × desired)"),
        ],
    );
}

#[test]
fn init_of_the_shop_profile_matches_config_shop_but_for_listed_reasons() {
    const USES_ORDER: &str = "init lists a service's data stores in compose's depends_on order (redis, postgres), config/shop.toml postgres first: the same stores, named in the other order in the dependency alarm's text and the dependency-checks panel";
    const DEFAULT: &str = "config/shop.toml routes all three services by path and leaves `/` unmatched; init makes the first published service (users) the ALB's default, so the stack has a page at http://<alb>/";
    compare(
        &["shop"],
        "shop",
        &[CIDR],
        &[
            Allowed("listener-http/spec/default_action", DEFAULT),
            Allowed("tg-unmatched", DEFAULT),
            Allowed("rule-users", DEFAULT),
            Allowed("rule-products/spec/priority", ROUTING_ORDER),
            Allowed("rule-orders/spec/priority", ROUTING_ORDER),
            Allowed("task-db-setup/spec/container/environment/DATABASE_ROLES", "compose logs every service in as the superuser; config/shop.toml lets orders update products' schema (stock)"),
            Allowed("task-users-setup", "compose runs `migrate && seed` as one job per service; config/shop.toml has separate -migrate and -seed tasks"),
            Allowed("task-products-setup", "same"),
            Allowed("task-orders-setup", "same"),
            Allowed("task-users-migrate", "same"),
            Allowed("task-users-seed", "same"),
            Allowed("task-products-migrate", "same"),
            Allowed("task-products-seed", "same"),
            Allowed("task-orders-migrate", "same"),
            Allowed("task-orders-seed", "same"),
            Allowed("alarm-products-dependencies/spec/description", USES_ORDER),
            Allowed("alarm-orders-dependencies/spec/description", USES_ORDER),
            Allowed("dashboard/spec/body/widgets/24/properties/metrics", USES_ORDER),
            Allowed("dashboard/spec/body/widgets/25/properties/metrics", USES_ORDER),
        ],
    );
}

/// The test app of tests/fixtures/newapp (never seen by the repository's stacks).
fn newapp_config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/newapp");
    std::fs::copy(
        fixture.join("compose.yaml"),
        dir.path().join("compose.yaml"),
    )
    .unwrap();
    let out = provision_in(dir.path(), &["--stack", "newapp", "init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Wrote config/newapp.toml"), "{stdout}");
    for expected in [
        "services.api.environment.{JWT_SECRET, SENTRY_DSN}: looks like a credential",
        "services.api.environment.STRIPE_API_KEY: looks like a credential",
        "services.worker: no health check: the container check always passes (set",
        "services.api.depends_on: waits for the one-off job `migrate`: run it with `provision run migrate`",
        "services.web.volumes: not mapped",
        "services.postgres.volumes: not carried over",
        "services.worker.command: not translated",
        "services.worker.env_file: not read",
        "services.migrate: becomes [tasks.migrate]",
        "services.web.healthcheck.{interval, timeout, retries}: not translated",
        "version: obsolete",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    // Refuses to overwrite.
    let again = provision_in(dir.path(), &["--stack", "newapp", "init"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("pass --force"),
        "{}",
        text(&again.stderr)
    );
    dir
}

#[test]
fn a_new_compose_app_goes_through_init_and_an_offline_plan() {
    let dir = newapp_config_dir();
    let written = std::fs::read_to_string(dir.path().join("config/newapp.toml")).unwrap();
    // Credentials and data-store URLs never become plain environment.
    for secret in ["change-me", "notes:notes", "redis://", "postgresql://"] {
        assert!(
            !written
                .lines()
                .any(|l| !l.starts_with('#') && l.contains(secret)),
            "{secret} in:\n{written}"
        );
    }
    let config = StackConfig::load(&dir.path().join("config"), "newapp", "dev").unwrap();
    let web = &config.services["web"];
    assert!(web.public.as_ref().unwrap().default);
    assert_eq!(web.public.as_ref().unwrap().health_path, "/healthz");
    assert_eq!(web.port, 8080);
    assert_eq!(web.env["API_URL"], "http://api:5000");
    // compose's build: becomes the build table `provision push` uses.
    assert_eq!(
        (web.build.context.as_str(), web.build.dockerfile.as_str()),
        ("./web", "Dockerfile.prod")
    );
    assert_eq!(web.build.args["API_BASE"], "/api");
    assert_eq!(web.build.target, None);
    let api = &config.services["api"];
    assert_eq!((api.cpu, api.memory, api.desired), (512, 1024, 3));
    assert_eq!(api.build.context, "./api");
    assert!(
        written.contains("[services.api.build]\ncontext = \"./api\"\n"),
        "{written}"
    );
    assert_eq!(api.callers, ["web"]);
    assert_eq!(api.public.as_ref().unwrap().paths, ["/api", "/api/*"]);
    assert_eq!(api.public.as_ref().unwrap().health_path, "/api/health");
    assert!(api.uses.contains(&provisioner::config::DataStore::Postgres));
    assert!(api.uses.contains(&provisioner::config::DataStore::Redis));
    assert!(!api.env.contains_key("JWT_SECRET") && !api.env.contains_key("DATABASE_URL"));
    assert_eq!(api.env["LOG_LEVEL"], "info");
    let worker = &config.services["worker"];
    assert!(worker.public.is_none() && worker.callers.is_empty());
    assert_eq!(config.postgres.as_ref().unwrap().database, "notes");
    assert_eq!(config.postgres.as_ref().unwrap().engine_version, "16");
    assert_eq!(
        config.tasks["migrate"].command,
        ["alembic", "upgrade", "head"]
    );
    assert_eq!(config.tasks["migrate"].service, "api");
    assert!(config.tasks["db-setup"].database_admin);
    assert!(
        !config.services.contains_key("mailhog"),
        "profile dev-tools was not asked for"
    );

    // With one stack file, --stack may be left out.
    let plan = provision_in(dir.path(), &["plan", "--offline"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let plan = text(&plan.stdout);
    for resource in [
        "service-web",
        "service-api",
        "service-worker",
        "postgres",
        "redis",
        "rule-api",
        "task-migrate",
    ] {
        assert!(
            plan.contains(resource),
            "no {resource} in the plan:\n{plan}"
        );
    }
}

#[test]
fn stack_is_required_when_config_holds_several() {
    let out = provision_in(&repo_root(), &["plan", "--offline"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config holds 3 stack files: shop, sums, voting; pass --stack NAME"),
        "{stderr}"
    );
    let out = provision_in(
        &repo_root(),
        &["--region", "eu-west-1", "down", "--no-snapshot"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pass --stack NAME"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn init_refuses_what_is_not_a_compose_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = provision_in(dir.path(), &["init"]);
    assert!(
        text(&out.stderr).contains("no compose file here"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("compose.yaml"), "stack:\n  name: x\n").unwrap();
    let out = provision_in(dir.path(), &["init"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("compose.yaml has no `services:`"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("config").exists());
}

#[tokio::test]
async fn a_new_compose_app_goes_up_and_down_on_moto() {
    let dir = newapp_config_dir();
    let config_dir = dir.path().join("config");
    let config_dir = config_dir.to_str().unwrap();
    let moto = Moto::start();
    // What it will cost, before it exists (the committed price table: no AWS Price List
    // API from a test).
    let cost = |extra: &[&str]| {
        let args = [
            &[
                "--config-dir",
                config_dir,
                "--output",
                "json",
                "cost",
                "--offline",
            ][..],
            extra,
        ]
        .concat();
        moto.provision(&args).json()
    };
    let estimate = cost(&[]);
    let monthly = estimate["total"].as_f64().unwrap();
    assert!(
        monthly > 50.0 && estimate["total_at_max"].as_f64().unwrap() > monthly,
        "{estimate:#}"
    );
    let up = moto.provision(&[
        "--config-dir",
        config_dir,
        "--yes",
        "--output",
        "json",
        "up",
    ]);
    up.ok();
    assert!(
        up.json()["outcome"]["failed"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{}",
        up.stdout()
    );
    // Every public service has an address a browser opens: a URL, no Host header to fake.
    let status = moto
        .provision(&["--config-dir", config_dir, "--output", "json", "status"])
        .json();
    for public in ["web", "api"] {
        let row = status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["service"] == public)
            .unwrap_or_else(|| panic!("no {public} in status: {status:#}"));
        let url = row["url"].as_str().unwrap_or_default();
        assert!(
            url.starts_with("http://") && !url.contains(' '),
            "{public}: {url:?} is not a URL to click"
        );
    }
    // The live stack costs what the estimate said, but for the Fargate tasks: until the
    // first `push` and `deploy`, the services wait at 0 tasks (`awaiting_release`).
    let live = cost(&["--live"]);
    let lines_but_fargate = |estimate: &Value| -> Vec<Value> {
        estimate["estimate"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| {
                !line["item"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Fargate")
            })
            .cloned()
            .collect()
    };
    assert!(lines_but_fargate(&estimate).len() >= 8, "{estimate:#}");
    assert_eq!(lines_but_fargate(&live), lines_but_fargate(&estimate));
    assert!(live["total"].as_f64().unwrap() < monthly, "{live:#}");
    let down = moto.provision(&[
        "--config-dir",
        config_dir,
        "--yes",
        "--output",
        "json",
        "down",
        "--no-snapshot",
    ]);
    // moto never finishes deleting an ElastiCache replication group and has no
    // DeleteCacheSubnetGroup (tests/moto.rs, voting_down_reports_what_it_could_not_remove):
    // those and the network under them are all that may be left.
    let leftovers: std::collections::BTreeSet<String> = down.json()["details"]["leftovers"]
        .as_array()
        .unwrap_or_else(|| panic!("no leftovers list: {}", down.stdout()))
        .iter()
        .map(|l| l["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    let moto_gap: std::collections::BTreeSet<String> = [
        "redis",
        "redis-subnets",
        "subnet-private-a",
        "subnet-private-b",
        "vpc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(
        leftovers.is_subset(&moto_gap),
        "unexpected leftovers: {leftovers:?}"
    );
}

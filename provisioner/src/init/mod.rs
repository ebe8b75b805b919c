//! `provision init`: a stack file from a Compose file. Pure: the compose text and the
//! options go in, the stack file's text and the list of what could not be translated
//! come out (the CLI writes the file and prints the list).
//!
//! How compose maps onto the stack schema ([`crate::config`]):
//! - a service whose image is Postgres or Redis becomes the stack's RDS instance or
//!   ElastiCache group; the services whose environment points at it `use` it, and get
//!   its address from the stack (REDIS_URL as a secret; Postgres as DATABASE_HOST/… with
//!   the role's password in Secrets Manager), never as plain environment;
//! - a one-off job (`restart: "no"`, or awaited with `service_completed_successfully`)
//!   becomes a `[tasks.<name>]` run with the image of the service built the same way;
//! - every other service becomes a `[services.<name>]`: its first port, its health check
//!   as the container's liveness check, its environment (credentials become secrets),
//!   `depends_on` and URLs naming another service as that service's `callers`, and a
//!   port published beyond loopback makes it public on the stack's load balancer;
//! - everything else is listed, key by key, as not translated.

pub mod cli;
pub mod compose;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::{Mapping, Value};

use crate::config::{BuildConfig, DataStore};
use compose::{interpolate, key_values, scalar, words, ComposeFile};

/// Bad input or a result that would not load; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{file} {message}")]
    BadCompose { file: String, message: String },
    #[error("{0}")]
    Nothing(String),
    #[error("the stack file init wrote does not load ({0}); pass a shorter --stack, rename the offending compose service, or report this as a bug")]
    Invalid(String),
}

/// What to translate.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// How the compose file is named in messages and comments.
    pub source: String,
    /// Compose profiles to take: their services and what those depend on. Empty: the
    /// services without a profile.
    pub profiles: Vec<String>,
    /// The stack's name; default: the only profile, else the compose `name:`, else
    /// `app`.
    pub stack: Option<String>,
}

/// One thing the stack file does not carry over, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    /// Where in the compose file: `services.web.volumes`, `volumes`, ….
    pub at: String,
    pub text: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.text)
    }
}

/// init's result: the stack file and what it could not translate.
#[derive(Debug, Clone)]
pub struct Translation {
    pub stack: String,
    /// The stack file, comments included.
    pub text: String,
    pub notes: Vec<Note>,
}

/// The longest service name the stack schema accepts (config::validate_name).
const NAME_MAX: usize = 12;
/// The longest task name it accepts.
const TASK_NAME_MAX: usize = 24;

/// A data-store service of the compose file.
#[derive(Debug, Clone)]
struct Store {
    kind: DataStore,
    image: String,
    database: Option<String>,
}

/// A `[services.<name>]` being drafted.
#[derive(Debug, Clone, Default)]
struct ServiceDraft {
    name: String,
    compose: String,
    build: Option<String>,
    /// `[services.<name>.build]` from compose's `build:`, for `provision push`.
    build_settings: Option<BuildConfig>,
    image: Option<String>,
    port: u16,
    cpu: i32,
    memory: i32,
    replicas: Option<i32>,
    health: Vec<String>,
    health_comment: Option<String>,
    health_path: Option<String>,
    public: bool,
    callers: BTreeSet<String>,
    uses: BTreeSet<DataStore>,
    env: Vec<(String, String)>,
    secrets: Vec<String>,
    notes: Vec<Note>,
}

/// A `[tasks.<name>]` being drafted.
#[derive(Debug, Clone)]
struct TaskDraft {
    name: String,
    compose: String,
    service: String,
    command: Vec<String>,
    database_admin: bool,
    comment: Option<String>,
}

/// Everything the renderer writes.
#[derive(Debug, Default)]
struct Draft {
    stack: String,
    source: String,
    profiles: Vec<String>,
    postgres: Option<(String, String)>,
    redis: Option<String>,
    services: Vec<ServiceDraft>,
    tasks: Vec<TaskDraft>,
    notes: Vec<Note>,
}

impl Draft {
    /// Every note, in file order, with neighbours that say the same of keys of one
    /// parent merged (`services.web.{tmpfs, cap_drop}: …`).
    fn all_notes(&self) -> Vec<Note> {
        let all = self
            .notes
            .iter()
            .chain(self.services.iter().flat_map(|s| &s.notes));
        let mut merged: Vec<(String, Vec<String>, String)> = Vec::new();
        for n in all {
            let (parent, leaf) = n.at.rsplit_once('.').unwrap_or(("", &n.at));
            match merged.last_mut() {
                Some((p, leaves, text)) if p == parent && *text == n.text && !parent.is_empty() => {
                    leaves.push(leaf.to_owned())
                }
                _ => merged.push((parent.to_owned(), vec![leaf.to_owned()], n.text.clone())),
            }
        }
        merged
            .into_iter()
            .map(|(parent, leaves, text)| Note {
                at: match leaves.as_slice() {
                    [one] if parent.is_empty() => one.clone(),
                    [one] => format!("{parent}.{one}"),
                    many => format!("{parent}.{{{}}}", many.join(", ")),
                },
                text,
            })
            .collect()
    }
}

/// What a compose service is to the stack.
enum Role {
    Store(Store),
    Job,
    Interactive,
    App,
}

/// Translates a compose file into a stack file.
pub fn translate(compose_text: &str, options: &InitOptions) -> Result<Translation, InitError> {
    let file = ComposeFile::parse(&options.source, compose_text)?;
    let selected = select(&file, &options.profiles)?;
    let stack = match &options.stack {
        Some(stack) => stack.clone(),
        None => match options.profiles.as_slice() {
            [only] => sanitize(only, NAME_MAX),
            _ => file
                .name
                .as_deref()
                .map(|n| sanitize(n, NAME_MAX))
                .unwrap_or_else(|| "app".into()),
        },
    };
    let mut draft = Draft {
        stack: stack.clone(),
        source: options.source.clone(),
        profiles: options.profiles.clone(),
        ..Draft::default()
    };
    for key in &file.other_top_level {
        draft.notes.push(note(
            key,
            match key.as_str() {
                "version" => "obsolete in Compose; ignored",
                "secrets" | "configs" => "not translated: put secret values in Secrets Manager and name their ARNs in `secrets`",
                _ => "not translated",
            },
        ));
    }
    let prefixes: Vec<String> = std::iter::once(stack.clone())
        .chain(options.profiles.iter().cloned())
        .map(|p| format!("{p}-"))
        .collect();
    let awaited_jobs: BTreeSet<String> = selected
        .iter()
        .flat_map(|(_, s)| compose::depends_on(s))
        .filter(|(_, condition)| condition == "service_completed_successfully")
        .map(|(name, _)| name)
        .collect();
    let roles: Vec<(String, Role)> = selected
        .iter()
        .map(|(name, service)| (name.clone(), role(name, service, &awaited_jobs)))
        .collect();
    // Names in the stack file, by compose name.
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for (compose_name, role) in &roles {
        // Task names may be longer than service names (config::validate).
        let max = if matches!(role, Role::Job) {
            TASK_NAME_MAX
        } else {
            NAME_MAX
        };
        let mut name = compose_name.to_ascii_lowercase();
        for prefix in &prefixes {
            if let Some(short) = name.strip_prefix(prefix.as_str()) {
                if !short.is_empty() {
                    name = short.to_owned();
                    break;
                }
            }
        }
        let mut name = sanitize(&name, max);
        if matches!(name.as_str(), "debug" | "internal" | "db-setup") || name.ends_with("-alt") {
            name = sanitize(&format!("{name}-svc"), max);
        }
        let mut unique = name.clone();
        let mut n = 2;
        while !taken.insert(unique.clone()) {
            unique = sanitize(&format!("{}{n}", &name[..name.len().min(max - 1)]), max);
            n += 1;
        }
        renamed.insert(compose_name.clone(), unique);
    }
    let stores: BTreeMap<String, Store> = roles
        .iter()
        .filter_map(|(name, role)| match role {
            Role::Store(store) => Some((name.clone(), store.clone())),
            _ => None,
        })
        .collect();
    let apps: BTreeSet<String> = roles
        .iter()
        .filter(|(_, role)| matches!(role, Role::App))
        .map(|(name, _)| name.clone())
        .collect();
    if apps.is_empty() {
        return Err(InitError::Nothing(format!(
            "{} has no application service among those selected ({}); pick the profile that holds your app with --compose-profile",
            options.source,
            selected.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    data_stores(&mut draft, &selected, &stores);

    for ((name, service), (_, role)) in selected.iter().zip(&roles) {
        match role {
            Role::App => {
                let ctx = Context {
                    renamed: &renamed,
                    stores: &stores,
                    apps: &apps,
                };
                let app = app_service(name, service, &ctx);
                draft.services.push(app);
            }
            Role::Interactive => draft.notes.push(note(
                &format!("services.{name}"),
                "an interactive container (stdin_open/tty): not a service; `provision debug` opens a shell next to the data tier",
            )),
            Role::Store(_) | Role::Job => {}
        }
    }
    // Calls between services: depends_on and URLs, recorded on the callee.
    let edges: Vec<(String, String)> = draft
        .services
        .iter()
        .flat_map(|s| {
            calls(&selected, &s.compose, &apps)
                .into_iter()
                .map(|callee| (renamed[&callee].clone(), s.name.clone()))
        })
        .collect();
    for (callee, caller) in edges {
        if callee != caller {
            if let Some(service) = draft.services.iter_mut().find(|s| s.name == callee) {
                service.callers.insert(caller);
            }
        }
    }
    for ((name, service), (_, role)) in selected.iter().zip(&roles) {
        if matches!(role, Role::Job) {
            job(&mut draft, name, service, &renamed);
        }
    }
    database_setup(&mut draft);
    let text = render::stack_file(&draft);
    let notes = draft.all_notes();
    crate::config::StackConfig::parse(std::path::Path::new("init.toml"), &text, "dev")
        .map_err(|err| InitError::Invalid(err.to_string()))?;
    Ok(Translation {
        stack: draft.stack,
        text,
        notes,
    })
}

fn note(at: &str, text: &str) -> Note {
    Note {
        at: at.to_owned(),
        text: text.to_owned(),
    }
}

/// A name the stack schema accepts: lowercase letters, digits and `-`, starting with a
/// letter, at most `max` characters.
fn sanitize(name: &str, max: usize) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let mut out = out.trim_matches('-').to_owned();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert(0, 's');
    }
    out.truncate(max);
    out.trim_end_matches('-').to_owned()
}

/// The services to translate: those of the chosen profiles (or, with none chosen, those
/// without a profile) and, transitively, what they depend on.
fn select(file: &ComposeFile, profiles: &[String]) -> Result<Vec<(String, Mapping)>, InitError> {
    let profiles_of =
        |service: &Mapping| service.get("profiles").and_then(words).unwrap_or_default();
    let known: BTreeSet<String> = file
        .services
        .iter()
        .flat_map(|(_, s)| profiles_of(s))
        .collect();
    if let Some(unknown) = profiles.iter().find(|p| !known.contains(*p)) {
        return Err(InitError::Nothing(format!(
            "{} has no profile `{unknown}`; its profiles: {}",
            "the compose file",
            if known.is_empty() {
                "none (leave out --compose-profile)".to_owned()
            } else {
                known.into_iter().collect::<Vec<_>>().join(", ")
            }
        )));
    }
    let mut chosen: BTreeSet<String> = file
        .services
        .iter()
        .filter(|(_, s)| {
            let own = profiles_of(s);
            if profiles.is_empty() {
                own.is_empty()
            } else {
                own.iter().any(|p| profiles.contains(p))
            }
        })
        .map(|(n, _)| n.clone())
        .collect();
    loop {
        let more: Vec<String> = file
            .services
            .iter()
            .filter(|(n, _)| chosen.contains(n))
            .flat_map(|(_, s)| compose::depends_on(s).into_iter().map(|(d, _)| d))
            .filter(|d| !chosen.contains(d) && file.services.iter().any(|(n, _)| n == d))
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    if chosen.is_empty() {
        return Err(InitError::Nothing(
            "no service is selected: every service has a profile; pass --compose-profile NAME"
                .into(),
        ));
    }
    Ok(file
        .services
        .iter()
        .filter(|(n, _)| chosen.contains(n))
        .cloned()
        .collect())
}

/// The image's name without registry, tag or digest (`postgres` of `postgres:15-alpine`).
fn image_name(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last).to_ascii_lowercase()
}

fn role(name: &str, service: &Mapping, awaited_jobs: &BTreeSet<String>) -> Role {
    let image = service
        .get("image")
        .and_then(scalar)
        .map(|i| interpolate(&i).0);
    if let Some(image) = &image {
        if !service.contains_key("build") {
            let kind = match image_name(image).as_str() {
                "postgres" | "postgis" => Some(DataStore::Postgres),
                "redis" | "valkey" | "redis-stack-server" => Some(DataStore::Redis),
                _ => None,
            };
            if let Some(kind) = kind {
                let database = compose::environment(service)
                    .into_iter()
                    .find(|(k, _)| k == "POSTGRES_DB")
                    .and_then(|(_, v)| v)
                    .map(|v| interpolate(&v).0);
                return Role::Store(Store {
                    kind,
                    image: image.clone(),
                    database,
                });
            }
        }
    }
    let flag = |key: &str| service.get(key).and_then(Value::as_bool).unwrap_or(false);
    let restart = service.get("restart").and_then(scalar).unwrap_or_default();
    let has_ports = !compose::ports(service).0.is_empty();
    if (flag("stdin_open") || flag("tty")) && !has_ports {
        return Role::Interactive;
    }
    if awaited_jobs.contains(name)
        || ((restart == "no" || restart.starts_with("on-failure")) && !has_ports)
    {
        return Role::Job;
    }
    Role::App
}

/// `[postgres]` / `[redis]` from the data-store services.
fn data_stores(
    draft: &mut Draft,
    selected: &[(String, Mapping)],
    stores: &BTreeMap<String, Store>,
) {
    for (name, service) in selected {
        let Some(store) = stores.get(name) else {
            continue;
        };
        let at = format!("services.{name}");
        let tag = store
            .image
            .split('@')
            .next()
            .unwrap_or("")
            .rsplit_once(':')
            .map(|(_, t)| t.to_owned());
        let major = tag
            .as_deref()
            .and_then(|t| t.split(['.', '-']).next())
            .filter(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()));
        match store.kind {
            DataStore::Postgres => {
                if draft.postgres.is_some() {
                    draft.notes.push(note(&at, "a second Postgres: the stack has one RDS instance, shared by every service that uses Postgres (each with its own role and schema)"));
                    continue;
                }
                let version = match major {
                    Some(m) => m.to_owned(),
                    None => {
                        draft.notes.push(note(
                            &at,
                            &format!(
                                "image `{}` names no major version: RDS Postgres 15 chosen",
                                store.image
                            ),
                        ));
                        "15".to_owned()
                    }
                };
                let database = store
                    .database
                    .clone()
                    .or_else(|| database_in_urls(selected, name))
                    .unwrap_or_else(|| draft.stack.clone())
                    .replace('-', "_");
                draft.postgres = Some((version, database));
                draft.notes.push(note(&at, &format!("becomes RDS Postgres ([postgres]): the master password is managed by RDS in Secrets Manager, every service that uses it gets a role of its own; {} is not used", "POSTGRES_USER/POSTGRES_PASSWORD")));
            }
            DataStore::Redis => {
                if draft.redis.is_some() {
                    draft.notes.push(note(&at, "a second Redis: the stack has one ElastiCache group, shared by every service that uses Redis"));
                    continue;
                }
                let version = match major {
                    Some("6") => "6.2",
                    Some("7") | None => "7.1",
                    Some(other) => {
                        draft.notes.push(note(&at, &format!("Redis {other}: ElastiCache Redis 7.1 chosen (the newest the stack schema knows)")));
                        "7.1"
                    }
                };
                if image_name(&store.image) == "valkey" {
                    draft.notes.push(note(&at, "Valkey: the stack runs ElastiCache Redis (OSS), which Valkey is compatible with"));
                }
                draft.redis = Some(version.to_owned());
                draft.notes.push(note(&at, "becomes ElastiCache Redis ([redis]) with TLS and an AUTH token; services that use it get REDIS_URL as a secret"));
            }
        }
        for key in service.keys().filter_map(Value::as_str) {
            let text = match key {
                "image" | "environment" | "profiles" | "networks" | "healthcheck" => continue,
                "volumes" => "not carried over: the data lives in the managed store (snapshots/backups); move existing data with a dump and restore",
                "ports" => "not published: the data tier is reachable only from the stack's services (`provision tunnel` for a local client)",
                "command" => "server options not translated: set them in an ElastiCache/RDS parameter group by hand",
                "restart" | "read_only" | "tmpfs" | "deploy" | "cap_drop" | "security_opt" => "not needed: the managed service runs the server",
                _ => "not translated",
            };
            draft.notes.push(note(&format!("{at}.{key}"), text));
        }
    }
}

/// The database name in the path of a URL that names the Postgres service `host`.
fn database_in_urls(selected: &[(String, Mapping)], host: &str) -> Option<String> {
    selected.iter().find_map(|(_, service)| {
        compose::environment(service)
            .into_iter()
            .find_map(|(_, value)| {
                let url = compose::url(&interpolate(&value?).0)?;
                if url.host != host {
                    return None;
                }
                let path = url.rest.trim_start_matches('/');
                let name = path.split(['?', '/', '#']).next()?;
                (!name.is_empty()).then(|| name.to_owned())
            })
    })
}

/// What an app service's translation needs to know about the others.
struct Context<'a> {
    renamed: &'a BTreeMap<String, String>,
    stores: &'a BTreeMap<String, Store>,
    apps: &'a BTreeSet<String>,
}

/// Compose services `name` calls: its `depends_on` and the hosts of its URLs, among `apps`.
fn calls(selected: &[(String, Mapping)], name: &str, apps: &BTreeSet<String>) -> BTreeSet<String> {
    let Some((_, service)) = selected.iter().find(|(n, _)| n == name) else {
        return BTreeSet::new();
    };
    let mut out: BTreeSet<String> = compose::depends_on(service)
        .into_iter()
        .map(|(d, _)| d)
        .filter(|d| apps.contains(d))
        .collect();
    for (_, value) in compose::environment(service) {
        if let Some(url) = value.and_then(|v| compose::url(&interpolate(&v).0)) {
            if apps.contains(&url.host) {
                out.insert(url.host);
            }
        }
    }
    out.remove(name);
    out
}

/// Keys an app service may have that need no note: translated, or covered by the stack.
const APP_QUIET: [&str; 10] = [
    "build",
    "image",
    "environment",
    "ports",
    "expose",
    "healthcheck",
    "depends_on",
    "profiles",
    "networks",
    "container_name",
];

fn app_service(name: &str, service: &Mapping, ctx: &Context) -> ServiceDraft {
    let at = format!("services.{name}");
    let mut draft = ServiceDraft {
        name: ctx.renamed[name].clone(),
        compose: name.to_owned(),
        cpu: 256,
        memory: 512,
        ..ServiceDraft::default()
    };
    let mut notes = Vec::new();
    if draft.name != name {
        notes.push(note(&at, &format!("named `{}` in the stack (names are at most {NAME_MAX} lowercase letters, digits and `-`; the stack's name is not repeated)", draft.name)));
    }
    // Build and image.
    draft.build = build_description(service);
    draft.build_settings = build_settings(service, &at, &mut notes);
    draft.image = service
        .get("image")
        .and_then(scalar)
        .map(|i| interpolate(&i).0);
    if draft.build.is_none() {
        if let Some(image) = &draft.image {
            notes.push(note(&format!("{at}.image"), &format!("`{image}` is not built here: push it to the stack's repository `{}` (ECS runs images from the stack's own ECR repositories)", draft.name)));
        }
    }
    // Port and public access.
    let (ports, unreadable) = compose::ports(service);
    for entry in unreadable {
        notes.push(note(
            &format!("{at}.ports"),
            &format!("`{entry}` not understood; set `port` by hand"),
        ));
    }
    let env = compose::environment(service);
    let env_port = env
        .iter()
        .find(|(k, _)| k == "PORT")
        .and_then(|(_, v)| v.as_deref().map(|v| interpolate(v).0))
        .and_then(|v| v.parse::<u16>().ok());
    let tcp: Vec<&compose::Port> = ports.iter().filter(|p| p.protocol == "tcp").collect();
    for port in ports.iter().filter(|p| p.protocol != "tcp") {
        notes.push(note(
            &format!("{at}.ports"),
            &format!(
                "{}/{}: the load balancer and Service Connect carry TCP (HTTP) only",
                port.container, port.protocol
            ),
        ));
    }
    draft.port = match (tcp.first(), env_port) {
        (Some(port), _) => port.container,
        (None, Some(port)) => port,
        (None, None) => {
            notes.push(note(&at, "no port (ports, expose or PORT): 8080 assumed; the stack gives every service PORT, set `port` to what it listens on"));
            8080
        }
    };
    for extra in tcp.iter().skip(1).filter(|p| p.container != draft.port) {
        notes.push(note(
            &format!("{at}.ports"),
            &format!(
                "container port {} is not reachable: a service gets one port (`port = {}`)",
                extra.container, draft.port
            ),
        ));
    }
    draft.public = tcp.iter().any(|p| p.public && p.published);
    if !draft.public && tcp.iter().any(|p| p.published) {
        notes.push(note(&format!("{at}.ports"), "published on loopback only: kept private (reachable from the stack's services that call it)"));
    }
    // Health check.
    health(service, &mut draft, &mut notes, &at);
    // Size.
    size(service, &mut draft, &mut notes, &at);
    // Environment.
    environment_of(name, &env, &mut draft, &mut notes, &at, ctx);
    for (dependency, condition) in compose::depends_on(service) {
        if let Some(store) = ctx.stores.get(&dependency) {
            draft.uses.insert(store.kind);
        } else if !ctx.apps.contains(&dependency) {
            let text = if condition == "service_completed_successfully" {
                let task = ctx.renamed.get(&dependency).unwrap_or(&dependency);
                format!("waits for the one-off job `{dependency}`: run it with `provision run {task}` before the service's first deploy")
            } else {
                format!("depends on `{dependency}`, which is not a service of the stack")
            };
            notes.push(note(&format!("{at}.depends_on"), &text));
        }
    }
    // The rest of the service's keys.
    for key in service.keys().filter_map(Value::as_str) {
        if APP_QUIET.contains(&key) {
            continue;
        }
        let text = match key {
            "volumes" => "not mapped: Fargate tasks here have no persistent volume; keep state in Postgres, Redis or S3 (a bind mount's files belong in the image)",
            "command" | "entrypoint" => "not translated: a service runs its image's ENTRYPOINT/CMD; set it in the Dockerfile",
            "restart" => "not needed: ECS restarts failed tasks and replaces unhealthy ones",
            "read_only" => "covered: the container's root filesystem is read-only unless the service has ECS Exec (`exec`)",
            "tmpfs" | "cap_drop" | "security_opt" | "user" | "init" => "not translated: the stack runs every container as a non-root user with an init process",
            "deploy" => continue,
            "env_file" => "not read: copy the variables into [services.<name>.env] (or, for credentials, secrets)",
            _ => "not translated",
        };
        notes.push(note(&format!("{at}.{key}"), text));
    }
    draft.notes = notes;
    draft
}

/// `build:` as `[services.<name>.build]` (context, dockerfile, target, args; paths as
/// compose has them, relative to the compose file's directory), or `None` without one.
/// Keys `provision push` has no use for, and values the stack schema refuses, are noted.
fn build_settings(service: &Mapping, at: &str, notes: &mut Vec<Note>) -> Option<BuildConfig> {
    let mut settings = BuildConfig::default();
    match service.get("build")? {
        Value::Mapping(build) => {
            let get = |k: &str| build.get(k).and_then(scalar).map(|v| interpolate(&v).0);
            if let Some(context) = get("context") {
                settings.context = context;
            }
            if let Some(dockerfile) = get("dockerfile") {
                settings.dockerfile = dockerfile;
            }
            settings.target = get("target");
            for (name, value) in key_values(build, "args") {
                let automatic = crate::config::build::AUTOMATIC_BUILD_ARGS.contains(&name.as_str());
                match value {
                    Some(value) if !automatic => {
                        settings.args.insert(name, interpolate(&value).0);
                    }
                    Some(_) => notes.push(note(&format!("{at}.build.args.{name}"), "not translated: `provision push` sets it itself (VERSION: the pushed tag, REVISION: the git commit)")),
                    None => notes.push(note(&format!("{at}.build.args.{name}"), "not translated: it has no value here (compose takes it from the shell); add it to `args` of the build table")),
                }
            }
            for key in build.keys().filter_map(Value::as_str) {
                if !matches!(key, "context" | "target" | "dockerfile" | "args") {
                    notes.push(note(
                        &format!("{at}.build.{key}"),
                        "not translated: `provision push` builds with the context, dockerfile, target and args only",
                    ));
                }
            }
        }
        other => settings.context = interpolate(&scalar(other)?).0,
    }
    let name = at.strip_prefix("services.").unwrap_or(at);
    match settings.validate(name) {
        Ok(()) => Some(settings),
        Err(problem) => {
            notes.push(note(
                &format!("{at}.build"),
                &format!("not translated: {problem}"),
            ));
            None
        }
    }
}

/// `build:` as a comment names it (`context ".", target "vote"`), interpolated; services
/// built the same way share an image.
fn build_description(service: &Mapping) -> Option<String> {
    match service.get("build")? {
        Value::Mapping(build) => {
            let get = |k: &str| build.get(k).and_then(scalar).map(|v| interpolate(&v).0);
            let mut parts = vec![format!(
                "context \"{}\"",
                get("context").unwrap_or_else(|| ".".into())
            )];
            if let Some(target) = get("target") {
                parts.push(format!("target \"{target}\""));
            }
            if let Some(dockerfile) = get("dockerfile") {
                parts.push(format!("dockerfile \"{dockerfile}\""));
            }
            Some(parts.join(", "))
        }
        other => scalar(other).map(|c| format!("context \"{}\"", interpolate(&c).0)),
    }
}

/// The health check as the container's liveness check, and the load balancer's path.
fn health(service: &Mapping, draft: &mut ServiceDraft, notes: &mut Vec<Note>, at: &str) {
    let check = service.get("healthcheck").and_then(Value::as_mapping);
    let disabled = check
        .and_then(|c| c.get("disable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let test = check.and_then(|c| c.get("test")).and_then(words);
    let test = match test {
        Some(t) if !disabled && t.first().map(String::as_str) != Some("NONE") && !t.is_empty() => t,
        _ => {
            draft.health = vec!["CMD-SHELL".into(), "exit 0".into()];
            draft.health_comment = Some("No health check in compose: this one always passes (ECS then judges the task by its process only). Write a real liveness check.".into());
            draft.health_path = Some("/".into());
            notes.push(note(at, if draft.public {
                "no health check: the container check always passes and the load balancer asks `/` (set `health_command` and `public.health_path`)"
            } else {
                "no health check: the container check always passes (set `health_command`)"
            }));
            return;
        }
    };
    let mut command = match test.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") => test.clone(),
        _ if test.len() == 1 => vec!["CMD-SHELL".into(), test[0].clone()],
        _ => {
            let mut c = vec!["CMD".to_owned()];
            c.extend(test.iter().cloned());
            c
        }
    };
    let mut readiness = false;
    if let Some(i) = command
        .windows(2)
        .position(|w| w[0] == "--probe" && w[1] == "ready")
    {
        command.remove(i + 1);
        readiness = true;
        draft.health_comment = Some("Liveness (`--probe`): compose checks readiness (`--probe ready`) to order start-up, but ECS replaces a container whose check fails, so here it must be liveness; the load balancer asks /ready.".into());
    } else if command.iter().any(|w| w.contains("/ready")) {
        for word in &mut command {
            *word = word.replace("/ready", "/health");
        }
        readiness = true;
        draft.health_comment = Some("Liveness: compose asked /ready; ECS replaces a container whose check fails, so it asks /health here (the app must serve it); the load balancer asks /ready.".into());
        notes.push(note(&format!("{at}.healthcheck.test"), "asked /ready (readiness): the container check asks /health instead, the load balancer /ready"));
    }
    if !readiness {
        let path = command.iter().find_map(|word| {
            word.split_whitespace()
                .find_map(|w| compose::url(w.trim_matches(['"', '\''])))
                .map(|u| u.rest.split(['?', '#']).next().unwrap_or("").to_owned())
        });
        draft.health_path = Some(match path {
            Some(p) if p.starts_with('/') => p,
            _ => {
                notes.push(note(
                    &format!("{at}.healthcheck.test"),
                    "names no HTTP path: the load balancer asks `/` (set `public.health_path`)",
                ));
                "/".to_owned()
            }
        });
    }
    draft.health = command;
    for key in check
        .into_iter()
        .flat_map(|c| c.keys())
        .filter_map(Value::as_str)
    {
        if matches!(
            key,
            "interval" | "timeout" | "retries" | "start_period" | "start_interval"
        ) {
            notes.push(note(&format!("{at}.healthcheck.{key}"), "not translated: ECS's container check uses its own timing (30 s interval, 5 s timeout, 3 retries)"));
        }
    }
}

/// Fargate size from `deploy.resources.reservations`, replicas from `deploy.replicas`.
fn size(service: &Mapping, draft: &mut ServiceDraft, notes: &mut Vec<Note>, at: &str) {
    let Some(deploy) = service.get("deploy").and_then(Value::as_mapping) else {
        return;
    };
    let resources = deploy.get("resources");
    let read = |kind: &str, key: &str| {
        resources
            .and_then(|r| r.get(kind))
            .and_then(|r| r.get(key))
            .and_then(scalar)
    };
    let cpus = |kind| {
        read(kind, "cpus")
            .and_then(|c| c.parse::<f64>().ok())
            .map(|c| (c * 1024.0).ceil() as i32)
    };
    let mib = |kind| read(kind, "memory").and_then(|m| memory_mib(&m));
    let (cpu, memory) = fargate_size(
        cpus("reservations").unwrap_or(256),
        mib("reservations").unwrap_or(512),
    );
    draft.cpu = cpu;
    draft.memory = memory;
    if cpus("limits").is_some_and(|c| c > cpu) || mib("limits").is_some_and(|m| m > memory) {
        notes.push(note(&format!("{at}.deploy.resources.limits"), &format!("Fargate sizes a task by what it reserves: {cpu} CPU units / {memory} MiB here; raise `cpu`/`memory` if it needs its limit")));
    }
    if let Some(replicas) = deploy.get("replicas").and_then(Value::as_i64) {
        draft.replicas = Some(replicas.clamp(1, 100) as i32);
    }
    for key in deploy.keys().filter_map(Value::as_str) {
        if !matches!(key, "resources" | "replicas") {
            notes.push(note(
                &format!("{at}.deploy.{key}"),
                "not translated: rollouts are `[services.<name>.deploy]`, placement is Fargate's",
            ));
        }
    }
}

/// `128M`, `1g`, `512m`, `1073741824` → MiB (rounded up).
fn memory_mib(text: &str) -> Option<i32> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (number, factor) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1.0 / 1024.0),
        'm' => (&t[..t.len() - 1], 1.0),
        'g' => (&t[..t.len() - 1], 1024.0),
        _ => (t, 1.0 / (1024.0 * 1024.0)),
    };
    Some((number.parse::<f64>().ok()? * factor).ceil() as i32)
}

/// The smallest Fargate CPU/memory combination with at least `cpu` units and `memory` MiB.
fn fargate_size(cpu: i32, memory: i32) -> (i32, i32) {
    let sizes: [(i32, &[i32]); 5] = [
        (256, &[512, 1024, 2048]),
        (512, &[1024, 2048, 3072, 4096]),
        (1024, &[2048, 3072, 4096, 5120, 6144, 7168, 8192]),
        (2048, &[4096, 6144, 8192, 10240, 12288, 14336, 16384]),
        (4096, &[8192, 12288, 16384, 20480, 24576, 30720]),
    ];
    for (units, memories) in sizes {
        if units >= cpu {
            if let Some(m) = memories.iter().find(|m| **m >= memory) {
                return (units, *m);
            }
        }
    }
    (4096, 30720)
}

/// Whether a variable looks like a credential by its name.
fn credential_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "DSN",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "PRIVATE",
        "CREDENTIAL",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
        || upper.ends_with("_KEY")
        || upper == "KEY"
}

/// URL schemes of databases, caches and brokers: their URLs carry credentials.
const DATA_SCHEMES: [&str; 12] = [
    "postgres",
    "postgresql",
    "redis",
    "rediss",
    "mysql",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "amqp",
    "amqps",
    "memcached",
    "valkey",
];

fn environment_of(
    name: &str,
    env: &[(String, Option<String>)],
    draft: &mut ServiceDraft,
    notes: &mut Vec<Note>,
    at: &str,
    ctx: &Context,
) {
    let at = format!("{at}.environment");
    for (key, value) in env {
        let Some(value) = value else {
            notes.push(note(&format!("{at}.{key}"), "takes its value from the shell: not translated; add it to [services.<name>.env] (or secrets)"));
            continue;
        };
        let (value, missing) = interpolate(value);
        let url = compose::url(&value);
        if let Some(store) = url.as_ref().and_then(|u| ctx.stores.get(&u.host)) {
            draft.uses.insert(store.kind);
            let text = match (store.kind, key.as_str()) {
                (DataStore::Redis, "REDIS_URL") => {
                    let db = url.as_ref().map(|u| u.rest.trim_start_matches('/').to_owned()).unwrap_or_default();
                    if db.is_empty() || db == "0" {
                        continue;
                    }
                    format!("Redis database {db}: the stack's REDIS_URL (a secret, TLS with AUTH token) names database 0; select {db} in the app if it matters")
                }
                (DataStore::Redis, _) => "the stack gives the service REDIS_URL (a secret, TLS with AUTH token); it sets no other name: read REDIS_URL in the app".to_owned(),
                (DataStore::Postgres, _) => "the stack gives the service DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER (a role of its own), DATABASE_SSLMODE=require and DATABASE_PASSWORD_SECRET (the Secrets Manager secret with the role's password), not a URL with the password in it".to_owned(),
            };
            notes.push(note(&format!("{at}.{key}"), &text));
            continue;
        }
        if key == "PORT" {
            if value != draft.port.to_string() {
                notes.push(note(
                    &format!("{at}.PORT"),
                    &format!(
                        "the stack sets PORT = {} (the service's `port`)",
                        draft.port
                    ),
                ));
            }
            continue;
        }
        if key == "LOG_FORMAT" {
            if value != "json" {
                notes.push(note(
                    &format!("{at}.LOG_FORMAT"),
                    "the stack sets LOG_FORMAT = json (CloudWatch Logs)",
                ));
            }
            continue;
        }
        let secret_url = url
            .as_ref()
            .is_some_and(|u| u.password || DATA_SCHEMES.contains(&u.scheme.as_str()));
        if credential_name(key) || secret_url {
            draft.secrets.push(key.clone());
            notes.push(note(&format!("{at}.{key}"), "looks like a credential: not written as plain env; create a Secrets Manager secret and name its ARN in the service's `secrets` (commented in the file)"));
            continue;
        }
        for variable in &missing {
            notes.push(note(&format!("{at}.{key}"), &format!("`${{{variable}}}` has no default in the compose file: left empty, set the value")));
        }
        let mut value = value;
        if let Some(u) = &url {
            if let Some(callee) = ctx
                .renamed
                .get(&u.host)
                .filter(|_| ctx.apps.contains(&u.host))
            {
                if callee != &u.host {
                    value = value.replacen(&format!("://{}", u.host), &format!("://{callee}"), 1);
                }
            } else if ctx.renamed.contains_key(&u.host) && u.host != name {
                notes.push(note(
                    &format!("{at}.{key}"),
                    &format!("names `{}`, which is not a service of the stack", u.host),
                ));
            }
        }
        draft.env.push((key.clone(), value));
    }
}

/// A one-off job as a `[tasks.<name>]` with the image of the service built the same way.
fn job(draft: &mut Draft, name: &str, service: &Mapping, renamed: &BTreeMap<String, String>) {
    let at = format!("services.{name}");
    let same_build = |other: &ServiceDraft| {
        let ours = build_description(service);
        let image = service
            .get("image")
            .and_then(scalar)
            .map(|i| interpolate(&i).0);
        (ours.is_some() && ours == other.build) || (image.is_some() && image == other.image)
    };
    let Some(owner) = draft
        .services
        .iter()
        .find(|s| same_build(s))
        .map(|s| s.name.clone())
    else {
        draft.notes.push(note(&at, "a one-off job whose image no service of the stack has: not translated (tasks run a service's image)"));
        return;
    };
    let command = match service.get("command") {
        Some(Value::Sequence(_)) => service.get("command").and_then(words).unwrap_or_default(),
        Some(other) => match scalar(other) {
            Some(line) if line.contains(['&', '|', ';', '$', '>', '<', '\'', '"']) => {
                vec!["/bin/sh".into(), "-c".into(), line]
            }
            Some(line) => line.split_whitespace().map(str::to_owned).collect(),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    if command.is_empty() {
        draft.notes.push(note(&at, &format!("a one-off job without `command`: a task needs one; add [tasks.{}] with service = \"{owner}\" and its command", renamed[name])));
        return;
    }
    for key in service.keys().filter_map(Value::as_str) {
        let text = match key {
            "build" | "image" | "command" | "profiles" | "networks" | "depends_on" | "restart"
            | "environment" => continue,
            "read_only" | "tmpfs" | "cap_drop" | "security_opt" | "deploy" => continue,
            "entrypoint" => "not translated: the task runs `command` with the image's ENTRYPOINT",
            _ => "not translated",
        };
        draft.notes.push(note(&format!("{at}.{key}"), text));
    }
    draft.notes.push(note(
        &at,
        &format!(
            "becomes [tasks.{}] (`provision run {}`), with the environment of service `{owner}`",
            renamed[name], renamed[name]
        ),
    ));
    draft.tasks.push(TaskDraft {
        name: renamed[name].clone(),
        compose: name.to_owned(),
        service: owner,
        command,
        database_admin: false,
        comment: None,
    });
}

/// Services that use Postgres need a setup task creating their roles: with this
/// repository's services (a `<binary> --probe` check) it is `<binary> db-roles`; other
/// apps get a placeholder that fails until replaced.
fn database_setup(draft: &mut Draft) {
    let consumers: Vec<&ServiceDraft> = draft
        .services
        .iter()
        .filter(|s| s.uses.contains(&DataStore::Postgres))
        .collect();
    let Some(owner) = consumers
        .iter()
        .find(|s| !s.public && s.callers.is_empty())
        .or(consumers.first())
    else {
        return;
    };
    let binary = owner
        .health
        .windows(2)
        .find(|w| w[1] == "--probe")
        .map(|w| w[0].clone())
        .filter(|_| owner.health.first().map(String::as_str) == Some("CMD"));
    let (command, comment) = match binary {
        Some(binary) => (
            vec![binary, "db-roles".into()],
            "Creates the services' Postgres roles as the RDS master user (Slipway's `db-roles`); `provision run db-setup` after the first deploy.".to_owned(),
        ),
        None => {
            draft.notes.push(note("[tasks.db-setup]", "the stack gives each Postgres service a role of its own, created by this task as the RDS master user from DATABASE_ROLES (JSON: role, secret, owns/reads/updates): replace its placeholder command with one that does that (Slipway's services have `db-roles`)"));
            (
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo 'replace tasks.db-setup.command: create the roles listed in DATABASE_ROLES' >&2; exit 1".into(),
                ],
                "Creates the services' Postgres roles as the RDS master user (DATABASE_HOST/…, DATABASE_PASSWORD, DATABASE_ROLES). PLACEHOLDER: write that command.".to_owned(),
            )
        }
    };
    let service = owner.name.clone();
    draft.tasks.insert(
        0,
        TaskDraft {
            name: "db-setup".into(),
            compose: String::new(),
            service,
            command,
            database_admin: true,
            comment: Some(comment),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_schema() {
        assert_eq!(sanitize("Shop_Products-Service", 12), "shop-product");
        assert_eq!(sanitize("9lives", 12), "s9lives");
        assert_eq!(sanitize("a--b-", 12), "a-b");
        assert_eq!(sanitize("products-setup", 24), "products-setup");
    }

    #[test]
    fn sizes_round_up_to_fargate() {
        assert_eq!(fargate_size(256, 128), (256, 512));
        assert_eq!(fargate_size(512, 512), (512, 1024));
        assert_eq!(fargate_size(256, 3000), (512, 3072));
        assert_eq!(memory_mib("128M"), Some(128));
        assert_eq!(memory_mib("1g"), Some(1024));
        assert_eq!(memory_mib("1073741824"), Some(1024));
    }

    #[test]
    fn credentials_are_recognised_by_name() {
        for name in [
            "DB_PASSWORD",
            "JWT_SECRET",
            "GITHUB_TOKEN",
            "STRIPE_API_KEY",
            "SIGNING_KEY",
            "SENTRY_DSN",
        ] {
            assert!(credential_name(name), "{name}");
        }
        for name in ["PORT", "OPTION_A", "KEYBOARD_LAYOUT", "PUBLIC_URL"] {
            assert!(!credential_name(name), "{name}");
        }
    }

    fn options(profiles: &[&str]) -> InitOptions {
        InitOptions {
            source: "compose.yaml".into(),
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            stack: None,
        }
    }

    #[test]
    fn bad_input_says_what_to_do() {
        let err = |text: &str, profiles: &[&str]| {
            translate(text, &options(profiles)).unwrap_err().to_string()
        };
        assert!(err(": : :", &[]).contains("is not YAML"));
        assert!(err("- a\n- b\n", &[]).contains("not a Compose file"));
        assert!(err("web:\n  image: nginx\n", &[]).contains("legacy v1 format"));
        assert!(err("services: {}\n", &[]).contains("has no services"));
        assert!(err("services:\n  db:\n    image: postgres:16\n", &[])
            .contains("no application service"));
        assert!(
            err("services:\n  web:\n    extends: base\n", &[]).contains("docker compose config")
        );
        assert!(
            err("include: [a.yaml]\nservices:\n  web:\n    image: x\n", &[])
                .contains("docker compose config")
        );
        let unknown = err(
            "services:\n  web:\n    image: x\n    profiles: [a]\n",
            &["b"],
        );
        assert!(
            unknown.contains("no profile `b`; its profiles: a"),
            "{unknown}"
        );
    }
}

//! The stack file's text: the draft written as TOML with comments that say where each
//! setting came from and what was left out.

use std::fmt::Write;

use super::{Draft, ServiceDraft};
use crate::config::{BuildConfig, DataStore};

/// A TOML string literal.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| quote(i.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// A TOML key: bare when it can be.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        quote(name)
    }
}

fn comment(out: &mut String, text: &str) {
    // Wrapped at about 90 columns; a list item's continuation lines are indented.
    let mut line = String::from("#");
    let continuation = if text.starts_with("  - ") {
        "#    "
    } else {
        "#"
    };
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > 90 && line.len() > continuation.len() {
            out.push_str(&line);
            out.push('\n');
            line = String::from(continuation);
        }
        if line == "#" && text.starts_with("  - ") && word == "-" {
            line.push_str("   -");
            continue;
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

fn store_name(store: &DataStore) -> &'static str {
    match store {
        DataStore::Redis => "redis",
        DataStore::Postgres => "postgres",
    }
}

/// The whole stack file.
pub(super) fn stack_file(draft: &Draft) -> String {
    let mut out = String::new();
    let profiles = if draft.profiles.is_empty() {
        "the services without a profile".to_owned()
    } else {
        format!("profiles {}", draft.profiles.join(", "))
    };
    comment(
        &mut out,
        &format!(
            "Stack `{}`, written by `provision init` from {} ({profiles}). Check it with `provision --stack {} plan --offline`; the stack file schema is in provisioner/README.md.",
            draft.stack, draft.source, draft.stack
        ),
    );
    let notes = draft.all_notes();
    if !notes.is_empty() {
        out.push_str(
            "#\n# Not translated or translated differently (init printed the same list):\n",
        );
        for n in &notes {
            comment(&mut out, &format!("  - {n}"));
        }
    }
    let _ = write!(out, "\n[stack]\nname = {}\n", quote(&draft.stack));
    out.push_str("\n# Choose a /16 that does not overlap networks you peer or VPN with.\n[network]\ncidr = \"10.0.0.0/16\"\nnat_gateways = 1\n");
    if draft.services.iter().any(|s| s.public) {
        out.push_str(
            "\n# A domain of yours (a public hosted zone for it, or a parent, in Route 53): HTTPS with an\n\
             # ACM certificate `up` requests and validates, HTTP redirected, and each public service\n\
             # at <service>.<name> (docs/getting-started.md, \"Your own domain\").\n\
             # [domain]\n# name = \"example.com\"\n",
        );
    }
    if let Some(version) = &draft.redis {
        let _ = write!(
            out,
            "\n[redis]\nnode_type = \"cache.t4g.micro\"\nengine_version = {}\nreplicas = 0\n",
            quote(version)
        );
    }
    if let Some((version, database)) = &draft.postgres {
        let _ = write!(
            out,
            "\n[postgres]\ninstance_class = \"db.t4g.micro\"\nengine_version = {}\ndatabase = {}\nallocated_storage_gb = 20\nbackup_retention_days = 7\n",
            quote(version),
            quote(database)
        );
    }
    let mut priority = 10;
    let mut default_taken = false;
    for service in &draft.services {
        out.push('\n');
        service_table(&mut out, draft, service, &mut default_taken, &mut priority);
    }
    for task in &draft.tasks {
        out.push('\n');
        if let Some(text) = &task.comment {
            comment(&mut out, text);
        } else {
            comment(
                &mut out,
                &format!("From compose service `{}` (a one-off job).", task.compose),
            );
        }
        let _ = write!(
            out,
            "[tasks.{}]\nservice = {}\ncommand = {}\n",
            key(&task.name),
            quote(&task.service),
            list(&task.command)
        );
        if task.database_admin {
            out.push_str("# The smallest Fargate size, whatever the service it borrows the image from needs.\ncpu = 256\nmemory = 512\ndatabase_admin = true\n");
        }
    }
    out
}

fn service_table(
    out: &mut String,
    draft: &Draft,
    service: &ServiceDraft,
    default_taken: &mut bool,
    priority: &mut i32,
) {
    comment(out, &format!("From compose service `{}`.", service.compose));
    let _ = writeln!(out, "[services.{}]", key(&service.name));
    let serves = service.public || !service.callers.is_empty();
    let floor = if serves { 2 } else { 1 };
    let desired = service.replicas.unwrap_or(floor).max(floor);
    let _ = write!(
        out,
        "port = {}\ncpu = {}\nmemory = {}\ndesired = {desired}\nmin = {desired}\nmax = {}\n",
        service.port,
        service.cpu,
        service.memory,
        (desired * 2).max(4)
    );
    if let Some(text) = &service.health_comment {
        comment(out, text);
    }
    let _ = writeln!(out, "health_command = {}", list(&service.health));
    if !service.uses.is_empty() {
        let _ = writeln!(out, "uses = {}", list(service.uses.iter().map(store_name)));
    }
    if !service.callers.is_empty() {
        let _ = writeln!(out, "callers = {}", list(&service.callers));
    }
    if service.public {
        let health = service
            .health_path
            .as_ref()
            .map(|p| format!(", health_path = {}", quote(p)))
            .unwrap_or_default();
        if !*default_taken {
            *default_taken = true;
            comment(
                out,
                "Published in compose: the load balancer's default service (http://<alb>/).",
            );
            let _ = writeln!(out, "public = {{ default = true{health} }}");
        } else {
            let path = format!("/{}", service.name);
            comment(out, &format!("Published in compose: reached at http://<alb>{path}/… without a domain. The load balancer passes the path on unchanged, so the app must serve under {path}; with a domain, route by host name instead (`hosts = [\"{}.example.com\"]`).", service.name));
            let _ = writeln!(
                out,
                "public = {{ paths = [{}, {}], priority = {}{health} }}",
                quote(&path),
                quote(&format!("{path}/*")),
                *priority
            );
            *priority += 10;
        }
    }
    if !service.secrets.is_empty() {
        comment(out, "Credentials from compose, kept out of plain env: store each in Secrets Manager (`aws secretsmanager create-secret --name <stack>/<NAME> --secret-string …`) and name its ARN here:");
        let entries: Vec<String> = service
            .secrets
            .iter()
            .map(|s| {
                format!(
                    "{} = \"arn:aws:secretsmanager:<region>:<account>:secret:{}/{s}\"",
                    key(s),
                    draft.stack
                )
            })
            .collect();
        let _ = writeln!(out, "# secrets = {{ {} }}", entries.join(", "));
    }
    if !service.env.is_empty() {
        let _ = writeln!(out, "\n[services.{}.env]", key(&service.name));
        for (name, value) in &service.env {
            let _ = writeln!(out, "{} = {}", key(name), quote(value));
        }
    }
    if let Some(build) = &service.build_settings {
        out.push('\n');
        comment(out, &format!("From compose's `build:`: how `provision push --tag TAG` builds the image and pushes it to the stack's repository `{}` (context relative to the project root, dockerfile to the context).", service.name));
        let _ = writeln!(out, "[services.{}.build]", key(&service.name));
        let _ = writeln!(out, "context = {}", quote(&build.context));
        if build.dockerfile != BuildConfig::default().dockerfile {
            let _ = writeln!(out, "dockerfile = {}", quote(&build.dockerfile));
        }
        if let Some(target) = &build.target {
            let _ = writeln!(out, "target = {}", quote(target));
        }
        if !build.args.is_empty() {
            let args: Vec<String> = build
                .args
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
                .collect();
            let _ = writeln!(out, "args = {{ {} }}", args.join(", "));
        }
    }
}

//! Reading a Compose file for `provision init`: YAML anchors and `<<` merge keys resolved,
//! `${VAR:-default}` interpolated to its default (init never reads the caller's shell, so
//! the same compose file always gives the same stack file), and the few service fields
//! init translates read into plain values. Everything else stays a [`Value`] that the
//! translation reports as not translated.

use serde_norway::{Mapping, Value};

use super::InitError;

/// A compose file's services, in file order.
#[derive(Debug)]
pub struct ComposeFile {
    /// The top-level `name:`, if any.
    pub name: Option<String>,
    /// Service name → definition (merge keys applied, not interpolated).
    pub services: Vec<(String, Mapping)>,
    /// Top-level keys other than `name`, `services`, `networks`, `volumes`, `x-*`.
    pub other_top_level: Vec<String>,
}

/// Top-level keys with no meaning for the stack file that are not worth a note.
const QUIET_TOP_LEVEL: [&str; 4] = ["name", "services", "networks", "volumes"];

impl ComposeFile {
    /// Parses a compose document; `source` names the file in messages.
    pub fn parse(source: &str, text: &str) -> Result<Self, InitError> {
        let bad = |message: String| InitError::BadCompose {
            file: source.to_owned(),
            message,
        };
        let mut document: Value = serde_norway::from_str(text).map_err(|err| {
            bad(format!(
                "is not YAML ({err}); init reads a Compose file (compose.yaml or docker-compose.yml)"
            ))
        })?;
        document.apply_merge().map_err(|err| {
            bad(format!(
                "has a `<<` merge key that cannot be applied ({err}); `docker compose config` prints the file with merges resolved"
            ))
        })?;
        let Some(top) = document.as_mapping() else {
            return Err(bad(
                "is not a Compose file: its top level is not a mapping with `services:`".into(),
            ));
        };
        if top.contains_key("include") {
            return Err(bad("uses `include:`, which init does not follow; run `docker compose config > resolved.yaml` and pass --compose resolved.yaml".into()));
        }
        let Some(services) = top.get("services") else {
            // Compose file format v1 had the services at the top level.
            let v1 = top.values().any(|v| {
                v.as_mapping()
                    .is_some_and(|m| m.contains_key("image") || m.contains_key("build"))
            });
            let hint = if v1 {
                "it looks like the legacy v1 format (services at the top level): move them under `services:` (or run `docker compose convert`)"
            } else {
                "is it a Compose file?"
            };
            return Err(bad(format!("has no `services:`; {hint}")));
        };
        let Some(services) = services.as_mapping() else {
            return Err(bad(
                "`services:` is not a mapping of service names to their definitions".into(),
            ));
        };
        let mut list = Vec::new();
        for (name, definition) in services {
            let name = name
                .as_str()
                .ok_or_else(|| bad(format!("service name {name:?} is not a string")))?;
            let definition = match definition {
                Value::Mapping(m) => m.clone(),
                Value::Null => Mapping::new(),
                _ => return Err(bad(format!("services.{name} is not a mapping"))),
            };
            if definition.contains_key("extends") {
                return Err(bad(format!("services.{name} uses `extends`, which init does not follow; run `docker compose config > resolved.yaml` and pass --compose resolved.yaml")));
            }
            list.push((name.to_owned(), definition));
        }
        if list.is_empty() {
            return Err(bad("has no services under `services:`".into()));
        }
        let other_top_level = top
            .keys()
            .filter_map(Value::as_str)
            .filter(|k| !QUIET_TOP_LEVEL.contains(k) && !k.starts_with("x-"))
            .map(str::to_owned)
            .collect();
        Ok(Self {
            name: top.get("name").and_then(Value::as_str).map(str::to_owned),
            services: list,
            other_top_level,
        })
    }
}

/// Compose interpolation as init applies it: `${VAR:-default}` and `${VAR-default}` give
/// the default, `$$` a literal `$`; `${VAR}`, `$VAR` and `${VAR:?message}` have no value
/// here and are returned in the second element (the text keeps an empty string there).
pub fn interpolate(text: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                out.push_str(&rest[at..]);
                return (out, missing);
            };
            let expression = &inner[..end];
            if let Some((_, default)) = expression
                .split_once(":-")
                .or_else(|| expression.split_once('-'))
            {
                out.push_str(default);
            } else {
                let name = expression.split([':', '?']).next().unwrap_or(expression);
                missing.push(name.to_owned());
            }
            rest = &inner[end + 1..];
        } else {
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if name_len == 0 {
                out.push('$');
            } else {
                missing.push(after[..name_len].to_owned());
            }
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    (out, missing)
}

/// A scalar as text (numbers and booleans as YAML writes them).
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or a list of strings (`command`, `healthcheck.test`, `profiles`).
pub fn words(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// `environment:` in either form, in file order; a list entry without `=` has no value
/// here (Compose would take it from the shell).
pub fn environment(service: &Mapping) -> Vec<(String, Option<String>)> {
    key_values(service, "environment")
}

/// A `KEY: value` mapping or `KEY=value` list under `key` (`environment:`, `build.args:`),
/// in file order; a list entry without `=` has no value.
pub fn key_values(map: &Mapping, key: &str) -> Vec<(String, Option<String>)> {
    match map.get(key) {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((scalar(k)?, scalar(v))))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (item, None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `depends_on:` in either form: (service, condition).
pub fn depends_on(service: &Mapping) -> Vec<(String, String)> {
    match service.get("depends_on") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|s| (s, "service_started".to_owned()))
            .collect(),
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| {
                let condition = v
                    .get("condition")
                    .and_then(scalar)
                    .unwrap_or_else(|| "service_started".into());
                Some((scalar(k)?, condition))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One `ports:` entry: the container port and whether the host side listens beyond
/// loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub container: u16,
    /// Published on every interface (or a non-loopback address), not only 127.0.0.1.
    pub public: bool,
    /// Published at all (`expose:` entries are not).
    pub published: bool,
    pub protocol: String,
}

/// `ports:` (short and long syntax, interpolated) and `expose:`; unreadable entries are
/// returned as text in the second element.
pub fn ports(service: &Mapping) -> (Vec<Port>, Vec<String>) {
    let mut ports = Vec::new();
    let mut unreadable = Vec::new();
    let loopback = |ip: &str| matches!(ip, "127.0.0.1" | "::1" | "[::1]" | "localhost");
    for entry in service
        .get("ports")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let parsed = match entry {
            Value::Mapping(m) => (|| {
                let container = scalar(m.get("target")?)?.parse().ok()?;
                let ip = m.get("host_ip").and_then(scalar).unwrap_or_default();
                Some(Port {
                    container,
                    public: !loopback(&ip),
                    published: true,
                    protocol: m
                        .get("protocol")
                        .and_then(scalar)
                        .unwrap_or_else(|| "tcp".into()),
                })
            })(),
            other => scalar(other).and_then(|text| {
                let (text, _) = interpolate(&text);
                let (spec, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
                // host_ip:host:container, host:container or container; IPv6 in brackets.
                let (host, container) = match spec.rsplit_once(':') {
                    Some((host, container)) => (host, container),
                    None => ("", spec),
                };
                let ip = match host.rsplit_once(':') {
                    Some((ip, _)) => ip,
                    None => "",
                };
                let first = container.split('-').next()?;
                Some(Port {
                    container: first.parse().ok()?,
                    public: !loopback(ip),
                    published: true,
                    protocol: protocol.to_owned(),
                })
            }),
        };
        match parsed {
            Some(port) => ports.push(port),
            None => unreadable.push(scalar(entry).unwrap_or_else(|| format!("{entry:?}"))),
        }
    }
    for entry in service
        .get("expose")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let text = scalar(entry).unwrap_or_default();
        let (spec, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
        match spec.split('-').next().and_then(|p| p.parse().ok()) {
            Some(container) => ports.push(Port {
                container,
                public: false,
                published: false,
                protocol: protocol.to_owned(),
            }),
            None => unreadable.push(text),
        }
    }
    (ports, unreadable)
}

/// The parts of a URL init cares about: scheme, whether it carries a password, host,
/// port and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub password: bool,
    pub host: String,
    pub port: Option<String>,
    /// Everything after the authority (path, query), possibly empty.
    pub rest: String,
}

/// Parses `scheme://[user[:password]@]host[:port][/rest]`.
pub fn url(text: &str) -> Option<Url> {
    let (scheme, after) = text.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    {
        return None;
    }
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => {
            (host, Some(port.to_owned()))
        }
        _ => (hostport, None),
    };
    if host.is_empty() {
        return None;
    }
    Some(Url {
        scheme: scheme.to_ascii_lowercase(),
        password: userinfo.is_some_and(|u| u.contains(':')),
        host: host.to_owned(),
        port,
        rest: rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_takes_defaults_and_reports_unset_variables() {
        assert_eq!(
            interpolate("${A:-x}-${B-y}-$$-${C}-$D/${E:?need E}"),
            (
                "x-y-$--/".to_owned(),
                vec!["C".into(), "D".into(), "E".into()]
            )
        );
    }

    #[test]
    fn ports_in_every_syntax() {
        let service: Mapping = serde_norway::from_str(
            r#"
ports:
  - "${WEB_PORT:-8080}:80"
  - "127.0.0.1:5432:5432"
  - "9000"
  - target: 443
    host_ip: 127.0.0.1
  - "[::1]:6000:6001/udp"
expose: ["7000"]
"#,
        )
        .unwrap();
        let (ports, unreadable) = ports(&service);
        assert!(unreadable.is_empty());
        let summary: Vec<(u16, bool, bool)> = ports
            .iter()
            .map(|p| (p.container, p.public, p.published))
            .collect();
        assert_eq!(
            summary,
            [
                (80, true, true),
                (5432, false, true),
                (9000, true, true),
                (443, false, true),
                (6001, false, true),
                (7000, false, false)
            ]
        );
        assert_eq!(ports[4].protocol, "udp");
    }

    #[test]
    fn urls_with_and_without_credentials() {
        let u = url("postgres://app:secret@db:5432/app?sslmode=disable").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.password, u.host.as_str()),
            ("postgres", true, "db")
        );
        assert_eq!(u.port.as_deref(), Some("5432"));
        assert_eq!(u.rest, "/app?sslmode=disable");
        let u = url("redis://cache/1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.rest.as_str()),
            ("cache", None, "/1")
        );
        assert!(url("not a url").is_none());
    }
}

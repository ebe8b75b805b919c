//! The stack file's reference, generated from the types the TOML front-end parses.
//!
//! The JSON Schema comes from the same structs `serde` reads `config/<stack>.toml` into
//! (`schemars` derives it, doc comments become descriptions, `#[serde(default)]` values
//! become defaults, `deny_unknown_fields` becomes `additionalProperties: false`), so the
//! reference cannot drift from the parser: `docs/stack-file.md` and
//! `docs/stack-file.schema.json` are [`markdown`] and [`json_schema`] written out, and
//! `cdk/tests/stack_file_reference.rs` fails when either is stale (`SLIPWAY_BLESS=1`
//! rewrites them).
//!
//! Editors that read JSON Schema for TOML (Taplo, "Even Better TOML") validate and
//! complete a stack file that starts with
//! `#:schema ../docs/stack-file.schema.json`.
//!
//! ```
//! let reference = slipway_cdk::config::reference::markdown();
//! assert!(reference.contains("| `services.<name>.port` |"));
//! ```

use serde_json::{Map, Value};

/// The stack file's JSON Schema (draft 2020-12), as `serde_json` text with a trailing
/// newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(super::StackFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

/// One key of the stack file, as the reference lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Dotted TOML path, `<name>` for a table key the user chooses
    /// (`services.<name>.port`).
    pub path: String,
    /// `string`, `integer`, `table`, `array of string`, `one of …`.
    pub kind: String,
    /// `required`, `optional` or `default: <value>`.
    pub presence: String,
    /// What the key does (the field's doc comment).
    pub description: String,
}

/// Every key of the stack file, in file order (tables before their keys).
pub fn keys() -> Vec<Key> {
    let schema: Value =
        serde_json::from_str(&json_schema()).expect("the generated schema is valid JSON");
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut keys = Vec::new();
    walk_properties(&schema, &defs, "", &mut keys);
    keys
}

/// The reference as Markdown: one table per top-level section, then the per-environment
/// overrides.
pub fn markdown() -> String {
    let keys = keys();
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from the stack file's types (cdk/src/config.rs) by \
         slipway_cdk::config::reference; do not edit. Regenerate: \
         SLIPWAY_BLESS=1 cargo test -p slipway-cdk --test stack_file_reference -->\n\n",
    );
    out.push_str("# Stack file reference: `config/<stack>.toml`\n\n");
    out.push_str(
        "One file per stack. Keys not listed here are refused (with the file, line and \
         column). `<name>` stands for a name you choose (a service, a task, an \
         environment). Values in `[env.<env>]` replace the base values for that \
         environment only (`provision --env <env> …`). The same rules as JSON Schema: \
         `docs/stack-file.schema.json`.\n\n\
         A minimal stack: `[stack] name`, `[network] cidr` and one `[services.<name>]` \
         with `port`, `cpu`, `memory`, `desired`, `min`, `max` and `health_command`.\n",
    );
    let mut section = String::new();
    for key in &keys {
        let top = key.path.split('.').next().unwrap_or_default();
        let heading = if top == "env" {
            "env.<env>".to_owned()
        } else {
            top.to_owned()
        };
        if heading != section {
            section = heading;
            out.push_str(&format!(
                "\n## `[{section}]`\n\n| key | type | required / default | description |\n|---|---|---|---|\n"
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            key.path,
            cell(&key.kind),
            cell(&key.presence),
            cell(&key.description)
        ));
    }
    out
}

/// Text safe inside one Markdown table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn walk_properties(schema: &Value, defs: &Map<String, Value>, prefix: &str, keys: &mut Vec<Key>) {
    let schema = resolve(schema, defs);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        walk_key(
            &path,
            property,
            required.contains(&name.as_str()),
            defs,
            keys,
        );
    }
}

fn walk_key(
    path: &str,
    property: &Value,
    required: bool,
    defs: &Map<String, Value>,
    keys: &mut Vec<Key>,
) {
    let description = description(property, defs);
    let presence = match property.get("default") {
        Some(Value::Null) | None if required => "required".to_owned(),
        Some(Value::Null) | None => "optional".to_owned(),
        Some(Value::Object(o)) if o.is_empty() => "optional".to_owned(),
        Some(Value::Array(a)) if a.is_empty() => "optional".to_owned(),
        Some(default) => format!("default: `{}`", toml_value(default)),
    };
    let inner = non_null(property, defs);
    if inner.get("properties").is_some() {
        keys.push(Key {
            path: path.to_owned(),
            kind: "table".into(),
            presence,
            description,
        });
        walk_properties(&inner, defs, path, keys);
    } else if let Some(values) = inner.get("additionalProperties").filter(|v| v.is_object()) {
        let values = non_null(values, defs);
        if values.get("properties").is_some() {
            // The key the user chooses: an environment under `env`, else a name.
            let placeholder = if path == "env" { "<env>" } else { "<name>" };
            let table = format!("{path}.{placeholder}");
            keys.push(Key {
                path: table.clone(),
                kind: "table (one per name)".into(),
                presence,
                description,
            });
            walk_properties(&values, defs, &table, keys);
        } else {
            keys.push(Key {
                path: path.to_owned(),
                kind: format!("table of {}", kind(&values, defs)),
                presence,
                description,
            });
        }
    } else {
        keys.push(Key {
            path: path.to_owned(),
            kind: kind(&inner, defs),
            presence,
            description,
        });
    }
}

/// A `$ref` replaced by its definition (other keys of the referencing schema kept).
fn resolve(schema: &Value, defs: &Map<String, Value>) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/$defs/");
            let mut target = defs.get(name).cloned().unwrap_or(Value::Null);
            if let (Value::Object(target), Value::Object(here)) = (&mut target, schema) {
                for (k, v) in here {
                    if k != "$ref" {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
            resolve(&target, defs)
        }
        None => schema.clone(),
    }
}

/// The schema without its `null` alternative (an `Option` field), resolved.
fn non_null(schema: &Value, defs: &Map<String, Value>) -> Value {
    let schema = resolve(schema, defs);
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = alternatives
            .iter()
            .filter(|a| a.get("type") != Some(&Value::String("null".into())))
            .collect();
        if let [only] = rest.as_slice() {
            return resolve(only, defs);
        }
    }
    if let Some(Value::Array(types)) = schema.get("type") {
        let rest: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if rest.len() == 1 {
            let mut schema = schema.clone();
            schema["type"] = rest[0].clone();
            return schema;
        }
    }
    schema
}

fn kind(schema: &Value, defs: &Map<String, Value>) -> String {
    let schema = non_null(schema, defs);
    let choices: Vec<String> = if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        values
            .iter()
            .map(|v| format!("`{}`", toml_value(v)))
            .collect()
    } else if let Some(values) = schema.get("oneOf").and_then(Value::as_array) {
        values
            .iter()
            .filter_map(|v| {
                v.get("const")
                    .or_else(|| v.get("enum").and_then(|e| e.get(0)))
            })
            .map(|v| format!("`{}`", toml_value(v)))
            .collect()
    } else {
        Vec::new()
    };
    if !choices.is_empty() {
        return format!("one of {}", choices.join(", "));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => match schema.get("items") {
            Some(items) => format!("array of {}", kind(items, defs)),
            None => "array".into(),
        },
        Some("integer") => match (schema.get("minimum"), schema.get("maximum")) {
            (Some(min), Some(max)) => format!("integer ({min}-{max})"),
            (Some(min), None) if min.as_f64() == Some(0.0) => "integer (≥ 0)".into(),
            _ => "integer".into(),
        },
        Some(other) => other.to_owned(),
        None => "value".into(),
    }
}

/// The description of a key: its own doc comment, else that of the type it names.
fn description(property: &Value, defs: &Map<String, Value>) -> String {
    if let Some(text) = property.get("description").and_then(Value::as_str) {
        return plain(text);
    }
    non_null(property, defs)
        .get("description")
        .and_then(Value::as_str)
        .map(plain)
        .unwrap_or_default()
}

/// Doc-comment text as users read it: rustdoc's intra-doc link brackets dropped.
fn plain(text: &str) -> String {
    text.replace("[`", "`").replace("`]", "`")
}

/// A JSON default as it is written in TOML.
fn toml_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        // TOML has no null: an unset key is left out.
        Value::Object(map) => {
            let set: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect();
            if set.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", set.join(", "))
            }
        }
        other => other.to_string(),
    }
}

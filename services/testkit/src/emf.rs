//! CloudWatch Embedded Metric Format documents checked against the JSON schema the
//! specification publishes (committed as `services/platform/tests/emf-schema.json`, with
//! its source). The prose rules the schema leaves out are `platform::emf::check`'s job;
//! tests run both.

use std::sync::OnceLock;

use serde_json::Value;

const SCHEMA: &str = include_str!("../../platform/tests/emf-schema.json");

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the EMF schema is JSON");
        jsonschema::validator_for(&schema).expect("the EMF schema is a valid JSON schema")
    })
}

/// Every way `document` breaks the EMF schema (empty: it conforms).
pub fn schema_errors(document: &Value) -> Vec<String> {
    validator()
        .iter_errors(document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

/// Spawns `command` (stdout piped, stderr inherited) and reads its stdout line by line on
/// a thread: every line must be JSON, since on AWS each is one CloudWatch Logs event; the
/// EMF documents (lines with `_aws`) arrive on the receiver. With the environment
/// variable `echo_var` set, every line is also copied to stderr.
pub fn spawn_reading_emf(
    name: &str,
    command: &mut std::process::Command,
    echo_var: &str,
) -> (crate::ChildGuard, std::sync::mpsc::Receiver<Value>) {
    use std::io::BufRead;
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let mut child = crate::ChildGuard::spawn_with_stdout(name, command);
    let stdout = child.take_stdout();
    let echo = std::env::var_os(echo_var).is_some();
    let (sender, events) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
            if echo {
                eprintln!("{line}");
            }
            if value.get("_aws").is_some() && sender.send(value).is_err() {
                return;
            }
        }
    });
    (child, events)
}

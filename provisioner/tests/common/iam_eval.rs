//! IAM requests evaluated against a policy with `tests/iam_eval.py` (principalmapper's
//! local simulation of AWS's evaluation logic, conditions included; why that one is said
//! there).

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::repo_root;

/// The pinned evaluator's Python (`ci/python-env.sh iam`, which ci/test.sh runs).
pub fn evaluator_python() -> std::path::PathBuf {
    let python = repo_root().join(".venv/iam/bin/python3");
    assert!(
        python.is_file(),
        "no IAM policy evaluator: create it with `bash ci/python-env.sh iam` (ci/test.sh does)"
    );
    python
}

/// One request: action, resource, request context.
pub struct Request {
    pub action: &'static str,
    pub resource: String,
    pub context: Value,
}

pub fn request(action: &'static str, resource: impl Into<String>, context: Value) -> Request {
    Request {
        action,
        resource: resource.into(),
        context,
    }
}

/// Whether `policy` (the role `role_arn`'s only policy) allows each request.
pub fn evaluate(role_arn: &str, policy: &Value, requests: &[Request]) -> Vec<bool> {
    let job = json!({
        "role_arn": role_arn,
        "policy": policy,
        "requests": requests.iter().map(|r| json!({
            "action": r.action, "resource": r.resource, "context": r.context,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(evaluator_python())
        .arg(repo_root().join("provisioner/tests/iam_eval.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the evaluator starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "iam_eval.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one boolean per request")
}

/// Asserts each request's outcome, listing every mismatch at once.
pub fn assert_outcomes(role_arn: &str, policy: &Value, cases: Vec<(bool, Request)>) {
    let (expected, requests): (Vec<bool>, Vec<Request>) = cases.into_iter().unzip();
    let got = evaluate(role_arn, policy, &requests);
    let wrong: Vec<String> = requests
        .iter()
        .zip(expected.iter().zip(&got))
        .filter(|(_, (want, got))| want != got)
        .map(|(r, (want, _))| {
            format!(
                "{} {} {} must be {}",
                r.action,
                r.resource,
                r.context,
                if *want { "allowed" } else { "denied" }
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{role_arn}:\n  {}\npolicy: {policy:#}",
        wrong.join("\n  ")
    );
}

//! `provision policy`: the least-privilege IAM policy an operator needs to run `up` and
//! `down` for this stack and environment (built by [`slipway_cdk::policy`] from the
//! resource kinds the stack uses). No AWS access.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use slipway_cdk::policy::operator_policy;

use crate::session::Session;

/// `provision policy` options.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Print only the policy document (JSON), e.g. for
    /// `aws iam create-policy --policy-document file://policy.json`.
    #[arg(long)]
    pub json: bool,
}

/// Runs `provision policy`.
pub fn run(session: &Session, args: &PolicyArgs) -> Result<u8> {
    let (_, graph) = session.desired()?;
    let policy = operator_policy(&session.stack, &session.env, graph.resources());
    let mut out = std::io::stdout().lock();
    if args.json || session.json() {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&policy.document())?);
        return Ok(0);
    }
    let _ = writeln!(
        out,
        "IAM policy for `provision up` and `provision down` of {}-{} ({} statements, {} actions; \
         --json prints the document):",
        session.stack,
        session.env,
        policy.statements.len(),
        policy.actions().len()
    );
    for statement in &policy.statements {
        let _ = writeln!(
            out,
            "  {:<34} {:>3} actions on {}",
            statement.sid,
            statement.actions.len(),
            statement.resources.join(", ")
        );
        for (operator, keys) in &statement.conditions {
            for (key, values) in keys {
                let _ = writeln!(
                    out,
                    "  {:<34}     when {operator} {key} = {}",
                    "",
                    values.join(" | ")
                );
            }
        }
    }
    Ok(0)
}

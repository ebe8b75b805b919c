//! What `App` (through `provisioner::cli::run_with`) says when a program's stacks cannot
//! be used: every message names the stack and what to do. No AWS: each case fails, or
//! finishes, before any call.

use clap::Parser;
use provisioner::cli::{run_with, Cli};
use provisioner::session::{CodeStacks, DefineStack};
use slipway_cdk::constructs::l2::{FargateService, NamespaceHandle};
use slipway_cdk::constructs::patterns::{Network, Platform};
use slipway_cdk::scope::{Stack, Target};

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["app", "--config-dir", "../config"];
    all.extend(args);
    Cli::parse_from(all)
}

fn stacks(list: &[(&str, DefineStack)]) -> CodeStacks {
    let mut stacks = CodeStacks::default();
    for (name, define) in list {
        stacks.insert(name, define.clone());
    }
    stacks
}

async fn error_of(args: &[&str], code: &CodeStacks) -> String {
    let err = run_with(cli(args), code).await.unwrap_err();
    format!("{err:#}")
}

#[tokio::test]
async fn two_stacks_and_no_stack_flag_ask_which() {
    let code = stacks(&[
        ("jobs", DefineStack::new(slipway_examples::jobs)),
        ("voting", DefineStack::new(slipway_examples::voting)),
    ]);
    let message = error_of(&["plan", "--offline"], &code).await;
    assert!(
        message.contains("this program defines jobs, voting: pass --stack NAME"),
        "{message}"
    );
    // Named, it plans (offline: no AWS).
    let code_of = run_with(cli(&["--stack", "jobs", "plan", "--offline"]), &code).await;
    assert_eq!(code_of.unwrap(), 0);
}

#[tokio::test]
async fn a_definition_must_build_the_stack_it_is_registered_as() {
    let code = stacks(&[(
        "jobs",
        DefineStack::new(|target: Target| Stack::new("other", target)),
    )]);
    let message = error_of(&["graph"], &code).await;
    assert!(
        message.contains("create it with Stack::new(\"jobs\", target)"),
        "{message}"
    );
}

#[tokio::test]
async fn an_inconsistent_stack_is_refused_with_every_problem() {
    let broken = |target: Target| {
        let mut stack = Stack::new("broken", target);
        let vpc = Network::new(&mut stack, "10.50.0.0/16", 1);
        let platform = Platform::new(&mut stack, &vpc).build();
        // In the mesh without a namespace, and a field that does not exist.
        FargateService::new(&mut stack, &platform.cluster, "api")
            .mesh(&NamespaceHandle, true)
            .build();
        stack.override_field("taskdef-api", "/container/no_such", serde_json::json!(1));
        stack
    };
    let code = stacks(&[("broken", DefineStack::new(broken))]);
    let message = error_of(&["synth"], &code).await;
    assert!(
        message.contains("stack `broken` (env dev) is inconsistent"),
        "{message}"
    );
    assert!(
        message.contains("`service-api` refers to `namespace`"),
        "{message}"
    );
    assert!(message.contains("/container/no_such"), "{message}");
}

#[tokio::test]
async fn names_aws_would_refuse_are_refused_before_any_call() {
    // `voting-preprod-east-tg-result-alt` is 33 characters: AWS allows 32 (as for the
    // stack file, `stack::tests`).
    let code = stacks(&[("voting", DefineStack::new(slipway_examples::voting))]);
    let message = error_of(&["--env", "preprod-east", "plan", "--offline"], &code).await;
    assert!(message.contains("tg-result-alt"), "{message}");
    assert!(
        message.contains("--env of at most 11 characters"),
        "{message}"
    );
}

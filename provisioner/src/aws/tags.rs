//! Ownership tags (the leftover scan after `down` is `resources::leftovers`).

use super::Aws;
pub use slipway_cdk::settings::tags::{ownership, ENV, ID, MANAGED_BY, SLIPWAY, STACK};

/// IAM path of the stack's roles (IAM is not in the Resource Groups Tagging API).
pub fn role_path(aws: &Aws) -> String {
    stack_role_path(&aws.stack, &aws.env)
}

/// `/slipway/<stack>/<env>/`: the IAM path that marks a role as the stack's.
pub fn stack_role_path(stack: &str, env: &str) -> String {
    crate::names::role_path(stack, env)
}

//! Ownership tags (the leftover scan after `down` is `resources::leftovers`).

use super::Aws;

pub const STACK: &str = "slipway:stack";
pub const ENV: &str = "slipway:env";
pub const ID: &str = "slipway:id";
pub const MANAGED_BY: &str = "managed-by";
pub const SLIPWAY: &str = "slipway";

/// IAM path of the stack's roles (IAM is not in the Resource Groups Tagging API).
pub fn role_path(aws: &Aws) -> String {
    stack_role_path(&aws.stack, &aws.env)
}

/// `/slipway/<stack>/<env>/`: the IAM path that marks a role as the stack's.
pub fn stack_role_path(stack: &str, env: &str) -> String {
    crate::names::role_path(stack, env)
}

/// The four ownership tags of resource `id` (what [`Aws::tags`] sends).
pub fn ownership(stack: &str, env: &str, id: &str) -> [(&'static str, String); 4] {
    [
        (STACK, stack.to_owned()),
        (ENV, env.to_owned()),
        (ID, id.to_owned()),
        (MANAGED_BY, SLIPWAY.to_owned()),
    ]
}

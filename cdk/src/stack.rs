//! Loading a stack: the TOML front-end ([`crate::config`]) plus the checks that need the
//! stack's expansion ([`crate::constructs`]): every name and text the provisioner will
//! send to AWS must obey AWS's rules ([`crate::names`]).
//!
//! This module sits above both: `config` parses and validates what a file says on its
//! own, the constructs expand it, and [`StackConfig::load`] / [`StackConfig::parse`]
//! (defined here, not in `config`, so that `config` never depends on the constructs)
//! refuse a stack whose composed names AWS would refuse — before any AWS call,
//! `plan --offline` included.

use std::path::Path;

use crate::config::{has_debug_task, ConfigError, StackConfig};
use crate::model::Resource;
use crate::names::{self, resource_name, NameErrors, Sent, ECS_FAMILY};

impl StackConfig {
    /// Reads `<dir>/<stack>.toml` and resolves it for `env`.
    pub fn load(dir: &Path, stack: &str, env: &str) -> Result<Self, ConfigError> {
        let path = dir.join(format!("{stack}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&path, &text, env)
    }

    /// Parses and validates one stack file's text for `env`, including every AWS name
    /// the stack will send ([`check_names`]); `path` is only used in messages.
    pub fn parse(path: &Path, text: &str, env: &str) -> Result<Self, ConfigError> {
        let config = Self::parse_without_name_check(path, text, env)?;
        // Last: every name and text AWS will be sent, composed from all of the above
        // (a too-long name is usually the stack, the env and a service name together).
        check_names(&config).map_err(|err| ConfigError::Semantic {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
        Ok(config)
    }
}

/// Every name and free text `up`, `down` and the operations commands send for `config`,
/// with the rule each must obey. Covers the expansion's resources (each kind's match arm
/// mirrors what its create function in `aws/*.rs` sends) and the debug task's temporary
/// `--image` family.
pub fn sent_texts(config: &StackConfig) -> Vec<Sent> {
    let resources = crate::constructs::expand(config);
    sent_texts_of(
        &config.stack,
        &config.env,
        &resources,
        has_debug_task(config),
    )
}

/// [`sent_texts`] of any stack's resources (a stack built in Rust included);
/// `debug_task`: the stack has the debug task, whose `--image` family is sent too.
pub fn sent_texts_of(
    stack: &str,
    env: &str,
    resources: &[Resource],
    debug_task: bool,
) -> Vec<Sent> {
    let mut sent = Vec::new();
    for resource in resources {
        names::texts_of(stack, env, resource, &mut sent);
    }
    if debug_task {
        let id = crate::model::ids::CUSTOM_IMAGE_ID;
        sent.push(Sent {
            id: id.to_owned(),
            value: resource_name(stack, env, id),
            rule: &ECS_FAMILY,
            has_env: true,
        });
    }
    sent
}

/// Checks every name and text [`sent_texts`] lists for `config`.
pub fn check_names(config: &StackConfig) -> Result<(), NameErrors> {
    names::check_sent(&config.stack, &config.env, &sent_texts(config))
}

/// The name check of a stack built in Rust, over its synthesized resources.
///
/// ```
/// use slipway_cdk::constructs::patterns::{DataTier, Network};
/// use slipway_cdk::scope::Stack;
///
/// let mut stack = Stack::new("demo", "environment-with-a-much-too-long-name");
/// let vpc = Network::new(&mut stack, "10.80.0.0/16", 1);
/// let data = DataTier::redis(&mut stack, &vpc);
/// data.debug_task(&mut stack, &vpc, 14);
/// let resources = stack.synth().unwrap();
/// let err = slipway_cdk::stack::check_resource_names("demo", "environment-with-a-much-too-long-name", &resources).unwrap_err();
/// assert!(err.to_string().contains("--env of at most"), "{err}");
/// ```
pub fn check_resource_names(
    stack: &str,
    env: &str,
    resources: &[Resource],
) -> Result<(), NameErrors> {
    let debug_task = resources
        .iter()
        .any(|r| r.id == crate::model::ids::task_definition(crate::model::ids::DEBUG));
    names::check_sent(
        stack,
        env,
        &sent_texts_of(stack, env, resources, debug_task),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{repo_config_dir, STACKS};
    use crate::names::{Shape, Violation, SECURITY_GROUP_DESCRIPTION};

    fn shipped(stack: &str, env: &str) -> StackConfig {
        StackConfig::load(&repo_config_dir(), stack, env).unwrap()
    }

    #[test]
    fn every_shipped_stack_sends_only_names_aws_accepts() {
        for stack in STACKS {
            for env in ["dev", "prod"] {
                let config = shipped(stack, env);
                let sent = sent_texts(&config);
                assert!(sent.len() > 50, "{stack}/{env}: {}", sent.len());
                check_names(&config).unwrap_or_else(|err| panic!("{stack}/{env}: {err}"));
            }
        }
    }

    #[test]
    fn the_debug_security_group_description_is_sent_and_valid() {
        let config = shipped("voting", "dev");
        let description = sent_texts(&config)
            .into_iter()
            .find(|s| s.id == "sg-debug" && std::ptr::eq(s.rule, &SECURITY_GROUP_DESCRIPTION))
            .expect("sg-debug's description is checked");
        assert_eq!(SECURITY_GROUP_DESCRIPTION.check(&description.value), Ok(()));
    }

    #[test]
    fn a_long_env_names_the_resource_the_limit_and_the_longest_env() {
        let mut config = shipped("voting", "dev");
        config.env = "preprod-east".into();
        let err = check_names(&config).unwrap_err();
        let first = &err.problems[0];
        assert_eq!(first.id, "tg-result-alt");
        assert_eq!(first.value, "voting-preprod-east-tg-result-alt");
        assert_eq!(first.violation, Violation::TooLong { len: 33, max: 32 });
        // `voting-<env>-tg-result-alt` leaves 32 - 21 characters for the environment.
        assert_eq!(err.longest_env, Some(11));
        let message = err.to_string();
        for expected in [
            "tg-result-alt: target group name `voting-preprod-east-tg-result-alt` is 33 characters, AWS allows at most 32",
            "CreateTargetGroup Name",
            "--env of at most 11 characters",
        ] {
            assert!(message.contains(expected), "{expected}\n{message}");
        }
        // The longest allowed environment passes.
        config.env = "preprod-eas".into();
        check_names(&config).unwrap();
    }

    #[test]
    fn a_hyphen_ending_env_breaks_the_elasticache_and_rds_rules() {
        let mut config = shipped("voting", "dev");
        config.env = "dev-".into();
        let err = check_names(&config).unwrap_err();
        let redis = err
            .problems
            .iter()
            .find(|p| p.id == "redis")
            .expect("redis id rejected");
        assert_eq!(redis.value, "voting-dev--redis");
        assert_eq!(redis.violation, Violation::Shape(Shape::NoDoubleHyphen));
        assert!(err.problems.iter().any(|p| p.id == "postgres"), "{err}");
        assert_eq!(err.longest_env, None, "not a length problem");
    }

    #[test]
    fn a_stack_named_internal_or_sg_breaks_the_prefix_rules() {
        let mut config = shipped("voting", "dev");
        config.stack = "internal".into();
        let err = check_names(&config).unwrap_err();
        assert!(
            err.problems
                .iter()
                .any(|p| p.id == "alb"
                    && p.violation == Violation::Shape(Shape::NotPrefix("internal-"))),
            "{err}"
        );
        config.stack = "sg".into();
        let err = check_names(&config).unwrap_err();
        assert!(
            err.problems
                .iter()
                .any(|p| p.id == "sg-alb" && p.value == "sg-dev-sg-alb"),
            "{err}"
        );
    }
}

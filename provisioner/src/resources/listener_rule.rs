//! Listener rules: path and host conditions forwarding to a service's target group (or
//! its blue/green pair).

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, HostHeaderConditionConfig,
    PathPatternConditionConfig, RuleCondition, TargetGroupTuple,
};

use super::elb_common::{action, forward_groups, tags};
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
pub use slipway_cdk::settings::elb::path_condition_problem;

/// The forward action of a blue/green rule: `primary` and `alternate` with the weights
/// the rule has now when it already forwards within the pair (ECS owns them: after a
/// deployment the alternate group serves), otherwise all traffic to `primary`.
pub fn pair_forward(current: &[(String, i32)], primary: &str, alternate: &str) -> Action {
    let within_pair = !current.is_empty()
        && current
            .iter()
            .all(|(tg, _)| tg == primary || tg == alternate);
    let weight_of = |arn: &str| current.iter().find(|(tg, _)| tg == arn).map(|(_, w)| *w);
    let (primary_weight, alternate_weight) = if within_pair {
        match (weight_of(primary), weight_of(alternate)) {
            (Some(p), Some(a)) => (p, a),
            (Some(_), None) => (100, 0),
            _ => (0, 100),
        }
    } else {
        (100, 0)
    };
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(primary)
                        .weight(primary_weight)
                        .build(),
                )
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(alternate)
                        .weight(alternate_weight)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// A rule's forward action: the blue/green pair (keeping `current` weights) or one group.
fn rule_action(
    spec: &ListenerRuleSpec,
    current: &[(String, i32)],
    resolved: &Resolved,
) -> Result<Action, AwsError> {
    match &spec.alternate_target_group {
        Some(alternate) => Ok(pair_forward(
            current,
            &resolved.get(&spec.target_group, "arn")?,
            &resolved.get(alternate, "arn")?,
        )),
        None => action(&DefaultAction::Forward(spec.target_group.clone()), resolved),
    }
}

fn conditions(spec: &ListenerRuleSpec) -> Vec<RuleCondition> {
    let mut conditions = Vec::new();
    if !spec.paths.is_empty() {
        conditions.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(spec.paths.clone()))
                        .build(),
                )
                .build(),
        );
    }
    if !spec.hosts.is_empty() {
        conditions.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(spec.hosts.clone()))
                        .build(),
                )
                .build(),
        );
    }
    conditions
}

impl Provider for super::ListenerRule {
    type Spec = ListenerRuleSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "RuleNotFound")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let routes = scan.elb_routes().await?;
        let mut found = Vec::new();
        for (id, listener_arn, rule) in &routes.rules {
            let mut paths = Vec::new();
            let mut hosts = Vec::new();
            for condition in rule.conditions() {
                match condition.field() {
                    Some("path-pattern") => paths.extend(
                        condition
                            .path_pattern_config()
                            .map(|c| c.values().to_vec())
                            .unwrap_or_else(|| condition.values().to_vec()),
                    ),
                    Some("host-header") => hosts.extend(
                        condition
                            .host_header_config()
                            .map(|c| c.values().to_vec())
                            .unwrap_or_else(|| condition.values().to_vec()),
                    ),
                    _ => {}
                }
            }
            // Serving group first (highest weight), then the other group of a weighted forward.
            let mut groups = forward_groups(rule.actions()).into_iter().map(|(tg, _)| tg);
            let target_group = groups.next().unwrap_or_default();
            let alternate_target_group = groups.next();
            found.push(observed(
                id,
                Kind::ListenerRule,
                ListenerRuleSpec {
                    listener: Ref::physical(listener_arn.clone()),
                    priority: rule.priority().and_then(|p| p.parse().ok()).unwrap_or(0),
                    paths,
                    hosts,
                    target_group: Ref::physical(target_group),
                    // Reported as null when absent (always compared): a plain forward is
                    // upgraded to the blue/green pair.
                    alternate_target_group: alternate_target_group.map(Ref::physical),
                },
                attrs([("arn", rule.rule_arn().map(str::to_owned))]),
            ));
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = aws
            .elb
            .create_rule()
            .listener_arn(resolved.get(&spec.listener, "arn")?)
            .priority(spec.priority)
            .set_conditions(Some(conditions(spec)))
            .actions(rule_action(spec, &[], resolved)?)
            .set_tags(Some(tags(aws, id)))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateRule", e))?;
        let arn = out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_owned();
        Ok(attrs([("arn", Some(arn))]))
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let arn = require(current, id, "arn")?;
        // Read the live weights first: after a blue/green deployment the alternate group
        // serves, and pointing the rule back at the other one would send traffic nowhere.
        let live = aws
            .elb
            .describe_rules()
            .rule_arns(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeRules", e))?;
        let weights = live
            .rules()
            .first()
            .map(|r| forward_groups(r.actions()))
            .unwrap_or_default();
        aws.elb
            .modify_rule()
            .rule_arn(&arn)
            .set_conditions(Some(conditions(spec)))
            .actions(rule_action(spec, &weights, resolved)?)
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyRule", e))?;
        aws.elb
            .set_rule_priorities()
            .rule_priorities(
                aws_sdk_elasticloadbalancingv2::types::RulePriorityPair::builder()
                    .rule_arn(&arn)
                    .priority(spec.priority)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| call_error(id, "SetRulePriorities", e))?;
        Ok(current.clone())
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.elb
                .delete_rule()
                .rule_arn(require(current, id, "arn")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteRule", e)),
            Self::gone,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weighted(groups: &[(&str, i32)]) -> Vec<Action> {
        let mut config = ForwardActionConfig::builder();
        for (tg, weight) in groups {
            config = config.target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(*tg)
                    .weight(*weight)
                    .build(),
            );
        }
        vec![Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(config.build())
            .build()]
    }

    fn weights(action: &Action) -> Vec<(String, i32)> {
        action
            .forward_config()
            .unwrap()
            .target_groups()
            .iter()
            .map(|t| {
                (
                    t.target_group_arn().unwrap().to_owned(),
                    t.weight().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_serving_group_comes_first() {
        let after_deploy = weighted(&[("tg", 0), ("alt", 100)]);
        assert_eq!(
            forward_groups(&after_deploy),
            vec![("alt".to_owned(), 100), ("tg".to_owned(), 0)]
        );
        let plain = vec![Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("tg")
            .build()];
        assert_eq!(forward_groups(&plain), vec![("tg".to_owned(), 1)]);
        let fixed = vec![Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .build()];
        assert!(forward_groups(&fixed).is_empty());
    }

    #[test]
    fn rule_updates_keep_the_weights_ecs_set() {
        let pair = |current: &[(&str, i32)]| {
            let current: Vec<(String, i32)> =
                current.iter().map(|(t, w)| (t.to_string(), *w)).collect();
            weights(&pair_forward(&current, "tg", "alt"))
        };
        let expected = |p: i32, a: i32| vec![("tg".to_owned(), p), ("alt".to_owned(), a)];
        // New rule, or a rule that forwarded elsewhere: all traffic to the primary.
        assert_eq!(pair(&[]), expected(100, 0));
        assert_eq!(pair(&[("other", 1)]), expected(100, 0));
        // Plain forward to the primary (before blue/green existed): add the idle alternate.
        assert_eq!(pair(&[("tg", 1)]), expected(100, 0));
        // ECS moved traffic to the alternate group (plain or weighted): it keeps serving.
        assert_eq!(pair(&[("alt", 1)]), expected(0, 100));
        assert_eq!(pair(&[("alt", 100), ("tg", 0)]), expected(0, 100));
        // Mid-deployment split stays as it is.
        assert_eq!(pair(&[("alt", 10), ("tg", 90)]), expected(90, 10));
    }
}

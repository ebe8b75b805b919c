//! Helpers shared by the ELBv2 kinds (load balancer, target group, listener, listener
//! rule) of the stack's internet-facing ALB. ELBv2 has no tag filter on describe calls:
//! the listings ([`Listing`], [`Routes`]) list by name prefix / parent, then read tags in
//! batches of 20, once per observation for all four kinds.

use std::collections::HashMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag,
};

use super::Scan;
use crate::aws::{call_error, Aws, AwsError, Resolved};
use crate::model::*;
pub use slipway_cdk::settings::elb::NOT_FOUND;

pub(crate) fn tags(aws: &Aws, id: &str) -> Vec<Tag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `arn → logical id` for the ARNs carrying this stack's tags.
pub(crate) async fn owned_arns(
    aws: &Aws,
    arns: Vec<String>,
) -> Result<HashMap<String, String>, AwsError> {
    let mut owned = HashMap::new();
    for chunk in arns.chunks(20) {
        let out = aws
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| call_error("load balancing", "DescribeTags", e))?;
        for description in out.tag_descriptions() {
            let id = aws.owned_id(
                description
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            );
            if let (Some(id), Some(arn)) = (id, description.resource_arn()) {
                owned.insert(arn.to_owned(), id);
            }
        }
    }
    Ok(owned)
}

/// The part of an ARN after `:<resource type>/`… as CloudWatch dimensions use it:
/// `app/<name>/<id>` for load balancers, `targetgroup/<name>/<id>` for target groups.
pub(crate) fn label(arn: &str, marker: &str) -> Option<String> {
    arn.find(marker).map(|at| arn[at + 1..].to_owned())
}

/// The target groups a forward action sends to with their weights, the one with the
/// highest weight (the one serving) first; a plain `TargetGroupArn` forward counts as
/// weight 1. Empty when the first action is not a forward.
pub fn forward_groups(actions: &[Action]) -> Vec<(String, i32)> {
    let Some(action) = actions.first() else {
        return Vec::new();
    };
    if action.r#type() != Some(&ActionTypeEnum::Forward) {
        return Vec::new();
    }
    let mut groups: Vec<(String, i32)> = action
        .forward_config()
        .map(|f| {
            f.target_groups()
                .iter()
                .filter_map(|t| Some((t.target_group_arn()?.to_owned(), t.weight().unwrap_or(1))))
                .collect()
        })
        .unwrap_or_default();
    if groups.is_empty() {
        if let Some(tg) = action.target_group_arn() {
            groups.push((tg.to_owned(), 1));
        }
    }
    // Stable: equal weights keep AWS's order.
    groups.sort_by_key(|(_, weight)| std::cmp::Reverse(*weight));
    groups
}

pub(crate) fn action(
    default_action: &DefaultAction,
    resolved: &Resolved,
) -> Result<Action, AwsError> {
    Ok(match default_action {
        DefaultAction::Forward(tg) => Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(resolved.get(tg, "arn")?)
            .build(),
        DefaultAction::NotFound => Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(NOT_FOUND.status_code)
                    .content_type(NOT_FOUND.content_type)
                    .message_body(NOT_FOUND.body)
                    .build(),
            )
            .build(),
        DefaultAction::RedirectHttps => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build(),
    })
}

/// The stack's load balancers and target groups, found by name prefix and owned by tag:
/// what observing either kind starts from (read once per observation, [`Scan::elb`]).
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// `(logical id, load balancer)`, in listing order.
    pub(crate) load_balancers: Vec<(String, aws_sdk_elasticloadbalancingv2::types::LoadBalancer)>,
    /// `(logical id, target group)`, in listing order.
    pub(crate) target_groups: Vec<(String, aws_sdk_elasticloadbalancingv2::types::TargetGroup)>,
}

/// The listeners of the stack's load balancers and their rules (default rules aside),
/// owned by tag (read once per observation, [`Scan::elb_routes`]).
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// `(logical id, listener)`.
    pub(crate) listeners: Vec<(String, aws_sdk_elasticloadbalancingv2::types::Listener)>,
    /// `(logical id, listener ARN, rule)`.
    pub(crate) rules: Vec<(String, String, aws_sdk_elasticloadbalancingv2::types::Rule)>,
}

impl Scan<'_> {
    /// The stack's load balancers and target groups.
    pub(crate) async fn elb(&self) -> Result<&Listing, AwsError> {
        self.elb.get_or_try_init(|| list(self.aws)).await
    }

    /// The listeners and rules of the stack's load balancers.
    pub(crate) async fn elb_routes(&self) -> Result<&Routes, AwsError> {
        self.elb_routes
            .get_or_try_init(|| async { routes(self.aws, self.elb().await?).await })
            .await
    }
}

async fn list(aws: &Aws) -> Result<Listing, AwsError> {
    let prefix = aws.prefix();
    // Every page of the account's load balancers and target groups (DescribeLoadBalancers
    // and DescribeTargetGroups page with Marker/NextMarker).
    let lbs = aws
        .elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("alb", "DescribeLoadBalancers", e))?;
    let tgs = aws
        .elb
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| call_error("target groups", "DescribeTargetGroups", e))?;
    let ours_lb: Vec<_> = lbs
        .into_iter()
        .filter(|lb| {
            lb.load_balancer_name()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    let ours_tg: Vec<_> = tgs
        .into_iter()
        .filter(|tg| {
            tg.target_group_name()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    let mut arns: Vec<String> = ours_lb
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .collect();
    arns.extend(
        ours_tg
            .iter()
            .filter_map(|tg| tg.target_group_arn().map(str::to_owned)),
    );
    if arns.is_empty() {
        return Ok(Listing::default());
    }
    let owned = owned_arns(aws, arns).await?;
    Ok(Listing {
        load_balancers: ours_lb
            .into_iter()
            .filter_map(|lb| Some((owned.get(lb.load_balancer_arn()?)?.clone(), lb)))
            .collect(),
        target_groups: ours_tg
            .into_iter()
            .filter_map(|tg| Some((owned.get(tg.target_group_arn()?)?.clone(), tg)))
            .collect(),
    })
}

async fn routes(aws: &Aws, listing: &Listing) -> Result<Routes, AwsError> {
    let mut listeners = Vec::new();
    for (id, lb) in &listing.load_balancers {
        let found = aws
            .elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error(id, "DescribeListeners", e))?;
        listeners.extend(found.into_iter().filter(|l| l.listener_arn().is_some()));
    }
    if listeners.is_empty() {
        return Ok(Routes::default());
    }
    let mut rules = Vec::new();
    for listener in &listeners {
        let arn = listener.listener_arn().unwrap_or_default();
        let listener_rules = aws
            .elb
            .describe_rules()
            .listener_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("listener rules", "DescribeRules", e))?;
        for rule in listener_rules {
            if !rule.is_default().unwrap_or(false) && rule.rule_arn().is_some() {
                rules.push((arn.to_owned(), rule));
            }
        }
    }
    let mut tagged: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.listener_arn().map(str::to_owned))
        .collect();
    tagged.extend(
        rules
            .iter()
            .filter_map(|(_, r)| r.rule_arn().map(str::to_owned)),
    );
    let owned = owned_arns(aws, tagged).await?;
    Ok(Routes {
        listeners: listeners
            .into_iter()
            .filter_map(|l| Some((owned.get(l.listener_arn()?)?.clone(), l)))
            .collect(),
        rules: rules
            .into_iter()
            .filter_map(|(listener, r)| Some((owned.get(r.rule_arn()?)?.clone(), listener, r)))
            .collect(),
    })
}

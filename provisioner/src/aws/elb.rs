//! The stack's internet-facing ALB: load balancer, target groups, listeners, rules.
//! ELBv2 has no tag filter on describe calls: list by name prefix / parent, then read
//! tags in batches of 20.

use std::collections::HashMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerStateEnum, LoadBalancerTypeEnum, PathPatternConditionConfig, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, Tag, TargetGroupAttribute,
    TargetGroupTuple, TargetTypeEnum,
};

use super::{
    attrs, call_error, deleted, observed, require, wait_until, Aws, AwsError, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};
use slipway_cdk::settings::elb::{DROP_INVALID_HEADERS, NOT_FOUND, TARGET_HEALTH};

fn tags(aws: &Aws, id: &str) -> Vec<Tag> {
    aws.tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `arn → logical id` for the ARNs carrying this stack's tags.
async fn owned_arns(aws: &Aws, arns: Vec<String>) -> Result<HashMap<String, String>, AwsError> {
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
fn label(arn: &str, marker: &str) -> Option<String> {
    arn.find(marker).map(|at| arn[at + 1..].to_owned())
}

pub async fn observe(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
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
        .iter()
        .filter(|lb| {
            lb.load_balancer_name()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    let ours_tg: Vec<_> = tgs
        .iter()
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
        return Ok(Vec::new());
    }
    let mut owned = owned_arns(aws, arns).await?;
    let mut found = Vec::new();
    let mut listener_arns = Vec::new();
    let mut listeners = Vec::new();
    for lb in ours_lb {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let Some(id) = owned.get(arn).cloned() else {
            continue;
        };
        let scheme = lb
            .scheme()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        let attributes = aws
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| call_error(&id, "DescribeLoadBalancerAttributes", e))?;
        let drop_invalid_headers = attributes
            .attributes()
            .iter()
            .any(|a| a.key() == Some(DROP_INVALID_HEADERS) && a.value() == Some("true"));
        found.push(observed(
            &id,
            Kind::LoadBalancer,
            LoadBalancerSpec {
                scheme,
                subnets: lb
                    .availability_zones()
                    .iter()
                    .filter_map(|az| az.subnet_id())
                    .map(Ref::physical)
                    .collect(),
                security_groups: lb.security_groups().iter().map(Ref::physical).collect(),
                drop_invalid_headers,
            },
            attrs([
                ("arn", Some(arn.to_owned())),
                ("name", lb.load_balancer_name().map(str::to_owned)),
                ("dns", lb.dns_name().map(str::to_owned)),
                (
                    "label",
                    label(arn, ":loadbalancer/").map(|l| l.replacen("loadbalancer/", "", 1)),
                ),
            ]),
        ));
        let found_listeners = aws
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error(&id, "DescribeListeners", e))?;
        for listener in &found_listeners {
            if let Some(listener_arn) = listener.listener_arn() {
                listener_arns.push(listener_arn.to_owned());
                listeners.push(listener.clone());
            }
        }
    }
    for tg in ours_tg {
        let arn = tg.target_group_arn().unwrap_or_default();
        let Some(id) = owned.get(arn).cloned() else {
            continue;
        };
        let attributes = aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| call_error(&id, "DescribeTargetGroupAttributes", e))?;
        let sticky = attributes
            .attributes()
            .iter()
            .any(|a| a.key() == Some("stickiness.enabled") && a.value() == Some("true"));
        found.push(observed(
            &id,
            Kind::TargetGroup,
            TargetGroupSpec {
                vpc: Ref::physical(tg.vpc_id().unwrap_or_default()),
                port: tg.port().unwrap_or_default() as u16,
                health_path: tg.health_check_path().unwrap_or_default().to_owned(),
                sticky,
            },
            attrs([
                ("arn", Some(arn.to_owned())),
                ("name", tg.target_group_name().map(str::to_owned)),
                ("label", label(arn, ":targetgroup/")),
            ]),
        ));
    }
    if listener_arns.is_empty() {
        return Ok(found);
    }
    let mut rule_arns = Vec::new();
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
        for rule in &listener_rules {
            if !rule.is_default().unwrap_or(false) {
                if let Some(rule_arn) = rule.rule_arn() {
                    rule_arns.push(rule_arn.to_owned());
                    rules.push((arn.to_owned(), rule.clone()));
                }
            }
        }
    }
    let mut tagged: Vec<String> = listener_arns.clone();
    tagged.extend(rule_arns);
    owned.extend(owned_arns(aws, tagged).await?);
    for listener in listeners {
        let arn = listener.listener_arn().unwrap_or_default();
        let Some(id) = owned.get(arn) else {
            continue;
        };
        found.push(observed(
            id,
            Kind::Listener,
            ListenerSpec {
                load_balancer: Ref::physical(listener.load_balancer_arn().unwrap_or_default()),
                port: listener.port().unwrap_or_default() as u16,
                protocol: listener
                    .protocol()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                certificate_arn: listener
                    .certificates()
                    .first()
                    .and_then(|c| c.certificate_arn())
                    .map(str::to_owned),
                default_action: observed_action(listener.default_actions()),
            },
            attrs([("arn", Some(arn.to_owned()))]),
        ));
    }
    for (listener_arn, rule) in rules {
        let arn = rule.rule_arn().unwrap_or_default();
        let Some(id) = owned.get(arn) else {
            continue;
        };
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
                listener: Ref::physical(listener_arn),
                priority: rule.priority().and_then(|p| p.parse().ok()).unwrap_or(0),
                paths,
                hosts,
                target_group: Ref::physical(target_group),
                // Reported as null when absent (always compared): a plain forward is
                // upgraded to the blue/green pair.
                alternate_target_group: alternate_target_group.map(Ref::physical),
            },
            attrs([("arn", Some(arn.to_owned()))]),
        ));
    }
    Ok(found)
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

fn observed_action(actions: &[Action]) -> DefaultAction {
    let Some(action) = actions.first() else {
        return DefaultAction::NotFound;
    };
    match action.r#type() {
        Some(ActionTypeEnum::Forward) => {
            let tg = action
                .target_group_arn()
                .or_else(|| {
                    action
                        .forward_config()
                        .and_then(|f| f.target_groups().first())
                        .and_then(|t| t.target_group_arn())
                })
                .unwrap_or_default();
            DefaultAction::Forward(Ref::physical(tg))
        }
        Some(ActionTypeEnum::Redirect) => DefaultAction::RedirectHttps,
        _ => DefaultAction::NotFound,
    }
}

fn action(default_action: &DefaultAction, resolved: &Resolved) -> Result<Action, AwsError> {
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

fn lb_label(arn: &str) -> Option<String> {
    label(arn, ":loadbalancer/").map(|l| l.replacen("loadbalancer/", "", 1))
}

pub async fn create_load_balancer(
    aws: &Aws,
    id: &str,
    spec: &LoadBalancerSpec,
    resolved: &Resolved,
    progress: &dyn Progress,
) -> Result<Attrs, AwsError> {
    let out = aws
        .elb
        .create_load_balancer()
        .name(aws.name(id))
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(LoadBalancerSchemeEnum::from(spec.scheme.as_str()))
        .set_subnets(Some(resolved.all(&spec.subnets, "id")?))
        .set_security_groups(Some(resolved.all(&spec.security_groups, "id")?))
        .set_tags(Some(tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateLoadBalancer", e))?;
    let lb = out
        .load_balancers()
        .first()
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: "CreateLoadBalancer returned no load balancer".into(),
        })?;
    let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
    wait_until(aws, id, "load balancer active", progress, || async {
        let out = aws
            .elb
            .describe_load_balancers()
            .load_balancer_arns(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeLoadBalancers", e))?;
        let state = out
            .load_balancers()
            .first()
            .and_then(|lb| lb.state())
            .and_then(|s| s.code().cloned());
        Ok(match state {
            Some(LoadBalancerStateEnum::Active) => Ok(()),
            other => Err(other.map_or("unknown".into(), |s| s.as_str().to_owned())),
        })
    })
    .await?;
    set_load_balancer_attributes(aws, id, &arn, spec).await?;
    Ok(attrs([
        ("label", lb_label(&arn)),
        ("arn", Some(arn)),
        ("name", lb.load_balancer_name().map(str::to_owned)),
        ("dns", lb.dns_name().map(str::to_owned)),
    ]))
}

async fn set_load_balancer_attributes(
    aws: &Aws,
    id: &str,
    arn: &str,
    spec: &LoadBalancerSpec,
) -> Result<(), AwsError> {
    aws.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key(DROP_INVALID_HEADERS)
                .value(spec.drop_invalid_headers.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyLoadBalancerAttributes", e))?;
    Ok(())
}

pub async fn update_load_balancer(
    aws: &Aws,
    id: &str,
    spec: &LoadBalancerSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let arn = require(current, id, "arn")?;
    aws.elb
        .set_subnets()
        .load_balancer_arn(&arn)
        .set_subnets(Some(resolved.all(&spec.subnets, "id")?))
        .send()
        .await
        .map_err(|e| call_error(id, "SetSubnets", e))?;
    aws.elb
        .set_security_groups()
        .load_balancer_arn(&arn)
        .set_security_groups(Some(resolved.all(&spec.security_groups, "id")?))
        .send()
        .await
        .map_err(|e| call_error(id, "SetSecurityGroups", e))?;
    set_load_balancer_attributes(aws, id, &arn, spec).await?;
    Ok(current.clone())
}

pub async fn delete_load_balancer(
    aws: &Aws,
    id: &str,
    current: &Attrs,
    progress: &dyn Progress,
) -> Result<(), AwsError> {
    let arn = require(current, id, "arn")?;
    aws.elb
        .delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .map_err(|e| call_error(id, "DeleteLoadBalancer", e))?;
    wait_until(aws, id, "load balancer deleted", progress, || async {
        match aws
            .elb
            .describe_load_balancers()
            .load_balancer_arns(&arn)
            .send()
            .await
            .map_err(|e| call_error(id, "DescribeLoadBalancers", e))
        {
            Ok(out) if out.load_balancers().is_empty() => Ok(Ok(())),
            Ok(_) => Ok(Err("deleting".to_owned())),
            Err(err) if err.code() == Some("LoadBalancerNotFound") => Ok(Ok(())),
            Err(err) => Err(err),
        }
    })
    .await
}

fn stickiness(sticky: bool) -> Vec<TargetGroupAttribute> {
    let mut attributes = vec![TargetGroupAttribute::builder()
        .key("stickiness.enabled")
        .value(sticky.to_string())
        .build()];
    if sticky {
        attributes.push(
            TargetGroupAttribute::builder()
                .key("stickiness.type")
                .value("lb_cookie")
                .build(),
        );
    }
    attributes
}

pub async fn create_target_group(
    aws: &Aws,
    id: &str,
    spec: &TargetGroupSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let out = aws
        .elb
        .create_target_group()
        .name(aws.name(id))
        .protocol(ProtocolEnum::Http)
        .port(i32::from(spec.port))
        .vpc_id(resolved.get(&spec.vpc, "id")?)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path(&spec.health_path)
        .health_check_interval_seconds(TARGET_HEALTH.interval_seconds)
        .health_check_timeout_seconds(TARGET_HEALTH.timeout_seconds)
        .healthy_threshold_count(TARGET_HEALTH.healthy_threshold)
        .unhealthy_threshold_count(TARGET_HEALTH.unhealthy_threshold)
        .set_tags(Some(tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateTargetGroup", e))?;
    let tg = out
        .target_groups()
        .first()
        .ok_or_else(|| AwsError::Unexpected {
            resource: id.to_owned(),
            message: "CreateTargetGroup returned no target group".into(),
        })?;
    let arn = tg.target_group_arn().unwrap_or_default().to_owned();
    aws.elb
        .modify_target_group_attributes()
        .target_group_arn(&arn)
        .set_attributes(Some(stickiness(spec.sticky)))
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyTargetGroupAttributes", e))?;
    Ok(attrs([
        ("label", label(&arn, ":targetgroup/")),
        ("arn", Some(arn)),
        ("name", tg.target_group_name().map(str::to_owned)),
    ]))
}

pub async fn update_target_group(
    aws: &Aws,
    id: &str,
    spec: &TargetGroupSpec,
    current: &Attrs,
) -> Result<Attrs, AwsError> {
    let arn = require(current, id, "arn")?;
    aws.elb
        .modify_target_group()
        .target_group_arn(&arn)
        .health_check_path(&spec.health_path)
        .health_check_interval_seconds(TARGET_HEALTH.interval_seconds)
        .health_check_timeout_seconds(TARGET_HEALTH.timeout_seconds)
        .healthy_threshold_count(TARGET_HEALTH.healthy_threshold)
        .unhealthy_threshold_count(TARGET_HEALTH.unhealthy_threshold)
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyTargetGroup", e))?;
    aws.elb
        .modify_target_group_attributes()
        .target_group_arn(&arn)
        .set_attributes(Some(stickiness(spec.sticky)))
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyTargetGroupAttributes", e))?;
    Ok(current.clone())
}

pub async fn delete_target_group(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.elb
            .delete_target_group()
            .target_group_arn(require(current, id, "arn")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteTargetGroup", e)),
        &["TargetGroupNotFound"],
    )
}

pub async fn create_listener(
    aws: &Aws,
    id: &str,
    spec: &ListenerSpec,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    let out = aws
        .elb
        .create_listener()
        .load_balancer_arn(resolved.get(&spec.load_balancer, "arn")?)
        .port(i32::from(spec.port))
        .protocol(ProtocolEnum::from(spec.protocol.as_str()))
        .set_certificates(
            spec.certificate_arn
                .as_ref()
                .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]),
        )
        .default_actions(action(&spec.default_action, resolved)?)
        .set_tags(Some(tags(aws, id)))
        .send()
        .await
        .map_err(|e| call_error(id, "CreateListener", e))?;
    let arn = out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .unwrap_or_default()
        .to_owned();
    Ok(attrs([("arn", Some(arn))]))
}

pub async fn update_listener(
    aws: &Aws,
    id: &str,
    spec: &ListenerSpec,
    current: &Attrs,
    resolved: &Resolved,
) -> Result<Attrs, AwsError> {
    aws.elb
        .modify_listener()
        .listener_arn(require(current, id, "arn")?)
        .set_certificates(
            spec.certificate_arn
                .as_ref()
                .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]),
        )
        .default_actions(action(&spec.default_action, resolved)?)
        .send()
        .await
        .map_err(|e| call_error(id, "ModifyListener", e))?;
    Ok(current.clone())
}

pub async fn delete_listener(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.elb
            .delete_listener()
            .listener_arn(require(current, id, "arn")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteListener", e)),
        &["ListenerNotFound"],
    )
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

pub async fn create_rule(
    aws: &Aws,
    id: &str,
    spec: &ListenerRuleSpec,
    resolved: &Resolved,
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

pub async fn update_rule(
    aws: &Aws,
    id: &str,
    spec: &ListenerRuleSpec,
    current: &Attrs,
    resolved: &Resolved,
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

pub async fn delete_rule(aws: &Aws, id: &str, current: &Attrs) -> Result<(), AwsError> {
    deleted(
        aws.elb
            .delete_rule()
            .rule_arn(require(current, id, "arn")?)
            .send()
            .await
            .map_err(|e| call_error(id, "DeleteRule", e)),
        &["RuleNotFound"],
    )
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

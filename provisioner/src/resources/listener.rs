//! ALB listeners (HTTP, HTTPS) and their default actions.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Certificate, ProtocolEnum};

use super::elb_common::{action, tags};
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

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

/// The listener's certificate: the stack's own (`[domain]`, a `${certificate-…}`
/// reference) or an ARN given in the config.
fn certificates(
    spec: &ListenerSpec,
    resolved: &Resolved,
) -> Result<Option<Vec<Certificate>>, AwsError> {
    spec.certificate_arn
        .as_ref()
        .map(|arn| {
            let arn = resolved.get(&Ref(arn.clone()), "arn")?;
            Ok(vec![Certificate::builder().certificate_arn(arn).build()])
        })
        .transpose()
}

impl Provider for super::Listener {
    type Spec = ListenerSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ListenerNotFound")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let routes = scan.elb_routes().await?;
        Ok(routes
            .listeners
            .iter()
            .map(|(id, listener)| {
                observed(
                    id,
                    Kind::Listener,
                    ListenerSpec {
                        load_balancer: Ref::physical(
                            listener.load_balancer_arn().unwrap_or_default(),
                        ),
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
                        // ELB reports a policy for HTTPS listeners only; moto reports its
                        // default for HTTP ones too, which is no setting of ours.
                        ssl_policy: listener
                            .ssl_policy()
                            .filter(|_| listener.protocol() == Some(&ProtocolEnum::Https))
                            .map(str::to_owned),
                    },
                    attrs([("arn", listener.listener_arn().map(str::to_owned))]),
                )
            })
            .collect())
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
            .create_listener()
            .load_balancer_arn(resolved.get(&spec.load_balancer, "arn")?)
            .port(i32::from(spec.port))
            .protocol(ProtocolEnum::from(spec.protocol.as_str()))
            .set_certificates(certificates(spec, resolved)?)
            .default_actions(action(&spec.default_action, resolved)?)
            .set_ssl_policy(spec.ssl_policy.clone())
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

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        aws.elb
            .modify_listener()
            .listener_arn(require(current, id, "arn")?)
            .set_certificates(certificates(spec, resolved)?)
            .default_actions(action(&spec.default_action, resolved)?)
            .set_ssl_policy(spec.ssl_policy.clone())
            .send()
            .await
            .map_err(|e| call_error(id, "ModifyListener", e))?;
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
                .delete_listener()
                .listener_arn(require(current, id, "arn")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteListener", e)),
            Self::gone,
        )
    }
}

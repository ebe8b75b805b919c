//! Services that wait for their first release. `up` creates a stack's ECR repositories
//! together with its services, so on a new stack there is no image yet: a service started
//! at its configured count would pull a missing image forever (tasks failing, the circuit
//! breaker tripping). Instead `up` holds such a service back — desired count 0, autoscaling
//! 0-0, tagged [`AWAITING_RELEASE_TAG`] — and the first `provision deploy` starts it at the
//! configured counts and drops the tag ([`release_plan`]).
//!
//! Whether a service waits is observed state, read before planning, so the plan stays pure
//! data: a service that exists waits only while it carries the tag (a service that was
//! released once is never held again, even if its image later expired from ECR); a service
//! still to be created waits when its repository, as observed, has no image with the tag
//! its task definition would run.

use crate::model::{Kind, Resource, Spec};
use crate::plan::Observed;
use crate::resources::has_image_tag;
pub use slipway_cdk::settings::ecs::AWAITING_RELEASE_TAG;

fn observed<'a>(observed: &'a [Observed], id: &str) -> Option<&'a Observed> {
    observed.iter().find(|o| o.id == id)
}

/// Whether the service `service_id` of `resources` has no image to run yet (see the module
/// docs).
fn waits(resources: &[Resource], observed_state: &[Observed], service_id: &str) -> bool {
    if let Some(live) = observed(observed_state, service_id) {
        return live.spec["awaiting_release"] == serde_json::Value::Bool(true);
    }
    let Some(Spec::Service(service)) = resources
        .iter()
        .find(|r| r.id == service_id)
        .map(|r| &r.spec)
    else {
        return false;
    };
    let Some(definition_id) = service.task_definition.logical_id() else {
        return false;
    };
    let Some(Spec::TaskDefinition(definition)) = resources
        .iter()
        .find(|r| r.id == definition_id)
        .map(|r| &r.spec)
    else {
        return false;
    };
    // A registered definition keeps the tag it runs (releases own it); a new one starts
    // with the config's.
    let tag = observed(observed_state, definition_id)
        .and_then(|d| d.attrs.get("_image_tag"))
        .unwrap_or(&definition.container.image_tag);
    let repository = definition.container.image_repository.logical_id();
    !repository
        .and_then(|id| observed(observed_state, id))
        .is_some_and(|repo| has_image_tag(&repo.attrs, tag))
}

/// Holds back, in the expansion `up` applies, every service that waits for its first
/// release: desired count 0 and `awaiting_release`, its scalable target 0-0. Returns their
/// resource ids.
pub fn hold_unreleased(resources: &mut [Resource], observed_state: &[Observed]) -> Vec<String> {
    let held: Vec<String> = resources
        .iter()
        .filter(|r| r.kind() == Kind::Service)
        .filter(|r| waits(resources, observed_state, &r.id))
        .map(|r| r.id.clone())
        .collect();
    for resource in resources.iter_mut() {
        match &mut resource.spec {
            Spec::Service(service) if held.contains(&resource.id) => {
                service.desired_count = 0;
                service.awaiting_release = true;
            }
            // Nothing may scale a held service out: min and max 0 until the release.
            Spec::ScalableTarget(target)
                if target
                    .service
                    .logical_id()
                    .is_some_and(|id| held.iter().any(|h| h == id)) =>
            {
                target.min = 0;
                target.max = 0;
            }
            _ => {}
        }
    }
    held
}

/// The services of an expansion that wait for their first release (their config names).
pub fn unreleased_services<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Vec<String> {
    resources
        .into_iter()
        .filter(|r| matches!(&r.spec, Spec::Service(s) if s.awaiting_release))
        .map(|r| r.id.strip_prefix("service-").unwrap_or(&r.id).to_owned())
        .collect()
}

/// Whether the live service `name` (config name) waits for its first release.
pub fn awaiting_release(observed_state: &[Observed], name: &str) -> bool {
    observed(observed_state, &crate::model::ids::service(name))
        .is_some_and(|live| live.spec["awaiting_release"] == serde_json::Value::Bool(true))
}

/// What the first release of a held service changes besides its task definition: the
/// configured desired count and autoscaling range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstRelease {
    /// `service/<cluster>/<service>` (Application Auto Scaling's resource id).
    pub resource_id: String,
    /// The service's ARN (to retag it).
    pub service_arn: String,
    pub desired: i32,
    pub min: i32,
    pub max: i32,
}

/// The first release of `name` when `observed` shows it held back, else `None` (an
/// ordinary release changes no counts).
pub fn release_plan(
    observed_state: &[Observed],
    name: &str,
    service: &crate::config::ServiceConfig,
) -> Option<FirstRelease> {
    if !awaiting_release(observed_state, name) {
        return None;
    }
    let live = observed(observed_state, &crate::model::ids::service(name))?;
    Some(FirstRelease {
        resource_id: live.attrs.get("resource_id")?.clone(),
        service_arn: live.attrs.get("arn")?.clone(),
        desired: service.desired,
        min: service.min,
        max: service.max,
    })
}

/// Before the first release's UpdateService: the service's autoscaling range back to the
/// configured one (RegisterScalableTarget updates a registered target in place), so the
/// count the release sets is inside it.
pub async fn open_scaling(
    aws: &crate::aws::Aws,
    name: &str,
    first: &FirstRelease,
) -> Result<(), crate::aws::AwsError> {
    aws.autoscaling
        .register_scalable_target()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(&first.resource_id)
        .scalable_dimension(crate::resources::autoscaling_common::DIMENSION)
        .min_capacity(first.min)
        .max_capacity(first.max)
        .send()
        .await
        .map_err(|e| crate::aws::call_error(name, "RegisterScalableTarget", e))?;
    Ok(())
}

/// After the first release's UpdateService: the service records the configured desired
/// count (what `up` compares with) and loses [`AWAITING_RELEASE_TAG`], so no later `up`
/// holds it back again.
pub async fn mark_released(
    aws: &crate::aws::Aws,
    name: &str,
    first: &FirstRelease,
) -> Result<(), crate::aws::AwsError> {
    aws.ecs
        .tag_resource()
        .resource_arn(&first.service_arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key(crate::resources::service::CONFIGURED_DESIRED_TAG)
                .value(first.desired.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| crate::aws::call_error(name, "TagResource", e))?;
    aws.ecs
        .untag_resource()
        .resource_arn(&first.service_arn)
        .tag_keys(AWAITING_RELEASE_TAG)
        .send()
        .await
        .map_err(|e| crate::aws::call_error(name, "UntagResource", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StackConfig;
    use crate::constructs::expand;
    use crate::resources::IMAGE_TAGS;

    fn sums() -> Vec<Resource> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        expand(&StackConfig::load(&root, "sums", "dev").unwrap())
    }

    fn repo(id: &str, tags: &str) -> Observed {
        Observed {
            id: id.into(),
            kind: Kind::Repository,
            spec: serde_json::json!({}),
            attrs: [(IMAGE_TAGS.to_string(), tags.to_string())]
                .into_iter()
                .collect(),
        }
    }

    fn spec<'a>(resources: &'a [Resource], id: &str) -> &'a Spec {
        &resources.iter().find(|r| r.id == id).unwrap().spec
    }

    #[test]
    fn a_new_service_without_its_image_is_held_at_zero_and_one_with_it_is_not() {
        let mut resources = sums();
        // The client's image tag (`latest`) was pushed; the API's repository has another.
        let observed = vec![
            repo("repo-client", "abc,latest"),
            repo("repo-api", "latest-1"),
        ];
        let held = hold_unreleased(&mut resources, &observed);
        assert_eq!(held, ["service-api"]);
        assert_eq!(unreleased_services(&resources), ["api"]);
        let Spec::Service(api) = spec(&resources, "service-api") else {
            panic!()
        };
        assert_eq!((api.desired_count, api.awaiting_release), (0, true));
        let Spec::ScalableTarget(target) = spec(&resources, "scaling-api") else {
            panic!()
        };
        assert_eq!((target.min, target.max), (0, 0));
        let Spec::Service(client) = spec(&resources, "service-client") else {
            panic!()
        };
        assert_eq!((client.desired_count, client.awaiting_release), (2, false));
        let Spec::ScalableTarget(target) = spec(&resources, "scaling-client") else {
            panic!()
        };
        assert_eq!((target.min, target.max), (2, 6));
        // A fresh account: no repository at all, every service waits.
        let mut fresh = sums();
        assert_eq!(hold_unreleased(&mut fresh, &[]).len(), 2);
    }

    #[test]
    fn an_existing_service_waits_only_while_it_carries_the_tag() {
        let service = |awaiting: bool| {
            let mut spec = serde_json::json!({"desired_count": 2});
            if awaiting {
                spec["awaiting_release"] = true.into();
            }
            Observed {
                id: "service-api".into(),
                kind: Kind::Service,
                spec,
                attrs: [
                    ("resource_id".to_string(), "service/c/s".to_string()),
                    ("arn".to_string(), "arn:svc".to_string()),
                ]
                .into_iter()
                .collect(),
            }
        };
        // Released once, its image since expired from ECR: never held again.
        let mut resources = sums();
        let held = hold_unreleased(&mut resources, &[service(false), repo("repo-api", "")]);
        assert!(!held.contains(&"service-api".to_owned()), "{held:?}");
        // Still waiting although the configured tag now exists: held until `deploy`.
        let mut resources = sums();
        let held = hold_unreleased(&mut resources, &[service(true), repo("repo-api", "latest")]);
        assert!(held.contains(&"service-api".to_owned()), "{held:?}");

        let config = StackConfig::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config"),
            "sums",
            "dev",
        )
        .unwrap();
        let first = release_plan(&[service(true)], "api", &config.services["api"]).unwrap();
        assert_eq!(
            first,
            FirstRelease {
                resource_id: "service/c/s".into(),
                service_arn: "arn:svc".into(),
                desired: 2,
                min: 2,
                max: 6
            }
        );
        assert_eq!(
            release_plan(&[service(false)], "api", &config.services["api"]),
            None
        );
        assert!(awaiting_release(&[service(true)], "api"));
        assert!(!awaiting_release(&[service(false)], "api"));
        assert!(!awaiting_release(&[service(true)], "client"));
    }
}

//! Helpers shared by the CloudWatch kinds (dashboard, alarm): metric dimension values.

use crate::aws::{AwsError, Resolved};
use crate::model::Ref;

/// The value CloudWatch knows a resource by in metric dimensions: a load balancer's or
/// target group's label (`app/<name>/<id>`, `targetgroup/<name>/<id>`), else its name.
pub(crate) fn dimension_value(resolved: &Resolved, reference: &Ref) -> Result<String, AwsError> {
    resolved
        .get(reference, "label")
        .or_else(|_| resolved.get(reference, "name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ref;

    #[test]
    fn dimensions_use_the_load_balancer_label_else_the_name() {
        let mut resolved = Resolved::default();
        resolved.insert(
            "alb",
            [
                ("name".to_string(), "voting-dev-alb".to_string()),
                ("label".to_string(), "app/voting-dev-alb/0123".to_string()),
            ]
            .into(),
        );
        resolved.insert(
            "cluster",
            [("name".to_string(), "voting-dev-cluster".to_string())].into(),
        );
        assert_eq!(
            dimension_value(&resolved, &Ref::to("alb")).unwrap(),
            "app/voting-dev-alb/0123"
        );
        assert_eq!(
            dimension_value(&resolved, &Ref::to("cluster")).unwrap(),
            "voting-dev-cluster"
        );
        assert_eq!(
            dimension_value(&resolved, &Ref::physical("literal-001")).unwrap(),
            "literal-001"
        );
    }
}

//! The stack's ECS cluster (one per stack and environment), with Container Insights.

use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName};

use super::ecs_common::{cluster_name, owned, tags};
use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, wait_until, Aws, AwsError, DeleteOptions, Progress,
    Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

async fn observe_cluster(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
    let out = aws
        .ecs
        .describe_clusters()
        .clusters(cluster_name(aws))
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|e| call_error("cluster", "DescribeClusters", e))?;
    Ok(out
        .clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .filter_map(|cluster| {
            let id = owned(aws, cluster.tags())?;
            let insights = cluster.settings().iter().any(|s| {
                s.name() == Some(&ClusterSettingName::ContainerInsights)
                    && matches!(s.value(), Some("enabled") | Some("enhanced"))
            });
            Some(observed(
                &id,
                Kind::Cluster,
                ClusterSpec {
                    container_insights: insights,
                },
                attrs([
                    ("arn", cluster.cluster_arn().map(str::to_owned)),
                    ("name", cluster.cluster_name().map(str::to_owned)),
                ]),
            ))
        })
        .collect())
}

fn insights(spec: &ClusterSpec) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if spec.container_insights {
            "enabled"
        } else {
            "disabled"
        })
        .build()
}

impl Scan<'_> {
    /// The stack's cluster (none or one), read once per observation: its services are
    /// listed in it.
    pub(crate) async fn clusters(&self) -> Result<&[Observed], AwsError> {
        self.clusters
            .get_or_try_init(|| observe_cluster(self.aws))
            .await
            .map(Vec::as_slice)
    }
}

impl Provider for super::Cluster {
    type Spec = ClusterSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "ClusterNotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        Ok(scan.clusters().await?.to_vec())
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = aws
            .ecs
            .create_cluster()
            .cluster_name(aws.name(id))
            .settings(insights(spec))
            .set_tags(Some(tags(aws, id)))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateCluster", e))?;
        let arn = out
            .cluster()
            .and_then(|c| c.cluster_arn())
            .unwrap_or_default()
            .to_owned();
        wait_until(aws, id, "cluster ACTIVE", progress, || async {
            let out = aws
                .ecs
                .describe_clusters()
                .clusters(&arn)
                .send()
                .await
                .map_err(|e| call_error(id, "DescribeClusters", e))?;
            let status = out
                .clusters()
                .first()
                .and_then(|c| c.status())
                .unwrap_or("unknown")
                .to_owned();
            Ok(if status == "ACTIVE" {
                Ok(())
            } else {
                Err(status)
            })
        })
        .await?;
        Ok(attrs([("arn", Some(arn)), ("name", Some(aws.name(id)))]))
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        aws.ecs
            .update_cluster_settings()
            .cluster(require(current, id, "name")?)
            .settings(insights(spec))
            .send()
            .await
            .map_err(|e| call_error(id, "UpdateClusterSettings", e))?;
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
            aws.ecs
                .delete_cluster()
                .cluster(require(current, id, "name")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteCluster", e)),
            Self::gone,
        )
    }
}

//! The SNS topic alarms notify.

use aws_sdk_sns::types::Tag;

use super::{deleted, Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, require, Aws, AwsError, DeleteOptions, Progress, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

impl Provider for super::Topic {
    type Spec = TopicSpec;

    fn gone(code: &str) -> bool {
        matches!(code, "NotFound" | "NotFoundException")
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let mut found = Vec::new();
        let mut topics = aws.sns.list_topics().into_paginator().items().send();
        while let Some(topic) = topics.next().await {
            let topic = topic.map_err(|e| call_error("topics", "ListTopics", e))?;
            let Some(arn) = topic.topic_arn() else {
                continue;
            };
            let tags = aws
                .sns
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| call_error(arn, "ListTagsForResource", e))?;
            let Some(id) = aws.owned_id(tags.tags().iter().map(|t| (t.key(), t.value()))) else {
                continue;
            };
            let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
            found.push(observed(
                &id,
                Kind::Topic,
                TopicSpec { name: name.clone() },
                // `_name`: the name is also the spec's value, not an identifier to map.
                attrs([("arn", Some(arn.to_owned())), ("_name", Some(name))]),
            ));
        }
        Ok(found)
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        _resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let tags = aws
            .tags(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::Unexpected {
                resource: id.to_owned(),
                message: e.to_string(),
            })?;
        let out = aws
            .sns
            .create_topic()
            .name(&spec.name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateTopic", e))?;
        Ok(attrs([
            ("arn", out.topic_arn().map(str::to_owned)),
            ("_name", Some(spec.name.clone())),
        ]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        deleted(
            aws.sns
                .delete_topic()
                .topic_arn(require(current, id, "arn")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteTopic", e)),
            Self::gone,
        )
    }
}

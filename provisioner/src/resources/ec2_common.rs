//! Helpers shared by the EC2 kinds (VPC, internet gateway, subnet, NAT gateway, route
//! table, security group): ownership tags at creation, tag filters for the listings, and
//! what "already gone" looks like. EC2 filters by tag, so each kind is one listing, read
//! through every page ("Pagination in the Amazon EC2 API", EC2 developer guide: describe
//! calls that can return many results may be paginated). Look-ups by id return the one
//! item asked for.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::aws::{Aws, AwsError};

pub(crate) fn tag_spec(aws: &Aws, id: &str, kind: ResourceType) -> TagSpecification {
    let mut tags: Vec<Tag> = aws
        .tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    tags.push(Tag::builder().key("Name").value(aws.name(id)).build());
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags))
        .build()
}

pub(crate) fn ownership_filters(aws: &Aws) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{}", crate::aws::tags::STACK))
            .values(&aws.stack)
            .build(),
        Filter::builder()
            .name(format!("tag:{}", crate::aws::tags::ENV))
            .values(&aws.env)
            .build(),
    ]
}

pub(crate) fn owned(aws: &Aws, tags: &[Tag]) -> Option<String> {
    aws.owned_id(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

/// `Ok` once an EC2 state reads `available`; otherwise the state to report.
pub(crate) fn available(state: Option<&str>) -> Result<(), String> {
    match state {
        Some("available") => Ok(()),
        other => Err(other.unwrap_or("unknown").to_owned()),
    }
}

/// Whether an EC2 error code says the resource (or what it was attached to) is already
/// gone: `Invalid…ID.NotFound`, `….Malformed`, `NatGatewayNotFound`.
pub(crate) fn missing(code: &str) -> bool {
    code.contains("NotFound") || code.contains("Malformed")
}

/// Treats "already gone" ([`missing`]) as success, so `down` can be re-run.
pub(crate) fn ignore_missing<T>(result: Result<T, AwsError>) -> Result<(), AwsError> {
    super::deleted(result, missing)
}

/// EC2 listings answered in two pages, with aws-smithy-mocks: moto's EC2 ignores
/// MaxResults/NextToken on these calls and always answers in one page.
#[cfg(test)]
mod tests {
    use aws_sdk_ec2::operation::describe_security_groups::{
        DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput,
    };
    use aws_sdk_ec2::operation::describe_subnets::{DescribeSubnetsInput, DescribeSubnetsOutput};
    use aws_sdk_ec2::types::{SecurityGroup, Subnet};
    use aws_smithy_mocks::{mock, Rule};

    use super::*;
    use crate::aws::mocked;
    use crate::model::Kind;
    use crate::plan::Observed;
    use crate::resources::observe_kinds;

    async fn observe_security_groups(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
        observe_kinds(aws, &[Kind::SecurityGroup]).await
    }

    async fn observe_subnets(aws: &Aws) -> Result<Vec<Observed>, AwsError> {
        observe_kinds(aws, &[Kind::Subnet]).await
    }

    fn ec2(rules: &[&Rule]) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&mocked::sdk_config())
                .interceptor(mocked::interceptor(rules))
                .build(),
        )
    }

    /// The ownership tags `up` puts on `id`.
    fn tags(aws: &Aws, id: &str) -> Vec<Tag> {
        aws.tags(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn group(aws: &Aws, id: &str, group_id: &str) -> SecurityGroup {
        SecurityGroup::builder()
            .group_id(group_id)
            .vpc_id("vpc-1")
            .description(id)
            .set_tags(Some(tags(aws, id)))
            .build()
    }

    #[tokio::test]
    async fn security_groups_on_every_page_are_observed() {
        let aws = mocked::aws();
        let first_page = vec![group(&aws, "sg-alb", "sg-0001")];
        let second_page = vec![group(&aws, "sg-vote", "sg-0002")];
        let first = mock!(aws_sdk_ec2::Client::describe_security_groups)
            .match_requests(|input: &DescribeSecurityGroupsInput| input.next_token().is_none())
            .then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .set_security_groups(Some(first_page.clone()))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_ec2::Client::describe_security_groups)
            .match_requests(|input: &DescribeSecurityGroupsInput| {
                input.next_token() == Some("page-2")
                    && input
                        .filters()
                        .iter()
                        .any(|f| f.name() == Some("tag:slipway:stack"))
            })
            .then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .set_security_groups(Some(second_page.clone()))
                    .build()
            });
        let mut aws = aws;
        aws.ec2 = ec2(&[&first, &second]);
        let found = observe_security_groups(&aws).await.unwrap();
        let ids: Vec<(&str, &str)> = found
            .iter()
            .map(|o| (o.id.as_str(), o.attrs["id"].as_str()))
            .collect();
        assert_eq!(ids, [("sg-alb", "sg-0001"), ("sg-vote", "sg-0002")]);
        assert_eq!(
            second.num_calls(),
            1,
            "the second page was asked for with the filters"
        );
    }

    #[tokio::test]
    async fn subnets_on_every_page_are_observed() {
        let aws = mocked::aws();
        let subnet = |id: &str, subnet_id: &str| {
            Subnet::builder()
                .subnet_id(subnet_id)
                .vpc_id("vpc-1")
                .cidr_block("10.0.0.0/24")
                .availability_zone("us-east-1a")
                .set_tags(Some(tags(&aws, id)))
                .build()
        };
        let pages = [
            vec![subnet("subnet-public-a", "subnet-1")],
            vec![subnet("subnet-private-a", "subnet-2")],
        ];
        let [first_page, second_page] = pages;
        let first = mock!(aws_sdk_ec2::Client::describe_subnets)
            .match_requests(|input: &DescribeSubnetsInput| input.next_token().is_none())
            .then_output(move || {
                DescribeSubnetsOutput::builder()
                    .set_subnets(Some(first_page.clone()))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_ec2::Client::describe_subnets)
            .match_requests(|input: &DescribeSubnetsInput| input.next_token() == Some("page-2"))
            .then_output(move || {
                DescribeSubnetsOutput::builder()
                    .set_subnets(Some(second_page.clone()))
                    .build()
            });
        let mut aws = aws;
        aws.ec2 = ec2(&[&first, &second]);
        let found = observe_subnets(&aws).await.unwrap();
        let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["subnet-public-a", "subnet-private-a"]);
    }
}

//! AWS's eventual consistency, which moto does not have (a resource it creates is visible
//! to the next call at once): the exact answers a real account gives right after a create
//! or a NAT gateway's deletion, replayed with aws-smithy-mocks as EC2 sends them on the
//! wire (HTTP 400 and EC2's XML error document), against the provisioner's own code.

mod common;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Address, NatGateway, NatGatewayState, SecurityGroup, Tag};
use aws_smithy_mocks::{mock, Rule, RuleMode};
use provisioner::aws::{self, Aws, Quiet, Resolved};
use provisioner::model::{InternetGatewaySpec, Kind, Ref, Resource, SecurityGroupSpec, Spec};
use provisioner::plan::{Attrs, Observed};
use provisioner::resources;

const REGION: &str = "us-east-1";

/// EC2's error document, as the query protocol returns it with HTTP 400.
fn ec2_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{code} (replayed)</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    )
}

fn ec2_client(rules: &[&Rule], mode: RuleMode) -> aws_sdk_ec2::Client {
    common::mocks::client!(aws_sdk_ec2, REGION, rules.iter().copied(), mode)
}

fn mocked_aws(ec2: aws_sdk_ec2::Client) -> Aws {
    let mut aws = common::mocks::aws(REGION, "voting", "dev");
    aws.ec2 = ec2;
    aws
}

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn resolved(pairs: &[(&str, &[(&str, &str)])]) -> Resolved {
    let mut all = BTreeMap::new();
    for (id, values) in pairs {
        all.insert(id.to_string(), attrs(values));
    }
    Resolved::new(all)
}

#[tokio::test]
async fn attaching_a_new_internet_gateway_waits_until_ec2_sees_it() {
    let create = mock!(aws_sdk_ec2::Client::create_internet_gateway).then_output(|| {
        aws_sdk_ec2::operation::create_internet_gateway::CreateInternetGatewayOutput::builder()
            .internet_gateway(
                aws_sdk_ec2::types::InternetGateway::builder()
                    .internet_gateway_id("igw-1")
                    .build(),
            )
            .build()
    });
    let attach = mock!(aws_sdk_ec2::Client::attach_internet_gateway)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidInternetGatewayID.NotFound")))
        .times(2)
        .output(|| {
            aws_sdk_ec2::operation::attach_internet_gateway::AttachInternetGatewayOutput::builder()
                .build()
        })
        .build();
    let aws = mocked_aws(ec2_client(&[&create, &attach], RuleMode::MatchAny));
    let igw = Resource {
        id: "igw".into(),
        spec: Spec::InternetGateway(InternetGatewaySpec {
            vpc: Ref::to("vpc"),
        }),
        after: Vec::new(),
    };
    let created = resources::create(
        &aws,
        &igw,
        &resolved(&[("vpc", &[("id", "vpc-1")])]),
        &Quiet,
    )
    .await
    .expect("the attach succeeds once EC2 sees the new gateway");
    assert_eq!(created.get("id").map(String::as_str), Some("igw-1"));
    assert_eq!(attach.num_calls(), 3);
}

#[tokio::test]
async fn a_new_security_group_that_reads_not_found_is_described_again() {
    let create = mock!(aws_sdk_ec2::Client::create_security_group).then_output(|| {
        aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput::builder()
            .group_id("sg-new")
            .build()
    });
    // The EC2 guide's own example: InvalidGroup.NotFound right after CreateSecurityGroup.
    let describe = mock!(aws_sdk_ec2::Client::describe_security_groups)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidGroup.NotFound")))
        .output(|| {
            aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput::builder(
            )
            .security_groups(SecurityGroup::builder().group_id("sg-new").build())
            .build()
        })
        .build();
    let authorize = mock!(aws_sdk_ec2::Client::authorize_security_group_ingress)
        .sequence()
        // The source group is minutes old too.
        .http_status(400, Some(ec2_error("InvalidGroup.NotFound")))
        .output(|| {
            aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput::builder()
                .r#return(true)
                .build()
        })
        .build();
    let aws = mocked_aws(ec2_client(
        &[&create, &describe, &authorize],
        RuleMode::MatchAny,
    ));
    let group = Resource {
        id: "sg-redis".into(),
        spec: Spec::SecurityGroup(SecurityGroupSpec {
            vpc: Ref::to("vpc"),
            description: "redis: only from its consumers, no egress".into(),
            ingress: vec![provisioner::model::IngressRule {
                port: 6379,
                source: Ref::to("sg-worker"),
            }],
            // No egress in the described group: nothing to revoke.
            egress_all: false,
        }),
        after: Vec::new(),
    };
    let resolved = resolved(&[
        ("vpc", &[("id", "vpc-1")]),
        ("sg-worker", &[("id", "sg-worker1")]),
    ]);
    resources::create(&aws, &group, &resolved, &Quiet)
        .await
        .expect("the group's rules are set once EC2 sees it");
    assert_eq!((describe.num_calls(), authorize.num_calls()), (2, 2));
}

fn nat_observed() -> Observed {
    Observed {
        id: "nat-a".into(),
        kind: Kind::NatGateway,
        spec: serde_json::json!({}),
        attrs: attrs(&[("id", "nat-1"), ("_allocation", "eipalloc-1")]),
    }
}

fn nat_deleted_rules() -> (Rule, Rule) {
    let delete = mock!(aws_sdk_ec2::Client::delete_nat_gateway).then_output(|| {
        aws_sdk_ec2::operation::delete_nat_gateway::DeleteNatGatewayOutput::builder()
            .nat_gateway_id("nat-1")
            .build()
    });
    let describe = mock!(aws_sdk_ec2::Client::describe_nat_gateways).then_output(|| {
        aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput::builder()
            .nat_gateways(
                NatGateway::builder()
                    .nat_gateway_id("nat-1")
                    .state(NatGatewayState::Deleted)
                    .build(),
            )
            .build()
    });
    (delete, describe)
}

#[tokio::test]
async fn the_elastic_ip_of_a_deleted_nat_gateway_is_released_even_while_aws_still_refuses() {
    let (delete, describe) = nat_deleted_rules();
    // What AWS answers while the gateway's network interface still holds the address.
    let release = mock!(aws_sdk_ec2::Client::release_address)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidNetworkInterfaceID.NotFound")))
        .http_status(400, Some(ec2_error("AuthFailure")))
        .http_status(400, Some(ec2_error("InvalidIPAddress.InUse")))
        .output(|| aws_sdk_ec2::operation::release_address::ReleaseAddressOutput::builder().build())
        .build();
    let aws = mocked_aws(ec2_client(
        &[&delete, &describe, &release],
        RuleMode::MatchAny,
    ));
    resources::delete(
        &aws,
        &nat_observed(),
        &aws::DeleteOptions::default(),
        &Quiet,
    )
    .await
    .expect("the address is released once AWS lets go of it");
    assert_eq!(release.num_calls(), 4, "released, not given up on");
}

/// Deletes the NAT gateway with ReleaseAddress answering `code` (HTTP 400) once;
/// returns the result and how often ReleaseAddress was called.
async fn delete_nat_with_release_answering(code: &'static str) -> (Result<(), String>, usize) {
    let (delete, describe) = nat_deleted_rules();
    let release = mock!(aws_sdk_ec2::Client::release_address)
        .sequence()
        .http_status(400, Some(ec2_error(code)))
        .build();
    let aws = mocked_aws(ec2_client(
        &[&delete, &describe, &release],
        RuleMode::MatchAny,
    ));
    let result = resources::delete(
        &aws,
        &nat_observed(),
        &aws::DeleteOptions::default(),
        &Quiet,
    )
    .await
    .map_err(|e| e.to_string());
    (result, release.num_calls())
}

#[tokio::test]
async fn an_address_already_released_counts_as_released_but_other_errors_do_not() {
    let (result, calls) = delete_nat_with_release_answering("InvalidAllocationID.NotFound").await;
    assert_eq!((result, calls), (Ok(()), 1));
    // A release AWS refuses for good is an error, not a silent leak.
    let (result, calls) = delete_nat_with_release_answering("UnauthorizedOperation").await;
    let err = result.unwrap_err();
    assert!(err.contains("ReleaseAddress"), "{err}");
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn down_releases_unused_elastic_ips_an_interrupted_run_left_behind() {
    let tags = |id: &str| {
        vec![
            Tag::builder().key("slipway:stack").value("voting").build(),
            Tag::builder().key("slipway:env").value("dev").build(),
            Tag::builder().key("slipway:id").value(id).build(),
            Tag::builder().key("managed-by").value("slipway").build(),
        ]
    };
    let (leftover_tags, in_use_tags) = (tags("nat-a"), tags("nat-b"));
    let addresses = mock!(aws_sdk_ec2::Client::describe_addresses)
        .match_requests(|request| {
            // Only the stack's own addresses, by its tags.
            let names: Vec<&str> = request.filters().iter().filter_map(|f| f.name()).collect();
            names.contains(&"tag:slipway:stack") && names.contains(&"tag:slipway:env")
        })
        .then_output(move || {
            aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput::builder()
                .addresses(
                    Address::builder()
                        .allocation_id("eipalloc-left")
                        .set_tags(Some(leftover_tags.clone()))
                        .build(),
                )
                .addresses(
                    Address::builder()
                        .allocation_id("eipalloc-used")
                        .association_id("eipassoc-1")
                        .set_tags(Some(in_use_tags.clone()))
                        .build(),
                )
                .build()
        });
    let release = mock!(aws_sdk_ec2::Client::release_address)
        .match_requests(|request| request.allocation_id() == Some("eipalloc-left"))
        .then_output(|| {
            aws_sdk_ec2::operation::release_address::ReleaseAddressOutput::builder().build()
        });
    let aws = mocked_aws(ec2_client(&[&addresses, &release], RuleMode::MatchAny));
    let released = resources::release_unused_addresses(&aws, &Quiet)
        .await
        .unwrap();
    assert_eq!(released, vec!["eipalloc-left".to_owned()]);
    assert_eq!(release.num_calls(), 1);
}

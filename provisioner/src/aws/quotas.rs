//! Account quotas a plan is about to exceed, checked before `up` creates anything: three
//! stacks in dev and prod in one region need 6 VPCs and up to 9 Elastic IPs, and the
//! defaults are 5 of each ("Amazon VPC quotas", VPC user guide: VPCs per Region 5, quota
//! L-F678F1CE; "Elastic IP address quota", EC2 user guide: 5 per Region). AWS refuses the
//! create halfway through (`VpcLimitExceeded`, `AddressLimitExceeded`), so `plan` and `up`
//! warn first. Warnings, not errors: the numbers are read, not reserved.

use aws_sdk_ec2::types::Filter;

use super::{call_error, Aws, AwsError};
use crate::model::Kind;
use crate::plan::{Action, Plan};

/// Service Quotas code of "VPCs per Region".
const VPC_QUOTA_CODE: &str = "L-F678F1CE";
/// The documented default, used when Service Quotas cannot be read.
const DEFAULT_VPCS: usize = 5;

/// One quota the plan would exceed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuotaWarning {
    pub what: &'static str,
    pub in_use: usize,
    pub creates: usize,
    pub quota: usize,
}

impl std::fmt::Display for QuotaWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this plan creates {} {} but the region has {} of {} allowed: `up` would stop halfway — raise the quota in Service Quotas or free some first",
            self.creates, self.what, self.in_use, self.quota
        )
    }
}

/// Pure: which quotas `creates` on top of `in_use` would exceed.
pub fn exceeded(checks: &[(&'static str, usize, usize, usize)]) -> Vec<QuotaWarning> {
    checks
        .iter()
        .filter(|(_, in_use, creates, quota)| *creates > 0 && in_use + creates > *quota)
        .map(|&(what, in_use, creates, quota)| QuotaWarning {
            what,
            in_use,
            creates,
            quota,
        })
        .collect()
}

/// How many resources of `kind` the plan creates (replacements create too).
fn creates(plan: &Plan, kind: Kind) -> usize {
    plan.changes()
        .filter(|s| s.kind == kind && matches!(s.action, Action::Create | Action::Replace { .. }))
        .count()
}

/// The quotas this plan would exceed in the account and region `aws` points at.
pub async fn check(aws: &Aws, plan: &Plan) -> Result<Vec<QuotaWarning>, AwsError> {
    let new_vpcs = creates(plan, Kind::Vpc);
    // Every new NAT gateway allocates an Elastic IP (one left by an interrupted run is reused,
    // so this can overcount by that one).
    let new_addresses = creates(plan, Kind::NatGateway);
    if new_vpcs == 0 && new_addresses == 0 {
        return Ok(Vec::new());
    }
    let mut vpcs_in_use = 0;
    let mut pages = aws.ec2.describe_vpcs().into_paginator().send();
    while let Some(page) = pages.next().await {
        vpcs_in_use += page
            .map_err(|e| call_error("quotas", "DescribeVpcs", e))?
            .vpcs()
            .len();
    }
    let vpc_quota = match aws
        .quotas
        .get_service_quota()
        .service_code("vpc")
        .quota_code(VPC_QUOTA_CODE)
        .send()
        .await
    {
        Ok(out) => out
            .quota()
            .and_then(|q| q.value())
            .map_or(DEFAULT_VPCS, |v| v as usize),
        // Service Quotas may be unreadable (permissions, partitions): the default then.
        Err(_) => DEFAULT_VPCS,
    };
    // DescribeAddresses is not paginated; the filter keeps it to VPC addresses.
    let addresses_in_use = aws
        .ec2
        .describe_addresses()
        .filters(Filter::builder().name("domain").values("vpc").build())
        .send()
        .await
        .map_err(|e| call_error("quotas", "DescribeAddresses", e))?
        .addresses()
        .len();
    // All attributes, then the one wanted: the service model's AttributeName enum only
    // lists `supported-platforms` and `default-vpc`, so naming `vpc-max-elastic-ips` would
    // break the model (the request check in tests/request_check.py says so).
    let attributes = aws
        .ec2
        .describe_account_attributes()
        .send()
        .await
        .map_err(|e| call_error("quotas", "DescribeAccountAttributes", e))?;
    let address_quota = attributes
        .account_attributes()
        .iter()
        .filter(|a| a.attribute_name() == Some("vpc-max-elastic-ips"))
        .flat_map(|a| a.attribute_values())
        .find_map(|v| v.attribute_value()?.parse().ok())
        .unwrap_or(5);
    Ok(exceeded(&[
        ("VPC(s)", vpcs_in_use, new_vpcs, vpc_quota),
        (
            "Elastic IP(s) (one per NAT gateway)",
            addresses_in_use,
            new_addresses,
            address_quota,
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_where_the_creates_go_past_the_quota() {
        // Five VPCs in use, one more: the sixth stack/env hits the default quota.
        let warnings = exceeded(&[("VPC(s)", 5, 1, 5), ("Elastic IP(s)", 3, 2, 5)]);
        assert_eq!(
            warnings,
            vec![QuotaWarning {
                what: "VPC(s)",
                in_use: 5,
                creates: 1,
                quota: 5
            }]
        );
        assert!(warnings[0].to_string().contains("has 5 of 5 allowed"));
        // Nothing new: no warning even when already over (someone raised and lowered it).
        assert!(exceeded(&[("VPC(s)", 7, 0, 5)]).is_empty());
        assert_eq!(exceeded(&[("Elastic IP(s)", 4, 2, 5)]).len(), 1);
    }
}

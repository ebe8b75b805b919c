//! What `plan` learns from the account before `up` touches it, against moto: the
//! availability zones it may use, and the quotas the plan would exceed.

mod common;

use common::{config_copy, edit_config, Moto};

/// A copy of `config/` whose sums stack names its availability zones (`zones`, TOML).
fn sums_in_zones(zones: &str) -> tempfile::TempDir {
    let dir = config_copy();
    edit_config(
        dir.path(),
        "sums",
        "cidr = \"10.20.0.0/16\"",
        &format!("cidr = \"10.20.0.0/16\"\navailability_zones = {zones}"),
    );
    dir
}

#[tokio::test]
async fn plan_warns_before_a_new_vpc_would_exceed_the_regions_quota() {
    let moto = Moto::start();
    let aws = moto.aws("sums", "dev").await;
    // moto starts with the default VPC; four more make the 5 the default quota allows
    // (Service Quotas L-F678F1CE, which moto serves with its default value).
    for index in 0..4 {
        aws.ec2
            .create_vpc()
            .cidr_block(format!("10.{}.0.0/16", 100 + index))
            .send()
            .await
            .unwrap();
    }
    let plan = moto.provision(&["--stack", "sums", "plan"]);
    assert_eq!(plan.code(), 0, "{}", plan.stderr());
    assert!(
        plan.stderr()
            .contains("this plan creates 1 VPC(s) but the region has 5 of 5 allowed"),
        "{}",
        plan.stderr()
    );
    // One VPC fewer in use: no warning.
    let vpcs = aws.ec2.describe_vpcs().send().await.unwrap();
    let spare = vpcs
        .vpcs()
        .iter()
        .find(|v| v.cidr_block() == Some("10.100.0.0/16"))
        .and_then(|v| v.vpc_id())
        .unwrap();
    aws.ec2.delete_vpc().vpc_id(spare).send().await.unwrap();
    let plan = moto.provision(&["--stack", "sums", "plan"]);
    assert!(!plan.stderr().contains("VPC(s)"), "{}", plan.stderr());
}

#[tokio::test]
async fn zones_come_from_the_account_and_a_configured_zone_it_lacks_is_refused() {
    let moto = Moto::start();
    // Unconfigured: the first two zones the region lists as available.
    let aws = moto.aws("sums", "dev").await;
    let listed = aws.ec2.describe_availability_zones().send().await.unwrap();
    let mut available: Vec<String> = listed
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_owned))
        .collect();
    available.sort();
    let up = moto.provision(&["--stack", "sums", "--yes", "up"]);
    assert_eq!(up.code(), 0, "{}", up.stderr());
    let subnets = aws.ec2.describe_subnets().send().await.unwrap();
    let mut used: Vec<String> = subnets
        .subnets()
        .iter()
        .filter(|s| s.tags().iter().any(|t| t.key() == Some("slipway:stack")))
        .filter_map(|s| s.availability_zone().map(str::to_owned))
        .collect();
    used.sort();
    used.dedup();
    assert_eq!(used, available[..2].to_vec());

    let dir = sums_in_zones("[\"a\", \"z\"]");
    let config_dir = dir.path().to_str().unwrap();
    let plan = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "plan"]);
    assert_ne!(plan.code(), 0);
    assert!(
        plan.stderr()
            .contains("availability zone us-east-1z is not available to this account"),
        "{}",
        plan.stderr()
    );
}

#[tokio::test]
async fn an_existing_stack_keeps_the_zones_its_subnets_are_in() {
    let moto = Moto::start();
    // Created in c and d (as on an account where a and b were not offered)…
    let dir = sums_in_zones("[\"c\", \"d\"]");
    let config_dir = dir.path().to_str().unwrap();
    let up = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "--yes", "up"]);
    assert_eq!(up.code(), 0, "{}", up.stderr());
    // …then the setting is removed: the stack stays where it is, nothing is replaced.
    edit_config(
        dir.path(),
        "sums",
        "\navailability_zones = [\"c\", \"d\"]",
        "",
    );
    let plan = moto.provision(&["--config-dir", config_dir, "--stack", "sums", "plan"]);
    assert!(
        plan.stdout().contains("No changes"),
        "{}\n{}",
        plan.stdout(),
        plan.stderr()
    );
}

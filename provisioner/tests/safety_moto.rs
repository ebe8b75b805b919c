//! Production safety against moto, with the real `provision` binary: data-destroying
//! steps need the operator to name them, non-dev teardowns keep snapshots and restorable
//! secrets, and one run at a time holds the stack's lock (real processes: one is paused
//! with SIGSTOP while another tries, one is killed with SIGKILL and its lock taken over).

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{config_copy, edit_config, ownership_filters, shop_without_redis, Moto};
use provisioner::aws::Aws;
use serde_json::Value;

async fn master_username(aws: &Aws, instance: &str) -> String {
    let out = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(instance)
        .send()
        .await
        .expect("the instance exists");
    out.db_instances()[0]
        .master_username()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn up_replaces_a_database_only_when_the_operator_names_it() {
    let moto = Moto::start();
    let dir = config_copy();
    let config_dir = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let base = ["--config-dir", config_dir, "--stack", "voting", "--yes"];
        moto.provision(&[&base[..], extra].concat())
    };
    run(&["up"]).ok();
    let aws = moto.aws("voting", "dev").await;
    assert_eq!(
        master_username(&aws, "voting-dev-postgres").await,
        "slipway"
    );

    // The master user name cannot change in place: a new, empty database.
    edit_config(
        dir.path(),
        "voting",
        "database = \"votes\"",
        "database = \"votes\"\nusername = \"owner\"",
    );
    let plan = run(&["--output", "json", "plan"]);
    plan.ok();
    let steps = plan.json()["plan"]["steps"].clone();
    let postgres = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "postgres")
        .unwrap()
        .clone();
    assert_eq!(postgres["action"], "replace", "{postgres}");
    assert!(
        postgres["data_loss"]
            .as_str()
            .is_some_and(|l| l.contains("PostgreSQL") && l.contains("username")),
        "{postgres}"
    );
    let text = run(&["plan"]).ok();
    assert!(text.contains("!! DESTROYS DATA"), "{text}");

    // --yes is not enough: refused before any change.
    let refused = run(&["up"]);
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("replace postgres")
            && refused.stderr().contains("--allow-data-loss postgres"),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        master_username(&aws, "voting-dev-postgres").await,
        "slipway"
    );
    // Naming another store does not help.
    assert_eq!(run(&["up", "--allow-data-loss", "redis"]).code(), 1);
    assert_eq!(
        master_username(&aws, "voting-dev-postgres").await,
        "slipway"
    );

    run(&["up", "--allow-data-loss", "postgres"]).ok();
    assert_eq!(master_username(&aws, "voting-dev-postgres").await, "owner");
}

async fn deleted_date(aws: &Aws, name: &str) -> Option<String> {
    let out = aws
        .secrets
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name} still exists (restorable): {e:?}"));
    out.deleted_date().map(|d| d.to_string())
}

#[tokio::test]
async fn prod_down_needs_the_data_stores_named_keeps_snapshots_and_restorable_secrets() {
    let moto = Moto::start();
    let prod = |extra: &[&str]| {
        let base = ["--stack", "sums", "--env", "prod", "--yes"];
        moto.provision(&[&base[..], extra].concat())
    };
    prod(&["up"]).ok();
    let aws = moto.aws("sums", "prod").await;
    let redis_exists = || async {
        aws.elasticache
            .describe_replication_groups()
            .replication_group_id("sums-prod-redis")
            .send()
            .await
            .is_ok_and(|out| {
                out.replication_groups()
                    .iter()
                    .any(|g| g.status() != Some("deleting"))
            })
    };

    // --yes alone never deletes a prod data store.
    let refused = prod(&["down"]);
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("delete redis")
            && refused.stderr().contains("--allow-data-loss redis"),
        "{}",
        refused.stderr()
    );
    assert!(redis_exists().await);
    // Final snapshots are mandatory outside dev.
    let unsnapshotted = prod(&["down", "--no-snapshot", "--allow-data-loss", "redis"]);
    assert_eq!(unsnapshotted.code(), 1);
    assert!(
        unsnapshotted
            .stderr()
            .contains("--no-snapshot is refused outside dev"),
        "{}",
        unsnapshotted.stderr()
    );
    assert!(redis_exists().await);

    // moto has no DeleteCacheSubnetGroup (HTTP 500) and leaves a deleted replication
    // group `deleting` for good, so this `down` ends with those left over; everything
    // else goes.
    let down = prod(&["down", "--allow-data-loss", "redis"]);
    assert!(
        down.stderr().contains("DeleteCacheSubnetGroup failed"),
        "{}",
        down.stderr()
    );
    assert!(!redis_exists().await, "DeleteReplicationGroup was sent");
    // Secrets wait out a recovery window (DeleteSecret RecoveryWindowInDays), not
    // force-deleted: still there, with a deletion date.
    for secret in ["sums-prod-redis-auth", "sums-prod-redis-url"] {
        assert!(deleted_date(&aws, secret).await.is_some(), "{secret}");
    }

    // The name is not blocked: the next `up` restores the secret it needs instead of
    // failing on CreateSecret. (It then stops at Redis: moto still holds the `deleting`
    // group's name.)
    let again = prod(&["up"]);
    assert!(
        again.stderr().contains("✓ create   redis-auth"),
        "{}",
        again.stderr()
    );
    assert_eq!(deleted_date(&aws, "sums-prod-redis-auth").await, None);
}

async fn lock_holder(aws: &Aws) -> Option<Value> {
    let lock = provisioner::lock::parameter_name(&aws.stack, &aws.env);
    let out = aws.ssm.get_parameter().name(lock).send().await.ok()?;
    serde_json::from_str(out.parameter()?.value()?).ok()
}

/// Waits until `child` holds the lock (its pid in the holder); panics after 60 s or if it
/// exits first.
async fn wait_for_lock(aws: &Aws, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = format!("pid {}", child.id());
    loop {
        if let Some(holder) = lock_holder(aws).await {
            if holder["owner"].as_str().is_some_and(|o| o.contains(&pid)) {
                return holder;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("provision exited ({status}) before it was seen holding the lock");
        }
        assert!(
            Instant::now() < deadline,
            "no lock held by {pid} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {}", child.id());
}

#[tokio::test]
async fn one_operator_at_a_time_and_a_dead_runs_lock_is_taken_over_by_name() {
    let moto = Moto::start();
    let aws = moto.aws("sums", "dev").await;
    let up = ["--stack", "sums", "--yes", "up"];
    let spawn = |args: &[&str]| {
        moto.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("provision starts")
    };

    // Two concurrent `up`s: the first holds the lock (paused mid-run with SIGSTOP so the
    // overlap is certain), the second refuses and names it.
    let mut first = spawn(&up);
    let holder = wait_for_lock(&aws, &mut first).await;
    signal(&first, "STOP");
    assert_eq!(holder["command"], "up");
    let second = moto.provision(&up);
    // A release waits its turn too (it would race `up` over task definition revisions).
    let deploy = moto.provision(&["--stack", "sums", "--yes", "deploy", "--tag", "v1"]);
    signal(&first, "CONT");
    assert_eq!(deploy.code(), 1, "{}", deploy.stderr());
    assert!(
        deploy.stderr().contains("sums-dev is locked by"),
        "{}",
        deploy.stderr()
    );
    assert_eq!(second.code(), 1, "{}", second.stderr());
    let owner = holder["owner"].as_str().unwrap();
    assert!(
        second.stderr().contains(&format!(
            "sums-dev is locked by {owner}, running `up` since"
        )),
        "{}",
        second.stderr()
    );
    assert!(first.wait().unwrap().success(), "the lock holder finishes");
    assert_eq!(lock_holder(&aws).await, None, "released at the end");

    // Ctrl-C releases it too (paused first, so the interrupt lands mid-run).
    let mut interrupted = spawn(&up);
    wait_for_lock(&aws, &mut interrupted).await;
    signal(&interrupted, "STOP");
    signal(&interrupted, "INT");
    signal(&interrupted, "CONT");
    assert_eq!(interrupted.wait().unwrap().code(), Some(130));
    assert_eq!(lock_holder(&aws).await, None, "released on Ctrl-C");

    // A run killed outright leaves its lock: refused until taken over by name.
    let mut killed = spawn(&up);
    let stale = wait_for_lock(&aws, &mut killed).await;
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    let stale_owner = stale["owner"].as_str().unwrap();
    let blocked = moto.provision(&up);
    assert_eq!(blocked.code(), 1);
    assert!(
        blocked
            .stderr()
            .contains(&format!("--take-over-lock '{stale_owner}'")),
        "{}",
        blocked.stderr()
    );
    let wrong = moto.provision(&[&up[..], &["--take-over-lock", "someone@else pid 1"]].concat());
    assert_eq!(wrong.code(), 1);
    assert!(
        wrong.stderr().contains("but sums-dev is locked by"),
        "{}",
        wrong.stderr()
    );
    let taken = moto.provision(&[&up[..], &["--take-over-lock", stale_owner]].concat());
    taken.ok();
    assert!(
        taken.stderr().contains("took over the lock"),
        "{}",
        taken.stderr()
    );
    assert_eq!(lock_holder(&aws).await, None);
    let plan = moto.provision(&["--stack", "sums", "plan"]).ok();
    assert!(plan.contains("No changes"), "{plan}");
}

/// A data-tier group that already admits a consumer must have no egress: the default
/// allow-all rule goes before any ingress rule is added.
async fn assert_data_tier_egress_closed(aws: &Aws, when: &str) {
    let groups = aws
        .ec2
        .describe_security_groups()
        .set_filters(Some(ownership_filters(aws)))
        .send()
        .await
        .unwrap();
    for group in groups.security_groups() {
        let id = group
            .tags()
            .iter()
            .find(|t| t.key() == Some("slipway:id"))
            .and_then(|t| t.value())
            .unwrap_or_default();
        if (id == "sg-postgres" || id == "sg-redis") && !group.ip_permissions().is_empty() {
            assert!(
                group.ip_permissions_egress().is_empty(),
                "{when}: {id} admits consumers with egress {:?}",
                group.ip_permissions_egress()
            );
        }
    }
}

/// A number in [0, 1) from a xorshift64 state (the test prints its seed).
fn next_unit(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

#[tokio::test]
async fn up_killed_at_ten_random_points_converges_and_down_leaves_nothing() {
    let moto = Moto::start();
    // Without Redis: moto cannot delete ElastiCache, and the last `down` must be complete.
    let config = shop_without_redis();
    let dir = config.path().to_str().unwrap();
    let base = ["--config-dir", dir, "--stack", "shop", "--yes"];
    let run = |extra: &[&str]| moto.provision(&[&base[..], extra].concat());
    let aws = moto.aws("shop", "dev").await;
    // Kill points are drawn from the span of an uninterrupted `up` from nothing (the second
    // one: the first also warms moto up).
    run(&["up"]).ok();
    run(&["down"]).ok();
    let full = run(&["up"]);
    full.ok();
    let mut span = full.took;
    run(&["down"]).ok();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill points: seed {seed}, uninterrupted up {span:?}");
    let mut round = 0;
    for attempt in 1..=25 {
        if round == 10 {
            break;
        }
        let at = span.mul_f64(next_unit(&mut seed));
        let mut killed = moto
            .command(&[&base[..], &["up"]].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("provision starts");
        tokio::time::sleep(at).await;
        killed.kill().unwrap(); // SIGKILL: no cleanup of any kind
        let status = killed.wait().unwrap();
        if status.success() {
            // It finished before the kill: draw from a shorter span, from nothing again.
            eprintln!("attempt {attempt}: finished before {at:?}; shortening the span");
            span = span.mul_f64(0.7);
            run(&["down"]).ok();
            continue;
        }
        round += 1;
        eprintln!("round {round}: killed at {at:?} ({status})");
        let when = format!("round {round}, killed at {at:?}");
        assert_data_tier_egress_closed(&aws, &when).await;

        // The next `up` takes the dead run's lock over by name and finishes.
        let holder = lock_holder(&aws).await;
        let owner = holder
            .as_ref()
            .and_then(|h| h["owner"].as_str())
            .map(str::to_owned);
        let mut next = vec!["up"];
        if let Some(owner) = &owner {
            next.extend(["--take-over-lock", owner]);
        }
        let finished = run(&next);
        assert_eq!(finished.code(), 0, "{when}:\n{}", finished.stderr());
        assert_data_tier_egress_closed(&aws, &when).await;

        // Clean plan, nothing duplicated, no orphaned Elastic IP.
        let plan = run(&["--output", "json", "plan"]);
        plan.ok();
        let plan = plan.json();
        let steps = plan["plan"]["steps"].as_array().unwrap();
        let changed: Vec<&Value> = steps.iter().filter(|s| s["action"] != "no_op").collect();
        assert!(changed.is_empty(), "{when}: {changed:?}");
        assert_eq!(plan["duplicates"], serde_json::json!([]), "{when}");
        let nat_gateways = steps.iter().filter(|s| s["kind"] == "NatGateway").count();
        let addresses = aws
            .ec2
            .describe_addresses()
            .set_filters(Some(ownership_filters(&aws)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            addresses.addresses().len(),
            nat_gateways,
            "{when}: {:?}",
            addresses.addresses()
        );
        assert_eq!(lock_holder(&aws).await, None, "{when}");
        if round < 10 {
            // Back to nothing, so the next kill lands in another part of a full creation.
            run(&["down"]).ok();
        }
    }
    assert_eq!(round, 10, "only {round} of 10 runs were killed mid-way");
    let down = run(&["--output", "json", "down"]);
    down.ok();
    assert_eq!(down.json()["details"]["leftovers"], serde_json::json!([]));
}

#[tokio::test]
async fn a_duplicate_vpc_is_reported_blocks_up_and_goes_with_down() {
    let moto = Moto::start();
    let config = shop_without_redis();
    let dir = config.path().to_str().unwrap();
    let base = ["--config-dir", dir, "--stack", "shop", "--yes"];
    let run = |extra: &[&str]| moto.provision(&[&base[..], extra].concat());
    run(&["up"]).ok();
    let aws = moto.aws("shop", "dev").await;
    // What a second, concurrent run (before the lock) made: another VPC with the same tags.
    let tags = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
        .set_tags(Some(
            aws.tags("vpc")
                .into_iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build();
    let extra = aws
        .ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .tag_specifications(tags)
        .send()
        .await
        .unwrap();
    let extra_id = extra.vpc().unwrap().vpc_id().unwrap().to_owned();

    // Reported with its id, not dropped; the VPC in use stays the one the plan works on.
    let plan = run(&["--output", "json", "plan"]);
    plan.ok();
    assert!(
        plan.stderr().contains("vpc vpc exists 2 times") && plan.stderr().contains(&extra_id),
        "{}",
        plan.stderr()
    );
    let report = plan.json();
    assert_eq!(
        report["duplicates"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    let changed: Vec<&Value> = report["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
    let up = run(&["up"]);
    assert_eq!(up.code(), 1, "{}", up.stderr());
    assert!(
        up.stderr().contains("exist more than once") && up.stderr().contains(&extra_id),
        "{}",
        up.stderr()
    );

    // `down` removes every copy.
    let down = run(&["--output", "json", "down"]);
    down.ok();
    assert_eq!(down.json()["details"]["leftovers"], serde_json::json!([]));
    let left = aws
        .ec2
        .describe_vpcs()
        .set_filters(Some(ownership_filters(&aws)))
        .send()
        .await
        .unwrap();
    assert!(left.vpcs().is_empty(), "{:?}", left.vpcs());
}

//! `provision cost --live` on moto: the live stack is priced from what observing finds
//! (the resources `status` sees), so once `up` has made it, it costs what its config's
//! estimate said, line by line; before, nothing. And `plan` prints the difference a
//! config change makes against the live stack.

mod common;

use common::{config_copy, edit_config, Moto};

#[tokio::test]
async fn the_live_stack_costs_what_its_config_said_and_plan_prices_a_change() {
    let moto = Moto::start();
    let dir = config_copy();
    let config_dir = dir.path().to_str().unwrap();
    let base = ["--config-dir", config_dir, "--stack", "sums"];
    let cost = |extra: &[&str]| {
        let args = [&base[..], &["--output", "json", "cost", "--offline"], extra].concat();
        moto.provision(&args).json()
    };

    let nothing = cost(&["--live"]);
    assert_eq!(nothing["of"], "live");
    assert_eq!(nothing["total"], 0.0, "{nothing:#}");

    let desired = cost(&[]);
    moto.provision(&[&base[..], &["--yes", "up"]].concat()).ok();
    // Before its first release a service waits at 0 tasks: no Fargate cost yet.
    let held = cost(&["--live"]);
    assert!(
        held["total"].as_f64().unwrap() < desired["total"].as_f64().unwrap(),
        "{held:#}"
    );
    common::release_held_services(&moto.aws("sums", "dev").await, dir.path()).await;
    let live = cost(&["--live"]);
    assert_eq!(live["estimate"]["lines"], desired["estimate"]["lines"]);
    assert_eq!(live["total"], desired["total"]);
    assert_eq!(live["total_at_max"], desired["total_at_max"]);

    let plan = moto.provision(&[&base[..], &["plan"]].concat()).ok();
    assert!(plan.contains("Monthly cost: +$0.00/month"), "{plan}");
    // One more api task: 0.25 vCPU × 730 h × $0.04048 + 0.5 GB × 730 h × $0.004445.
    edit_config(
        dir.path(),
        "sums",
        "[services.api]\nbuild = { target = \"sums-api\" }\nport = 4567\ncpu = 256\nmemory = 512\ndesired = 2",
        "[services.api]\nbuild = { target = \"sums-api\" }\nport = 4567\ncpu = 256\nmemory = 512\ndesired = 3",
    );
    let plan = moto.provision(&[&base[..], &["plan"]].concat()).ok();
    assert!(plan.contains("Monthly cost: +$9.01/month"), "{plan}");
}

use std::collections::BTreeMap;

use super::*;
use crate::config::{repo_config_dir, StackConfig};
use crate::constructs::expand;

fn stack(name: &str, env: &str) -> Vec<Resource> {
    expand(&StackConfig::load(&repo_config_dir(), name, env).unwrap())
}

fn cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

fn line<'a>(estimate: &'a Estimate, item: &str) -> &'a Line {
    estimate
        .lines
        .iter()
        .find(|l| l.item == item)
        .unwrap_or_else(|| panic!("no line {item:?} in {:#?}", estimate.lines))
}

#[test]
fn voting_dev_costs_what_the_table_says_by_hand() {
    let table = PriceTable::offline();
    // The prices and assumptions this hand computation uses, as the table has them: a
    // refreshed table fails here first, naming the figure to recompute.
    for (key, usd) in [
        ("nat_gateway_hour", 0.045),
        ("nat_gateway_gb", 0.045),
        ("alb_hour", 0.0225),
        ("alb_lcu_hour", 0.008),
        ("fargate_vcpu_hour", 0.04048),
        ("fargate_gb_hour", 0.004445),
        ("rds_instance_hour:db.t4g.micro:Single-AZ", 0.016),
        ("rds_storage_gb_month:Single-AZ", 0.115),
        ("cache_node_hour:cache.t4g.micro", 0.016),
        ("public_ipv4_hour", 0.005),
        ("secret_month", 0.40),
        ("alarm_metric_month", 0.10),
        ("dashboard_month", 3.00),
        ("log_ingest_gb", 0.50),
        ("log_storage_gb_month", 0.03),
    ] {
        assert_eq!(
            table.usd(key),
            Some(usd),
            "{key}: recompute the figures below"
        );
    }
    let a = &table.assumptions;
    assert_eq!(
        (
            a.hours_per_month,
            a.nat_gateway_gb_per_month,
            a.alb_lcu_baseline
        ),
        (730.0, 10.0, 1.0)
    );
    assert_eq!(
        (a.log_gb_per_group_month, a.log_storage_gb_per_group),
        (1.0, 1.0)
    );

    // config/voting.toml, env dev:
    let nat_hours = 730.0 * 0.045 * 1.0; // 1 NAT gateway (nat_gateways = 1)      32.85
    let nat_data = 10.0 * 0.045 * 1.0; // 10 GB through it                         0.45
    let alb_hours = 730.0 * 0.0225; // 1 ALB                                      16.425
    let alb_lcu = 730.0 * 1.0 * 0.008; // 1 LCU around the clock                   5.84
                                       // vote 2 + result 2 + worker 1 = 5 tasks of 256 CPU units (0.25 vCPU), 512 MiB.
    let vcpu = 5.0 * 0.25 * 730.0 * 0.04048; //                                   36.938
    let memory = 5.0 * 0.5 * 730.0 * 0.004445; //                                  8.112125
    let rds = 730.0 * 0.016; // db.t4g.micro, Single-AZ                           11.68
    let rds_storage = 20.0 * 0.115; // allocated_storage_gb = 20                   2.30
    let redis = 730.0 * 0.016 * 1.0; // cache.t4g.micro, replicas = 0: one node   11.68
                                     // The NAT gateway's Elastic IP + the internet-facing ALB's node in each of its
                                     // 2 public subnets; tasks get no public IP.
    let ipv4 = 3.0 * 730.0 * 0.005; //                                            10.95
                                    // redis-auth, redis-url, database-url, db-result-password, db-worker-password and
                                    // the RDS-managed master password.
    let secrets = 6.0 * 0.40; //                                                   2.40
                              // 18 alarms reading 31 metrics (5xx ratio 4 each for vote/result, p95 2, unhealthy
                              // 2, running tasks 2 × 3 services, CPU 1 × 3, queue 2, dependencies 3, postgres 1).
    let alarms = 31.0 * 0.10; //                                                   3.10
    let dashboard = 3.00; //                                                       3.00
                          // logs-vote, logs-result, logs-worker, logs-debug: 1 GB ingested, 1 GB kept each.
    let logs = 4.0 * 1.0 * 0.50 + 4.0 * 1.0 * 0.03; //                             2.12
    let by_hand = nat_hours
        + nat_data
        + alb_hours
        + alb_lcu
        + vcpu
        + memory
        + rds
        + rds_storage
        + redis
        + ipv4
        + secrets
        + alarms
        + dashboard
        + logs;
    assert_eq!(cents(by_hand), 14785); // $147.85 a month

    let estimate = estimate(&items_from_resources(&stack("voting", "dev")), &table);
    assert!(estimate.unpriced.is_empty(), "{:?}", estimate.unpriced);
    assert_eq!(
        cents(estimate.total()),
        cents(by_hand),
        "{}",
        estimate.render()
    );
    for (item, expected) in [
        ("NAT gateway hours", nat_hours),
        ("NAT gateway data", nat_data),
        ("ALB hours", alb_hours),
        ("ALB LCU baseline", alb_lcu),
        ("Fargate vCPU", vcpu),
        ("Fargate memory", memory),
        ("RDS db.t4g.micro Single-AZ", rds),
        ("RDS storage", rds_storage),
        ("ElastiCache cache.t4g.micro", redis),
        ("public IPv4 addresses", ipv4),
        ("Secrets Manager secrets", secrets),
        ("CloudWatch alarm metrics", alarms),
        ("CloudWatch dashboard", dashboard),
    ] {
        assert_eq!(
            cents(line(&estimate, item).monthly),
            cents(expected),
            "{item}"
        );
    }
    // The rough figure for voting dev: $140–160 a month.
    assert!((140.0..=160.0).contains(&estimate.total()));

    // At max: vote 6 + result 4 + worker 4 = 14 tasks.
    let vcpu_max = 14.0 * 0.25 * 730.0 * 0.04048;
    let memory_max = 14.0 * 0.5 * 730.0 * 0.004445;
    assert_eq!(
        cents(estimate.total_at_max()),
        cents(by_hand - vcpu - memory + vcpu_max + memory_max)
    );
    let fargate = line(&estimate, "Fargate vCPU");
    assert_eq!(cents(fargate.monthly_at_max), cents(vcpu_max));
}

#[test]
fn the_offline_table_is_dated_and_every_price_names_its_query() {
    let table = PriceTable::offline();
    let PriceSource::OfflineTable { date } = &table.source else {
        panic!("{:?}", table.source)
    };
    assert!(
        date.len() == 10 && date.chars().filter(|c| *c == '-').count() == 2,
        "{date}"
    );
    assert_eq!(table.region, "us-east-1");
    let mut keys = std::collections::BTreeSet::new();
    for price in &table.prices {
        assert!(keys.insert(&price.key), "{} twice", price.key);
        assert!(price.usd > 0.0, "{}", price.key);
        assert!(
            !price.unit.is_empty() && !price.service.is_empty(),
            "{}",
            price.key
        );
        assert!(
            !price.term_match.is_empty() || !price.contains.is_empty(),
            "{}: a query without filters matches every product",
            price.key
        );
    }
    // Every stack and environment shipped is priced in full.
    for name in ["voting", "sums", "shop"] {
        for env in ["dev", "prod"] {
            let estimate = estimate(&items_from_resources(&stack(name, env)), &table);
            assert!(
                estimate.unpriced.is_empty(),
                "{name}-{env}: {:?}",
                estimate.unpriced
            );
            assert!(estimate.total_at_max() >= estimate.total());
        }
    }
}

#[test]
fn the_output_says_where_prices_come_from() {
    let table = PriceTable::offline();
    let offline = estimate(&items_from_resources(&stack("voting", "dev")), &table);
    assert!(offline
        .render()
        .starts_with("prices: offline table of 2026-12-06 (us-east-1, USD"));

    // API answers replace every price; a missing one is refused.
    let answers: BTreeMap<String, f64> = table
        .prices
        .iter()
        .map(|p| (p.key.clone(), p.usd * 2.0))
        .collect();
    let api = table
        .clone()
        .with_api_prices("eu-west-1", &answers)
        .unwrap();
    let doubled = estimate(&items_from_resources(&stack("voting", "dev")), &api);
    assert!(doubled
        .render()
        .starts_with("prices: AWS Price List API (eu-west-1"));
    assert_eq!(cents(doubled.total()), cents(offline.total() * 2.0));
    let mut partial = answers;
    partial.remove("alb_hour");
    let err = table.with_api_prices("us-east-1", &partial).unwrap_err();
    assert!(err.contains("alb_hour"), "{err}");
}

#[test]
fn a_class_the_table_lacks_is_named_not_guessed() {
    let mut resources = stack("voting", "dev");
    for resource in &mut resources {
        if let crate::model::Spec::DbInstance(db) = &mut resource.spec {
            db.instance_class = "db.r6g.large".into();
        }
    }
    let estimate = estimate(&items_from_resources(&resources), &PriceTable::offline());
    assert_eq!(estimate.unpriced.len(), 1, "{:?}", estimate.unpriced);
    assert!(estimate.unpriced[0].contains("rds_instance_hour:db.r6g.large:Single-AZ"));
    assert!(estimate.render().contains("not priced: "));
}

#[test]
fn a_change_costs_its_difference() {
    let table = PriceTable::offline();
    let live = items_from_resources(&stack("voting", "dev"));
    let mut desired = live.clone();
    let vote = desired.iter_mut().find(|i| i.id == "service-vote").unwrap();
    vote.spec["desired_count"] = serde_json::json!(3);
    // One more vote task: 0.25 vCPU × 730 h × $0.04048 + 0.5 GB × 730 h × $0.004445.
    let by_hand = 0.25 * 730.0 * 0.04048 + 0.5 * 730.0 * 0.004445;
    let difference = monthly_difference(&desired, &live, &table);
    assert_eq!(cents(difference), cents(by_hand));
    assert_eq!(format_difference(difference), "+$9.01/month");
    assert_eq!(format_difference(-difference), "-$9.01/month");
    assert_eq!(format_difference(0.001), "+$0.00/month");
    // A new stack costs its whole estimate.
    let whole = monthly_difference(&live, &[], &table);
    assert_eq!(cents(whole), cents(estimate(&live, &table).total()));
}

#[test]
fn live_resources_are_priced_through_their_physical_ids() {
    // What observing reports: physical ids where specs refer to other resources.
    let observed = vec![
        Observed {
            id: "td-vote".into(),
            kind: Kind::TaskDefinition,
            spec: serde_json::json!({"cpu": 512, "memory": 1024}),
            attrs: [("arn".to_owned(), "arn:aws:ecs:td/vote:3".to_owned())].into(),
        },
        Observed {
            id: "service-vote".into(),
            kind: Kind::Service,
            spec: serde_json::json!({"task_definition": "arn:aws:ecs:td/vote:3", "desired_count": 2}),
            attrs: [("arn".to_owned(), "arn:aws:ecs:service/vote".to_owned())].into(),
        },
        Observed {
            id: "scaling-vote".into(),
            kind: Kind::ScalableTarget,
            spec: serde_json::json!({"service": "arn:aws:ecs:service/vote", "min": 2, "max": 4}),
            attrs: BTreeMap::new(),
        },
    ];
    let estimate = estimate(&items_from_observed(&observed), &PriceTable::offline());
    let vcpu = line(&estimate, "Fargate vCPU");
    assert_eq!(cents(vcpu.monthly), cents(2.0 * 0.5 * 730.0 * 0.04048));
    assert_eq!(
        cents(vcpu.monthly_at_max),
        cents(4.0 * 0.5 * 730.0 * 0.04048)
    );
}

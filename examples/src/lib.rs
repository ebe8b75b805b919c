//! Stacks written in Rust with the Slipway CDK (`slipway_cdk::constructs`), no TOML:
//!
//! - [`voting`]: the voting app, the same resources as `config/voting.toml` in every
//!   environment (`tests/voting.rs` compares them for dev and prod);
//! - [`jobs`]: two workers sharing one Postgres with their own scaling and privileges,
//!   one scaling on memory at a threshold a stack file cannot set.
//!
//! Each is a program (`src/bin/`) with the whole `provision` command line:
//! `cargo run -p slipway-examples --bin jobs -- plan --offline`.

use slipway_cdk::config::{AlarmsConfig, BuildConfig, DatabaseAccess};
use slipway_cdk::constructs::l2::{OneOffTask, Postgres, Redis, Route};
use slipway_cdk::constructs::patterns::{
    DataTier, Network, Observability, Platform, WebService, Worker,
};
use slipway_cdk::scope::{Stack, Target};

/// `dev` in development, `prod_value` in production.
fn pick<T>(prod: bool, dev: T, prod_value: T) -> T {
    if prod {
        prod_value
    } else {
        dev
    }
}

/// How `provision push` builds a service of this repository: its stage of the one
/// multi-target `Dockerfile`.
fn stage(name: &str) -> BuildConfig {
    BuildConfig {
        target: Some(name.to_owned()),
        ..BuildConfig::default()
    }
}

/// The voting app: vote (public, the load balancer's default) → Redis → worker →
/// Postgres ← result (public on `result.*`, sticky), with per-environment sizes.
///
/// ```
/// let stack = slipway_examples::voting("dev".into());
/// assert_eq!(stack.description().services.len(), 3);
/// ```
pub fn voting(target: Target) -> Stack {
    let mut stack = Stack::new("voting", target);
    let prod = stack.env() == "prod";
    let logs = pick(prod, 14, 30);
    let vpc = Network::new(&mut stack, "10.10.0.0/16", pick(prod, 1, 2));
    let redis = Redis::new(&mut stack, &vpc)
        .node_type(pick(prod, "cache.t4g.micro", "cache.t4g.small"))
        .replicas(pick(prod, 0, 1))
        .build();
    let mut postgres = Postgres::new(&mut stack, &vpc, "votes");
    if prod {
        postgres = postgres
            .instance_class("db.t4g.small")
            .production()
            .backup_retention_days(14);
    }
    let postgres = postgres.build();
    let platform = Platform::new(&mut stack, &vpc).public(Some("vote")).build();

    WebService::new(&mut stack, &platform, "vote", Route::catch_all())
        .image_build(stage("vote"))
        .port(8080)
        .scaling(pick(prod, 2, 3), 2, pick(prod, 6, 10))
        .env("OPTION_A", "Cats")
        .env("OPTION_B", "Dogs")
        .log_retention_days(logs)
        .uses(&redis)
        .build();
    // vote and result both serve `/`: result is told apart by host name, and socket.io
    // long polling needs every request of a session on one task.
    let result = WebService::new(
        &mut stack,
        &platform,
        "result",
        Route::hosts(10, &["result.*"]).sticky(),
    )
    .image_build(stage("result"))
    .port(8081)
    .scaling(2, 2, pick(prod, 4, 6))
    .env("OPTION_A", "Cats")
    .env("OPTION_B", "Dogs")
    .log_retention_days(logs)
    .build();
    // Its own Postgres role may only read the worker's tables.
    let reads = DatabaseAccess {
        reads: vec!["public".into()],
        ..DatabaseAccess::default()
    };
    postgres.allow_with(&mut stack, &result, reads);
    let worker = Worker::new(&mut stack, &platform, "worker")
        .image_build(stage("worker"))
        .port(8082)
        .scaling(pick(prod, 1, 2), pick(prod, 1, 2), pick(prod, 4, 6))
        .queues(&["votes"])
        .log_retention_days(logs)
        .uses(&redis)
        .build();
    // It owns the votes tables (it applies their migrations at start).
    let owns = DatabaseAccess {
        owns: vec!["public".into()],
        ..DatabaseAccess::default()
    };
    postgres.allow_with(&mut stack, &worker, owns);

    let data = DataTier {
        redis: Some(redis),
        postgres: Some(postgres),
    };
    data.debug_task(&mut stack, &vpc, logs);
    // Creates the services' Postgres roles as the master user (after every grant).
    if let Some(postgres) = &data.postgres {
        OneOffTask::new(&mut stack, "db-setup", &worker)
            .command(&["/usr/local/bin/worker", "db-roles"])
            .cpu(256)
            .memory(512)
            .database_admin(postgres)
            .build();
    }
    Observability::new(&mut stack, AlarmsConfig::default());
    stack
}

/// Two workers sharing one Postgres with their own scaling and privileges: `ingest`
/// owns the `jobs` schema, keeps two tasks warm and scales to eight on CPU; `report`
/// only reads that schema, runs one task (at most two) and scales on memory from 50% (a
/// stack file's services all scale on memory at 75%). A setup task creates both roles.
/// No load balancer, no Redis.
///
/// ```
/// let resources = slipway_examples::jobs("dev".into()).synth().unwrap();
/// let policy = resources.iter().find(|r| r.id == "scaling-report-memory").unwrap();
/// assert_eq!(policy.spec_json()["target_value"], 50.0);
/// ```
pub fn jobs(target: Target) -> Stack {
    let mut stack = Stack::new("jobs", target);
    let vpc = Network::new(&mut stack, "10.20.0.0/16", 1);
    let postgres = Postgres::new(&mut stack, &vpc, "jobs").build();
    let platform = Platform::new(&mut stack, &vpc).build();
    let ingest = Worker::new(&mut stack, &platform, "ingest")
        .port(8082)
        .scaling(2, 2, 8)
        .build();
    let owns = DatabaseAccess {
        owns: vec!["jobs".into()],
        ..DatabaseAccess::default()
    };
    postgres.allow_with(&mut stack, &ingest, owns);
    let report = Worker::new(&mut stack, &platform, "report")
        .port(8083)
        .scaling(1, 1, 2)
        .memory_target(50.0)
        .build();
    let reads = DatabaseAccess {
        reads: vec!["jobs".into()],
        ..DatabaseAccess::default()
    };
    postgres.allow_with(&mut stack, &report, reads);
    OneOffTask::new(&mut stack, "db-setup", &ingest)
        .command(&["/usr/local/bin/ingest", "db-roles"])
        .database_admin(&postgres)
        .build();
    stack
}

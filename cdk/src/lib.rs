//! # slipway-cdk: Slipway's core, without the AWS SDK
//!
//! Everything about a stack that can be decided without talking to AWS: the typed
//! resource model, the TOML front-end, the constructs that expand a stack into
//! resources, the dependency graph, planning (desired vs observed state) and synthesis
//! (a CloudFormation template). The `provisioner` crate adds the provider layer (the AWS
//! SDK calls that observe, create, update and delete each kind) and the `provision`
//! command line on top; it re-exports these modules under their old paths
//! (`provisioner::model`, `provisioner::plan`, …).
//!
//! This crate has no AWS SDK, no async runtime and no HTTP client among its dependencies
//! (`tests/layering.rs` fails the build's tests if one appears), so no module here can
//! call AWS, and it compiles and tests in seconds.
//!
//! ## Layout
//!
//! ```text
//! cdk/src/
//! ├── lib.rs             this overview
//! ├── model.rs           Resource, Spec/Kind (the `specs!` table), Ref, the spec types
//! │   ├── ids.rs         logical ids (`tg-<svc>`, `role-execution-<svc>`…), spelled once
//! │   └── state.rs       Observed, Attrs: live state as the provider layer reports it
//! ├── settings.rs        fixed settings the provider sends and synth renders (tags, timings…)
//! ├── names.rs           AWS names (`<stack>-<env>-<id>`) and AWS's name rules
//! ├── domain.rs          `[domain]` DNS names: AWS's rules, record and certificate ids
//! ├── config.rs          the TOML front-end: config/<stack>.toml → StackConfig
//! │   └── deploy.rs      `[services.<name>.deploy]`: DeployConfig, Strategy
//! ├── scope.rs           Stack: the construct scope (listing order, unique ids, refs
//! │                      checked, derived execution roles, overrides, aspects)
//! ├── constructs.rs      the TOML front-end (`expand`) and the deploy role
//! │   ├── l2.rs          L2 constructs and typed handles with grants (Vpc, Redis, Alarm,
//! │   │                  Postgres, LoadBalancer, FargateService, OneOffTask…)
//! │   ├── patterns.rs    L3 patterns (Network, DataTier, Platform, WebService, Worker,
//! │   │                  PrivateApi, Observability, GithubDeploy) and `from_config`
//! │   └── observability.rs  alarms, metric filters, the dashboard
//! ├── stack.rs           StackConfig::load/parse: front-end + expansion + name checks
//! ├── graph.rs           dependency graph, waves, critical path
//! ├── plan.rs            desired vs normalized observed state → per-resource actions
//! ├── cost.rs            resources + a price table → monthly cost estimate
//! │   └── us-east-1.toml the dated offline price table
//! ├── policy.rs          kinds used → the operator's IAM policy for up/down
//! ├── synth.rs           resources → CloudFormation template
//! │   └── tests.rs
//! └── snapshots/         the six expansion snapshots (voting, sums, shop × dev, prod)
//! ```
//!
//! ## Layering
//!
//! Modules depend only downwards in this order; nothing depends on a module above it,
//! so the module graph has no cycle (`tests/layering.rs` checks this crate's and the
//! provisioner's module graphs and names any cycle it finds):
//!
//! 1. [`model`] (with [`model::ids`], [`model::state`]) — plain data, depends on nothing.
//! 2. [`names`], [`settings`], [`domain`] — pure rules and constants over the model.
//! 3. [`config`] — the TOML front-end; may use names and settings to validate.
//! 4. [`scope`] — the [`scope::Stack`] constructs add to (it records what they declare
//!    as a [`config::StackConfig`]).
//! 5. [`constructs`] — L2 constructs, L3 patterns, and the translation of a config into
//!    them.
//! 6. [`stack`] — loading a stack: config + expansion + the name check over it.
//! 7. [`graph`], [`plan`], [`synth`], [`cost`], [`policy`] — work on the expanded resources.
//!
//! In the provisioner, the provider layer (`aws`) and the commands (`cli`, `deploy`,
//! `ops`, `apply`, `lock`, `session`) sit above all of this; commands receive a
//! `Session` (config location, AWS connection, output, cancellation) instead of the
//! parsed command line.
//!
//! ## Defining a stack in Rust
//!
//! The same stacks the TOML files describe can be written with the constructs; a
//! binary hands them to the `provision` command line with `provisioner::app::App`.
//!
//! ```
//! use slipway_cdk::constructs::l2::{Grantable, Route};
//! use slipway_cdk::constructs::patterns::{DataTier, Network, Platform, WebService, Worker};
//! use slipway_cdk::graph::Graph;
//! use slipway_cdk::scope::Stack;
//!
//! let mut stack = Stack::new("shop", "dev");
//! let vpc = Network::new(&mut stack, "10.70.0.0/16", 1);
//! let data = DataTier::redis(&mut stack, &vpc);
//! let platform = Platform::new(&mut stack, &vpc).public(Some("web")).build();
//! let redis = data.redis.as_ref().unwrap();
//! let web = WebService::new(&mut stack, &platform, "web", Route::catch_all())
//!     .port(8080)
//!     .build();
//! let worker = Worker::new(&mut stack, &platform, "worker").uses(redis).build();
//! redis.allow_from(&mut stack, &web);
//! let graph = Graph::new(stack.synth().unwrap()).unwrap();
//! assert!(graph.resources().iter().any(|r| r.id == "service-worker"));
//! # let _ = worker;
//! ```
//!
//! ## Example: a stack file
//!
//! ```
//! use slipway_cdk::config::{repo_config_dir, StackConfig};
//! use slipway_cdk::graph::Graph;
//!
//! let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
//! let graph = Graph::new(slipway_cdk::constructs::expand(&config)).unwrap();
//! let plan = slipway_cdk::plan::plan(&graph, &[]);
//! assert!(plan.changes().count() > 50);
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod constructs;
pub mod cost;
pub mod domain;
pub mod graph;
pub mod model;
pub mod names;
pub mod plan;
pub mod policy;
pub mod scope;
pub mod settings;
pub mod stack;
pub mod synth;

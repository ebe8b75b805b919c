//! Slipway provisioner: a stack config expands (constructs) into a typed resource graph,
//! is planned against the state read from AWS by tags, and applied concurrently.
//!
//! The AWS-free core (model, config, constructs, graph, plan, synth, names) is the
//! `slipway-cdk` crate, re-exported here under its old paths; this crate adds the
//! provider layer ([`aws`]), applying plans ([`apply`]), the stack lock ([`lock`]) and the
//! commands ([`cli`], [`deploy`], [`ops`]), which work on a [`session::Session`], and
//! [`app::App`], the entry point of a program that defines its stacks in Rust.

pub use slipway_cdk::{
    config, constructs, graph, model, names, plan, scope, settings, stack, synth,
};

pub mod app;
pub mod apply;
pub mod aws;
pub mod cli;
pub mod cost_report;
pub mod deploy;
pub mod first_release;
pub mod init;
pub mod lock;
pub mod ops;
pub mod policy_report;
pub mod pricing;
pub mod push;
pub mod resources;
pub mod session;
pub mod stack_choice;

//! Slipway provisioner: a stack config expands (constructs) into a typed resource graph,
//! is planned against the state read from AWS by tags, and applied concurrently.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod constructs;
pub mod deploy;
pub mod graph;
pub mod init;
pub mod lock;
pub mod model;
pub mod names;
pub mod ops;
pub mod plan;
pub mod stack_choice;
pub mod synth;

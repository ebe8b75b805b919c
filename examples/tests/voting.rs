//! The voting stack written in Rust is the voting stack of `config/voting.toml`: the
//! same resources, field for field, and the same description (what the per-service
//! commands read), in every environment the file has.

use std::collections::BTreeMap;

use slipway_cdk::config::{repo_config_dir, StackConfig};
use slipway_cdk::constructs::expand;
use slipway_cdk::graph::Graph;
use slipway_cdk::model::Resource;
use slipway_cdk::scope::Target;

fn by_id(resources: Vec<Resource>) -> BTreeMap<String, Resource> {
    resources.into_iter().map(|r| (r.id.clone(), r)).collect()
}

#[test]
fn the_rust_voting_stack_is_config_voting_toml_in_dev_and_prod() {
    let mut graphs = Vec::new();
    for env in ["dev", "prod"] {
        let config = StackConfig::load(&repo_config_dir(), "voting", env).unwrap();
        let stack = slipway_examples::voting(Target::from(env));
        assert_eq!(stack.description(), &config, "{env}: description");
        let from_rust = by_id(stack.synth().unwrap());
        let from_toml = by_id(expand(&config));
        let only_rust: Vec<&String> = from_rust
            .keys()
            .filter(|id| !from_toml.contains_key(*id))
            .collect();
        let only_toml: Vec<&String> = from_toml
            .keys()
            .filter(|id| !from_rust.contains_key(*id))
            .collect();
        assert!(
            only_rust.is_empty() && only_toml.is_empty(),
            "{env}: only in Rust {only_rust:?}, only in TOML {only_toml:?}"
        );
        for (id, resource) in &from_toml {
            assert_eq!(&from_rust[id], resource, "{env}: {id}");
        }
        // The same dependency graph: waves and critical path.
        let rust_graph = Graph::new(from_rust.into_values().collect()).unwrap();
        let toml_graph = Graph::new(from_toml.into_values().collect()).unwrap();
        assert_eq!(rust_graph.waves(), toml_graph.waves(), "{env}: waves");
        graphs.push(by_id(rust_graph.resources().to_vec()));
    }
    // Not the same stack twice: prod has its own NAT gateway per zone, sizes, backups.
    assert!(graphs[1].contains_key("nat-b") && !graphs[0].contains_key("nat-b"));
    assert_ne!(graphs[0]["postgres"], graphs[1]["postgres"]);
}

#[test]
fn zones_chosen_by_up_reach_the_subnets() {
    let stack = slipway_examples::voting(Target {
        env: "dev".into(),
        zones: Some(vec!["c".into(), "d".into()]),
    });
    assert_eq!(
        stack.description().network.availability_zones,
        Some(vec!["c".to_string(), "d".to_string()])
    );
    let resources = by_id(stack.synth().unwrap());
    assert_eq!(resources["subnet-private-b"].spec_json()["az"], "d");
}

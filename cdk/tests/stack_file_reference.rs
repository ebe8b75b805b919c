//! The stack-file reference in docs/ is generated from the types the parser reads, and
//! must be current: this test fails when docs/stack-file.md or
//! docs/stack-file.schema.json differ from what `slipway_cdk::config::reference` makes
//! now. `SLIPWAY_BLESS=1 cargo test -p slipway-cdk --test stack_file_reference` rewrites
//! them.

use std::path::{Path, PathBuf};

use slipway_cdk::config::reference;

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn assert_current(relative: &str, generated: &str) {
    let path = repo_file(relative);
    if std::env::var_os("SLIPWAY_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is stale: the stack file's types changed. Regenerate it with \
         `SLIPWAY_BLESS=1 cargo test -p slipway-cdk --test stack_file_reference` and commit it"
    );
}

#[test]
fn the_committed_reference_and_schema_are_current() {
    assert_current("docs/stack-file.md", &reference::markdown());
    assert_current("docs/stack-file.schema.json", &reference::json_schema());
}

#[test]
fn every_key_is_described() {
    let undescribed: Vec<String> = reference::keys()
        .into_iter()
        .filter(|key| key.description.trim().is_empty())
        .map(|key| key.path)
        .collect();
    assert!(
        undescribed.is_empty(),
        "document these stack-file keys (a doc comment on the field): {undescribed:?}"
    );
}

/// The schema says what the parser accepts: this repository's stack files and the
/// `init` fixture's validate, and a file the parser refuses (an unknown key, a wrong
/// type, a missing required key) is refused by the schema too.
#[test]
fn the_schema_accepts_the_repository_stacks_and_refuses_what_the_parser_refuses() {
    let schema: serde_json::Value = serde_json::from_str(&reference::json_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let as_json = |text: &str| -> serde_json::Value {
        serde_json::to_value(toml::from_str::<toml::Value>(text).unwrap()).unwrap()
    };
    let dir = repo_file("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&as_json(&text))
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3, "config/ holds the three stacks");

    let voting = std::fs::read_to_string(dir.join("voting.toml")).unwrap();
    let broken = [
        (
            "an unknown key",
            voting.replacen("[network]", "[network]\nsize = 3", 1),
        ),
        (
            "a wrong type",
            voting.replacen("nat_gateways = 1", "nat_gateways = \"two\"", 1),
        ),
        (
            "a missing required key",
            voting.replacen("[stack]\nname = \"voting\"", "[stack]", 1),
        ),
    ];
    for (what, text) in broken {
        assert_ne!(text, voting, "{what}: the edit applied");
        assert!(
            slipway_cdk::config::StackConfig::parse(Path::new("voting.toml"), &text, "dev")
                .is_err(),
            "the parser refuses {what}"
        );
        assert!(
            !validator.is_valid(&as_json(&text)),
            "the schema refuses {what}"
        );
    }
}

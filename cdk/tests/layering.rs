//! The layering rules, checked on every `cargo test --workspace` (so by `ci/test.sh`):
//!
//! 1. `slipway-cdk` depends on no AWS SDK crate, no async runtime and no HTTP client:
//!    nothing in the core can call AWS (read from `cargo metadata`'s resolved graph).
//! 2. Neither the core nor the provisioner has an import cycle between its top-level
//!    modules (read from the sources with `syn`: every `crate::<module>` path, in `use`
//!    items, expressions, types and macro arguments).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use syn::visit::Visit;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------
// 1. No AWS in the core's dependencies

/// Crates whose presence would let the core reach AWS (or anything on the network).
fn forbidden(name: &str) -> bool {
    name.starts_with("aws-")
        || name.starts_with("aws_")
        || [
            "tokio",
            "hyper",
            "reqwest",
            "rustls",
            "h2",
            "hyper-util",
            "tower",
        ]
        .contains(&name)
}

/// Every crate `root` needs to build (normal and build dependencies, transitively; dev
/// dependencies excluded), by name, from `cargo metadata`'s resolve graph.
fn build_closure(metadata: &serde_json::Value, root: &str) -> BTreeSet<String> {
    let packages = metadata["packages"].as_array().expect("packages");
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let root_id = packages
        .iter()
        .find(|p| p["name"] == root)
        .and_then(|p| p["id"].as_str())
        .unwrap_or_else(|| panic!("{root} is not a workspace package"));
    let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let needed_to_build = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if needed_to_build {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    seen.iter().map(|id| name_of[id].to_owned()).collect()
}

#[test]
fn the_core_crate_cannot_reach_aws() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let closure = build_closure(&metadata, "slipway-cdk");
    // The walk is real: it reaches the core's own dependencies.
    for expected in ["serde", "serde_json", "toml"] {
        assert!(
            closure.contains(expected),
            "{expected} missing from {closure:?}"
        );
    }
    let bad: Vec<&String> = closure.iter().filter(|n| forbidden(n)).collect();
    assert!(
        bad.is_empty(),
        "slipway-cdk must not depend on the AWS SDK, an async runtime or an HTTP client, \
         but builds {bad:?}; keep AWS calls in the provisioner crate"
    );
    // And the check would see them: the provisioner does pull the SDK in.
    let provisioner = build_closure(&metadata, "provisioner");
    assert!(provisioner.iter().any(|n| forbidden(n)));
    assert!(provisioner.contains("slipway-cdk"));
}

// ---------------------------------------------------------------------------
// 2. No import cycles between top-level modules

/// Reads `crate::…` and `super::…` paths, resolving `super` against the module the path
/// is written in, and records the top-level module each one names.
struct Imports<'a> {
    /// Module path of the current position (`["aws", "tags"]`, plus inline modules).
    module: Vec<String>,
    found: &'a mut BTreeSet<String>,
}

impl Imports<'_> {
    fn record(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let target = match first.as_str() {
            "crate" => segments.get(1).cloned(),
            "super" => {
                let mut base = self.module.clone();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.first().cloned().or_else(|| rest.first().cloned())
            }
            _ => None,
        };
        if let Some(target) = target {
            self.found.insert(target);
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(prefix),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(prefix, t)),
        }
    }
}

impl<'ast> Visit<'ast> for Imports<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Macro arguments (`json!`, `format!`…) are tokens, not syntax trees.
        for path in token_paths(mac.tokens.clone()) {
            self.record(&path);
        }
        syn::visit::visit_macro(self, mac);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.module.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.module.pop();
    }
}

/// Paths like `crate::a::b` and `super::x` inside a token stream.
fn token_paths(tokens: proc_macro2::TokenStream) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut colons = 0;
    for token in tokens {
        match token {
            proc_macro2::TokenTree::Ident(ident) => {
                let ident = ident.to_string();
                if colons == 2 && !current.is_empty() {
                    current.push(ident);
                } else {
                    if current.len() > 1 {
                        paths.push(std::mem::take(&mut current));
                    }
                    current = if ident == "crate" || ident == "super" {
                        vec![ident]
                    } else {
                        Vec::new()
                    };
                }
                colons = 0;
            }
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' => colons += 1,
            proc_macro2::TokenTree::Group(group) => {
                paths.extend(token_paths(group.stream()));
                if current.len() > 1 {
                    paths.push(std::mem::take(&mut current));
                }
                current.clear();
                colons = 0;
            }
            _ => {
                if current.len() > 1 {
                    paths.push(std::mem::take(&mut current));
                }
                current.clear();
                colons = 0;
            }
        }
    }
    if current.len() > 1 {
        paths.push(current);
    }
    paths
}

/// Top-level module → (module it uses → a file that uses it).
type ModuleGraph = BTreeMap<String, BTreeMap<String, String>>;

/// The module graph of one crate from `(file path relative to src/, source)` pairs.
fn module_graph(files: &[(String, String)]) -> ModuleGraph {
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(path, _)| top_module(path))
        .collect();
    let mut graph = ModuleGraph::new();
    for (path, text) in files {
        let Some(module) = top_module(path) else {
            continue;
        };
        let file = syn::parse_file(text).unwrap_or_else(|err| panic!("{path}: {err}"));
        let mut found = BTreeSet::new();
        let mut imports = Imports {
            module: module_path(path),
            found: &mut found,
        };
        imports.visit_file(&file);
        let edges = graph.entry(module.clone()).or_default();
        for target in found {
            if target != module && modules.contains(&target) {
                edges.entry(target).or_insert_with(|| path.clone());
            }
        }
    }
    graph
}

/// `aws/tags.rs` → `aws`; `cli.rs` → `cli`; the crate root (`lib.rs`, `main.rs`) → none.
fn top_module(path: &str) -> Option<String> {
    let first = path.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!["lib", "main"].contains(&name)).then(|| name.to_owned())
}

/// `aws/tags.rs` → `[aws, tags]`; `aws/mod.rs` → `[aws]`; `cli.rs` → `[cli]`.
fn module_path(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts
}

/// Every cycle's modules in order (one per strongly connected component).
fn cycles(graph: &ModuleGraph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in graph.keys() {
        if reported.contains(start) {
            continue;
        }
        // Shortest way back to `start`, breadth first.
        let mut previous: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closed = None;
        while let Some(node) = queue.pop_front() {
            for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
                if next == start {
                    closed = Some(node);
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(next, node);
                    queue.push_back(next);
                }
            }
            if closed.is_some() {
                break;
            }
        }
        if let Some(mut node) = closed {
            let mut cycle = vec![node.clone()];
            while node != start {
                node = previous[node];
                cycle.push(node.clone());
            }
            cycle.reverse();
            reported.extend(cycle.iter().cloned());
            found.push(cycle);
        }
    }
    found
}

fn describe(graph: &ModuleGraph, cycle: &[String]) -> String {
    let mut text = String::new();
    for (i, from) in cycle.iter().enumerate() {
        let to = &cycle[(i + 1) % cycle.len()];
        text.push_str(&format!("  {from} → {to} (in {})\n", graph[from][to]));
    }
    text
}

fn sources(src: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(src)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    out.sort();
    out
}

fn assert_acyclic(krate: &str) {
    let graph = module_graph(&sources(&workspace_root().join(krate).join("src")));
    assert!(
        graph.len() >= 5,
        "{krate}: too few modules found: {graph:?}"
    );
    let found = cycles(&graph);
    let report: Vec<String> = found.iter().map(|c| describe(&graph, c)).collect();
    assert!(
        found.is_empty(),
        "{krate}/src has import cycles between top-level modules; move the shared item \
         down a layer (see cdk/src/lib.rs, \"Layering\"):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_core_has_no_module_cycle() {
    assert_acyclic("cdk");
}

#[test]
fn the_provisioner_has_no_module_cycle() {
    assert_acyclic("provisioner");
}

#[test]
fn the_check_finds_a_cycle_and_names_it() {
    let files = [
        ("a.rs", "use crate::b::thing; pub fn f() {}"),
        // Through `super` from a nested file and inside a macro's arguments.
        ("b/mod.rs", "mod inner; pub fn thing() {}"),
        (
            "b/inner.rs",
            "fn g() { let _ = format!(\"{}\", crate::c::h()); }",
        ),
        ("c.rs", "pub fn h() -> u8 { super::a::f(); 1 }"),
        ("d.rs", "use crate::a; use super::c::h;"),
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
    ]
    .map(|(p, t)| (p.to_owned(), t.to_owned()));
    let graph = module_graph(&files);
    assert_eq!(graph["d"].keys().collect::<Vec<_>>(), ["a", "c"]);
    let found = cycles(&graph);
    assert_eq!(found, vec![vec!["a".to_owned(), "b".into(), "c".into()]]);
    let text = describe(&graph, &found[0]);
    assert!(text.contains("b → c (in b/inner.rs)"), "{text}");
    // `super` inside a file's own inline module stays within that module.
    let files = [
        ("a.rs", "mod tests { use super::f; }"),
        ("b.rs", "use crate::a;"),
    ]
    .map(|(p, t)| (p.to_owned(), t.to_owned()));
    assert!(cycles(&module_graph(&files)).is_empty());
}

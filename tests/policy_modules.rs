//! The files of `src/policy/` import each other without cycles (issue 8, item 4), so each one can be
//! read, tested and replaced on its own; this test keeps it that way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The sibling modules a file names through `super::` or `crate::policy::`, ignoring its tests.
fn references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut found = BTreeSet::new();
    for prefix in ["super::", "crate::policy::"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

/// The import graph of `src/policy/`, tests and `mod.rs` left out.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy");
    let mut texts = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let is_module =
            path.extension().is_some_and(|e| e == "rs") && name != "mod" && !name.contains("tests");
        if is_module {
            texts.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    texts
        .iter()
        .map(|(name, text)| {
            let mut refs = references(text, &modules);
            refs.remove(name);
            (name.clone(), refs)
        })
        .collect()
}

/// A path `from -> ... -> from`, if `from` is on a cycle.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        for next in &graph[path.last().unwrap()] {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == from {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn policy_modules_form_a_dag() {
    let graph = graph();
    assert!(graph.contains_key("condition") && graph.contains_key("evaluate"), "{graph:?}");
    assert!(graph["condition"].contains("facts"), "the scan sees imports: {graph:?}");
    for module in graph.keys() {
        assert_eq!(cycle_through(&graph, module), None, "{module} is on an import cycle");
    }
}

#[test]
fn the_scan_finds_a_cycle_when_there_is_one() {
    let modules: BTreeSet<String> = ["a", "b"].map(String::from).into();
    let graph = BTreeMap::from([
        ("a".to_string(), references("use super::b::X;", &modules)),
        ("b".to_string(), references("use crate::policy::a::Y;\n#[cfg(test)]\nuse super::b;", &modules)),
    ]);
    assert_eq!(cycle_through(&graph, "a"), Some(vec!["a".into(), "b".into(), "a".into()]));
}

//! No crate of the workspace has a module cycle: records live in model modules that depend on
//! no behaviour, and behaviour modules depend on each other one way only.
//!
//! A module's dependencies are the `crate::` paths in its files outside comments and inline
//! test modules, with the crate root's `pub use module::{..}` re-exports resolved to their
//! module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file: comments and an inline `mod tests` dropped.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Identifiers in `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty())
}

/// Every name `crate::` reaches in `code`: `crate::a`, and each name of `crate::{a, b::c}`.
fn crate_paths(code: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            // Only the first segment of each path in the group names a module or re-export.
            for path in group.split(',') {
                names.extend(words(path).next());
            }
        } else {
            names.extend(words(rest).next());
        }
    }
    names
}

/// What `lib.rs` re-exports, name → module: `pub use module::{A, B};`, `pub use module::A;`.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in code(lib).split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.split_once("::") else { continue };
        for name in words(names) {
            map.insert(name.to_owned(), module.trim().to_owned());
        }
    }
    map
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module_of = |path: &Path| {
        let rel = path.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        first.strip_suffix(".rs").unwrap_or(first).to_owned()
    };
    let modules: BTreeSet<String> =
        files.iter().map(|f| module_of(f)).filter(|m| m != "lib" && m != "main").collect();
    let reexported = reexports(&fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut g: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let from = module_of(file);
        let is_test =
            file.ends_with("tests.rs") || file.components().any(|c| c.as_os_str() == "tests");
        if !modules.contains(&from) || is_test {
            continue;
        }
        let text = code(&fs::read_to_string(file).unwrap());
        for name in crate_paths(&text) {
            let to = reexported.get(name).map_or(name, String::as_str);
            if to != from && modules.contains(to) {
                g.get_mut(&from).unwrap().insert(to.to_owned());
            }
        }
    }
    g
}

/// One cycle of `g`, as the modules along it, if there is one.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in g.get(node).into_iter().flatten() {
            if let Some(found) = visit(g, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_a_module_cycle() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut checked = 0;
    for entry in fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.join("lib.rs").exists() {
            continue;
        }
        let g = graph(&src);
        assert!(cycle(&g).is_none(), "{}: module cycle {:?}", src.display(), cycle(&g));
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} crates found under {}", crates.display());
}

#[test]
fn the_check_finds_a_cycle_and_resolves_reexports() {
    let g: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec![])]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&acyclic), None);

    let lib = "mod a;\n// pub use b::Hidden;\npub use service::{CloudCard, Flow as F};\n";
    let map = reexports(lib);
    assert_eq!(map.get("CloudCard").map(String::as_str), Some("service"));
    assert!(!map.contains_key("Hidden"), "comments are not code");
    let text = code(
        "use crate::{CloudCard, ports::Port};\n/// [`crate::state`]\nfn f() { crate::model::X }",
    );
    assert_eq!(crate_paths(&text), ["CloudCard", "ports", "model"]);
}

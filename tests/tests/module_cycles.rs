//! No module cycles: within each crate, the modules that name each other through `crate::` and
//! `super::` paths form no cycle, at the top level and one level down. A cycle means two modules
//! that cannot be understood, or moved, one without the other.
//!
//! The reading is textual (paths in code outside comments and test modules), which is what a
//! reader follows too; `use` lists count, doc links do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Crates whose module graph must stay acyclic.
const ACYCLIC: &[&str] = &[
    "terminal/core",
    "terminal/health",
    "terminal",
    "backend-sync",
    "backend-sync/client",
    "bill-acceptor",
    "card-reader",
    "receipt-printer",
    "ui",
];

/// Crates with cycles not untangled yet, named so that they are not forgotten: the test checks
/// that they still have one (a crate that lost its cycles moves up to `ACYCLIC`).
const KNOWN_CYCLIC: &[&str] = &["fiscal-register", "back-office"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `src/a/b.rs` and `src/a/b/mod.rs` are `["a", "b"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without the test module at its end.
fn code(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.find("//").map_or(line, |i| &line[..i]))
        .collect();
    let test_module = lines.windows(2).position(|w| {
        let next = w[1].trim();
        w[0].trim() == "#[cfg(test)]"
            && (next.starts_with("mod ") || next.starts_with("pub(crate) mod "))
            && next.ends_with('{')
    });
    lines[..test_module.unwrap_or(lines.len())].join("\n")
}

/// The module names (lower-case segments, at most two) after each `prefix`:
/// `crate::a::b::Type` → `["a", "b"]`, `crate::a::{X, Y}` → `["a"]`.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let glued = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[i + prefix.len()..];
        if glued {
            continue;
        }
        let mut segments = Vec::new();
        for segment in rest.split("::").take(2) {
            let end = segment
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(segment.len());
            if end > 0 {
                segments.push(&segment[..end]);
            }
            if end == 0 || end < segment.len() {
                break;
            }
        }
        found.push(segments);
    }
    found
}

/// Module → modules it names, with modules cut to `depth` segments.
fn edges(krate: &str, depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module.is_empty() || module.iter().any(|m| m.ends_with("tests") || m == "bin") {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable source");
        let code = code(&text);
        let me = module[..module.len().min(depth)].join("::");
        let mut targets = Vec::new();
        for segments in paths_after(&code, "crate::") {
            if !segments.is_empty() {
                targets.push(segments[..segments.len().min(depth)].join("::"));
            }
        }
        // `super::x` in module `a::b` is `a::x`; in a top-level module, the crate's `x`.
        for segments in paths_after(&code, "super::") {
            if let Some(first) = segments.first() {
                let mut sibling = module[..module.len() - 1].to_vec();
                sibling.push((*first).to_owned());
                targets.push(sibling[..sibling.len().min(depth)].join("::"));
            }
        }
        for target in targets {
            let inside = me == target || me.starts_with(&format!("{target}::"));
            if !inside {
                edges.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_crate_has_a_module_cycle() {
    let mut broken = Vec::new();
    for krate in ACYCLIC {
        for depth in [1, 2] {
            let graph = edges(krate, depth);
            assert!(!graph.is_empty(), "{krate}: no module names another");
            for cycle in cycles(&graph) {
                broken.push(format!("{krate}: {}", cycle.join(" ↔ ")));
            }
        }
    }
    assert!(broken.is_empty(), "module cycles:\n{}", broken.join("\n"));
}

#[test]
fn the_crates_known_to_have_cycles_still_have_them() {
    for krate in KNOWN_CYCLIC {
        let found = [1, 2].iter().any(|&d| !cycles(&edges(krate, d)).is_empty());
        assert!(
            found,
            "{krate} has no module cycle any more: move it to ACYCLIC"
        );
    }
}

#[test]
fn a_cycle_is_seen() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["c".to_owned()].into()),
        ("c".to_owned(), ["a".to_owned()].into()),
        ("d".to_owned(), ["a".to_owned()].into()),
    ]
    .into();
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    let code = code("use crate::session::{BillCommand};\nlet x = super::view::Y; // crate::not\n");
    assert_eq!(
        paths_after(&code, "crate::"),
        vec![vec!["session"]],
        "a path stops at the first segment that is not a module name"
    );
    assert_eq!(paths_after(&code, "super::"), vec![vec!["view"]]);
}

//! No function over 80 lines in the kiosk's runtime and its screen bridge: the event loop, the
//! device adapters, the wiring of `terminal run`, and the bridge between the core's view and the
//! screens. Each of them translates; a long function there is a decision hiding in plumbing.
//!
//! The reading is textual: a function runs from its `fn` line to the line that closes its body,
//! test modules are skipped. The money core's state machines (`terminal/core`) are not held to
//! it: a transition table reads best as one `match`.

use std::fs;
use std::path::{Path, PathBuf};

const LIMIT: usize = 80;

/// Files and folders (relative to the workspace) under the rule.
const UNDER_THE_RULE: &[&str] = &[
    "terminal/src/runtime",
    "terminal/src/devices",
    "terminal/src/kiosk.rs",
    "terminal/src/screen.rs",
    "terminal/src/signals.rs",
    "terminal/src/supervision.rs",
    "terminal/src/watchdog.rs",
    "terminal/src/sync.rs",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() || p.extension().is_some_and(|e| e == "rs") {
            rust_files(&p, out);
        }
    }
}

/// A line that starts a function with a body (not a signature in a trait).
fn starts_fn(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "async ",
        "const ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let name = rest.strip_prefix("fn ")?;
    let end = name.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&name[..end])
}

/// Counts `{` minus `}` outside string and char literals and line comments.
fn brace_delta(line: &str) -> i64 {
    let code = line.split("//").next().unwrap_or("");
    let (mut delta, mut in_str, mut prev) = (0, false, ' ');
    for c in code.chars() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '{' if !in_str && prev != '\'' => delta += 1,
            '}' if !in_str && prev != '\'' => delta -= 1,
            _ => {}
        }
        prev = c;
    }
    delta
}

/// `(name, first line, length)` of every function in `text` outside test modules.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let Some(name) = starts_fn(lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut opened, mut j) = (0i64, false, i);
        while j < lines.len() {
            depth += brace_delta(lines[j]);
            opened |= lines[j].contains('{');
            if lines[j].trim_end().ends_with(';') && !opened {
                break; // a signature without a body
            }
            if opened && depth <= 0 {
                break;
            }
            j += 1;
        }
        if opened {
            found.push((name.to_owned(), i + 1, j - i + 1));
        }
        i = j + 1;
    }
    found
}

#[test]
fn no_function_in_the_runtime_or_the_bridge_is_longer_than_80_lines() {
    let root = workspace();
    let mut files = Vec::new();
    for entry in UNDER_THE_RULE {
        let path = root.join(entry);
        assert!(path.exists(), "{entry} is gone: update the rule's list");
        rust_files(&path, &mut files);
    }
    let mut long = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("a source file reads");
        for (name, line, length) in functions(&text) {
            if length > LIMIT {
                let shown = file.strip_prefix(&root).unwrap_or(file).display();
                long.push(format!("{shown}:{line} fn {name}: {length} lines"));
            }
        }
    }
    assert!(long.is_empty(), "over {LIMIT} lines:\n{}", long.join("\n"));
}

#[test]
fn the_reading_finds_functions_and_their_ends() {
    let text = "fn a() {\n    let s = \"}\";\n}\n\npub(crate) async fn b(\n    x: u8,\n) -> u8 {\n    if x > 0 { x } else { 0 }\n}\n#[cfg(test)]\nmod tests {\n    fn c() {}\n}\n";
    assert_eq!(
        functions(text),
        vec![("a".to_owned(), 1, 3), ("b".to_owned(), 5, 5)]
    );
}

//! The workspace's dependency rules, checked against `cargo metadata`: who may import whom.
//! A rule broken here is a design decision to make in the open, not a line to add quietly.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Each workspace package's normal (not dev, not build) dependencies, by package name, closed
/// over transitively.
struct Graph {
    closure: BTreeMap<String, BTreeSet<String>>,
    direct: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    graph_with(&[])
}

/// The target this test runs on, from `rustc -vV`.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

/// The graph with more `cargo metadata` flags (e.g. `--no-default-features`).
fn graph_with(flags: &[&str]) -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Offline, so the test needs no network; filtered to the host, so it needs no crate that
    // only another platform uses (Slint pulls in iOS and Windows crates a Linux build never
    // downloads).
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .args(flags)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve") {
        let name = name_of[node["id"].as_str().expect("node id")].to_owned();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .map(|d| name_of[d["pkg"].as_str().expect("dep pkg")].to_owned());
        direct.entry(name).or_default().extend(deps);
    }
    let closure = direct
        .keys()
        .map(|name| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![name.clone()];
            while let Some(n) = stack.pop() {
                for d in direct.get(&n).into_iter().flatten() {
                    if seen.insert(d.clone()) {
                        stack.push(d.clone());
                    }
                }
            }
            (name.clone(), seen)
        })
        .collect();
    Graph { closure, direct }
}

const KIOSK_CRATES: &[&str] = &[
    "terminal",
    "kiosk-core",
    "kiosk-health",
    "backend-sync",
    "sync-client",
    "back-office",
    "bank-emulator",
    "tests",
];

const IO_CRATES: &[&str] = &[
    "tokio",
    "rusqlite",
    "reqwest",
    "serialport",
    "axum",
    "tokio-postgres",
    "slint",
    "ui",
];

fn forbidden<'a>(g: &'a Graph, package: &str, banned: &[&str]) -> Vec<&'a String> {
    g.closure
        .get(package)
        .unwrap_or_else(|| panic!("{package} is not in the workspace"))
        .iter()
        .filter(|d| banned.contains(&d.as_str()))
        .collect()
}

#[test]
fn device_crates_and_the_screens_import_no_kiosk_crate() {
    let g = graph();
    for package in [
        "bill-acceptor",
        "card-reader",
        "receipt-printer",
        "fiscal-register",
        "barcode-scanner",
        "ui",
        "ui-model",
    ] {
        let bad = forbidden(&g, package, KIOSK_CRATES);
        assert!(bad.is_empty(), "{package} imports {bad:?}");
    }
}

#[test]
fn the_pure_cores_and_the_sync_contract_do_no_io() {
    let g = graph();
    // The graph is the real one: the core reaches the contract and chrono through it.
    assert!(g.closure["kiosk-core"].contains("backend-sync"));
    assert!(g.closure["kiosk-core"].contains("chrono"));
    assert!(g.closure["terminal"].contains("tokio"));
    for package in ["kiosk-core", "kiosk-health", "backend-sync", "ui-model"] {
        let bad = forbidden(&g, package, IO_CRATES);
        assert!(bad.is_empty(), "{package} imports {bad:?}");
    }
    assert!(
        g.closure["ui-model"].is_empty(),
        "ui-model imports {:?}",
        g.closure["ui-model"]
    );
}

#[test]
fn the_back_office_compiles_only_the_sync_contract_of_the_kiosk() {
    let g = graph();
    assert!(g.direct["back-office"].contains("backend-sync"));
    let bad: Vec<_> = g.closure["back-office"]
        .iter()
        .filter(|d| KIOSK_CRATES.contains(&d.as_str()) && d.as_str() != "backend-sync")
        .collect();
    assert!(bad.is_empty(), "back-office imports {bad:?}");
}

#[test]
fn only_the_simulated_cabinet_and_tests_import_the_back_office() {
    let g = graph();
    let importers: BTreeSet<&str> = g
        .direct
        .iter()
        .filter(|(_, deps)| deps.contains("back-office"))
        .map(|(name, _)| name.as_str())
        .collect();
    // `terminal` embeds a back office for `run --simulate` only, behind its `sim` feature (see
    // the next test: the kiosk as shipped links none).
    let allowed: BTreeSet<&str> = ["terminal", "tests"].into();
    let extra: Vec<_> = importers.difference(&allowed).collect();
    assert!(extra.is_empty(), "back-office is imported by {extra:?}");
}

#[test]
fn the_kiosk_as_shipped_links_no_back_office() {
    // The package is built without terminal's default `sim` feature (terminal/Cargo.toml,
    // `[package.metadata.deb]`): no embedded server, no database client, no charts. `cargo tree
    // -p` resolves features for that one build (`cargo metadata` unifies the whole workspace,
    // where the tests turn `sim` on).
    let crates_of = |flags: &[&str]| -> Vec<String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "tree",
                "-p",
                "terminal",
                "-e",
                "normal",
                "--prefix",
                "none",
                "--offline",
            ])
            .args(flags)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    let forbidden = [
        "back-office",
        "bank-emulator",
        "tokio-postgres",
        "plotters",
        "rust_xlsxwriter",
    ];
    let shipped = crates_of(&["--no-default-features", "--features", "kiosk"]);
    let bad: Vec<_> = forbidden
        .iter()
        .filter(|c| shipped.iter().any(|s| s == *c))
        .collect();
    assert!(bad.is_empty(), "the shipped kiosk links {bad:?}");
    // With the feature (tests, `run --simulate`) the embedded back office is there.
    assert!(crates_of(&[]).iter().any(|s| s == "back-office"));
}

#[test]
fn the_back_office_as_shipped_links_no_bank_emulator() {
    // The emulated bank is for tests and `run --simulate`: a dev-dependency of the back office.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree",
            "-p",
            "back-office",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        !tree.lines().any(|l| l.starts_with("bank-emulator ")),
        "the back office links the emulated bank"
    );
}

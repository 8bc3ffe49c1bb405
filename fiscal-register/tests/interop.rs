//! Interop with an independent Shtrih-M host: `pyshtrih` from PyPI drives our KKT emulator on
//! a pty (status, FN status, open and close a shift). Needs Python with `pyshtrih==2.0.6`:
//!
//! ```text
//! python3 -m venv /tmp/pyshtrih && /tmp/pyshtrih/bin/pip install pyshtrih==2.0.6
//! INTEROP_PYTHON=/tmp/pyshtrih/bin/python cargo test -p fiscal-register --test interop -- --ignored
//! ```
//!
//! CI installs no Python packages, so the test is ignored there; it fails (never skips) when
//! the interpreter or the package is missing.

use std::path::PathBuf;
use std::process::Command;

use fiscal_register::shtrih::emulator::KktEmulator;
use fiscal_register::shtrih::testkit::sample_config;

fn python() -> String {
    std::env::var("INTEROP_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
#[ignore = "needs pyshtrih==2.0.6 (see the file header)"]
fn pyshtrih_reads_status_and_fn_status_and_opens_and_closes_a_shift() {
    let kkt = KktEmulator::spawn(sample_config(), None, None).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pyshtrih_host.py");
    let out = Command::new(python())
        .arg(script)
        .arg(kkt.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (set INTEROP_PYTHON): {e}", python()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pyshtrih failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let value = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| s["value"].clone())
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    assert_eq!(value("fn_number"), "9999078900012345");
    assert_eq!(value("last_fd"), 0);
    assert_eq!(value("mode"), serde_json::json!([4, 0]), "shift closed");
    assert_eq!(value("submode"), 0, "paper present");
    assert_eq!(value("shift_open_mode"), serde_json::json!([2, 0]));
    assert_eq!(value("last_fd_after_open"), 1);
    assert_eq!(value("shift_closed_mode"), serde_json::json!([4, 0]));
    assert_eq!(value("last_fd_after_close"), 2);
    assert_eq!(kkt.last_fd(), 2);
}

//! Interop with independent ESC/POS implementations from PyPI. Needs Python with
//! `python-escpos==3.1` and `emupos==0.4.0` (Python ≥ 3.13) installed; run with
//!
//! ```text
//! INTEROP_PYTHON=python3.13 cargo test -p receipt-printer --test interop -- --ignored
//! ```
//!
//! The tests fail (never skip) when the interpreter or a package is missing.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use fiscal_register::{EmulatedFiscalModule, FiscalModule};
use receipt_printer::emulator::PrinterCore;
use receipt_printer::layout::{layout, Block};
use receipt_printer::{encode_receipt, sample, PrinterProfile, Receipt};

fn python() -> String {
    std::env::var("INTEROP_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

fn run_python(script_name: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(python())
        .arg(script(script_name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} (set INTEROP_PYTHON): {e}", python()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script_name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
#[ignore = "needs python-escpos==3.1 (see the file header)"]
fn python_escpos_output_decodes_in_our_emulator() {
    let bytes = run_python("python_escpos_gen.py", &[], b"");
    let mut core = PrinterCore::new(PrinterProfile::EPSON_TM_T88);
    core.handle_input(&bytes);
    let receipt = core
        .poll_receipt()
        .expect("python-escpos output ends with a cut");
    let lines: Vec<String> = receipt
        .text()
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "КАССОВЫЙ ЧЕК",
            "Электроснабжение, л/с 1234567890",
            "ИТОГ 1 500,00 руб.",
            "[QR: t=20261127T140533&s=1500.00&fn=9999078900012345&i=7&fp=0123456789&n=1]",
        ]
    );
    assert_eq!(receipt.unknown_commands, 0);
    assert!(!receipt.interrupted);
}

#[test]
#[ignore = "needs emupos==0.4.0 on Python 3.13 (see the file header)"]
fn our_output_decodes_in_emupos() {
    let dir = tempfile::tempdir().unwrap();
    let mut fm =
        EmulatedFiscalModule::open(dir.path().join("fn.json"), "9999078900012345", b"k").unwrap();
    fm.open_shift(sample::time()).unwrap();
    let result = fm.register(&sample::document(), sample::time()).unwrap();
    let mut receipt = Receipt::fiscal_payment(sample::document(), result);
    receipt.header = sample::header();
    receipt.footer = sample::footer();
    let profile = PrinterProfile::EPSON_TM_T20;
    let bytes = encode_receipt(&receipt, &profile).unwrap();
    let text =
        String::from_utf8(run_python("emupos_decode.py", &["epson-tm-t20iii"], &bytes)).unwrap();
    let receipts: Vec<&str> = text
        .split("\n\u{c}\n")
        .filter(|r| !r.trim().is_empty())
        .collect();
    assert_eq!(receipts.len(), 1, "emupos saw one cut receipt: {text}");
    let theirs: Vec<String> = receipts[0]
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let ours: Vec<String> = layout(&receipt, profile.columns)
        .into_iter()
        .filter_map(|b| match b {
            Block::Line(l) => Some(l.text.trim().to_string()),
            Block::Qr(q) => Some(format!("[qr {q}]")),
            Block::Cut => None,
        })
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(theirs, ours);
}

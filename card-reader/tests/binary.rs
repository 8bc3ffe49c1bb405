//! The `card-reader` binary: `emulate` on a linked pty, `probe` against it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_card-reader");

/// Kills the emulator if the test fails half way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn probe_pays_and_closes_the_day_on_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("zvt");
    let mut emulator = Command::new(BIN)
        .args(["emulate", "--link"])
        .arg(&link)
        .args(["--prompt-delay-ms", "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = emulator.stdin.take().unwrap();
    let mut stdout = BufReader::new(emulator.stdout.take().unwrap());
    let mut emulator = KillOnDrop(emulator);
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("emulating a ZVT terminal"), "{banner}");
    let started = Instant::now();
    while !link.exists() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }

    let pay = Command::new(BIN)
        .args(["probe", "--port"])
        .arg(&link)
        .args(["pay", "12.34"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&pay.stdout);
    assert!(
        pay.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&pay.stderr)
    );
    assert!(
        text.contains("prompt: Вставьте или приложите карту"),
        "{text}"
    );
    assert!(text.contains("completed:"), "{text}");
    assert!(!card_reader::contains_full_pan(&text));

    writeln!(stdin, "decline-next").unwrap();
    let declined = Command::new(BIN)
        .args(["probe", "--port"])
        .arg(&link)
        .args(["pay", "5"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&declined.stdout);
    assert!(
        text.contains("declined:"),
        "{text} {}",
        String::from_utf8_lossy(&declined.stderr)
    );

    writeln!(stdin, "status").unwrap();
    let mut status = String::new();
    stdout.read_line(&mut status).unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["batch"]["total_kopecks"], 1234);

    let eod = Command::new(BIN)
        .args(["probe", "--port"])
        .arg(&link)
        .arg("end-of-day")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&eod.stdout);
    assert!(
        text.contains("\"total_kopecks\":1234"),
        "{text} {}",
        String::from_utf8_lossy(&eod.stderr)
    );

    let probe = Command::new(BIN)
        .args(["probe", "--port"])
        .arg(&link)
        .arg("status")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&probe.stdout).contains("ready: true"));

    writeln!(stdin, "quit").unwrap();
    let exit = emulator.0.wait().unwrap();
    assert!(exit.success());
}

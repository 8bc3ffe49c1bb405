//! `terminal pin-hash` end to end: the printed hash goes into the config, which the kiosk's own
//! config check accepts, and the kiosk's service guard lets that PIN (and no other) in.
//! Bad PINs are refused with a clear message, and the PIN is never echoed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::Utc;
use terminal::config::Config;
use terminal::service_pin::{Credential, LockoutState, ServiceAccess, ServiceAccessConfig};

fn pin_hash(stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_terminal"))
        .arg("pin-hash")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The example config with its `pin_hash` replaced, parsed the way `terminal run --config` does.
fn config_with(hash: &str) -> Config {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/kiosk.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("pin_hash = "))
        .expect("the example config has a pin_hash line");
    let text = text.replace(line, &format!("pin_hash = {hash:?}"));
    Config::from_toml_str(&text, Path::new(example).parent().unwrap())
        .unwrap_or_else(|e| panic!("config with the new hash refused: {e:?}"))
}

#[test]
fn the_printed_hash_opens_service_mode_for_that_pin_only() {
    let out = pin_hash(b"246813\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let hash = stdout.trim_end();
    assert_eq!(stdout.lines().count(), 1, "only the hash: {stdout:?}");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!stdout.contains("246813") && !String::from_utf8_lossy(&out.stderr).contains("246813"));

    let config = config_with(hash);
    assert_eq!(config.service.pin_hash, hash);
    let access = ServiceAccessConfig {
        pin_hash: config.service.pin_hash.clone(),
        card_hashes: Vec::new(),
        max_failures: 5,
        lockout_seconds: 900,
    };
    let mut guard = ServiceAccess::new(&access, LockoutState::default()).unwrap();
    let now = Utc::now();
    assert!(!guard.attempt(Credential::Pin("246814"), now).0.granted());
    assert!(guard.attempt(Credential::Pin("246813"), now).0.granted());
}

#[test]
fn a_line_end_from_windows_or_none_at_all_is_not_part_of_the_pin() {
    for input in [&b"1234\r\n"[..], b"1234"] {
        let out = pin_hash(input);
        assert!(out.status.success(), "{input:?}");
        let hash = String::from_utf8(out.stdout).unwrap();
        let access = ServiceAccessConfig {
            pin_hash: hash.trim_end().to_owned(),
            card_hashes: Vec::new(),
            max_failures: 5,
            lockout_seconds: 900,
        };
        let mut guard = ServiceAccess::new(&access, LockoutState::default()).unwrap();
        assert!(guard
            .attempt(Credential::Pin("1234"), Utc::now())
            .0
            .granted());
    }
}

#[test]
fn pins_that_are_not_4_to_12_digits_are_refused_and_never_echoed() {
    for bad in ["123", "1234567890123", "12a4", " 1234", "1234 ", "١٢٣٤", ""] {
        let out = pin_hash(format!("{bad}\n").as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{bad:?}");
        assert!(stderr.contains("4 to 12 digits"), "{bad:?}: {stderr}");
        if !bad.trim().is_empty() {
            assert!(!stderr.contains(bad.trim()), "{bad:?} echoed: {stderr}");
        }
    }
    let out = pin_hash(b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PIN on standard input"));
}

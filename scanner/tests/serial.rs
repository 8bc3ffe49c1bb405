//! The serial adapter against the pty emulator: what the kiosk sees from a USB-CDC scanner.

use std::time::Duration;

use barcode_scanner::emulator::ScannerEmulator;
use barcode_scanner::{
    spawn_serial, Scan, ScannerEvent, SerialFraming, SerialScannerConfig, MAX_CODE_BYTES,
};
use tokio::sync::mpsc::{self, Receiver};

/// A Win-1251 GOST R 56042-2014 payment code: Cyrillic bytes and no UTF-8.
const GOST: &[u8] = b"ST00011|Name=\xc0\xce \xab\xdd\xed\xe5\xf0\xe3\xee\xf1\xe1\xfb\xf2\xbb|PersonalAcc=40702810900000000001|BankName=\xcf\xc0\xce \xd1\xe1\xe5\xf0\xe1\xe0\xed\xea|BIC=044525225|CorrespAcc=30101810400000000225|PersAcc=7701234567|Sum=148730";

fn config(path: &std::path::Path, terminator: &[u8]) -> SerialScannerConfig {
    SerialScannerConfig {
        path: path.to_path_buf(),
        baud: 9600,
        framing: SerialFraming {
            terminator: terminator.to_vec(),
            max_len: MAX_CODE_BYTES,
        },
    }
}

async fn next(rx: &mut Receiver<ScannerEvent>) -> ScannerEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no scanner event within 10 s")
        .expect("adapter stopped")
}

async fn connected(emu: &ScannerEmulator, terminator: &[u8]) -> Receiver<ScannerEvent> {
    let (tx, mut rx) = mpsc::channel(16);
    spawn_serial(config(emu.path(), terminator), tx).expect("spawn adapter");
    assert_eq!(next(&mut rx).await, ScannerEvent::Connected);
    rx
}

#[tokio::test]
async fn win1251_payment_codes_arrive_byte_exact() {
    let emu = ScannerEmulator::spawn(b"\r".to_vec()).expect("emulator");
    let mut rx = connected(&emu, b"\r").await;
    emu.scan(GOST).expect("scan");
    emu.scan(GOST).expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(GOST.to_vec()))
    );
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(GOST.to_vec()))
    );
}

#[tokio::test]
async fn garbage_and_overlong_input_resync() {
    let emu = ScannerEmulator::spawn(b"\r".to_vec()).expect("emulator");
    let mut rx = connected(&emu, b"\r").await;
    // Bare terminators are not scans; an overlong code is one event without its bytes.
    emu.write_raw(b"\r\r\r").expect("write");
    let long = vec![b'9'; MAX_CODE_BYTES + 500];
    emu.scan(&long).expect("scan");
    emu.scan(GOST).expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Overlong { len: long.len() })
    );
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(GOST.to_vec()))
    );
    // Line noise then silence is flushed as a code of its own, and the next code is clean.
    emu.write_raw(b"\xff\x00noise").expect("write");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(b"\xff\x00noise".to_vec()))
    );
    emu.scan(GOST).expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(GOST.to_vec()))
    );
}

#[tokio::test]
async fn scanner_without_suffix_is_framed_by_silence() {
    let emu = ScannerEmulator::spawn(Vec::new()).expect("emulator");
    let mut rx = connected(&emu, b"").await;
    emu.scan(GOST).expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(GOST.to_vec()))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    emu.scan(b"ST00012|Sum=1").expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(b"ST00012|Sum=1".to_vec()))
    );
}

#[tokio::test]
async fn pulled_cable_is_lost_then_connected_again() {
    // The kiosk opens a stable link (like /dev/serial/by-id/...); the pty behind it changes.
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("scanner");
    let first = ScannerEmulator::spawn(b"\r".to_vec()).expect("emulator");
    std::os::unix::fs::symlink(first.path(), &link).expect("symlink");
    let (tx, mut rx) = mpsc::channel(16);
    spawn_serial(config(&link, b"\r"), tx).expect("spawn adapter");
    assert_eq!(next(&mut rx).await, ScannerEvent::Connected);
    first.scan(b"one").expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(b"one".to_vec()))
    );

    drop(first);
    assert!(
        matches!(next(&mut rx).await, ScannerEvent::Lost { .. }),
        "expected Lost"
    );
    let second = ScannerEmulator::spawn(b"\r".to_vec()).expect("emulator");
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(second.path(), &link).expect("symlink");
    assert_eq!(next(&mut rx).await, ScannerEvent::Connected);
    second.scan(GOST).expect("scan");
    assert_eq!(
        next(&mut rx).await,
        ScannerEvent::Scan(Scan::Code(GOST.to_vec()))
    );
}

#[tokio::test]
async fn missing_device_is_lost_and_the_thread_ends_with_its_receiver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, mut rx) = mpsc::channel(16);
    let thread = spawn_serial(config(&dir.path().join("ttyACM9"), b"\r"), tx).expect("spawn");
    match next(&mut rx).await {
        ScannerEvent::Lost { reason } => assert!(reason.contains("ttyACM9"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
    drop(rx);
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while !thread.is_finished() {
        assert!(
            std::time::Instant::now() < until,
            "adapter thread did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

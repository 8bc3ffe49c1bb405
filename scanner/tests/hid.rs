//! The evdev adapter where no input device exists: it must report Lost and stop with its owner.
//! Decoding itself is tested on key events from `hid_events_for` (src/hid.rs).

use std::time::{Duration, Instant};

use barcode_scanner::{spawn_hid, HidScannerConfig, KeyLayout, ScannerEvent};
use tokio::sync::mpsc;

async fn lost_reason(path: std::path::PathBuf) -> String {
    let (tx, mut rx) = mpsc::channel(16);
    let thread = spawn_hid(
        HidScannerConfig {
            path,
            layout: KeyLayout::Us,
            grab: true,
        },
        tx,
    )
    .expect("spawn adapter");
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s");
    drop(rx);
    let until = Instant::now() + Duration::from_secs(5);
    while !thread.is_finished() {
        assert!(Instant::now() < until, "adapter thread did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match event {
        Some(ScannerEvent::Lost { reason }) => reason,
        other => panic!("expected Lost, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_input_device_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reason = lost_reason(dir.path().join("event-kbd")).await;
    assert!(reason.contains("event-kbd"), "{reason}");
}

#[tokio::test]
async fn a_file_that_is_not_an_input_device_is_lost() {
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    let reason = lost_reason(file.path().to_path_buf()).await;
    assert!(reason.contains("cannot open"), "{reason}");
}

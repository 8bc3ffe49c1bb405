//! End to end through a pty: the real driver talks to the emulator.

use std::time::Duration;

use fiscal_register::{EmulatedFiscalModule, FiscalModule};
use receipt_printer::{
    plain_text, sample, Emulator, EmulatorHandle, JobConfig, PrintError, PrinterHandle,
    PrinterProfile, Receipt, SerialSettings,
};

fn receipt(dir: &tempfile::TempDir) -> Receipt {
    let mut fm =
        EmulatedFiscalModule::open(dir.path().join("fn.json"), "9999078900012345", b"k").unwrap();
    fm.open_shift(sample::time()).unwrap();
    let result = fm.register(&sample::document(), sample::time()).unwrap();
    let mut r = Receipt::fiscal_payment(sample::document(), result);
    r.header = sample::header();
    r.footer = sample::footer();
    r
}

fn setup(profile: PrinterProfile) -> (EmulatorHandle, PrinterHandle, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let emulator = Emulator::spawn(profile.clone(), Some(out.path().join("receipts"))).unwrap();
    // A generous reply timeout for loaded CI machines; only the silent-printer case waits it out.
    let config = JobConfig {
        chunk_size: 64,
        reply_timeout: Duration::from_millis(1000),
        attempts: 2,
    };
    let printer = PrinterHandle::new(
        emulator.path().to_string_lossy(),
        profile.clone(),
        SerialSettings::for_profile(&profile),
    )
    .with_job_config(config);
    (emulator, printer, out)
}

#[tokio::test]
async fn receipt_prints_and_decodes_to_the_same_text() {
    let profile = PrinterProfile::EPSON_TM_T88;
    let (emulator, printer, out) = setup(profile.clone());
    let receipt = receipt(&out);
    let status = printer.print(&receipt).await.unwrap();
    assert!(status.is_ready());
    let receipts = emulator.wait_for_receipts(1, Duration::from_secs(5));
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].text(), plain_text(&receipt, profile.columns));
    assert!(!receipts[0].interrupted);
    // Saved as text and PNG.
    drop(emulator);
    let dir = out.path().join("receipts");
    assert!(dir.join("receipt-0001.txt").exists());
    let png = std::fs::read(dir.join("receipt-0001.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test]
async fn paper_out_mid_receipt_fails_the_job_and_reprint_works_after_paper_in() {
    let profile = PrinterProfile::EPSON_TM_T20;
    let (emulator, printer, out) = setup(profile.clone());
    let receipt = receipt(&out);
    emulator.paper_out_after(12);
    let err = tokio::time::timeout(Duration::from_secs(10), printer.print(&receipt))
        .await
        .expect("never hangs");
    assert_eq!(err, Err(PrintError::PaperOut));
    let receipts = emulator.wait_for_receipts(1, Duration::from_secs(2));
    assert_eq!(receipts.len(), 1);
    assert!(receipts[0].interrupted);
    assert_eq!(receipts[0].text().lines().count(), 12);
    // Still out of paper: a new attempt fails at once, before sending the receipt.
    assert_eq!(printer.print(&receipt).await, Err(PrintError::PaperOut));
    assert!(printer.status().await.unwrap().paper_out);
    emulator.paper_in();
    let status = printer.print(&receipt).await.unwrap();
    assert!(!status.paper_out);
    let receipts = emulator.wait_for_receipts(2, Duration::from_secs(5));
    assert_eq!(receipts.len(), 2);
    assert!(!receipts[1].interrupted);
    assert_eq!(receipts[1].text(), plain_text(&receipt, profile.columns));
}

#[tokio::test]
async fn each_fault_is_a_typed_error() {
    let profile = PrinterProfile::CITIZEN_PPU_700;
    let (emulator, printer, out) = setup(profile.clone());
    let receipt = receipt(&out);

    emulator.cover_open();
    assert_eq!(printer.print(&receipt).await, Err(PrintError::CoverOpen));
    emulator.cover_close();

    emulator.cutter_jam();
    assert_eq!(printer.print(&receipt).await, Err(PrintError::CutterError));
    assert!(printer.status().await.unwrap().cutter_error);
    emulator.cover_open();
    emulator.cover_close();

    emulator.offline(true);
    assert_eq!(printer.print(&receipt).await, Err(PrintError::Offline));
    emulator.offline(false);

    emulator.silent(true);
    let result = tokio::time::timeout(Duration::from_secs(5), printer.status())
        .await
        .expect("never hangs");
    assert_eq!(result, Err(PrintError::NoResponse));
    emulator.silent(false);

    emulator.paper_near_end(true);
    let status = printer.print(&receipt).await.unwrap();
    assert!(status.paper_near_end && !status.paper_out);
    let receipts = emulator.receipts();
    let good: Vec<_> = receipts.iter().filter(|r| !r.interrupted).collect();
    assert_eq!(good.len(), 1);
    assert_eq!(good[0].text(), plain_text(&receipt, profile.columns));
}

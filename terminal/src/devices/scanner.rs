//! The bill scanner task: a scanned code becomes the core's intent (the bill, or why not), the
//! scanner's connection becomes its health. Which screens take a scan is the session's rule.

use barcode_scanner::{Scan, ScannerEvent};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::accounts::{identify_bill, BillAcceptance, QrError};
use crate::config::ScannerConfig;
use crate::health::{Device, DeviceCondition, FaultKind};
use crate::money::Money;
use crate::runtime::CoreEvent;
use crate::session::Intent;

/// Starts the scanner as configured: its adapter (which reopens a lost device itself) and the
/// task that translates its events. Inside a tokio runtime.
pub fn spawn(
    config: &ScannerConfig,
    acceptance: BillAcceptance,
    core: mpsc::Sender<CoreEvent>,
) -> std::io::Result<()> {
    let (events_tx, events) = mpsc::channel(16);
    match config {
        ScannerConfig::Serial {
            port,
            baud,
            terminator,
        } => barcode_scanner::spawn_serial(
            barcode_scanner::SerialScannerConfig {
                path: port.clone(),
                baud: *baud,
                framing: barcode_scanner::SerialFraming {
                    terminator: terminator.clone(),
                    max_len: barcode_scanner::MAX_CODE_BYTES,
                },
            },
            events_tx,
        )?,
        ScannerConfig::Hid {
            device,
            layout,
            grab,
        } => barcode_scanner::spawn_hid(
            barcode_scanner::HidScannerConfig {
                path: device.clone(),
                layout: *layout,
                grab: *grab,
            },
            events_tx,
        )?,
    };
    tokio::spawn(run(events, acceptance, core));
    Ok(())
}

/// Translates the scanner's events until either side is gone.
async fn run(
    mut events: mpsc::Receiver<ScannerEvent>,
    acceptance: BillAcceptance,
    core: mpsc::Sender<CoreEvent>,
) {
    while let Some(event) = events.recv().await {
        if core.send(translate(event, &acceptance)).await.is_err() {
            return;
        }
    }
}

/// What one scanner event means to the core.
pub fn translate(event: ScannerEvent, acceptance: &BillAcceptance) -> CoreEvent {
    match event {
        ScannerEvent::Connected => CoreEvent::Health(Device::Scanner, DeviceCondition::Up),
        ScannerEvent::Lost { reason } => {
            warn!(%reason, "bill scanner lost");
            CoreEvent::Health(
                Device::Scanner,
                DeviceCondition::Down {
                    kind: FaultKind::Communication,
                    detail: format!("нет связи со сканером ({reason})"),
                },
            )
        }
        ScannerEvent::Scan(scan) => CoreEvent::Ui(scanned(scan, acceptance)),
    }
}

fn scanned(scan: Scan, acceptance: &BillAcceptance) -> Intent {
    let refused = |error: QrError| {
        info!(%error, "scanned code refused");
        Intent::ScanRefused {
            message: error.customer_message(),
        }
    };
    match scan {
        Scan::Code(bytes) => match identify_bill(&bytes, acceptance) {
            Ok(bill) => {
                // The account is masked in the log (152-FZ); the sum is not personal.
                info!(%bill, sum_kopecks = ?bill.sum_kopecks, "bill scanned");
                Intent::SubmitScannedBill {
                    account: bill.account.as_str().to_owned(),
                    sum: bill.sum_kopecks.map(Money::from_kopecks),
                }
            }
            Err(error) => refused(error),
        },
        Scan::Overlong { len } => refused(QrError::TooLong { len }),
        Scan::Unreadable { reason } => {
            info!(%reason, "scanner sent keys that are no code");
            refused(QrError::Empty)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::AccountScheme;

    fn acceptance() -> BillAcceptance {
        BillAcceptance {
            scheme: AccountScheme::default(),
            payee_inns: vec!["6901123457".into()],
        }
    }

    const BILL: &[u8] = b"ST00011|Name=AO|PersonalAcc=40702810900000012345|BankName=Bank|BIC=042809679|CorrespAcc=30101810700000000679|PayeeINN=6901123457|PersAcc=1000000001|Sum=150000";

    #[test]
    fn a_bill_becomes_its_account_and_sum() {
        let event = translate(ScannerEvent::Scan(Scan::Code(BILL.to_vec())), &acceptance());
        assert!(matches!(
            event,
            CoreEvent::Ui(Intent::SubmitScannedBill { ref account, sum: Some(sum) })
                if account == "1000000001" && sum == Money::from_kopecks(150_000)
        ));
    }

    /// The same Win-1251 bill through a keyboard-wedge scanner in Alt-code mode (what the evdev
    /// adapter feeds the decoder) opens the same account and sum as through the serial line.
    #[test]
    fn a_keyboard_wedge_scan_gives_the_same_bill_as_the_serial_line() {
        let text = String::from_utf8_lossy(BILL).replace("Name=AO", "Name=АО «Энергосбыт»");
        let bill = encoding_rs::WINDOWS_1251.encode(&text).0.into_owned();
        assert!(
            bill.iter().any(|b| *b >= 0xc0),
            "Cyrillic bytes go as Alt codes"
        );
        let mut decoder = barcode_scanner::HidDecoder::new(barcode_scanner::KeyLayout::Us);
        let scans: Vec<Scan> =
            barcode_scanner::hid_events_for(&bill, barcode_scanner::KeyLayout::Us)
                .into_iter()
                .filter_map(|(code, value)| decoder.key(code, value))
                .collect();
        assert_eq!(scans, [Scan::Code(bill.clone())]);
        let via_keys = translate(ScannerEvent::Scan(scans[0].clone()), &acceptance());
        let via_serial = translate(ScannerEvent::Scan(Scan::Code(bill)), &acceptance());
        assert!(matches!(
            (&via_keys, &via_serial),
            (
                CoreEvent::Ui(Intent::SubmitScannedBill { account: a, sum: Some(s) }),
                CoreEvent::Ui(Intent::SubmitScannedBill { account: b, sum: Some(t) }),
            ) if a == b && s == t && *s == Money::from_rubles(1_500)
        ));
    }

    #[test]
    fn what_is_not_our_bill_is_refused_in_words() {
        let cases = [
            Scan::Code(b"hello".to_vec()),
            Scan::Code(
                String::from_utf8_lossy(BILL)
                    .replace("6901123457", "7707083893")
                    .into_bytes(),
            ),
            Scan::Overlong { len: 5000 },
            Scan::Unreadable {
                reason: "alt code 300".into(),
            },
        ];
        for scan in cases {
            match translate(ScannerEvent::Scan(scan.clone()), &acceptance()) {
                CoreEvent::Ui(Intent::ScanRefused { message }) => {
                    assert!(!message.is_empty(), "{scan:?}")
                }
                other => panic!("{scan:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn the_connection_is_the_scanner_s_health() {
        assert!(matches!(
            translate(ScannerEvent::Connected, &acceptance()),
            CoreEvent::Health(Device::Scanner, DeviceCondition::Up)
        ));
        assert!(matches!(
            translate(
                ScannerEvent::Lost {
                    reason: "unplugged".into()
                },
                &acceptance()
            ),
            CoreEvent::Health(Device::Scanner, DeviceCondition::Down { .. })
        ));
    }
}

//! A sale through the Shtrih-M KKT emulator, on a pty, printed by the KKT on the printer wired
//! to it: the ESC/POS the KKT sends decodes to a receipt with the sale's items and the 54-FZ QR
//! code, and renders to PNG.

use std::time::Duration;

use fiscal_register::shtrih::emulator::KktEmulator;
use fiscal_register::shtrih::testkit::sample_config;
use fiscal_register::shtrih::{DriverConfig, LinkConfig, ShtrihDriver, ShtrihRegister};
use fiscal_register::{qr_string, FiscalModule};
use receipt_printer::emulator::render_png;
use receipt_printer::kkt::EscPosSink;
use receipt_printer::{sample, PrinterProfile};

#[test]
fn a_receipt_printed_by_the_emulated_kkt_decodes_and_renders() {
    let profile = PrinterProfile::by_id("vkp80").expect("profile");
    let sink = EscPosSink::new(profile.clone(), sample::header(), sample::footer());
    let decoded = sink.decoded();
    let kkt = KktEmulator::spawn(sample_config(), None, Some(Box::new(sink))).unwrap();
    let mut config = DriverConfig::new(kkt.path());
    config.link = LinkConfig {
        enq_timeout: Duration::from_millis(500),
        ack_timeout: Duration::from_millis(500),
        ..LinkConfig::default()
    };
    let mut reg = ShtrihRegister::new(ShtrihDriver::spawn(config).unwrap().exchange(), true);
    reg.open_shift(sample::time()).unwrap();
    let doc = sample::document();
    let result = reg.register(&doc, sample::time()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let receipt = loop {
        if let Some(r) = decoded.lock().unwrap().first().cloned() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "nothing printed");
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = receipt.text();
    assert!(text.contains("Электроснабжение"), "{text}");
    assert!(text.contains("Водоканал"), "{text}");
    assert_eq!(receipt.qr_codes(), vec![qr_string(&doc, &result).as_str()]);
    let png = render_png(&receipt, profile.dots).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    if let Ok(dir) = std::env::var("KKT_RECEIPT_PNG_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("kkt-receipt.png"), png).unwrap();
    }
}

//! Golden tests: exact CP866 bytes, decode round trip, QR payload and fiscal sign.

use fiscal_register::{qr_string, verify_fiscal_sign, EmulatedFiscalModule, FiscalModule};
use receipt_printer::emulator::PrinterCore;
use receipt_printer::{
    encode_receipt, plain_text, sample, BodyLine, DecodedReceipt, PrinterProfile, Receipt,
    ReceiptKind,
};

const KEY: &[u8] = b"test-device-key";

fn decode(bytes: &[u8], profile: &PrinterProfile) -> DecodedReceipt {
    let mut core = PrinterCore::new(profile.clone());
    core.handle_input(bytes);
    let receipt = core.poll_receipt().expect("one receipt");
    assert!(core.poll_receipt().is_none(), "exactly one receipt");
    receipt
}

fn meter_slip() -> Receipt {
    let mut r = Receipt::new(ReceiptKind::MeterReadingSlip, sample::time());
    r.header = vec!["АО «Энергосбыт»".into()];
    r.body = vec![
        BodyLine::Pair("Лицевой счет".into(), "1234567890".into()),
        BodyLine::Pair("Т1 (день)".into(), "12345".into()),
        BodyLine::Pair("Сумма".into(), "1 500,00 ₽".into()),
    ];
    r
}

/// Expected bytes built independently (Python's cp866 codec and the ESC/POS reference):
/// ESC @, ESC t 17, centred header, bold double-height title, time, two-column lines, feed, cut.
const GOLDEN_HEX: &str = concat!(
    "1b401b74111b6101808e20229dada5e0a3aee1a1ebe2221b64011b45011d21018f8e8a8087808d889f208f9088818e90",
    "8e822093978592801b64011b45001d210032372e31312e323032362031343a30351b64011b61008ba8e6a5a2aea920e1",
    "e7a5e22020202020202020202020202020202020202020202020202020313233343536373839301b640192312028a4a5",
    "adec292020202020202020202020202020202020202020202020202020202020202020202031323334351b640191e3ac",
    "aca020202020202020202020202020202020202020202020202020202020202031203530302c303020e0e3a12e1b6401",
    "1b64031d564100",
);

#[test]
fn russian_slip_encodes_to_exact_cp866_bytes() {
    let bytes = encode_receipt(&meter_slip(), &PrinterProfile::EPSON_TM_T20).unwrap();
    assert_eq!(hex::encode(&bytes), GOLDEN_HEX);
}

#[test]
fn emulator_decodes_golden_bytes_to_the_same_text() {
    let profile = PrinterProfile::EPSON_TM_T20;
    let decoded = decode(&hex::decode(GOLDEN_HEX).unwrap(), &profile);
    assert_eq!(decoded.text(), plain_text(&meter_slip(), profile.columns));
    assert!(decoded.text().contains("1 500,00 руб."));
    assert_eq!(decoded.unknown_commands, 0);
}

fn registered(dir: &tempfile::TempDir) -> Receipt {
    let mut fm =
        EmulatedFiscalModule::open(dir.path().join("fn.json"), "9999078900012345", KEY).unwrap();
    fm.open_shift(sample::time() - chrono::Duration::hours(1))
        .unwrap();
    let result = fm.register(&sample::document(), sample::time()).unwrap();
    let mut receipt = Receipt::fiscal_payment(sample::document(), result);
    receipt.header = sample::header();
    receipt.footer = sample::footer();
    receipt
}

#[test]
fn fiscal_receipt_round_trips_with_qr_and_valid_sign() {
    let dir = tempfile::tempdir().unwrap();
    let receipt = registered(&dir);
    for profile in PrinterProfile::ALL {
        let bytes = encode_receipt(&receipt, &profile).unwrap();
        let decoded = decode(&bytes, &profile);
        assert_eq!(
            decoded.text(),
            plain_text(&receipt, profile.columns),
            "{}",
            profile.name
        );
        assert!(!decoded.interrupted);
        let qr = decoded.qr_codes();
        assert_eq!(qr.len(), 1);
        let models: Vec<u8> = decoded
            .items
            .iter()
            .filter_map(|i| match i {
                receipt_printer::emulator::DecodedItem::Qr { model, .. } => Some(*model),
                _ => None,
            })
            .collect();
        assert_eq!(models, [50], "QR model 2");
        assert_eq!(qr[0], receipt.qr_payload().unwrap());
    }
    let doc = receipt.document.as_ref().unwrap();
    let fiscal = receipt.fiscal.as_ref().unwrap();
    // 54-FZ QR format; the sum is the receipt total.
    let qr = qr_string(doc, fiscal);
    let fields: Vec<(&str, &str)> = qr
        .split('&')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["t", "s", "fn", "i", "fp", "n"]);
    assert_eq!(fields[0].1, "20261127T140533");
    assert_eq!(fields[1].1, "1950.50");
    assert_eq!(doc.total(), doc.payments.cash + doc.payments.electronic);
    assert_eq!(fields[2].1, "9999078900012345");
    assert_eq!(fields[3].1, fiscal.fd_number.to_string());
    assert_eq!(fields[4].1.len(), 10);
    assert!(fields[4].1.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(fields[5].1, "1");
    assert!(verify_fiscal_sign(KEY, doc, fiscal));
    assert!(!verify_fiscal_sign(b"another-key", doc, fiscal));
    let mut tampered = doc.clone();
    tampered.payments.cash += 1;
    tampered.items[0].price += 1;
    assert!(!verify_fiscal_sign(KEY, &tampered, fiscal));
}

#[test]
fn every_profile_keeps_every_line_within_its_width() {
    let dir = tempfile::tempdir().unwrap();
    let receipt = registered(&dir);
    let name = "Электроснабжение по договору энергоснабжения жилого дома №12";
    assert_eq!(name.chars().count(), 60);
    for profile in PrinterProfile::ALL {
        let decoded = decode(&encode_receipt(&receipt, &profile).unwrap(), &profile);
        assert_eq!(decoded.overflowed_lines, 0, "{}", profile.name);
        for line in decoded.text().lines() {
            if !line.starts_with("[QR:") {
                assert!(
                    line.chars().count() <= profile.columns,
                    "{}: {line:?}",
                    profile.name
                );
            }
        }
        // The 60-character service name is split across lines, every word kept.
        let text = decoded.text();
        let start = text.find("1. Электроснабжение").unwrap();
        let joined: String = text[start..]
            .lines()
            .take(3)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            joined.starts_with(&format!("1. {name}")),
            "{}: {joined}",
            profile.name
        );
        assert!(!text.lines().any(|l| l.contains(&format!("1. {name}"))));
    }
}

#[test]
fn test_page_and_shift_report_print_on_every_profile() {
    let dir = tempfile::tempdir().unwrap();
    let mut fm =
        EmulatedFiscalModule::open(dir.path().join("fn.json"), "9999078900012345", KEY).unwrap();
    fm.open_shift(sample::time()).unwrap();
    fm.register(&sample::document(), sample::time()).unwrap();
    let z = fm
        .close_shift(sample::time() + chrono::Duration::hours(8))
        .unwrap();
    assert_eq!(
        (z.receipts, z.income, z.cash, z.electronic),
        (1, 195_050, 100_000, 95_050)
    );
    for profile in PrinterProfile::ALL {
        for receipt in [
            Receipt::test_page(&profile, sample::time()),
            receipt_printer::shift_report(&z, vec![]),
        ] {
            let decoded = decode(&encode_receipt(&receipt, &profile).unwrap(), &profile);
            assert_eq!(decoded.text(), plain_text(&receipt, profile.columns));
            assert_eq!(decoded.overflowed_lines, 0);
        }
    }
}

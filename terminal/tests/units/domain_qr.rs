//! Bill payment QR codes (GOST R 56042-2014): the three encodings, scanner quirks, every
//! refusal with its message, and property tests (never panics; generated codes round-trip).

use encoding_rs::{KOI8_R, WINDOWS_1251};
use proptest::prelude::*;
use terminal::accounts::{
    identify_bill, identify_from_qr, parse_payment_qr, parse_payment_qr_text, AccountScheme,
    BillAcceptance, PaymentQr, QrEncoding, QrError, QrField, ScannerInput, MAX_QR_BYTES,
};

const BILL: &str = "ST00012|Name=АО «ТверьЭнергоСбыт»|PersonalAcc=40702810900000012345|BankName=ПАО Сбербанк|BIC=042809679|CorrespAcc=30101810700000000679|PayeeINN=6901123457|PersAcc=1000000001|Sum=150000|Purpose=Оплата электроэнергии|LastName=Иванов|PaymPeriod=102026";

fn scheme() -> AccountScheme {
    AccountScheme::default()
}

fn identify_text(text: &str) -> Result<terminal::accounts::QrIdentification, QrError> {
    identify_from_qr(ScannerInput::Text(text), &scheme())
}

fn message(text: &str) -> String {
    match identify_text(text) {
        Ok(ok) => panic!("expected a refusal for {text:?}, got {ok:?}"),
        Err(e) => e.customer_message(),
    }
}

/// The bill with `field` (e.g. `"BIC=042809679"`) replaced by `with` (empty = removed).
fn bill_with(field: &str, with: &str) -> String {
    let replaced = BILL.replace(
        &format!("|{field}"),
        &if with.is_empty() {
            String::new()
        } else {
            format!("|{with}")
        },
    );
    assert_ne!(replaced, BILL, "test fixture: {field} not in the bill");
    replaced
}

#[test]
fn utf8_text_from_the_scanner() {
    let id = identify_text(BILL).expect("valid bill");
    assert_eq!(id.account.as_str(), "1000000001");
    assert_eq!(id.sum_kopecks, Some(150_000));
    assert_eq!(id.qr.encoding, QrEncoding::Utf8);
    assert_eq!(id.qr.separator, '|');
    assert_eq!(id.qr.payee_name(), "АО «ТверьЭнергоСбыт»");
    assert_eq!(id.qr.bic(), "042809679");
    // Unknown keys are kept, in order.
    assert_eq!(id.qr.get("LastName"), Some("Иванов"));
    assert_eq!(id.qr.fields.len(), 11);
}

#[test]
fn windows_1251_and_koi8_r_bytes() {
    for (digit, encoding) in [('1', WINDOWS_1251), ('3', KOI8_R)] {
        let text = BILL.replacen("ST00012", &format!("ST0001{digit}"), 1);
        let text = text.replace(['«', '»'], "\"");
        let (bytes, _, had_errors) = encoding.encode(&text);
        assert!(!had_errors);
        assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
        let id = identify_from_qr(ScannerInput::Bytes(&bytes), &scheme()).expect("decodes");
        assert_eq!(id.qr.payee_name(), "АО \"ТверьЭнергоСбыт\"");
        assert_eq!(id.qr.get("purpose"), Some("Оплата электроэнергии"));
        assert_eq!(id.account.as_str(), "1000000001");
    }
}

#[test]
fn text_already_decoded_by_the_scanner_keeps_its_encoding_digit() {
    let text = BILL.replacen("ST00012", "ST00011", 1);
    let id = identify_text(&text).expect("ok");
    assert_eq!(id.qr.payee_name(), "АО «ТверьЭнергоСбыт»");
    assert_eq!(id.qr.encoding, QrEncoding::Windows1251);
    // UTF-8 passed as raw bytes under digit 3 decodes as KOI8-R: the names garble, but the
    // account and the sum are ASCII digits and survive.
    let koi8 = BILL.replacen("ST00012", "ST00013", 1);
    let id = identify_from_qr(ScannerInput::Bytes(koi8.as_bytes()), &scheme()).expect("ok");
    assert_eq!(id.account.as_str(), "1000000001");
    assert_eq!(id.sum_kopecks, Some(150_000));
    assert_ne!(id.qr.payee_name(), "АО «ТверьЭнергоСбыт»");
    // Under digit 1 the UTF-8 of «И» (D0 98) hits Windows-1251's unassigned 0x98, a control
    // character: refused as damaged rather than guessed at.
    let err = identify_from_qr(ScannerInput::Bytes(text.as_bytes()), &scheme()).expect_err("0x98");
    assert_eq!(err, QrError::ControlCharacter(0x98));
}

#[test]
fn keys_are_case_insensitive_and_scanner_noise_is_tolerated() {
    let text = BILL
        .replace("PersAcc=", "persacc=")
        .replace("Sum=", "SUM=")
        .replace("BIC=", "bic=");
    let id = identify_text(&text).expect("ok");
    assert_eq!(id.account.as_str(), "1000000001");
    assert_eq!(id.sum_kopecks, Some(150_000));
    // Trailing separator, CR/LF suffix, AIM symbology prefix, BOM.
    let noisy = format!("\u{feff}]Q1{BILL}|\r\n");
    assert_eq!(identify_text(&noisy).expect("ok").qr.fields.len(), 11);
    let bytes = format!("]Q1{BILL}||\r\n").into_bytes();
    assert!(identify_from_qr(ScannerInput::Bytes(&bytes), &scheme()).is_ok());
    // Another separator character, as the standard allows.
    assert!(identify_text(&BILL.replace('|', "#")).is_ok());
    // Account printed with spaces.
    assert!(identify_text(&BILL.replace("PersAcc=1000000001", "PersAcc=1000 000 001")).is_ok());
    // Sum is optional.
    let id = identify_text(&bill_with("Sum=150000", "")).expect("ok");
    assert_eq!(id.sum_kopecks, None);
}

#[test]
fn every_malformed_code_gets_its_message() {
    let damaged = "QR-код квитанции повреждён — введите номер лицевого счёта вручную";
    let not_bill = "Это не платёжный QR-код квитанции. Поднесите QR-код с квитанции за электроэнергию или введите номер лицевого счёта";
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "QR-код не прочитан — поднесите квитанцию ещё раз"),
        (" \r\n".into(), "QR-код не прочитан — поднесите квитанцию ещё раз"),
        ("https://example.org/pay".into(), not_bill),
        ("ST0002".into(), not_bill),
        ("ST0001".into(), not_bill),
        ("ST00012".into(), not_bill),
        (
            BILL.replacen("ST00012", "ST00017", 1),
            "QR-код квитанции в неизвестной кодировке (признак «7») — введите номер лицевого счёта вручную",
        ),
        (BILL.replacen("ST00012|", "ST00012A", 1), damaged),
        (BILL.replace("|Purpose=", "|Purpose"), damaged),
        (BILL.replace("|Purpose=", "|Назначение="), damaged),
        (BILL.replace("Purpose=", "Purpose=Оплата\u{7}"), damaged),
        (
            format!("{BILL}|sum=1"),
            "QR-код квитанции повреждён: поле sum указано дважды — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("BIC=042809679", ""),
            "QR-код квитанции неполный: нет поля BIC (БИК банка) — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("Name=АО «ТверьЭнергоСбыт»", "Name="),
            "QR-код квитанции неполный: нет поля Name (получатель платежа) — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("BIC=042809679", "BIC=04280967"),
            "QR-код квитанции повреждён: БИК банка (BIC) должен содержать 9 цифр — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("PersonalAcc=40702810900000012345", "PersonalAcc=4070281090000001234X"),
            "QR-код квитанции повреждён: расчётный счёт получателя (PersonalAcc) должен содержать 20 цифр — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("CorrespAcc=30101810700000000679", "CorrespAcc=301018107000000006790"),
            "QR-код квитанции повреждён: корреспондентский счёт банка (CorrespAcc) должен содержать не более 20 цифр — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("PersAcc=1000000001", ""),
            "В QR-коде нет номера лицевого счёта — введите номер вручную",
        ),
        (
            bill_with("PersAcc=1000000001", "PersAcc="),
            "В QR-коде нет номера лицевого счёта — введите номер вручную",
        ),
        (
            bill_with("PersAcc=1000000001", "PersAcc=1000000002"),
            "Номер лицевого счёта в QR-коде неверен: неверная контрольная цифра — проверьте номер по квитанции",
        ),
        (
            bill_with("PersAcc=1000000001", "PersAcc=10000001"),
            "Номер лицевого счёта в QR-коде неверен: номер лицевого счёта должен содержать 10 цифр, введено 8",
        ),
        (
            bill_with("Sum=150000", "Sum=1500.00"),
            "Сумма в QR-коде неверна («1500.00») — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("Sum=150000", "Sum=-5"),
            "Сумма в QR-коде неверна («-5») — введите номер лицевого счёта вручную",
        ),
        (
            bill_with("Sum=150000", "Sum=1234567890123456789"),
            "Сумма в QR-коде неверна («1234567890123456789») — введите номер лицевого счёта вручную",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(message(&text), expected, "for {text:?}");
    }
}

#[test]
fn only_our_payees_bills_are_taken() {
    let win1251 = |text: &str| {
        WINDOWS_1251
            .encode(&text.replace("ST00012", "ST00011"))
            .0
            .into_owned()
    };
    let ours = BillAcceptance {
        scheme: scheme(),
        payee_inns: vec!["7701000001".into(), "6901123457".into()],
    };
    let bill = identify_bill(&win1251(BILL), &ours).unwrap();
    assert_eq!(bill.account.as_str(), "1000000001");
    assert_eq!(bill.sum_kopecks, Some(150_000));

    let foreign = win1251(&bill_with("PayeeINN=6901123457", "PayeeINN=7707083893"));
    let refused = identify_bill(&foreign, &ours).unwrap_err();
    assert_eq!(
        refused,
        QrError::ForeignPayee {
            inn: "7707083893".into()
        }
    );
    assert!(refused.customer_message().contains("другой организации"));
    // A bill without PayeeINN (optional in the standard) is judged by its account alone.
    let unnamed = win1251(&bill_with("PayeeINN=6901123457", ""));
    assert!(identify_bill(&unnamed, &ours).is_ok());
    // The simulated cabinet takes any payee.
    let any = BillAcceptance {
        scheme: scheme(),
        payee_inns: Vec::new(),
    };
    assert!(identify_bill(&foreign, &any).is_ok());
}

#[test]
fn bad_bytes_and_oversized_input() {
    let mut bytes = b"ST00012|Name=".to_vec();
    bytes.extend_from_slice(&[0xD0, 0x28, 0xFF]);
    let err = parse_payment_qr(&bytes).expect_err("not UTF-8");
    assert_eq!(err, QrError::InvalidUtf8);
    assert_eq!(
        err.customer_message(),
        "QR-код квитанции повреждён — введите номер лицевого счёта вручную"
    );
    let long = format!("{BILL}|Purpose2={}", "x".repeat(MAX_QR_BYTES));
    assert!(matches!(
        parse_payment_qr(long.as_bytes()),
        Err(QrError::TooLong { .. })
    ));
    assert!(matches!(
        parse_payment_qr_text(&long.repeat(3)),
        Err(QrError::TooLong { .. })
    ));
}

fn value_chars(koi8: bool) -> &'static str {
    if koi8 {
        "[А-Яа-яЁёA-Za-z0-9.,;:()= -]{0,40}"
    } else {
        "[А-Яа-яЁёA-Za-z0-9.,;:()=«»№ -]{0,40}"
    }
}

fn trimmed(s: String) -> String {
    s.trim().to_string()
}

/// A valid code: the mandatory fields, a checksum-valid PersAcc, maybe a Sum, unknown fields, all
/// in a shuffled order, in one of the three encodings.
fn valid_code() -> impl Strategy<Value = PaymentQr> {
    (
        prop_oneof![
            Just(QrEncoding::Windows1251),
            Just(QrEncoding::Utf8),
            Just(QrEncoding::Koi8R)
        ],
        prop_oneof![Just('|'), Just('#'), Just('~')],
    )
        .prop_flat_map(|(encoding, separator)| {
            let koi8 = encoding == QrEncoding::Koi8R;
            let value = move || value_chars(koi8).prop_map(trimmed);
            (
                Just(encoding),
                Just(separator),
                "[А-Яа-яA-Za-z][А-Яа-яA-Za-z0-9 .]{0,30}".prop_map(trimmed),
                "[0-9]{20}",
                "[А-Яа-яA-Za-z][А-Яа-яA-Za-z ]{0,20}".prop_map(trimmed),
                "[0-9]{9}",
                "[0-9]{1,20}",
                "[0-9]{9}",
                proptest::option::of("[0-9]{1,18}"),
                proptest::collection::vec(("X[A-Za-z0-9]{0,10}", value()), 0..5),
            )
        })
        .prop_flat_map(
            |(encoding, separator, name, acc, bank, bic, corr, pers, sum, extra)| {
                let pers = AccountScheme::default()
                    .complete(&pers)
                    .expect("9 digits complete to 10")
                    .to_string();
                let mut fields = vec![
                    ("Name".to_string(), name),
                    ("PersonalAcc".to_string(), acc),
                    ("BankName".to_string(), bank),
                    ("BIC".to_string(), bic),
                    ("CorrespAcc".to_string(), corr),
                    ("PersAcc".to_string(), pers),
                ];
                if let Some(sum) = sum {
                    fields.push(("Sum".to_string(), sum));
                }
                for (key, value) in extra {
                    if !fields.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                        fields.push((key, value));
                    }
                }
                let fields: Vec<QrField> = fields
                    .into_iter()
                    .map(|(key, value)| QrField { key, value })
                    .collect();
                Just(fields)
                    .prop_shuffle()
                    .prop_map(move |fields| PaymentQr {
                        encoding,
                        separator,
                        fields,
                    })
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_payment_qr(&bytes);
        let _ = identify_from_qr(ScannerInput::Bytes(&bytes), &scheme());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = identify_text(&text);
    }

    #[test]
    fn text_after_a_valid_header_never_panics(
        digit in "[0-9]",
        separator in any::<char>(),
        body in "[A-Za-z=|;0-9А-я\\x00-\\x1f ]{0,200}",
    ) {
        let text = format!("ST0001{digit}{separator}{body}");
        let _ = identify_text(&text);
        let _ = identify_from_qr(ScannerInput::Bytes(text.as_bytes()), &scheme());
    }

    #[test]
    fn generated_codes_round_trip(qr in valid_code()) {
        let bytes = qr.to_bytes().expect("encodable");
        let parsed = parse_payment_qr(&bytes).expect("parses");
        prop_assert_eq!(&parsed, &qr);
        let text = qr.to_text().expect("text");
        let id = identify_text(&text).expect("identifies");
        prop_assert_eq!(Some(id.account.as_str()), qr.pers_acc());
        prop_assert_eq!(id.sum_kopecks, qr.get("Sum").map(|s| s.parse::<i64>().expect("digits")));
        prop_assert_eq!(&id.qr, &qr);
    }
}

//! Account numbers, masking, fixture lookup and the offline fallback.

use std::io::Write;

use proptest::prelude::*;
use terminal::accounts::{
    mask_address, mask_full_name, Account, AccountError, AccountNumber, AccountScheme,
    AccountSource, ChecksumKind, FixtureError, FixtureSource, LookupError, OfflineFallback,
};
use terminal::readings::ZoneCode;

fn default_scheme() -> AccountScheme {
    AccountScheme::default()
}

fn luhn(length: usize) -> AccountScheme {
    AccountScheme {
        kind: ChecksumKind::Luhn,
        length,
    }
}

fn message(scheme: &AccountScheme, input: &str) -> String {
    match scheme.parse(input) {
        Ok(n) => panic!("expected a refusal for {input:?}, got {n}"),
        Err(e) => e.customer_message(),
    }
}

#[test]
fn default_scheme_is_ten_digits_mod11() {
    let s = default_scheme();
    assert_eq!(s.kind, ChecksumKind::Mod11);
    assert_eq!(s.length, 10);
    for valid in ["1000000001", "1000000028", "1000000036", "1234567890"] {
        assert_eq!(s.parse(valid).map(|n| n.to_string()), Ok(valid.to_string()));
    }
    assert_eq!(s.parse("1000000002"), Err(AccountError::BadCheckDigit));
    assert_eq!(
        message(&s, "1000000002"),
        "Неверная контрольная цифра — проверьте номер по квитанции"
    );
    // Two neighbouring digits swapped.
    assert_eq!(s.parse("1234567980"), Err(AccountError::BadCheckDigit));
}

#[test]
fn wrong_length_empty_and_letters() {
    let s = default_scheme();
    assert_eq!(
        message(&s, "10000000"),
        "Номер лицевого счёта должен содержать 10 цифр, введено 8"
    );
    assert_eq!(
        message(&s, "100000000012"),
        "Номер лицевого счёта должен содержать 10 цифр, введено 12"
    );
    assert_eq!(message(&s, ""), "Введите номер лицевого счёта");
    assert_eq!(message(&s, " - "), "Введите номер лицевого счёта");
    assert_eq!(
        message(&s, "10000a0001"),
        "Номер лицевого счёта состоит только из цифр"
    );
    // Grouping as printed on bills is fine.
    assert_eq!(
        s.parse(" 100-000 0001 ").map(|n| n.to_string()),
        Ok("1000000001".to_string())
    );
    let plural = |length| {
        message(
            &AccountScheme {
                kind: ChecksumKind::None,
                length,
            },
            "123",
        )
    };
    assert_eq!(
        plural(21),
        "Номер лицевого счёта должен содержать 21 цифру, введено 3"
    );
    assert_eq!(
        plural(22),
        "Номер лицевого счёта должен содержать 22 цифры, введено 3"
    );
    assert_eq!(
        plural(11),
        "Номер лицевого счёта должен содержать 11 цифр, введено 3"
    );
}

#[test]
fn luhn_and_none_schemes() {
    assert!(luhn(11).parse("79927398713").is_ok());
    assert_eq!(
        luhn(11).parse("79927398710"),
        Err(AccountError::BadCheckDigit)
    );
    assert!(luhn(16).parse("4111 1111 1111 1111").is_ok());
    let none = AccountScheme {
        kind: ChecksumKind::None,
        length: 6,
    };
    assert!(none.parse("000000").is_ok());
    assert_eq!(
        none.complete("123456").map(|n| n.to_string()),
        Some("123456".into())
    );
    assert_eq!(
        default_scheme()
            .complete("123456789")
            .map(|n| n.to_string()),
        Some("1234567890".into())
    );
    assert_eq!(default_scheme().complete("12345678"), None);
    assert_eq!(default_scheme().complete("12345678x"), None);
}

#[test]
fn account_numbers_are_masked_in_logs() {
    let n = default_scheme().parse("1000000036").expect("valid");
    assert_eq!(n.masked(), "******0036");
}

#[test]
fn names_are_masked() {
    assert_eq!(mask_full_name("Иванов Иван Иванович"), "Ив***в И. И.");
    assert_eq!(mask_full_name("  Петрова   анна  "), "Пе***а А.");
    assert_eq!(mask_full_name("Ли Вэй"), "Л*** В.");
    assert_eq!(mask_full_name("Ким"), "К***м");
    assert_eq!(
        mask_full_name("Салтыков-Щедрин Михаил Евграфович"),
        "Са***н М. Е."
    );
    assert_eq!(mask_full_name(""), "");
}

#[test]
fn addresses_hide_the_flat() {
    assert_eq!(
        mask_address("г. Тверь, ул. Ленина, д. 5, кв. 12"),
        "г. Тверь, ул. Ленина, д. 5, кв. ***"
    );
    assert_eq!(
        mask_address("170100, г. Тверь, ул. Ленина, д. 5 кв. 12"),
        "170100, г. Тверь, ул. Ленина, д. 5 кв. ***"
    );
    assert_eq!(
        mask_address("г. Тверь, ул. Ленина, д. 5, кв.12"),
        "г. Тверь, ул. Ленина, д. 5, кв. ***"
    );
    assert_eq!(
        mask_address("г. Тверь, ул. Ленина, 5-12"),
        "г. Тверь, ул. Ленина, 5-***"
    );
    assert_eq!(
        mask_address("г. Тверь, ул. Ленина, д. 5, комн. 3"),
        "г. Тверь, ул. Ленина, д. 5, комн. ***"
    );
    assert_eq!(
        mask_address("г. Тверь, ул. 8-Марта, д. 5, Квартира 7"),
        "г. Тверь, ул. 8-Марта, д. 5, Квартира ***"
    );
    // A quarter (квартал) is not a flat; a house without a flat stays whole.
    assert_eq!(
        mask_address("г. Конаково, квартал 5, д. 3"),
        "г. Конаково, квартал 5, д. 3"
    );
}

fn number(s: &str) -> AccountNumber {
    default_scheme().parse(s).expect("valid test number")
}

#[test]
fn demo_set() {
    let demo = FixtureSource::demo();
    assert_eq!(demo.len(), 3);

    let ivanov = demo
        .lookup(&number("1000000001"))
        .expect("reachable")
        .expect("known");
    assert_eq!(ivanov.holder_masked, "Ив***в И. И.");
    assert_eq!(ivanov.address_masked, "г. Тверь, ул. Ленина, д. 5, кв. ***");
    assert_eq!(ivanov.total_debt_kopecks(), Some(150_000));
    assert_eq!(ivanov.services.len(), 2);
    assert!(ivanov.verified);

    let petrova = demo
        .lookup(&number("1000000028"))
        .expect("ok")
        .expect("known");
    assert_eq!(petrova.total_debt_kopecks(), Some(0));

    let sidorov = demo
        .lookup(&number("1000000036"))
        .expect("ok")
        .expect("known");
    let zones: Vec<usize> = sidorov.meters.iter().map(|m| m.zones.len()).collect();
    assert_eq!(zones, [2, 3]);
    assert_eq!(sidorov.meters[1].zones[2].code, ZoneCode::T3);
    assert_eq!(sidorov.meters[1].zones[2].name_ru, "полупик");
    assert_eq!(sidorov.total_debt_kopecks(), Some(-20_000));

    assert_eq!(demo.lookup(&number("1234567890")), Ok(None));
}

#[test]
fn offline_fallback_offers_an_unverified_account() {
    let source = OfflineFallback::new(FixtureSource::demo());
    // Online: the real account.
    let online = source
        .lookup(&number("1000000001"))
        .expect("ok")
        .expect("known");
    assert!(online.verified);

    source.inner().set_reachable(false);
    assert!(matches!(
        source.inner().lookup(&number("1000000001")),
        Err(LookupError::Unreachable(_))
    ));
    let offline = source
        .lookup(&number("1234567890"))
        .expect("fallback")
        .expect("account");
    assert!(!offline.verified);
    assert_eq!(offline, Account::unverified(number("1234567890")));
    assert_eq!(offline.services.len(), 1);
    assert_eq!(offline.services[0].name, "Электроэнергия");
    assert_eq!(offline.services[0].debt_kopecks, None);
    assert_eq!(offline.total_debt_kopecks(), None);
    assert!(offline.meters.is_empty());

    source.inner().set_reachable(true);
    assert_eq!(source.lookup(&number("1234567890")), Ok(None));
}

struct Broken;

impl AccountSource for Broken {
    fn lookup(&self, _: &AccountNumber) -> Result<Option<Account>, LookupError> {
        Err(LookupError::BadAnswer("HTTP 500".into()))
    }
}

#[test]
fn a_bad_answer_is_not_taken_for_offline() {
    let err = OfflineFallback::new(Broken)
        .lookup(&number("1000000001"))
        .expect_err("passes through");
    assert_eq!(
        err.customer_message(),
        "Не удалось получить данные лицевого счёта — попробуйте ещё раз"
    );
}

#[test]
fn fixture_files_in_toml_and_json() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/accounts.example.toml"
    );
    let source = FixtureSource::load(example.as_ref(), &default_scheme()).expect("example loads");
    assert!(!source.is_empty());

    let json = r#"{"accounts": [{"number": "1000000001", "holder": "Иванов Иван Иванович",
        "address": "г. Тверь, ул. Ленина, д. 5, кв. 12",
        "services": [{"id": "electricity", "name": "Электроэнергия", "debt_kopecks": 100}],
        "meters": [{"id": "m", "serial": "1", "name": "М", "digits": 5,
            "zones": [{"code": "Т1", "previous_value": 5, "previous_date": "2026-10-25"}]}]}]}"#;
    let mut file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    file.write_all(json.as_bytes()).expect("write");
    let source = FixtureSource::load(file.path(), &default_scheme()).expect("json loads");
    let account = source
        .lookup(&number("1000000001"))
        .expect("ok")
        .expect("known");
    assert_eq!(account.meters[0].zones[0].name_ru, "круглосуточно");
}

#[test]
fn bad_fixtures_say_where() {
    let bad_number = r#"
[[accounts]]
number = "1000000002"
holder = "И"
address = "А"
"#;
    match FixtureSource::from_toml(bad_number, &default_scheme()) {
        Err(FixtureError::BadAccountNumber { at, error }) => {
            assert_eq!(at, "accounts[0].number");
            assert_eq!(error, AccountError::BadCheckDigit);
        }
        other => panic!("unexpected {other:?}"),
    }
    let bad_zone = r#"
[[accounts]]
number = "1000000001"
holder = "И"
address = "А"
[[accounts.meters]]
id = "m"
serial = "1"
name = "М"
digits = 5
zones = [{ code = "T4", previous_value = 1, previous_date = "2026-10-01" }]
"#;
    let err = FixtureSource::from_toml(bad_zone, &default_scheme()).expect_err("bad zone");
    assert_eq!(
        err.to_string(),
        "accounts[0].meters[0]: zone code \"T4\" is not T1, T2 or T3"
    );
    let duplicate = format!(
        "{}{}",
        bad_number.replace("02", "01"),
        bad_number.replace("02", "01")
    );
    let err = FixtureSource::from_toml(&duplicate, &default_scheme()).expect_err("twice");
    assert_eq!(
        err.to_string(),
        "accounts[1].number: account number appears twice"
    );
    assert!(matches!(
        FixtureSource::from_toml("accounts = 5", &default_scheme()),
        Err(FixtureError::Syntax(_))
    ));
    assert!(matches!(
        FixtureSource::load("/nonexistent/accounts.toml".as_ref(), &default_scheme()),
        Err(FixtureError::Io { .. })
    ));
}

fn any_scheme() -> impl Strategy<Value = AccountScheme> {
    (
        prop_oneof![
            Just(ChecksumKind::Mod11),
            Just(ChecksumKind::Luhn),
            Just(ChecksumKind::None)
        ],
        4usize..=30,
    )
        .prop_map(|(kind, length)| AccountScheme { kind, length })
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(scheme in any_scheme(), input in "\\PC{0,40}") {
        if let Ok(n) = scheme.parse(&input) {
            prop_assert_eq!(n.as_str().len(), scheme.length);
            prop_assert!(n.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn completed_numbers_parse(scheme in any_scheme(), seed in "[0-9]{30}") {
        let payload_len = match scheme.kind {
            ChecksumKind::None => scheme.length,
            _ => scheme.length - 1,
        };
        let n = scheme.complete(&seed[..payload_len]).expect("right length");
        prop_assert_eq!(scheme.parse(n.as_str()), Ok(n.clone()));
    }

    /// Luhn catches every single wrong digit.
    #[test]
    fn luhn_catches_single_digit_errors(seed in "[0-9]{9}", pos in 0usize..10, delta in 1u8..=9) {
        let scheme = luhn(10);
        let n = scheme.complete(&seed).expect("complete");
        let mut digits = n.as_str().as_bytes().to_vec();
        digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
        let changed = String::from_utf8(digits).expect("ascii");
        prop_assert_eq!(scheme.parse(&changed), Err(AccountError::BadCheckDigit));
    }

    /// Mod 11 misses a single wrong digit or a swap of neighbours only when the sum moves between
    /// remainders 0 and 10, i.e. only for numbers whose check digit is 0.
    #[test]
    fn mod11_misses_errors_only_with_check_digit_zero(
        seed in "[0-9]{9}",
        pos in 0usize..9,
        delta in 1u8..=9,
        swap in any::<bool>(),
    ) {
        let scheme = default_scheme();
        let n = scheme.complete(&seed).expect("complete");
        let mut digits = n.as_str().as_bytes().to_vec();
        if swap {
            // Neighbours within the digits the check digit covers.
            let pos = pos.min(7);
            digits.swap(pos, pos + 1);
        } else {
            digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
        }
        let changed = String::from_utf8(digits).expect("ascii");
        if changed != n.as_str() && scheme.parse(&changed).is_ok() {
            prop_assert!(n.as_str().ends_with('0'), "{} → {} undetected", n, changed);
        }
    }
}

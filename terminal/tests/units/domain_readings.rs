//! Meter-reading rules: every refusal with its exact Russian message, rollover, corrections,
//! registration numbers and slips.

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use terminal::accounts::AccountScheme;
use terminal::readings::{
    validate, AcceptanceWindow, Meter, ReadingRules, Refusal, RegisteredReading, Registrar,
    RegistrationNumber, Zone, ZoneCode, ZoneInput,
};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_opt(h, min, 0).expect("test time")
}

fn rules() -> ReadingRules {
    ReadingRules {
        window: AcceptanceWindow::new(15, 25).expect("window"),
        default_max_daily_kwh: 100,
    }
}

/// Five digits, one zone, previous value on 25.10.2026, 100 kWh/day by default.
fn single(previous: u64) -> Meter {
    Meter::new(
        "m1".into(),
        "0110761".into(),
        "Меркурий 200".into(),
        5,
        vec![Zone::new(ZoneCode::T1, previous, date(2026, 10, 25))],
        None,
    )
    .expect("meter")
}

/// Six digits, day/night, 50 kWh/day.
fn two_zone() -> Meter {
    Meter::new(
        "m2".into(),
        "2002".into(),
        "Квартира".into(),
        6,
        vec![
            Zone::new(ZoneCode::T2, 600, date(2026, 10, 25)),
            Zone::new(ZoneCode::T1, 1500, date(2026, 10, 25)),
        ],
        Some(50),
    )
    .expect("meter")
}

fn t1(entered: &str) -> Vec<ZoneInput> {
    vec![ZoneInput::new(ZoneCode::T1, entered)]
}

/// 20 November 2026, inside the window, 26 days after the previous reading.
fn now() -> NaiveDateTime {
    at(2026, 11, 20, 12, 0)
}

fn refusal(meter: &Meter, inputs: &[ZoneInput]) -> String {
    match validate(meter, inputs, now(), &rules(), &[]) {
        Ok(ok) => panic!("expected a refusal, got {ok:?}"),
        Err(refusal) => refusal.customer_message(),
    }
}

#[test]
fn outside_the_window() {
    let err = validate(
        &single(1300),
        &t1("1400"),
        at(2026, 11, 27, 9, 0),
        &rules(),
        &[],
    )
    .expect_err("27th is outside 15..25");
    assert_eq!(
        err.customer_message(),
        "Показания принимаются с 15 по 25 число месяца; сегодня 27 ноября"
    );
    let err = validate(
        &single(1300),
        &t1("1400"),
        at(2026, 3, 14, 23, 59),
        &rules(),
        &[],
    )
    .expect_err("14th is outside 15..25");
    assert_eq!(
        err.customer_message(),
        "Показания принимаются с 15 по 25 число месяца; сегодня 14 марта"
    );
    // Both edges are inside.
    for when in [at(2026, 11, 15, 0, 0), at(2026, 11, 25, 23, 59)] {
        assert!(validate(&single(1300), &t1("1400"), when, &rules(), &[]).is_ok());
    }
}

#[test]
fn below_previous_without_rollover() {
    assert_eq!(
        refusal(&single(1300), &t1("1234")),
        "Показание 1234 меньше предыдущего 1300 (от 25.10.2026)"
    );
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "1600"),
        ZoneInput::new(ZoneCode::T2, "500"),
    ];
    assert_eq!(
        refusal(&two_zone(), &inputs),
        "Показание по зоне T2 (ночь) 500 меньше предыдущего 600 (от 25.10.2026)"
    );
}

#[test]
fn more_digits_than_the_display() {
    assert_eq!(
        refusal(&single(1300), &t1("123456")),
        "В показании 6 цифр, а на табло счётчика 5 цифр до запятой"
    );
    // Leading zeros count: the customer copies the whole display.
    assert_eq!(
        refusal(&single(1300), &t1("001400")),
        "В показании 6 цифр, а на табло счётчика 5 цифр до запятой"
    );
    assert!(validate(&single(1300), &t1("01400"), now(), &rules(), &[]).is_ok());
}

#[test]
fn implausible_consumption() {
    // 26 days × 100 kWh = 2600 kWh allowed; 5000 − 1300 = 3700.
    assert_eq!(
        refusal(&single(1300), &t1("5000")),
        "Расход 3700 кВт·ч за 26 дней больше допустимого 2600 кВт·ч (не более 100 кВт·ч в сутки) — проверьте показание"
    );
    // The meter's own limit wins over the default: 26 × 50 = 1300.
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "2801"),
        ZoneInput::new(ZoneCode::T2, "700"),
    ];
    assert_eq!(
        refusal(&two_zone(), &inputs),
        "Расход по зоне T1 (день) 1301 кВт·ч за 26 дней больше допустимого 1300 кВт·ч (не более 50 кВт·ч в сутки) — проверьте показание"
    );
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "2800"),
        ZoneInput::new(ZoneCode::T2, "700"),
    ];
    assert!(validate(&two_zone(), &inputs, now(), &rules(), &[]).is_ok());
}

#[test]
fn day_words_agree_with_the_number() {
    let meter = |d: u32| {
        Meter::new(
            "m".into(),
            "1".into(),
            "М".into(),
            5,
            vec![Zone::new(ZoneCode::T1, 100, date(2026, 11, d))],
            Some(10),
        )
        .expect("meter")
    };
    let msg = |d| refusal(&meter(d), &t1("9000"));
    assert!(
        msg(19).contains("за 1 день больше допустимого 10 кВт·ч"),
        "{}",
        msg(19)
    );
    assert!(msg(18).contains("за 2 дня больше"), "{}", msg(18));
    assert!(msg(15).contains("за 5 дней больше"), "{}", msg(15));
    // A previous reading dated today still counts as one day.
    assert!(msg(20).contains("за 1 день больше"), "{}", msg(20));
}

#[test]
fn empty_zero_and_non_numeric() {
    assert_eq!(refusal(&single(1300), &t1("")), "Введите показание");
    assert_eq!(refusal(&single(1300), &t1("   ")), "Введите показание");
    assert_eq!(
        refusal(&single(1300), &t1("0")),
        "Показание не может быть равно нулю — введите цифры с табло счётчика"
    );
    assert_eq!(
        refusal(&single(1300), &t1("00000")),
        "Показание не может быть равно нулю — введите цифры с табло счётчика"
    );
    assert_eq!(
        refusal(&single(1300), &t1("12a4")),
        "Показание «12a4» должно состоять только из цифр"
    );
    assert_eq!(
        refusal(&single(1300), &t1("-1400")),
        "Показание «-1400» должно состоять только из цифр"
    );
    assert_eq!(
        refusal(&single(1300), &t1("1400,5")),
        "Введите показание без цифр после запятой — только целые кВт·ч"
    );
    assert_eq!(
        refusal(&single(1300), &t1("1400.5")),
        "Введите показание без цифр после запятой — только целые кВт·ч"
    );
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "1600"),
        ZoneInput::new(ZoneCode::T2, "x"),
    ];
    assert_eq!(
        refusal(&two_zone(), &inputs),
        "Показание по зоне T2 (ночь) «x» должно состоять только из цифр"
    );
}

#[test]
fn zones_incomplete_unknown_or_repeated() {
    assert_eq!(
        refusal(&two_zone(), &t1("1600")),
        "Не введено показание по зоне T2 (ночь) — введите показания всех зон счётчика"
    );
    assert_eq!(
        refusal(&two_zone(), &[]),
        "Не введено показание по зоне T1 (день) — введите показания всех зон счётчика"
    );
    assert_eq!(
        refusal(&single(1300), &[]),
        "Не введено показание — введите показания всех зон счётчика"
    );
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "1600"),
        ZoneInput::new(ZoneCode::T2, "700"),
        ZoneInput::new(ZoneCode::T3, "10"),
    ];
    assert_eq!(
        refusal(&two_zone(), &inputs),
        "У счётчика «Квартира» (зав. № 2002) нет зоны T3"
    );
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "1600"),
        ZoneInput::new(ZoneCode::T1, "1601"),
        ZoneInput::new(ZoneCode::T2, "700"),
    ];
    assert_eq!(
        refusal(&two_zone(), &inputs),
        "Показание по зоне T1 (день) введено дважды — оставьте одно"
    );
}

#[test]
fn three_zone_names() {
    let meter = Meter::new(
        "m3".into(),
        "3003".into(),
        "Гараж".into(),
        5,
        vec![
            Zone::new(ZoneCode::T1, 10, date(2026, 10, 25)),
            Zone::new(ZoneCode::T2, 10, date(2026, 10, 25)),
            Zone::new(ZoneCode::T3, 10, date(2026, 10, 25)),
        ],
        None,
    )
    .expect("meter");
    let names: Vec<_> = meter.zones.iter().map(|z| z.name_ru).collect();
    assert_eq!(names, ["пик", "ночь", "полупик"]);
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "20"),
        ZoneInput::new(ZoneCode::T2, "20"),
    ];
    assert_eq!(
        refusal(&meter, &inputs),
        "Не введено показание по зоне T3 (полупик) — введите показания всех зон счётчика"
    );
}

#[test]
fn rollover_through_zero() {
    // 99 950 → 30 on a 5-digit display: 80 kWh through zero, plausible.
    let ok = validate(&single(99_950), &t1("30"), now(), &rules(), &[]).expect("rollover");
    assert_eq!(ok.zones[0].consumption, 80);
    assert!(ok.zones[0].rollover);
    // Previous value far from the capacity: an ordinary "below previous".
    assert_eq!(
        refusal(&single(50_000), &t1("30")),
        "Показание 30 меньше предыдущего 50000 (от 25.10.2026)"
    );
    // Near the capacity, but 5050 kWh through zero is not plausible in 26 days.
    assert_eq!(
        refusal(&single(99_950), &t1("5000")),
        "Показание 5000 меньше предыдущего 99950 (от 25.10.2026)"
    );
}

fn register(
    meter: &Meter,
    inputs: &[ZoneInput],
    when: NaiveDateTime,
    earlier: &[RegisteredReading],
    registrar: &mut Registrar,
) -> Result<RegisteredReading, Refusal> {
    let account = AccountScheme::default()
        .parse("1000000001")
        .expect("account");
    let valid = validate(meter, inputs, when, &rules(), earlier)?;
    Ok(registrar.register(&account, valid, when))
}

#[test]
fn duplicate_is_refused_and_a_changed_value_is_a_correction() {
    let mut registrar = Registrar::new("0042");
    let meter = single(1300);
    let first = register(&meter, &t1("1400"), now(), &[], &mut registrar).expect("first");
    assert_eq!(first.registration.to_string(), "T0042-261120-0001");

    let later = at(2026, 11, 21, 10, 30);
    let earlier = std::slice::from_ref(&first);
    let err = register(&meter, &t1("1400"), later, earlier, &mut registrar)
        .expect_err("same values again");
    assert_eq!(
        err.customer_message(),
        "Эти показания уже приняты 20.11.2026 в 12:00, регистрационный номер T0042-261120-0001"
    );

    // A typo fixed downwards is measured against last month's value, not the typo.
    let fixed = register(&meter, &t1("1350"), later, earlier, &mut registrar).expect("correction");
    assert_eq!(fixed.corrects, Some(first.registration.clone()));
    assert_eq!(fixed.zones[0].consumption, 50);
    assert_eq!(fixed.registration.to_string(), "T0042-261121-0001");

    // A second correction supersedes the latest one.
    let both = [first.clone(), fixed.clone()];
    let err = register(&meter, &t1("1350"), later, &both, &mut registrar)
        .expect_err("repeat of the correction");
    assert!(err.customer_message().contains("T0042-261121-0001"));

    // Last month's reading of the same meter does not make a duplicate.
    let december = at(2026, 12, 16, 8, 0);
    let next_month =
        register(&meter, &t1("1400"), december, &both, &mut registrar).expect("new month");
    assert_eq!(next_month.corrects, None);
}

#[test]
fn registration_numbers_are_unique_and_resume() {
    let mut registrar = Registrar::new("0042");
    let a = registrar.next_number(at(2026, 11, 20, 9, 0));
    let b = registrar.next_number(at(2026, 11, 20, 9, 1));
    let c = registrar.next_number(at(2026, 11, 21, 0, 0));
    assert_eq!(
        [a.to_string(), b.to_string(), c.to_string()],
        [
            "T0042-261120-0001",
            "T0042-261120-0002",
            "T0042-261121-0001"
        ]
    );
    // The clock going back a day must not reissue T0042-261120-0001.
    let d = registrar.next_number(at(2026, 11, 20, 23, 0));
    assert_eq!(d.to_string(), "T0042-261121-0002");

    let last: RegistrationNumber = "T0042-261121-0007".parse().expect("parse");
    let mut resumed = Registrar::resume("0042", Some(&last));
    assert_eq!(
        resumed.next_number(at(2026, 11, 21, 12, 0)).to_string(),
        "T0042-261121-0008"
    );
    assert_eq!(
        resumed.next_number(at(2026, 11, 22, 12, 0)).to_string(),
        "T0042-261122-0001"
    );
    for bad in [
        "",
        "T",
        "X0042-261121-0001",
        "T0042-261321-0001",
        "T0042-261121-01",
        "T-261121-0001",
        "T0042-261121-00a1",
    ] {
        assert!(bad.parse::<RegistrationNumber>().is_err(), "{bad:?}");
    }
}

#[test]
fn slip_has_number_time_terminal_and_values() {
    let mut registrar = Registrar::new("0042");
    let inputs = [
        ZoneInput::new(ZoneCode::T1, "1600"),
        ZoneInput::new(ZoneCode::T2, " 700 "),
    ];
    let reading = register(
        &two_zone(),
        &inputs,
        at(2026, 11, 20, 14, 5),
        &[],
        &mut registrar,
    )
    .expect("accepted");
    assert_eq!(
        reading.slip_lines(),
        [
            "ПОКАЗАНИЯ ПРИБОРА УЧЁТА ПРИНЯТЫ",
            "Рег. номер: T0042-261120-0001",
            "Дата и время: 20.11.2026 14:05",
            "Терминал: 0042",
            "Лицевой счёт: 1000000001",
            "Счётчик: Квартира, зав. № 2002",
            "T1 (день): 1600 кВт·ч, расход 100 кВт·ч",
            "T2 (ночь): 700 кВт·ч, расход 100 кВт·ч",
        ]
    );
}

#[test]
fn meter_descriptions_are_checked() {
    let z = |c, v| Zone::new(c, v, date(2026, 10, 1));
    let make =
        |digits, zones, limit| Meter::new("m".into(), "s".into(), "n".into(), digits, zones, limit);
    assert!(make(0, vec![z(ZoneCode::T1, 1)], None).is_err());
    assert!(make(10, vec![z(ZoneCode::T1, 1)], None).is_err());
    assert!(make(5, vec![], None).is_err());
    assert!(make(5, vec![z(ZoneCode::T2, 1)], None).is_err());
    assert!(make(5, vec![z(ZoneCode::T1, 1), z(ZoneCode::T3, 1)], None).is_err());
    assert!(make(5, vec![z(ZoneCode::T1, 1), z(ZoneCode::T1, 1)], None).is_err());
    assert!(make(5, vec![z(ZoneCode::T1, 100_000)], None).is_err());
    assert!(make(5, vec![z(ZoneCode::T1, 99_999)], Some(0)).is_err());
    assert!(make(5, vec![z(ZoneCode::T1, 99_999)], Some(1)).is_ok());
    assert_eq!(ZoneCode::parse("т2"), Some(ZoneCode::T2));
    assert_eq!(ZoneCode::parse("Т3"), Some(ZoneCode::T3));
    assert_eq!(ZoneCode::parse("t4"), None);
}

proptest! {
    /// Whatever is typed, validation answers without panicking, and what it accepts obeys the
    /// window, the capacity and the plausibility limit.
    #[test]
    fn validation_is_total_and_accepted_readings_are_plausible(
        previous in 1u64..100_000,
        entered in prop_oneof!["[0-9]{0,7}", "\\PC{0,12}"],
        day in 1u32..=28,
    ) {
        let meter = single(previous);
        let when = at(2026, 11, day, 10, 0);
        if let Ok(ok) = validate(&meter, &t1(&entered), when, &rules(), &[]) {
            let zone = &ok.zones[0];
            prop_assert!(zone.value < 100_000);
            prop_assert!(zone.value > 0);
            let days = (when.date() - date(2026, 10, 25)).num_days().max(1) as u64;
            prop_assert!(zone.consumption <= 100 * days);
            prop_assert_eq!(zone.rollover, zone.value < previous);
            prop_assert!((15..=25).contains(&day));
        }
    }

    #[test]
    fn registration_numbers_round_trip(
        id in "[A-Z0-9]{1,16}",
        days in 0i64..20_000,
        seq in 1u32..1_000_000,
    ) {
        let number = RegistrationNumber {
            terminal_id: id,
            date: date(2000, 1, 1) + chrono::Duration::days(days),
            seq,
        };
        let text = number.to_string();
        prop_assert_eq!(text.parse::<RegistrationNumber>(), Ok(number));
    }
}

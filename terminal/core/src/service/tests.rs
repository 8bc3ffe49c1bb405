use std::collections::BTreeMap;

use backend_sync::JournalEvent;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::commands::{BillCommand, CardCommand};

const PIN: &str = "2468";

/// A cheap Argon2id hash (the production cost makes debug-build tests slow).
fn cheap_hash(pin: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"service-desk-test").unwrap();
    argon
        .hash_password(pin.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn desk() -> ServiceDesk {
    let config = DeskConfig {
        access: ServiceAccessConfig {
            pin_hash: cheap_hash(PIN),
            card_hashes: Vec::new(),
            max_failures: 5,
            lockout_seconds: 900,
        },
        export_dir: PathBuf::from("/media/usb"),
        tz: chrono_tz::Europe::Moscow,
        idle_seconds: 120,
    };
    ServiceDesk::new(config, LockoutState::default()).unwrap()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn facts() -> ServiceFacts {
    ServiceFacts {
        terminal_id: "T01".into(),
        customer_idle: true,
        cassette: BTreeMap::from([(100_000, 3), (50_000, 1)]),
        unprinted: vec!["R-2".into()],
        recent_receipts: vec!["R-3".into(), "R-2".into(), "R-1".into()],
        ..ServiceFacts::default()
    }
}

fn intent(d: &mut ServiceDesk, i: ServiceIntent, f: &ServiceFacts, now: DateTime<Utc>) {
    d.handle(ServiceInput::Intent(i), f, now);
}

fn drain(d: &mut ServiceDesk) -> Vec<ServiceCommand> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

fn journal(commands: &[ServiceCommand]) -> Vec<JournalEvent> {
    commands
        .iter()
        .filter_map(|c| match c {
            ServiceCommand::Journal(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn open_pin(d: &mut ServiceDesk, f: &ServiceFacts, now: DateTime<Utc>) {
    for i in 0..ServiceDesk::TAPS {
        intent(
            d,
            ServiceIntent::CornerTapped,
            f,
            now + Duration::milliseconds(300 * i as i64),
        );
    }
}

fn type_pin(d: &mut ServiceDesk, pin: &str, f: &ServiceFacts, now: DateTime<Utc>) {
    for c in pin.bytes() {
        intent(d, ServiceIntent::Digit(c - b'0'), f, now);
    }
    intent(d, ServiceIntent::Submit, f, now);
}

fn logged_in() -> ServiceDesk {
    let mut d = desk();
    let f = facts();
    open_pin(&mut d, &f, t0());
    type_pin(&mut d, PIN, &f, t0());
    drain(&mut d);
    assert!(matches!(d.view(&f), Some(ServiceView::Status { .. })));
    d
}

#[test]
fn five_quick_taps_open_the_pin_entry_slow_ones_do_not() {
    let f = facts();
    let mut d = desk();
    for i in 0..ServiceDesk::TAPS {
        // Two seconds apart: the first taps fall out of the window.
        intent(
            &mut d,
            ServiceIntent::CornerTapped,
            &f,
            t0() + Duration::seconds(2 * i as i64),
        );
    }
    assert_eq!(d.view(&f), None);
    open_pin(&mut d, &f, t0() + Duration::minutes(1));
    assert_eq!(
        d.view(&f),
        Some(ServiceView::Pin {
            digits_entered: 0,
            error: None
        })
    );
}

#[test]
fn no_service_mode_while_a_customer_is_served() {
    let f = ServiceFacts {
        customer_idle: false,
        ..facts()
    };
    let mut d = desk();
    open_pin(&mut d, &f, t0());
    assert!(!d.is_open());
}

#[test]
fn the_pin_is_only_counted_on_screen_and_a_right_one_opens_the_status() {
    let f = facts();
    let mut d = desk();
    open_pin(&mut d, &f, t0());
    for c in PIN.bytes() {
        intent(&mut d, ServiceIntent::Digit(c - b'0'), &f, t0());
    }
    let shown = format!("{:?}", d.view(&f));
    assert!(!shown.contains(PIN), "{shown}");
    assert!(matches!(
        d.view(&f),
        Some(ServiceView::Pin {
            digits_entered: 4,
            ..
        })
    ));
    intent(&mut d, ServiceIntent::Submit, &f, t0());
    let events = journal(&drain(&mut d));
    assert_eq!(
        events,
        vec![JournalEvent::ServiceLogin {
            method: "pin".into(),
            succeeded: true,
            locked_out: false
        }]
    );
    assert!(matches!(d.view(&f), Some(ServiceView::Status { .. })));
}

#[test]
fn five_wrong_pins_lock_out_and_every_attempt_is_journaled() {
    let f = facts();
    let mut d = desk();
    open_pin(&mut d, &f, t0());
    for _ in 0..5 {
        type_pin(&mut d, "0000", &f, t0());
    }
    assert_eq!(
        d.view(&f),
        Some(ServiceView::Pin {
            digits_entered: 0,
            error: Some(PinRefusal::Locked { minutes: 15 })
        })
    );
    // Even the right PIN is refused now, and that attempt is journaled too.
    type_pin(&mut d, PIN, &f, t0() + Duration::minutes(1));
    let logins = journal(&drain(&mut d));
    assert_eq!(logins.len(), 6);
    assert!(logins.iter().all(|e| matches!(
        e,
        JournalEvent::ServiceLogin {
            succeeded: false,
            ..
        }
    )));
    assert!(matches!(
        logins[4],
        JournalEvent::ServiceLogin {
            locked_out: true,
            ..
        }
    ));
    assert!(matches!(d.view(&f), Some(ServiceView::Pin { .. })));
}

#[test]
fn idle_timeout_goes_back_to_the_customer_screens() {
    let f = facts();
    let mut d = logged_in();
    let deadline = d.poll_timeout().expect("an idle deadline");
    d.handle_timeout(deadline - Duration::seconds(1));
    assert!(d.is_open());
    d.handle_timeout(deadline);
    assert_eq!(d.view(&f), None);
    assert_eq!(
        journal(&drain(&mut d)),
        vec![JournalEvent::ServiceOperation {
            operation: "exit".into(),
            detail: "idle timeout".into()
        }]
    );
}

#[test]
fn encashment_journals_the_count_resets_the_cassette_and_prints_a_receipt() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::Encashment), &f, t0());
    // One 1000 ₽ bill less than expected: choices are (+1, −1) per denomination, ascending.
    intent(&mut d, ServiceIntent::Pick(3), &f, t0());
    let Some(ServiceView::Report { lines, .. }) = d.view(&f) else {
        panic!("a report")
    };
    assert!(
        lines
            .iter()
            .any(|(_, v)| v == "ожидается 3 · пересчитано 2"),
        "{lines:?}"
    );
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    let commands = drain(&mut d);
    let events = journal(&commands);
    assert!(matches!(
        &events[0],
        JournalEvent::CassetteRemoved {
            expected_total_kopecks: 350_000,
            ..
        }
    ));
    match &events[1] {
        JournalEvent::EncashmentCounted {
            counted,
            counted_total_kopecks,
            expected_total_kopecks,
            ..
        } => {
            assert_eq!(counted["100000"], 2);
            assert_eq!(*counted_total_kopecks, 250_000);
            assert_eq!(*expected_total_kopecks, 350_000);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&events[2], JournalEvent::ServiceOperation { operation, .. } if operation == "encashment")
    );
    // The receipt is printed only after the count is journaled.
    assert!(matches!(
        commands.last(),
        Some(ServiceCommand::PrintEncashmentSlip(_))
    ));
    // Confirming twice does not count twice.
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    assert!(drain(&mut d).is_empty());
}

#[test]
fn a_cassette_the_sensor_reported_removed_is_counted_without_a_second_removal() {
    let f = ServiceFacts {
        cassette: BTreeMap::new(),
        removed_uncounted: Some(BTreeMap::from([(100_000, 2)])),
        ..facts()
    };
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::Encashment), &f, t0());
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    let events = journal(&drain(&mut d));
    assert!(!events
        .iter()
        .any(|e| matches!(e, JournalEvent::CassetteRemoved { .. })));
    assert!(matches!(
        &events[0],
        JournalEvent::EncashmentCounted {
            expected_total_kopecks: 200_000,
            ..
        }
    ));
}

#[test]
fn the_test_bill_is_returned_and_never_credited() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::DeviceTests), &f, t0());
    intent(&mut d, ServiceIntent::Pick(1), &f, t0());
    let started = drain(&mut d);
    assert!(started.contains(&ServiceCommand::Bill(BillCommand::Enable {
        max_bill: Money::from_rubles(5_000)
    })));
    assert!(d.bill_test_active());
    d.handle(ServiceInput::TestBillEscrow(100_000), &f, t0());
    let escrow = drain(&mut d);
    // Journal first, then the command.
    assert!(matches!(escrow[0], ServiceCommand::Journal(_)));
    assert_eq!(escrow[1], ServiceCommand::Bill(BillCommand::Return));
    d.handle(ServiceInput::TestBillReturned(100_000), &f, t0());
    let returned = drain(&mut d);
    assert!(returned.contains(&ServiceCommand::Bill(BillCommand::Disable)));
    assert!(journal(&returned).iter().any(|e| matches!(
        e,
        JournalEvent::BillReturned {
            payment_id: None,
            denomination_kopecks: 100_000,
            ..
        }
    )));
    assert!(!d.bill_test_active());
}

#[test]
fn leaving_the_tests_while_a_bill_test_waits_switches_the_validator_off() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::DeviceTests), &f, t0());
    intent(&mut d, ServiceIntent::Pick(1), &f, t0());
    drain(&mut d);
    intent(&mut d, ServiceIntent::Op(ServiceOp::Exit), &f, t0());
    let out = drain(&mut d);
    assert!(out.contains(&ServiceCommand::Bill(BillCommand::Disable)));
    assert!(!d.is_open());
}

#[test]
fn printer_and_card_reader_tests_are_journaled_with_their_outcome() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::DeviceTests), &f, t0());
    intent(&mut d, ServiceIntent::Pick(0), &f, t0());
    intent(&mut d, ServiceIntent::Pick(2), &f, t0());
    let out = drain(&mut d);
    assert!(out.contains(&ServiceCommand::PrintTestPage));
    assert!(out.contains(&ServiceCommand::Card(CardCommand::Diagnose)));
    d.handle(ServiceInput::TestPagePrinted(Ok(())), &f, t0());
    d.handle(
        ServiceInput::CardDiagnosis(Err("нет связи".into())),
        &f,
        t0(),
    );
    let events = journal(&drain(&mut d));
    assert_eq!(
        events,
        vec![
            JournalEvent::ServiceOperation {
                operation: "test_printer".into(),
                detail: "ok".into()
            },
            JournalEvent::ServiceOperation {
                operation: "test_card_reader".into(),
                detail: "failed: нет связи".into()
            },
        ]
    );
}

#[test]
fn reprint_offers_unprinted_receipts_first_and_journals_the_reprint() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::Reprint), &f, t0());
    let Some(ServiceView::Report { choices, .. }) = d.view(&f) else {
        panic!("a report")
    };
    assert_eq!(choices, vec!["R-2 · не напечатан", "R-3", "R-1"]);
    intent(&mut d, ServiceIntent::Pick(0), &f, t0());
    let out = drain(&mut d);
    assert!(out.contains(&ServiceCommand::Reprint {
        receipt_id: "R-2".into()
    }));
    assert!(d.awaits_reprint("R-2"));
    d.handle(
        ServiceInput::Reprinted {
            receipt_id: "R-2".into(),
            result: Ok(()),
        },
        &f,
        t0(),
    );
    assert_eq!(
        journal(&drain(&mut d)),
        vec![JournalEvent::ReceiptReprinted {
            receipt_id: "R-2".into()
        }]
    );
}

#[test]
fn close_shift_journals_the_z_counters() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::CloseShift), &f, t0());
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    assert!(drain(&mut d).contains(&ServiceCommand::CloseShift));
    let z = ShiftReport {
        shift_number: 7,
        receipts: 12,
        total_kopecks: 1_500_000,
        cash_kopecks: 1_000_000,
        card_kopecks: 500_000,
        fn_number: Some("9999".into()),
        fd_number: Some(42),
        printed: Ok(()),
    };
    d.handle(ServiceInput::ShiftClosed(Ok(z)), &f, t0());
    let events = journal(&drain(&mut d));
    assert!(matches!(
        &events[0],
        JournalEvent::ShiftClosed {
            shift_number: 7,
            receipts: 12,
            total_kopecks: 1_500_000,
            ..
        }
    ));
}

#[test]
fn journal_export_goes_to_the_configured_directory_and_is_journaled() {
    let f = facts();
    let mut d = logged_in();
    intent(
        &mut d,
        ServiceIntent::Op(ServiceOp::ExportJournal),
        &f,
        t0(),
    );
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    assert!(drain(&mut d).contains(&ServiceCommand::ExportJournal {
        dir: PathBuf::from("/media/usb")
    }));
    d.handle(
        ServiceInput::Exported(Ok((PathBuf::from("/media/usb/j.jsonl"), 10))),
        &f,
        t0(),
    );
    let events = journal(&drain(&mut d));
    assert!(
        matches!(&events[0], JournalEvent::ServiceOperation { operation, .. } if operation == "journal_export")
    );
}

fn any_intent() -> impl Strategy<Value = ServiceIntent> {
    prop_oneof![
        Just(ServiceIntent::CornerTapped),
        (0u8..10).prop_map(ServiceIntent::Digit),
        Just(ServiceIntent::Backspace),
        Just(ServiceIntent::Clear),
        Just(ServiceIntent::Submit),
        Just(ServiceIntent::Back),
        (0usize..8).prop_map(ServiceIntent::Pick),
        prop_oneof![
            Just(ServiceOp::DeviceTests),
            Just(ServiceOp::Encashment),
            Just(ServiceOp::PaperReplaced),
            Just(ServiceOp::CloseShift),
            Just(ServiceOp::Reprint),
            Just(ServiceOp::OutageHistory),
            Just(ServiceOp::ExportJournal),
            Just(ServiceOp::Confirm),
            Just(ServiceOp::Back),
            Just(ServiceOp::Exit),
        ]
        .prop_map(ServiceIntent::Op),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the technician (or an attacker) taps: typed digits never appear in the view, each
    /// PIN submission is journaled exactly once, no money is ever credited, and the desk never
    /// opens while a customer is being served.
    #[test]
    fn service_desk_invariants(
        intents in proptest::collection::vec(any_intent(), 0..80),
        customer_idle in any::<bool>(),
    ) {
        let f = ServiceFacts { customer_idle, ..facts() };
        let mut d = desk();
        let mut now = t0();
        let mut typed = String::new();
        for i in intents {
            now += Duration::milliseconds(400);
            let in_pin = matches!(d.view(&f), Some(ServiceView::Pin { .. }));
            match (&i, in_pin) {
                (ServiceIntent::Digit(x), true) if typed.len() < 12 => typed.push(char::from(b'0' + x)),
                (ServiceIntent::Clear | ServiceIntent::Back, true) => typed.clear(),
                (ServiceIntent::Backspace, true) => { typed.pop(); }
                _ => {}
            }
            let submitting = in_pin && i == ServiceIntent::Submit && !typed.is_empty();
            if in_pin && i == ServiceIntent::Submit { typed.clear(); }
            d.handle(ServiceInput::Intent(i), &f, now);
            let out = drain(&mut d);
            let logins = journal(&out).iter().filter(|e| matches!(e, JournalEvent::ServiceLogin { .. })).count();
            prop_assert_eq!(logins, usize::from(submitting));
            let credited = journal(&out)
                .iter()
                .any(|e| matches!(e, JournalEvent::PaymentCompleted { .. } | JournalEvent::BillStacked { .. }));
            prop_assert!(!credited);
            match d.view(&f) {
                Some(ServiceView::Pin { digits_entered, .. }) => prop_assert_eq!(digits_entered, typed.len()),
                _ => typed.clear(),
            }
            prop_assert!(customer_idle || !d.is_open());
        }
    }
}

#[test]
fn the_demo_pin_hash_is_the_demo_pin() {
    let config = ServiceAccessConfig {
        pin_hash: DEMO_PIN_HASH.into(),
        card_hashes: Vec::new(),
        max_failures: 5,
        lockout_seconds: 900,
    };
    let mut access = ServiceAccess::new(&config, LockoutState::default()).unwrap();
    let (outcome, _) = access.attempt(Credential::Pin(DEMO_PIN), t0());
    assert!(outcome.granted());
}

#[test]
fn a_test_bill_stacked_by_mistake_is_unassigned_cash_never_a_payment() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::DeviceTests), &f, t0());
    intent(&mut d, ServiceIntent::Pick(1), &f, t0());
    d.handle(ServiceInput::TestBillEscrow(50_000), &f, t0());
    drain(&mut d);
    // The validator stacked it anyway (a fault between escrow and return).
    d.handle(ServiceInput::TestBillStacked(50_000), &f, t0());
    let out = drain(&mut d);
    let events = journal(&out);
    assert_eq!(
        events[0],
        JournalEvent::BillStacked {
            payment_id: None,
            denomination_kopecks: 50_000
        }
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, JournalEvent::PaymentCompleted { .. })));
    assert!(out.contains(&ServiceCommand::Bill(BillCommand::Disable)));
}

#[test]
fn a_failed_encashment_receipt_leaves_the_count_journaled() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::Encashment), &f, t0());
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    let before = journal(&drain(&mut d));
    assert!(before
        .iter()
        .any(|e| matches!(e, JournalEvent::EncashmentCounted { .. })));
    d.handle(
        ServiceInput::EncashmentSlipPrinted(Err("нет бумаги".into())),
        &f,
        t0(),
    );
    let after = journal(&drain(&mut d));
    assert_eq!(
        after,
        vec![JournalEvent::ServiceOperation {
            operation: "encashment_slip".into(),
            detail: "failed: нет бумаги".into()
        }]
    );
    let Some(ServiceView::Report { lines, confirm, .. }) = d.view(&f) else {
        panic!("a report")
    };
    assert!(confirm.is_none(), "no second count");
    assert!(lines.contains(&("Квитанция".into(), "ошибка: нет бумаги".into())));
}

#[test]
fn a_failed_shift_close_is_journaled_and_can_be_retried() {
    let f = facts();
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::CloseShift), &f, t0());
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    drain(&mut d);
    d.handle(
        ServiceInput::ShiftClosed(Err("смена не открыта".into())),
        &f,
        t0(),
    );
    let events = journal(&drain(&mut d));
    assert!(!events
        .iter()
        .any(|e| matches!(e, JournalEvent::ShiftClosed { .. })));
    intent(&mut d, ServiceIntent::Op(ServiceOp::Confirm), &f, t0());
    assert!(drain(&mut d).contains(&ServiceCommand::CloseShift));
}

#[test]
fn a_stuck_note_is_resolved_as_found_in_the_cassette_or_handed_back() {
    let f = ServiceFacts {
        stuck_notes: vec![
            ("S-1".into(), Money::from_rubles(5_000), "1000000001".into()),
            ("S-2".into(), Money::from_rubles(100), "1000000028".into()),
        ],
        ..facts()
    };
    let mut d = logged_in();
    intent(&mut d, ServiceIntent::Op(ServiceOp::StuckNotes), &f, t0());
    let Some(ServiceView::Report { choices, lines, .. }) = d.view(&f) else {
        panic!("a report")
    };
    assert_eq!(choices.len(), 4, "{choices:?}");
    assert!(lines.iter().any(|(l, _)| l == "S-1"));
    // The second note's "handed back".
    intent(&mut d, ServiceIntent::Pick(3), &f, t0());
    let out = drain(&mut d);
    assert!(out.contains(&ServiceCommand::ResolveStuckNote {
        reference: "S-2".into(),
        found_in_cassette: false,
    }));
    // The first note's "found in the cassette".
    intent(&mut d, ServiceIntent::Pick(0), &f, t0());
    let out = drain(&mut d);
    assert!(out.contains(&ServiceCommand::ResolveStuckNote {
        reference: "S-1".into(),
        found_in_cassette: true,
    }));
    assert!(out
        .iter()
        .any(|c| matches!(c, ServiceCommand::Journal(JournalEvent::ServiceOperation { operation, .. }) if operation == "stuck_note")));
}

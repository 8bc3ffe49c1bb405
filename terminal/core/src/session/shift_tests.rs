//! The fiscal shift is renewed by the core, between customers, before its 24 hours run out.

use chrono::{Duration, NaiveTime, TimeZone};

use super::tests::{drain, session, t0};
use super::*;

fn opened_at(at: DateTime<Utc>) -> JournalEvent {
    JournalEvent::ShiftOpened {
        shift_number: 1,
        fn_number: Some("9282000100072197".into()),
        fd_number: Some(1),
        opened_utc: Some(at.to_rfc3339()),
    }
}

fn closed() -> JournalEvent {
    JournalEvent::ShiftClosed {
        shift_number: 1,
        receipts: 0,
        total_kopecks: 0,
        cash_kopecks: 0,
        card_kopecks: 0,
        fn_number: Some("9282000100072197".into()),
        fd_number: Some(2),
    }
}

fn renewals(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::RenewShift))
        .count()
}

fn at(s: &mut Session, now: DateTime<Utc>) -> usize {
    s.handle_timeout(now);
    renewals(&drain(s))
}

fn day() -> chrono::NaiveDate {
    t0().date_naive()
}

#[test]
fn an_idle_kiosk_renews_its_shift_23_hours_after_it_opened_and_asks_once() {
    let mut s = session();
    s.journaled(1, day(), &opened_at(t0()));
    let due = t0() + Duration::hours(23);
    assert!(
        s.poll_timeout().is_some_and(|t| t <= due),
        "the core is woken for it"
    );
    assert_eq!(at(&mut s, due - Duration::minutes(1)), 0);
    assert_eq!(at(&mut s, due), 1);
    assert_eq!(at(&mut s, due + Duration::minutes(1)), 0, "asked once");
    // The receipt task's reports come back journaled: the new shift's clock starts.
    let reopened = due + Duration::seconds(10);
    s.journaled(2, day(), &closed());
    s.journaled(3, day(), &opened_at(reopened));
    assert_eq!(at(&mut s, reopened + Duration::hours(22)), 0);
    assert_eq!(at(&mut s, reopened + Duration::hours(23)), 1);
}

#[test]
fn a_customer_being_served_is_never_kept_waiting_for_a_z_report() {
    let mut s = session();
    s.journaled(1, day(), &opened_at(t0()));
    let due = t0() + Duration::hours(23);
    s.handle(
        Input::Ui(Intent::Start(Purpose::Pay)),
        due - Duration::seconds(5),
    );
    assert_eq!(renewals(&drain(&mut s)), 0);
    assert_eq!(at(&mut s, due), 0, "not while a customer is on the screen");
    assert!(
        s.poll_timeout().is_none_or(|t| t > due),
        "and the core is not spun on a renewal it cannot make"
    );
    s.handle(Input::Ui(Intent::Home), due + Duration::seconds(30));
    assert_eq!(
        renewals(&drain(&mut s)),
        1,
        "renewed as soon as the customer left"
    );
}

#[test]
fn a_failed_renewal_is_asked_again_five_minutes_later() {
    let mut s = session();
    s.journaled(1, day(), &opened_at(t0()));
    let due = t0() + Duration::hours(23);
    assert_eq!(at(&mut s, due), 1);
    s.handle(
        Input::Device(DeviceInput::ShiftRenewalFailed {
            reason: "the KKT does not answer".into(),
        }),
        due + Duration::seconds(3),
    );
    assert_eq!(renewals(&drain(&mut s)), 0);
    assert_eq!(at(&mut s, due + Duration::minutes(4)), 0);
    assert_eq!(at(&mut s, due + Duration::seconds(3) + RENEW_RETRY), 1);
}

#[test]
fn the_daily_closing_time_renews_a_shift_opened_that_morning() {
    let limits = crate::money::Limits {
        per_payment: Money::from_rubles(15_000),
        per_day: Money::from_rubles(60_000),
    };
    let mut config = SessionConfig::new("K01", limits);
    config.shift_close_at = NaiveTime::from_hms_opt(23, 45, 0);
    let mut s = Session::new(config, Box::new(super::tests::AnyReading));
    let morning = chrono_tz::Europe::Moscow
        .with_ymd_and_hms(2026, 11, 20, 8, 0, 0)
        .single()
        .expect("a Moscow time")
        .with_timezone(&Utc);
    s.journaled(1, day(), &opened_at(morning));
    let close = morning + Duration::minutes(15 * 60 + 45);
    assert_eq!(at(&mut s, close - Duration::minutes(1)), 0);
    assert_eq!(at(&mut s, close), 1, "23:45 Moscow time");
}

#[test]
fn a_shift_whose_opening_time_the_journal_does_not_know_is_left_to_the_register() {
    let mut s = session();
    s.journaled(
        1,
        day(),
        &JournalEvent::ShiftOpened {
            shift_number: 1,
            fn_number: None,
            fd_number: None,
            opened_utc: None,
        },
    );
    // The register refuses a sale after 24 hours; the receipt task then closes and reopens.
    assert_eq!(at(&mut s, t0() + Duration::hours(30)), 0);
}

#[test]
fn a_receipt_that_may_already_be_in_the_register_is_looked_up_before_the_shift_is_renewed() {
    let mut s = session();
    s.journaled(1, day(), &opened_at(t0()));
    // A credited payment whose sale was sent and never answered (a crash mid-sale).
    for (seq, event) in [
        JournalEvent::PaymentStarted {
            payment_id: "P1".into(),
            account: "1000000001".into(),
            account_verified: true,
            method: backend_sync::event::PaymentMethod::Cash,
            requested_kopecks: 100_000,
            services: Vec::new(),
        },
        JournalEvent::PaymentCompleted {
            payment_id: "P1".into(),
            account: "1000000001".into(),
            method: backend_sync::event::PaymentMethod::Cash,
            total_kopecks: 100_000,
            allocations: Vec::new(),
        },
        JournalEvent::ReceiptRequested {
            receipt_id: "R1".into(),
            payment_id: Some("P1".into()),
            total_kopecks: 100_000,
            fn_number: None,
            last_fd: Some(1),
        },
    ]
    .into_iter()
    .enumerate()
    {
        s.journaled(seq as u64 + 2, day(), &event);
    }
    let due = t0() + Duration::hours(23);
    assert_eq!(at(&mut s, due), 0, "the lookup comes first");
    s.journaled(
        5,
        day(),
        &JournalEvent::ReceiptFiscalised {
            receipt_id: "R1".into(),
            payment_id: Some("P1".into()),
            total_kopecks: 100_000,
            fiscal: super::tests::fiscal(),
            printed_by_register: true,
        },
    );
    assert_eq!(at(&mut s, due + Duration::seconds(1)), 1);
}

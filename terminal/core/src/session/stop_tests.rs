//! An orderly stop: what the customer is doing is finished, no money is left in flight, and the
//! session says when the process may end.

use super::tests::{dev, drain, fiscal, journaled, session, t0, to_summary, ui};
use super::*;

fn rub(r: i64) -> Money {
    Money::from_rubles(r)
}

fn stop(s: &mut Session) -> Vec<Output> {
    s.request_stop(t0());
    drain(s)
}

/// Answers the fiscalisation and the print of the receipt `out` asked for.
fn fiscalise_and_print(s: &mut Session, out: &[Output]) -> Vec<Output> {
    let receipt_id = out
        .iter()
        .find_map(|o| match o {
            Output::Fiscalise(req) => Some(req.receipt_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fiscalisation in {out:?}"));
    let mut all = dev(
        s,
        DeviceInput::Fiscalised {
            receipt_id: receipt_id.clone(),
            fiscal: fiscal(),
            printed_by_register: false,
        },
    );
    assert!(!s.may_stop(), "the receipt is still printing");
    all.extend(dev(s, DeviceInput::Printed { receipt_id }));
    all
}

#[test]
fn an_idle_kiosk_may_stop_at_once_and_shows_itself_out_of_service() {
    let mut s = session();
    assert!(!s.may_stop(), "no stop was asked for");
    let out = stop(&mut s);
    assert!(out.is_empty(), "{out:?}");
    assert!(s.may_stop());
    assert!(s.view().availability.out_of_service);
    ui(&mut s, Intent::Start(Purpose::Pay));
    assert_eq!(s.view().screen, Screen::Welcome, "no new customer is taken");
}

#[test]
fn cash_stacked_before_the_stop_is_credited_and_receipted_before_it_may_stop() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(rub(1_000)));
    dev(&mut s, DeviceInput::BillStacked(rub(1_000)));
    let out = stop(&mut s);
    assert!(out.contains(&Output::Bill(BillCommand::Disable)), "{out:?}");
    assert!(
        journaled(&out).iter().any(|e| matches!(
            e,
            JournalEvent::PaymentCompleted {
                total_kopecks: 100_000,
                ..
            }
        )),
        "{out:?}"
    );
    assert!(!s.may_stop(), "the receipt is not made yet");
    fiscalise_and_print(&mut s, &out);
    assert!(s.may_stop());
    assert!(s.ledger().open_payments.is_empty());
    assert!(s.ledger().unreceipted.is_empty());
}

#[test]
fn a_note_stacking_at_the_stop_is_waited_for_and_credited() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    let out = dev(&mut s, DeviceInput::BillEscrow(rub(500)));
    assert!(out.contains(&Output::Bill(BillCommand::Stack)), "{out:?}");
    stop(&mut s);
    assert!(!s.may_stop(), "the note is in flight");
    let out = dev(&mut s, DeviceInput::BillStacked(rub(500)));
    assert!(
        journaled(&out).iter().any(|e| matches!(
            e,
            JournalEvent::PaymentCompleted {
                total_kopecks: 50_000,
                ..
            }
        )),
        "{out:?}"
    );
    fiscalise_and_print(&mut s, &out);
    assert!(s.may_stop());
}

#[test]
fn a_note_that_never_reports_becomes_a_stuck_note_and_the_stop_goes_on() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(rub(500)));
    stop(&mut s);
    let deadline = s.poll_timeout().expect("the stack deadline");
    s.handle_timeout(deadline);
    let out = drain(&mut s);
    assert!(
        journaled(&out)
            .iter()
            .any(|e| matches!(e, JournalEvent::BillStuck { .. })),
        "{out:?}"
    );
    // Nothing was stacked: the payment is cancelled with the note named, and the notice left.
    assert!(s.may_stop(), "{:?}", s.view().screen);
    assert!(s.ledger().open_payments.is_empty());
}

#[test]
fn an_empty_cash_payment_is_cancelled_with_the_stop_as_its_reason() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    let out = stop(&mut s);
    let reason = journaled(&out).iter().find_map(|e| match e {
        JournalEvent::PaymentCancelled { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("terminal stopping, nothing inserted")
    );
    assert!(s.may_stop());
}

#[test]
fn a_card_payment_not_yet_authorised_is_aborted_and_waited_for() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    let out = stop(&mut s);
    assert_eq!(out, vec![Output::Card(CardCommand::Abort)]);
    assert!(!s.may_stop(), "the terminal has not answered");
    dev(&mut s, DeviceInput::CardCancelled);
    assert!(s.may_stop(), "{:?}", s.view().screen);
    assert!(s.ledger().open_payments.is_empty());
}

#[test]
fn a_card_approval_racing_the_abort_is_settled_before_the_stop() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    stop(&mut s);
    let approval = CardApproval {
        amount_kopecks: 150_000,
        receipt_no: 7,
        trace_no: 8,
        masked_pan: "4111********1111".into(),
        auth_code: "A1B2C3".into(),
        card_terminal_id: "52500001".into(),
        rrn: None,
    };
    let out = dev(&mut s, DeviceInput::CardApproved(approval));
    // Cancel was asked for: the approval is answered "not issued" and reversed.
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Card(CardCommand::GoodsIssued { issued: false, .. })
        )),
        "{out:?}"
    );
    assert!(!s.may_stop());
    dev(&mut s, DeviceInput::CardReversed);
    assert!(s.may_stop(), "{:?}", s.view().screen);
    assert!(s.ledger().open_payments.is_empty());
}

#[test]
fn a_receipt_still_to_be_chosen_goes_on_paper() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(rub(1_000)));
    dev(&mut s, DeviceInput::BillStacked(rub(1_000)));
    ui(&mut s, Intent::FinishCash);
    assert!(matches!(s.view().screen, Screen::ReceiptChoice { .. }));
    let out = stop(&mut s);
    let Some(Output::Fiscalise(req)) = out.iter().find(|o| matches!(o, Output::Fiscalise(_)))
    else {
        panic!("{out:?}")
    };
    assert_eq!(req.cash, rub(1_000));
    fiscalise_and_print(&mut s, &out);
    assert!(s.may_stop());
}

#[test]
fn a_lookup_in_flight_is_answered_before_the_stop() {
    let mut s = session();
    ui(&mut s, Intent::Start(Purpose::Pay));
    ui(&mut s, Intent::SubmitAccount("1000000001".into()));
    stop(&mut s);
    assert!(!s.may_stop(), "the lookup is out");
    dev(
        &mut s,
        DeviceInput::AccountFound(super::tests::account(1_500)),
    );
    assert!(s.may_stop());
    assert_eq!(s.view().screen, Screen::Welcome);
}

#[test]
fn no_shift_renewal_starts_while_stopping() {
    let mut s = session();
    s.journaled(
        1,
        t0().date_naive(),
        &JournalEvent::ShiftOpened {
            shift_number: 1,
            fn_number: Some("9282000100072197".into()),
            fd_number: Some(1),
            opened_utc: Some((t0() - Duration::hours(30)).to_rfc3339()),
        },
    );
    stop(&mut s);
    s.handle_timeout(t0() + Duration::minutes(1));
    let out = drain(&mut s);
    assert!(!out.contains(&Output::RenewShift), "{out:?}");
    assert!(s.may_stop());
}

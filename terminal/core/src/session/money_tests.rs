//! The money rules of issue "one money core": stuck notes, bill reports without a stack intent,
//! recovery of interrupted payments with their split, receipts recovery must not duplicate,
//! fiscal retries, and the cassette's expectation. Each test drives the real session core.

use super::tests::{account, dev, drain, fiscal, journaled, session, t0, to_summary, ui};
use super::*;
use crate::ledger::Ledger;

fn rub(r: i64) -> Money {
    Money::from_rubles(r)
}

/// 1 000 ₽ stacked and «Завершить оплату» tapped: the receipt choice is on screen.
fn paid_1000_in_cash(s: &mut Session) {
    to_summary(s, 1_500);
    ui(s, Intent::PayCash);
    dev(s, DeviceInput::BillEscrow(rub(1_000)));
    dev(s, DeviceInput::BillStacked(rub(1_000)));
    ui(s, Intent::FinishCash);
}

/// A cash payment with `bills` stacked, and `pending` escrowed and sent to STACK.
fn cash_with_bill_in_flight(s: &mut Session, bills: &[i64], pending: i64) {
    to_summary(s, 1_500);
    ui(s, Intent::PayCash);
    for &b in bills {
        dev(s, DeviceInput::BillEscrow(rub(b)));
        dev(s, DeviceInput::BillStacked(rub(b)));
    }
    let out = dev(s, DeviceInput::BillEscrow(rub(pending)));
    assert_eq!(out[1], Output::Bill(BillCommand::Stack), "{out:?}");
}

fn stuck(out: &[Output]) -> Vec<(i64, String, String)> {
    journaled(out)
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::BillStuck {
                denomination_kopecks,
                reference,
                reason,
                ..
            } => Some((*denomination_kopecks, reference.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn completed_total(out: &[Output]) -> Option<i64> {
    journaled(out).into_iter().find_map(|e| match e {
        JournalEvent::PaymentCompleted { total_kopecks, .. } => Some(*total_kopecks),
        _ => None,
    })
}

/// The scenario of the issue: 1 000 ₽ stacked, a 5 000 ₽ note jams while stacking. The payment
/// ends with 1 000 ₽ credited and receipted and the stuck note named on the receipt and screen.
#[test]
fn a_jam_while_stacking_journals_a_stuck_note_and_credits_what_was_stacked() {
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[1_000], 5_000);
    let out = dev(&mut s, DeviceInput::BillJammed { denomination: None });
    let notes = stuck(&out);
    assert_eq!(notes.len(), 1, "{out:?}");
    let (kopecks, reference, _) = &notes[0];
    assert_eq!(*kopecks, 500_000);
    assert_eq!(
        completed_total(&out),
        Some(100_000),
        "only what was stacked"
    );
    assert!(matches!(s.view().screen, Screen::ReceiptChoice { total, .. } if total == rub(1_000)));
    assert_eq!(s.ledger().stuck_notes.len(), 1);
    assert!(s.ledger().open_payments.is_empty(), "the payment is closed");

    let out = ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::Paper));
    let Output::Fiscalise(req) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(req.cash, rub(1_000));
    assert_eq!(req.stuck_notes.len(), 1);
    assert_eq!(&req.stuck_notes[0].reference, reference);
    let receipt_id = req.receipt_id.clone();
    dev(
        &mut s,
        DeviceInput::Fiscalised {
            receipt_id: receipt_id.clone(),
            fiscal: fiscal(),
            printed_by_register: false,
        },
    );
    dev(&mut s, DeviceInput::Printed { receipt_id });
    match s.view().screen {
        Screen::Done { stuck_notice, .. } => {
            let notice = stuck_notice.expect("the stuck note is named");
            assert!(notice.contains(reference.as_str()), "{notice}");
            assert!(notice.contains("застряла"), "{notice}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_jam_with_nothing_stacked_cancels_the_payment_and_names_the_note() {
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[], 500);
    let out = dev(
        &mut s,
        DeviceInput::BillJammed {
            denomination: Some(rub(500)),
        },
    );
    let notes = stuck(&out);
    assert_eq!(notes.len(), 1);
    assert!(journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::PaymentCancelled { .. })));
    match s.view().screen {
        Screen::Notice { text } => assert!(text.contains(&notes[0].1), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_outcome_within_the_deadline_is_a_stuck_note() {
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[100], 500);
    let due = s.poll_timeout().expect("the stack has a deadline");
    assert!(due <= t0() + Duration::seconds(30), "{due}");
    s.handle_timeout(due);
    let out = drain(&mut s);
    let notes = stuck(&out);
    assert_eq!(notes.len(), 1, "{out:?}");
    assert!(notes[0].2.contains("deadline"));
    assert_eq!(completed_total(&out), Some(10_000));
}

#[test]
fn a_power_up_says_where_the_bill_went() {
    // In the stacker: credited to the payment whose stack was requested.
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[], 1_000);
    let out = dev(
        &mut s,
        DeviceInput::BillPowerUp {
            bill: Some(BillPlace::Stacker),
        },
    );
    assert!(journaled(&out).iter().any(|e| matches!(
        e,
        JournalEvent::BillStacked {
            denomination_kopecks: 100_000,
            ..
        }
    )));
    assert!(
        matches!(s.view().screen, Screen::Cash { inserted, busy: false, .. } if inserted == rub(1_000))
    );

    // In the validator: returned, not credited.
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[], 1_000);
    let out = dev(
        &mut s,
        DeviceInput::BillPowerUp {
            bill: Some(BillPlace::Validator),
        },
    );
    assert!(journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::BillReturned { .. })));
    assert!(matches!(
        s.view().screen,
        Screen::Cash {
            inserted: Money::ZERO,
            ..
        }
    ));

    // Nowhere: a stuck note.
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[], 1_000);
    let out = dev(&mut s, DeviceInput::BillPowerUp { bill: None });
    assert_eq!(stuck(&out).len(), 1);
}

/// Regression: after a port re-open (fresh driver, ACK lost) the validator repeated a stacked
/// report and the live session credited it a second time.
#[test]
fn a_repeated_stacked_report_in_a_live_payment_is_not_credited_again() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(rub(1_000)));
    dev(&mut s, DeviceInput::BillStacked(rub(1_000)));
    let out = dev(&mut s, DeviceInput::BillStacked(rub(1_000)));
    assert!(!journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::BillStacked { .. })));
    assert!(matches!(s.view().screen, Screen::Cash { inserted, .. } if inserted == rub(1_000)));
    assert_eq!(
        s.ledger().cassette.get(&100_000),
        Some(&1),
        "one bill in the cassette"
    );
}

#[test]
fn a_stuck_note_reported_stacked_late_is_credited_once_as_its_own_payment() {
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[1_000], 5_000);
    dev(&mut s, DeviceInput::BillJammed { denomination: None });
    ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::ScreenOnly));
    // The validator comes back and reports the note stacked after all.
    let out = dev(&mut s, DeviceInput::BillStacked(rub(5_000)));
    let events = journaled(&out);
    assert!(
        events.iter().any(|e| matches!(
            e,
            JournalEvent::StuckNoteResolved {
                outcome: backend_sync::event::StuckNoteOutcome::ReportedStacked,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(completed_total(&out), Some(500_000));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Fiscalise(r) if r.cash == rub(5_000))));
    assert!(s.ledger().stuck_notes.is_empty());
    assert_eq!(s.ledger().cassette.get(&500_000), Some(&1));
    // Its repeat is only a repeat.
    let out = dev(&mut s, DeviceInput::BillStacked(rub(5_000)));
    assert_eq!(completed_total(&out), None);
    assert_eq!(s.ledger().cassette.get(&500_000), Some(&1));
}

/// Replays `events` into a fresh session's ledger, as the runtime does at start-up.
fn restarted(events: &[JournalEvent]) -> Session {
    let day = t0().date_naive();
    let ledger = Ledger::replay(
        events
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, day, e)),
    );
    let mut s = session();
    s.restore(ledger);
    s
}

/// The summary with 1 000 ₽ for electricity and 500 ₽ for the second service asked for.
fn split_1000_500() -> Session {
    let mut s = session();
    to_summary(&mut s, 1_500);
    for (index, text) in [(0, "1000"), (1, "500")] {
        ui(
            &mut s,
            Intent::SetServiceAmount {
                index,
                text: text.into(),
            },
        );
    }
    s
}

/// Journals the start of the payment `cash_with_bill_in_flight` makes, as a crash leaves it.
fn interrupted_payment(stacked: &[i64], in_flight: Option<i64>) -> Vec<JournalEvent> {
    let mut s = split_1000_500();
    let mut out = ui(&mut s, Intent::PayCash);
    for &b in stacked {
        out.extend(dev(&mut s, DeviceInput::BillEscrow(rub(b))));
        out.extend(dev(&mut s, DeviceInput::BillStacked(rub(b))));
    }
    if let Some(b) = in_flight {
        out.extend(dev(&mut s, DeviceInput::BillEscrow(rub(b))));
    }
    journaled(&out).into_iter().cloned().collect()
}

/// Regression: recovery credited an interrupted cash payment as one line «Оплата по лицевому
/// счёту»; it is credited with the split the customer asked for.
#[test]
fn recovery_credits_an_interrupted_payment_with_the_customers_split() {
    let mut s = restarted(&interrupted_payment(&[1_000, 500], None));
    s.validator_settled(t0());
    let out = drain(&mut s);
    let allocations = journaled(&out)
        .into_iter()
        .find_map(|e| match e {
            JournalEvent::PaymentCompleted { allocations, .. } => Some(allocations.clone()),
            _ => None,
        })
        .expect("credited");
    let by_service: Vec<(&str, i64)> = allocations
        .iter()
        .map(|a| (a.service_id.as_str(), a.debt_kopecks + a.advance_kopecks))
        .collect();
    assert_eq!(by_service, vec![("el", 100_000), ("fee", 50_000)]);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Fiscalise(r) if r.cash == rub(1_500))));
}

#[test]
fn recovery_makes_a_stuck_note_of_a_stack_still_in_flight_and_settles() {
    let mut s = restarted(&interrupted_payment(&[1_000], Some(500)));
    s.begin_recovery(t0());
    assert!(s.is_recovering());
    // The validator never finishes its start-up (it is jammed): recovery stops waiting.
    let due = s.poll_timeout().expect("start-up has a deadline");
    s.handle_timeout(due);
    let out = drain(&mut s);
    assert!(!s.is_recovering());
    assert_eq!(stuck(&out).len(), 1, "{out:?}");
    assert_eq!(completed_total(&out), Some(100_000));
    assert!(
        s.ledger().open_payments.is_empty(),
        "nothing left open for good"
    );
}

#[test]
fn a_stacked_report_after_a_restart_belongs_to_the_interrupted_payment() {
    let mut s = restarted(&interrupted_payment(&[1_000], Some(500)));
    s.begin_recovery(t0());
    let out = dev(&mut s, DeviceInput::BillStacked(Money::ZERO));
    assert!(journaled(&out).iter().any(|e| matches!(
        e,
        JournalEvent::BillStacked {
            denomination_kopecks: 50_000,
            payment_id: Some(_),
        }
    )));
    let out = dev(&mut s, DeviceInput::BillValidatorSettled);
    assert_eq!(completed_total(&out), Some(150_000));
    assert!(stuck(&out).is_empty());
}

/// Regression: recovery fiscalised the live session's own payment (a stray bill report while
/// the customer was choosing the receipt) — two fiscal documents for one payment.
#[test]
fn recovery_never_fiscalises_the_live_payment() {
    let mut s = session();
    paid_1000_in_cash(&mut s);
    assert!(matches!(s.view().screen, Screen::ReceiptChoice { .. }));
    let out = dev(&mut s, DeviceInput::BillValidatorSettled);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Fiscalise(_))),
        "{out:?}"
    );
    let out = dev(&mut s, DeviceInput::BillReturned(rub(500)));
    assert!(
        !out.iter().any(|o| matches!(o, Output::Fiscalise(_))),
        "{out:?}"
    );
    let out = ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::Paper));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Fiscalise(_)))
            .count(),
        1
    );
}

/// Regression: a failed fiscalisation was retried only at the next start or a stray bill.
#[test]
fn a_failed_fiscalisation_is_retried_with_growing_pauses() {
    let mut s = session();
    paid_1000_in_cash(&mut s);
    let out = ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::Paper));
    let Output::Fiscalise(req) = &out[1] else {
        panic!("{out:?}")
    };
    dev(
        &mut s,
        DeviceInput::FiscalisationFailed {
            receipt_id: req.receipt_id.clone(),
            reason: "no paper in the register".into(),
        },
    );
    let first = s.next_fiscal_retry().expect("a retry is planned");
    assert_eq!(first, t0() + Duration::seconds(30));
    s.handle_timeout(first);
    let out = drain(&mut s);
    let Some(Output::Fiscalise(retry)) = out.iter().find(|o| matches!(o, Output::Fiscalise(_)))
    else {
        panic!("retried: {out:?}")
    };
    assert_eq!(retry.cash, rub(1_000));
    // It fails again: the next pause is twice as long.
    s.handle(
        Input::Device(DeviceInput::FiscalisationFailed {
            receipt_id: retry.receipt_id.clone(),
            reason: "still no paper".into(),
        }),
        first,
    );
    assert_eq!(s.next_fiscal_retry(), Some(first + Duration::seconds(60)));
}

/// Regression: a second `CassetteRemoved` (a restart with the cassette still out) replaced the
/// expected encashment with an empty one.
#[test]
fn a_cassette_reported_removed_twice_keeps_its_expected_contents() {
    let mut s = session();
    paid_1000_in_cash(&mut s);
    let out = dev(&mut s, DeviceInput::CassetteRemoved);
    assert!(journaled(&out).iter().any(|e| matches!(
        e,
        JournalEvent::CassetteRemoved {
            expected_total_kopecks: 100_000,
            ..
        }
    )));
    let out = dev(&mut s, DeviceInput::CassetteRemoved);
    assert!(journaled(&out).is_empty(), "{out:?}");
}

#[test]
fn the_requested_split_is_journaled_when_the_payment_starts() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    let out = ui(&mut s, Intent::PayCash);
    let Some(JournalEvent::PaymentStarted { services, .. }) = journaled(&out).into_iter().next()
    else {
        panic!("{out:?}")
    };
    assert_eq!(services.len(), account(1_500).services.len());
    assert_eq!(services[0].requested_kopecks, 150_000);
}

#[test]
fn a_technician_resolves_stuck_notes_found_in_the_cassette_or_handed_back() {
    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[1_000], 5_000);
    let out = dev(&mut s, DeviceInput::BillJammed { denomination: None });
    let reference = stuck(&out)[0].1.clone();
    ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::ScreenOnly));
    let cassette_before = s.ledger().cassette.get(&500_000).copied().unwrap_or(0);
    s.resolve_stuck_note(&reference, true, t0());
    let out = drain(&mut s);
    assert_eq!(
        completed_total(&out),
        Some(500_000),
        "credited as its own payment"
    );
    let Some(Output::Fiscalise(req)) = out.iter().find(|o| matches!(o, Output::Fiscalise(_)))
    else {
        panic!("its own receipt: {out:?}")
    };
    assert_eq!(req.account, "1000000001");
    assert_eq!(
        s.ledger().cassette.get(&500_000).copied().unwrap_or(0),
        cassette_before + 1
    );
    // Once resolved, it cannot be credited again.
    s.resolve_stuck_note(&reference, true, t0());
    assert!(drain(&mut s).is_empty());

    let mut s = session();
    cash_with_bill_in_flight(&mut s, &[], 500);
    let out = dev(&mut s, DeviceInput::BillJammed { denomination: None });
    let reference = stuck(&out)[0].1.clone();
    s.resolve_stuck_note(&reference, false, t0());
    let out = drain(&mut s);
    assert!(journaled(&out).iter().any(|e| matches!(
        e,
        JournalEvent::StuckNoteResolved {
            outcome: backend_sync::event::StuckNoteOutcome::HandedBack,
            payment_id: None,
            ..
        }
    )));
    assert_eq!(completed_total(&out), None);
    assert!(s.ledger().stuck_notes.is_empty());
}

/// Journals a card payment of 1 000 + 500 ₽ up to where a crash cut it: `approved` (the approval
/// journaled, goods-issued answered) and `completed` (the terminal confirmed, `CardCompleted`).
fn interrupted_card_payment(approved: bool, completed: bool) -> Vec<JournalEvent> {
    let mut s = split_1000_500();
    let mut out = ui(&mut s, Intent::PayCard);
    if approved {
        out.extend(dev(&mut s, DeviceInput::CardApproved(card_approval(7))));
    }
    if completed {
        out.extend(dev(&mut s, DeviceInput::CardCompleted));
        // The crash comes before the payment's own completion is journaled.
        out.retain(|o| !matches!(o, Output::Journal(JournalEvent::PaymentCompleted { .. })));
    }
    journaled(&out)
        .into_iter()
        .filter(|e| !matches!(e, JournalEvent::PaymentCompleted { .. }))
        .cloned()
        .collect()
}

fn card_approval(receipt_no: u32) -> CardApproval {
    CardApproval {
        amount_kopecks: 150_000,
        receipt_no,
        trace_no: 3,
        masked_pan: "4111********1111".into(),
        auth_code: "A1".into(),
        card_terminal_id: "29001234".into(),
        rrn: None,
    }
}

fn terminal_says(receipt_no: u32, kopecks: Option<i64>) -> CardRecoveryStep {
    CardRecoveryStep::LastResult(CardLastResult {
        result_code: Some(0),
        receipt_no: Some(receipt_no),
        amount_kopecks: kopecks,
        approval: None,
    })
}

fn payment_id(out: &[Output]) -> String {
    out.iter()
        .find_map(|o| match o {
            Output::Card(CardCommand::Recover { payment_id }) => Some(payment_id.clone()),
            _ => None,
        })
        .expect("the terminal is asked")
}

/// A card payment the terminal confirmed before the crash: the restarted core asks the terminal
/// and credits it with the journaled approval and the customer's split; customers wait meanwhile.
#[test]
fn start_up_card_recovery_credits_a_confirmed_payment_with_its_split() {
    let mut s = restarted(&interrupted_card_payment(true, true));
    s.begin_card_recovery(t0());
    let out = drain(&mut s);
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::CardOutcomeUnknown { .. }
    ));
    let pid = payment_id(&out);
    assert!(s.holds_customers(t0()));
    assert!(
        ui(&mut s, Intent::Start(Purpose::Pay)).is_empty(),
        "the screen waits"
    );

    // The terminal's repeated result lacks the amount: the journal's approval stands.
    let out = dev(
        &mut s,
        DeviceInput::CardRecovery {
            payment_id: pid.clone(),
            step: terminal_says(7, None),
        },
    );
    let allocations = journaled(&out)
        .into_iter()
        .find_map(|e| match e {
            JournalEvent::PaymentCompleted {
                allocations,
                total_kopecks: 150_000,
                method: PaymentMethod::Card,
                ..
            } => Some(allocations.clone()),
            _ => None,
        })
        .expect("credited");
    let split: Vec<(&str, i64)> = allocations
        .iter()
        .map(|a| (a.service_id.as_str(), a.debt_kopecks + a.advance_kopecks))
        .collect();
    assert_eq!(split, vec![("el", 100_000), ("fee", 50_000)]);
    assert!(
        !journaled(&out)
            .iter()
            .any(|e| matches!(e, JournalEvent::CardCompleted { .. })),
        "completed once"
    );
    assert!(out.contains(&Output::Card(CardCommand::Resolved { payment_id: pid })));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Fiscalise(r) if r.card == rub(1_500))));
    assert!(!s.holds_customers(t0()));
    assert!(s.ledger().open_payments.is_empty());
}

/// Approved and answered "issued", but the confirmation never journaled: the restarted kiosk
/// cannot know the terminal booked it, so it reverses it (write-ahead), never credits it.
#[test]
fn start_up_card_recovery_reverses_an_approval_without_a_journaled_completion() {
    let mut s = restarted(&interrupted_card_payment(true, false));
    s.begin_card_recovery(t0());
    let pid = payment_id(&drain(&mut s));
    let out = dev(
        &mut s,
        DeviceInput::CardRecovery {
            payment_id: pid.clone(),
            step: terminal_says(7, Some(150_000)),
        },
    );
    assert!(matches!(
        out[0],
        Output::Journal(JournalEvent::CardReversalRequested { receipt_no: 7, .. })
    ));
    assert!(matches!(
        out[1],
        Output::Card(CardCommand::Reverse { receipt_no: 7, .. })
    ));
    let out = dev(
        &mut s,
        DeviceInput::CardRecovery {
            payment_id: pid,
            step: CardRecoveryStep::NotHeld { receipt_no: 7 },
        },
    );
    assert!(journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::PaymentCancelled { .. })));
    assert_eq!(completed_total(&out), None);
    assert!(s.ledger().open_payments.is_empty());
}

/// A card terminal that never answers holds customers for a minute only, and takes no card
/// payment until its open payment is settled: cash is served.
#[test]
fn a_silent_card_terminal_holds_customers_a_minute_and_refuses_card_payments() {
    let mut s = restarted(&interrupted_card_payment(false, false));
    s.begin_card_recovery(t0());
    drain(&mut s);
    assert!(s.holds_customers(t0()));
    let later = t0() + chrono::Duration::seconds(61);
    assert!(!s.holds_customers(later));
    s.handle(Input::Ui(Intent::Start(Purpose::Pay)), later);
    s.handle(Input::Ui(Intent::SubmitAccount("1000000001".into())), later);
    drain(&mut s);
    s.handle(
        Input::Device(DeviceInput::AccountFound(account(1_500))),
        later,
    );
    drain(&mut s);
    s.handle(Input::Ui(Intent::PayCard), later);
    let out = drain(&mut s);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Card(CardCommand::Authorise { .. }))),
        "{out:?}"
    );
    assert!(matches!(s.view().screen, Screen::Summary { .. }));
}

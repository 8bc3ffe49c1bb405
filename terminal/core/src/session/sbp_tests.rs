//! The СБП money rules: every outcome the bank has (paid, declined, expired, revoked, paid
//! after the revocation, silence), duplicated reports, and a restart while the bank was asked.

use super::tests::{dev, drain, fiscal, journaled, session, t0, to_summary, ui};
use super::*;
use crate::ledger::Ledger;
use backend_sync::sbp::SbpState;

const PAYLOAD: &str =
    "https://qr.nspk.ru/AD10006M8KH9JB3B8OQ9PQ0VBQ0C5RB2?type=02&bank=100000000004&sum=150000&cur=RUB&crc=1A2B";

fn online_with_sbp(s: &mut Session) {
    dev(
        s,
        DeviceInput::Availability(Availability {
            sbp: true,
            ..Availability::default()
        }),
    );
}

fn report(payment_id: &str, state: SbpState, kopecks: i64) -> DeviceInput {
    DeviceInput::Sbp(SbpReport {
        payment_id: payment_id.into(),
        state,
        amount: Money::from_kopecks(kopecks),
        payload: (state == SbpState::Pending).then(|| PAYLOAD.to_string()),
        expires_at: Some(t0() + Duration::minutes(10)),
        bank_payment_id: Some("3093639567".into()),
        detail: String::new(),
    })
}

/// Summary of a 1 500 ₽ debt, «По QR-коду СБП» tapped: the payment id asked for.
fn sbp_started(s: &mut Session) -> String {
    online_with_sbp(s);
    to_summary(s, 1_500);
    let out = ui(s, Intent::PaySbp);
    let events = journaled(&out);
    assert!(
        matches!(
            events[0],
            JournalEvent::PaymentStarted {
                method: PaymentMethod::Sbp,
                requested_kopecks: 150_000,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(
        matches!(
            events[1],
            JournalEvent::SbpQrRequested {
                amount_kopecks: 150_000,
                ..
            }
        ),
        "write-ahead before the QR is asked for: {out:?}"
    );
    let Some(Output::Sbp(SbpCommand::Create {
        payment_id, amount, ..
    })) = out.last()
    else {
        panic!("{out:?}")
    };
    assert_eq!(*amount, Money::from_rubles(1_500));
    payment_id.clone()
}

/// The QR issued and shown.
fn sbp_showing(s: &mut Session) -> String {
    let pid = sbp_started(s);
    assert!(matches!(
        s.view().screen,
        Screen::Sbp(SbpScreen {
            payload: None,
            checking: false,
            ..
        })
    ));
    let out = dev(s, report(&pid, SbpState::Pending, 150_000));
    assert!(
        matches!(journaled(&out)[..], [JournalEvent::SbpQrIssued { .. }]),
        "{out:?}"
    );
    match s.view().screen {
        Screen::Sbp(SbpScreen {
            payload: Some(p),
            pay_until: Some(until),
            amount,
            ..
        }) => {
            assert_eq!(p, PAYLOAD);
            assert_eq!(amount, Money::from_rubles(1_500));
            assert_eq!(
                until,
                t0() + Duration::minutes(3),
                "the countdown, not the bank's 10 min"
            );
        }
        other => panic!("{other:?}"),
    }
    pid
}

fn credited(out: &[Output]) -> Vec<i64> {
    journaled(out)
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::PaymentCompleted {
                total_kopecks,
                method: PaymentMethod::Sbp,
                ..
            } => Some(*total_kopecks),
            _ => None,
        })
        .collect()
}

fn at(s: &mut Session, when: DateTime<Utc>) -> Vec<Output> {
    s.handle_timeout(when);
    drain(s)
}

#[test]
fn a_paid_qr_is_credited_on_the_bank_s_word_and_receipted_as_electronic_money() {
    let mut s = session();
    let pid = sbp_showing(&mut s);
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    let events = journaled(&out);
    assert!(
        matches!(
            events[0],
            JournalEvent::SbpPaid {
                amount_kopecks: 150_000,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(credited(&out), vec![150_000]);
    assert!(
        matches!(s.view().screen, Screen::ReceiptChoice { total, .. } if total == Money::from_rubles(1_500))
    );

    let out = ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::Paper));
    let req = out
        .iter()
        .find_map(|o| match o {
            Output::Fiscalise(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a receipt");
    assert_eq!(
        req.card,
        Money::from_rubles(1_500),
        "tag 1081: paid electronically"
    );
    assert_eq!(req.cash, Money::ZERO);
    assert_eq!(
        req.sbp_operation.as_deref(),
        Some("3093639567"),
        "the bank's operation"
    );

    // The bank's notification duplicated, or a poll repeating it: nothing more is credited.
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert!(journaled(&out).is_empty(), "{out:?}");
    dev(
        &mut s,
        DeviceInput::Fiscalised {
            receipt_id: req.receipt_id.clone(),
            fiscal: fiscal(),
            printed_by_register: false,
        },
    );
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert!(journaled(&out).is_empty(), "{out:?}");
    assert_eq!(s.ledger().sbp_paid_total, Money::from_rubles(1_500));
}

#[test]
fn cancel_revokes_the_qr_and_the_bank_s_confirmation_returns_to_the_summary() {
    let mut s = session();
    let pid = sbp_showing(&mut s);
    let out = ui(&mut s, Intent::Cancel);
    assert!(
        matches!(
            journaled(&out)[..],
            [JournalEvent::SbpRevokeRequested { .. }]
        ),
        "{out:?}"
    );
    assert_eq!(
        out.last(),
        Some(&Output::Sbp(SbpCommand::Revoke {
            payment_id: pid.clone()
        }))
    );
    assert!(matches!(
        s.view().screen,
        Screen::Sbp(SbpScreen {
            checking: true,
            payload: None,
            ..
        })
    ));
    assert!(s.holds_money(), "the bank's last word is awaited");
    // Home does not leave a payment the bank may still confirm.
    ui(&mut s, Intent::Home);
    assert!(matches!(
        s.view().screen,
        Screen::Sbp(SbpScreen { checking: true, .. })
    ));

    let out = dev(&mut s, report(&pid, SbpState::Revoked, 150_000));
    let events = journaled(&out);
    assert!(matches!(
        events[0],
        JournalEvent::SbpNotPaid {
            state: SbpState::Revoked,
            ..
        }
    ));
    assert!(matches!(events[1], JournalEvent::PaymentCancelled { .. }));
    match s.view().screen {
        Screen::Summary {
            notice: Some(n), ..
        } => assert_eq!(n.kind, SummaryProblem::SbpCancelled),
        other => panic!("{other:?}"),
    }
    assert!(s.ledger().open_payments.is_empty());
}

#[test]
fn a_payment_the_bank_confirms_after_the_revocation_is_credited_once() {
    let mut s = session();
    let pid = sbp_showing(&mut s);
    ui(&mut s, Intent::Cancel);
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert_eq!(credited(&out), vec![150_000]);
    assert!(matches!(s.view().screen, Screen::ReceiptChoice { .. }));
    let out = dev(&mut s, report(&pid, SbpState::Revoked, 150_000));
    assert!(
        journaled(&out).is_empty(),
        "a late revoked answer changes nothing: {out:?}"
    );
}

#[test]
fn declined_and_expired_qrs_say_so_and_take_nothing() {
    for (state, kind) in [
        (SbpState::Declined, SummaryProblem::SbpDeclined),
        (SbpState::Expired, SummaryProblem::SbpExpired),
    ] {
        let mut s = session();
        let pid = sbp_showing(&mut s);
        let out = dev(&mut s, report(&pid, state, 150_000));
        assert!(credited(&out).is_empty());
        match s.view().screen {
            Screen::Summary {
                notice: Some(n), ..
            } => {
                assert_eq!(n.kind, kind);
                assert!(n.message.contains("не списаны"), "{}", n.message);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_bank_that_stays_silent_releases_the_customer_and_a_later_confirmation_is_credited_and_receipted(
) {
    let mut s = session();
    let pid = sbp_showing(&mut s);
    // The countdown runs out: the QR is revoked.
    let until = s.poll_timeout().expect("the countdown");
    let out = at(&mut s, until);
    assert!(
        matches!(
            journaled(&out)[..],
            [JournalEvent::SbpRevokeRequested { .. }]
        ),
        "{out:?}"
    );
    // The back office does not answer the revocation either.
    let check = s.poll_timeout().expect("the check deadline");
    let out = at(&mut s, check);
    assert!(
        matches!(
            journaled(&out)[..],
            [JournalEvent::SbpOutcomeUnknown { .. }]
        ),
        "{out:?}"
    );
    match s.view().screen {
        Screen::Notice { text } => {
            assert!(text.contains(&pid), "{text}");
            assert!(text.contains("Повторно платить не нужно"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!s.holds_money());
    assert!(
        s.ledger().open_payments.contains_key(&pid),
        "still open in the journal"
    );

    // The next customer starts; meanwhile the bank confirms the first payment.
    ui(&mut s, Intent::Home);
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert_eq!(credited(&out), vec![150_000]);
    assert!(journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::RecoveryResolved { .. })));
    let req = out
        .iter()
        .find_map(|o| match o {
            Output::Fiscalise(r) => Some(r.clone()),
            _ => None,
        })
        .expect("fiscalised though the customer left");
    assert_eq!(req.card, Money::from_rubles(1_500));
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert!(journaled(&out).is_empty(), "credited once: {out:?}");
}

#[test]
fn no_qr_in_time_lets_the_customer_choose_again_and_settles_behind() {
    let mut s = session();
    let pid = sbp_started(&mut s);
    let deadline = s.poll_timeout().expect("the QR's deadline");
    let out = at(&mut s, deadline);
    assert!(out.contains(&Output::Sbp(SbpCommand::Revoke {
        payment_id: pid.clone()
    })));
    match s.view().screen {
        Screen::Summary {
            notice: Some(n), ..
        } => assert_eq!(n.kind, SummaryProblem::SbpUnavailable),
        other => panic!("{other:?}"),
    }
    // The QR the back office issued too late is not shown to anyone.
    let out = dev(&mut s, report(&pid, SbpState::Pending, 150_000));
    assert!(journaled(&out).is_empty());
    assert!(matches!(s.view().screen, Screen::Summary { .. }));
    let out = dev(&mut s, report(&pid, SbpState::Revoked, 150_000));
    assert!(journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::PaymentCancelled { .. })));
    assert!(s.ledger().open_payments.is_empty());
}

#[test]
fn without_the_bank_the_method_is_refused_and_nothing_is_journaled() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    assert!(matches!(
        s.view().screen,
        Screen::Summary { sbp: false, .. }
    ));
    let out = ui(&mut s, Intent::PaySbp);
    assert!(out.is_empty(), "{out:?}");
    match s.view().screen {
        Screen::Summary {
            notice: Some(n), ..
        } => assert_eq!(n.kind, SummaryProblem::SbpUnavailable),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_restart_while_the_bank_was_asked_revokes_and_credits_what_the_bank_confirms() {
    // The kiosk dies with the QR on the screen: what it had journaled survives.
    let mut first = session();
    online_with_sbp(&mut first);
    to_summary(&mut first, 1_500);
    let mut out = ui(&mut first, Intent::PaySbp);
    let Some(Output::Sbp(SbpCommand::Create {
        payment_id: pid, ..
    })) = out.last().cloned()
    else {
        panic!("{out:?}")
    };
    out.extend(dev(&mut first, report(&pid, SbpState::Pending, 150_000)));
    let journal: Vec<JournalEvent> = journaled(&out).into_iter().cloned().collect();
    drop(first);

    let day = t0().date_naive();
    let mut s = session();
    s.restore(Ledger::replay(
        journal
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, day, e)),
    ));
    s.begin_recovery(t0());
    let out = dev(&mut s, DeviceInput::BillValidatorSettled);
    assert!(
        journaled(&out)
            .iter()
            .any(|e| matches!(e, JournalEvent::SbpRevokeRequested { .. })),
        "{out:?}"
    );
    assert!(out.contains(&Output::Sbp(SbpCommand::Revoke {
        payment_id: pid.clone()
    })));
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert_eq!(credited(&out), vec![150_000]);
    assert!(out.iter().any(
        |o| matches!(o, Output::Fiscalise(r) if r.card == Money::from_rubles(1_500)
            && r.sbp_operation.as_deref() == Some("3093639567"))
    ));
    let out = dev(&mut s, report(&pid, SbpState::Paid, 150_000));
    assert!(journaled(&out).is_empty(), "credited once: {out:?}");
}

#[test]
fn an_orderly_stop_revokes_the_shown_qr_and_waits_for_the_bank_s_word() {
    let mut s = session();
    let pid = sbp_showing(&mut s);
    s.request_stop(t0());
    let out = drain(&mut s);
    assert!(
        out.contains(&Output::Sbp(SbpCommand::Revoke {
            payment_id: pid.clone()
        })),
        "{out:?}"
    );
    assert!(!s.may_stop());
    dev(&mut s, report(&pid, SbpState::Revoked, 150_000));
    assert!(s.may_stop(), "{:?}", s.stop_waits_for());
}

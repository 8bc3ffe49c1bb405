//! End to end through a pty: our driver against our emulator, real frames and timers.

// Amounts are written roubles_kopecks (1234_00 = 1234.00 RUB).
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use std::time::Duration;

use card_reader::emulator::TxnState;
use card_reader::{contains_full_pan, AuthEvent, CardError};
use common::{emulator, pay, reader, Answer, Seen};

#[tokio::test]
async fn approve_complete_and_slip() {
    let emu = emulator();
    let reader = reader(&emu).await;
    assert!(emu.is_registered());
    let mut seen = Seen::default();
    let AuthEvent::Completed { approval } = pay(&reader, 123_45, Answer::Issued, &mut seen).await
    else {
        panic!("expected completion: {:?}", seen.text)
    };
    assert_eq!(approval.amount_kopecks, 123_45);
    assert_eq!(approval.masked_pan.as_deref(), Some("220070******6781"));
    assert!(approval.auth_code.as_deref().is_some_and(|c| c.len() == 6));
    assert_eq!(approval.receipt_no, Some(1));
    assert_eq!(approval.terminal_id, Some(29_001_234));
    assert!(
        approval
            .print_lines
            .iter()
            .any(|l| l.contains("220070******6781")),
        "{:?}",
        approval.print_lines
    );
    assert!(seen
        .prompts
        .contains(&"Вставьте или приложите карту".to_owned()));
    assert!(seen.prompts.contains(&"Введите ПИН-код".to_owned()));
    assert!(seen.prompts.contains(&"Идёт авторизация…".to_owned()));
    let txns = emu.transactions();
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].state, TxnState::Booked);
    assert_eq!(emu.batch().total_kopecks, 123_45);
}

#[tokio::test]
async fn decline_by_amount_rule_and_by_fault() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    let AuthEvent::Declined { code, reason_ru } =
        pay(&reader, 100_13, Answer::Issued, &mut seen).await
    else {
        panic!("expected decline")
    };
    assert_eq!(code, 0x05);
    assert_eq!(reason_ru, "Отказ банка, выпустившего карту");
    emu.decline_next();
    assert!(matches!(
        pay(&reader, 100_00, Answer::Issued, &mut seen).await,
        AuthEvent::Declined { code: 0x05, .. }
    ));
    assert!(matches!(
        pay(&reader, 100_51, Answer::Issued, &mut seen).await,
        AuthEvent::Declined { code: 0x33, .. }
    ));
    assert_eq!(emu.batch().count, 0);
}

#[tokio::test]
async fn customer_cancel_on_terminal_and_on_kiosk() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    emu.cancel_next();
    assert!(matches!(
        pay(&reader, 500_00, Answer::Issued, &mut seen).await,
        AuthEvent::Cancelled
    ));

    // Kiosk cancel (06 B0) on the first prompt.
    let mut auth = reader.authorise(500_00, "cancel-from-kiosk").await.unwrap();
    let mut aborted = false;
    let last = loop {
        let event = auth.next_event().await.unwrap();
        seen.record(&event);
        match event {
            AuthEvent::Prompt { .. } if !aborted => {
                reader.abort().unwrap();
                aborted = true;
            }
            AuthEvent::Prompt { .. } => {}
            other => break other,
        }
    };
    assert!(matches!(last, AuthEvent::Cancelled), "{last:?}");
    assert_eq!(emu.batch().count, 0);
}

#[tokio::test]
async fn goods_not_issued_makes_the_terminal_reverse() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    let last = pay(&reader, 250_00, Answer::NotIssued, &mut seen).await;
    assert!(
        matches!(last, AuthEvent::ReversedByTerminal { .. }),
        "{last:?}"
    );
    assert_eq!(emu.transactions()[0].state, TxnState::Reversed);
    assert_eq!(emu.batch().count, 0);
}

#[tokio::test]
async fn busy_terminal_refuses_and_lost_ack_is_retransmitted() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    emu.busy_next();
    assert!(matches!(
        pay(&reader, 10_00, Answer::Issued, &mut seen).await,
        AuthEvent::Declined { code: 0xa0, .. }
    ));
    emu.lose_ack_next();
    assert!(matches!(
        pay(&reader, 10_00, Answer::Issued, &mut seen).await,
        AuthEvent::Completed { .. }
    ));
    assert_eq!(emu.batch().count, 1, "the retransmitted command ran once");
}

#[tokio::test]
async fn slow_host_keeps_t4_alive_with_intermediate_status() {
    let emu = emulator();
    let reader = reader(&emu).await; // T4 is 3 s
    emu.set_delay(Duration::from_millis(4500));
    let mut seen = Seen::default();
    let last = pay(&reader, 77_00, Answer::Issued, &mut seen).await;
    assert!(matches!(last, AuthEvent::Completed { .. }), "{last:?}");
    assert!(
        seen.prompts
            .iter()
            .filter(|p| p.as_str() == "Пожалуйста, подождите…")
            .count()
            >= 10
    );
}

#[tokio::test]
async fn unmasked_pan_from_a_terminal_is_masked_everywhere() {
    let emu = emulator();
    emu.set_unmasked_pan(true);
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    let AuthEvent::Completed { approval } = pay(&reader, 99_00, Answer::Issued, &mut seen).await
    else {
        panic!()
    };
    assert_eq!(approval.masked_pan.as_deref(), Some("220070******6781"));
    for line in &approval.print_lines {
        assert!(!contains_full_pan(line), "{line}");
    }
    // The terminal sent the full number in BMP 22 and on the slip; no log line may carry it.
    let logs = common::captured_logs();
    assert!(logs.contains("authorisation approved"), "logs are captured");
    assert!(!contains_full_pan(&logs), "full PAN in the logs");
}

/// Link drop right after the approval reached the kiosk: the kiosk's 80 00 is lost, the outcome is
/// unknown, the reader is latched, and the last result it reports agrees with the terminal's own
/// batch (what that means for the money is the kiosk core's rule, tested there).
#[tokio::test]
async fn link_drop_with_approval_on_terminal_side_is_resolved() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    emu.drop_link_next();
    let last = pay(&reader, 300_00, Answer::Issued, &mut seen).await;
    let AuthEvent::OutcomeUnknown {
        approval,
        goods_issued_sent,
        ..
    } = last
    else {
        panic!("{last:?}")
    };
    assert_eq!(goods_issued_sent, Some(true));
    let approval = approval.expect("the approval was seen");
    assert!(matches!(
        reader.authorise(1_00, "blocked").await,
        Err(CardError::RecoveryRequired(_))
    ));

    let last = reader.last_result().await.expect("the terminal answers");
    let txns = emu.transactions();
    assert_eq!(last.receipt_no, approval.receipt_no);
    assert_eq!(
        last.approved(),
        txns[0].state == TxnState::Booked,
        "{last:?} {:?}",
        txns[0].state
    );
    assert!(
        reader.recovery_pending().is_some(),
        "latched until the host says so"
    );
    reader.recovery_resolved();
    assert!(reader.recovery_pending().is_none());
    // The reader works again and end of day matches what the kiosk credited.
    let credited_before = if txns[0].state == TxnState::Booked {
        300_00
    } else {
        0
    };
    assert!(matches!(
        pay(&reader, 50_00, Answer::Issued, &mut seen).await,
        AuthEvent::Completed { .. }
    ));
    let totals = reader.end_of_day().await.unwrap();
    assert_eq!(totals.total_kopecks, credited_before + 50_00);
    assert_eq!(emu.batch().count, 0, "batch closed");
}

/// The kiosk dies after the approval arrived and before it answered (the approval was journaled,
/// the decision was not). A new driver asks: the terminal does not keep the payment.
#[test]
fn crash_before_answer_is_recovered_by_a_new_driver() {
    let emu = emulator();
    let approval = {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let approval = runtime.block_on(async {
            let reader = reader(&emu).await;
            let mut auth = reader.authorise(400_00, "crash").await.unwrap();
            loop {
                match auth.next_event().await.unwrap() {
                    AuthEvent::Approved(pending) => {
                        let approval = pending.approval.clone();
                        std::mem::forget(pending); // the process dies: no answer at all
                        break approval;
                    }
                    AuthEvent::Prompt { .. } => {}
                    other => panic!("{other:?}"),
                }
            }
        });
        runtime.shutdown_background();
        approval
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let reader = reader(&emu).await;
        let last = reader.last_result().await.unwrap();
        assert_eq!(last.receipt_no, approval.receipt_no);
        let receipt = approval.receipt_no.expect("receipt number");
        if last.approved() {
            // Not reversed by itself yet: the host's reversal does it.
            assert!(reader.reverse_unknown(receipt).await.unwrap());
        } else {
            assert!(
                !reader.reverse_unknown(receipt).await.unwrap(),
                "nothing to reverse"
            );
        }
        assert_eq!(emu.transactions()[0].state, TxnState::Reversed);
        assert_eq!(reader.end_of_day().await.unwrap().total_kopecks, 0);
    });
}

#[tokio::test]
async fn status_enquiry_diagnosis_reversal_and_repeat() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let status = reader.status_enquiry().await.unwrap();
    assert!(status.ready());
    assert_eq!(status.terminal_id, Some(29_001_234));
    reader.diagnosis().await.unwrap();
    let mut seen = Seen::default();
    let AuthEvent::Completed { approval } = pay(&reader, 42_00, Answer::Issued, &mut seen).await
    else {
        panic!()
    };
    let last = reader.repeat_last_result().await.unwrap();
    assert!(last.approved());
    assert_eq!(last.receipt_no, approval.receipt_no);
    let receipt = approval.receipt_no.unwrap();
    reader.reverse(receipt).await.unwrap();
    assert_eq!(emu.batch().count, 0);
    assert!(matches!(
        reader.reverse(receipt).await,
        Err(CardError::Terminal { code: 0x83, .. })
    ));
}

/// The kiosk answered "goods issued", the terminal booked the payment, and the kiosk died before
/// it saw the completion. The terminal still sends the slip to nobody; recovery waits out its
/// "busy" and reports the booked payment.
#[test]
fn crash_after_goods_issued_is_credited_on_recovery() {
    let emu = emulator();
    let approval = {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let approval = runtime.block_on(async {
            let reader = reader(&emu).await;
            let mut auth = reader.authorise(600_00, "crash-after-issue").await.unwrap();
            loop {
                match auth.next_event().await.unwrap() {
                    AuthEvent::Approved(pending) => {
                        let approval = pending.approval.clone();
                        pending.goods_issued(true);
                        let started = std::time::Instant::now();
                        while emu.transactions()[0].state != TxnState::Booked {
                            assert!(
                                started.elapsed() < Duration::from_secs(5),
                                "terminal never booked"
                            );
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        break approval; // dies here, before reading the completion
                    }
                    AuthEvent::Prompt { .. } => {}
                    other => panic!("{other:?}"),
                }
            }
        });
        runtime.shutdown_background();
        approval
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let reader = reader(&emu).await; // the terminal is still busy sending the slip to nobody
        let last = reader.last_result().await.unwrap();
        assert!(last.approved(), "{last:?}");
        assert_eq!(last.receipt_no, approval.receipt_no);
        assert_eq!(last.amount_kopecks, Some(600_00));
        assert_eq!(emu.transactions()[0].state, TxnState::Booked);
        assert_eq!(reader.end_of_day().await.unwrap().total_kopecks, 600_00);
    });
}

/// A payment the host lost track of is found in the last result and reversed on request (the
/// kiosk core decides when: without a journaled approval, only if it is not its last credited).
#[tokio::test]
async fn an_approval_the_host_never_saw_is_found_and_reversed() {
    let emu = emulator();
    let reader = reader(&emu).await;
    let mut seen = Seen::default();
    let AuthEvent::Completed { approval } = pay(&reader, 77_00, Answer::Issued, &mut seen).await
    else {
        panic!()
    };
    let receipt = approval.receipt_no.expect("receipt number");
    let last = reader.last_result().await.unwrap();
    assert!(last.approved());
    assert_eq!(last.receipt_no, Some(receipt));
    assert_eq!(last.amount_kopecks, Some(77_00));
    assert!(reader.reverse_unknown(receipt).await.unwrap());
    assert_eq!(emu.batch().count, 0);
    assert!(
        !reader.reverse_unknown(receipt).await.unwrap(),
        "reversed once"
    );
}

//! The session core's rules for card payments whose outcome is unknown: a link drop or timeout
//! during a live payment, or a payment a crash left open.
//!
//! The card task only carries out steps: it asks the terminal for its last result (ZVT 06 20)
//! and, when told, reverses (06 30). What the answer means for the money is decided here, from
//! the journal's word (the amount sent, the journaled approval, whether the goods-issued answer
//! was journaled) and the terminal's:
//! - the terminal holds our approval and the completion was journaled → credit it;
//! - it holds our approval, not completed → reverse it (the intent journaled before 06 30);
//! - no journaled approval, but the terminal reports an approved payment of this amount that is
//!   not the last one the kiosk credited → an approval the kiosk never saw: reverse it;
//! - otherwise nothing was charged.
//!
//! The same rules settle a live session's payment and one start-up recovery found open.

use std::collections::BTreeSet;

use backend_sync::event::{CardApproval, PaymentMethod};
use backend_sync::JournalEvent;
use chrono::{DateTime, Duration, Utc};

use super::{allocations_to_wire, CardCommand, Output, Session};
use crate::ledger::OpenPayment;
use crate::money::Money;

/// How long customers wait for start-up card recovery before cash is served without the card
/// terminal (one that does not answer must not take cash payments down with it).
const HOLD_CUSTOMERS: Duration = Duration::seconds(60);

/// The terminal's last transaction (ZVT 06 20) as the card task reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardLastResult {
    /// `Some(0)`: approved. `None`: the terminal holds no transaction at all.
    pub result_code: Option<u8>,
    pub receipt_no: Option<u32>,
    pub amount_kopecks: Option<i64>,
    pub approval: Option<CardApproval>,
}

impl CardLastResult {
    fn approved(&self) -> bool {
        self.result_code == Some(0)
    }
}

/// A step of card recovery, reported by the card task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRecoveryStep {
    /// The terminal's answer to "repeat last result".
    LastResult(CardLastResult),
    /// The reversal went through.
    Reversed { receipt_no: u32 },
    /// The terminal refused the reversal: it no longer holds the payment.
    NotHeld { receipt_no: u32 },
}

/// What the journal knows of a card payment whose outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCardPayment {
    /// The amount sent to the terminal.
    pub amount: Money,
    pub approval: Option<CardApproval>,
    /// The goods-issued answer (80 00) was journaled.
    pub completed: bool,
    /// The terminal receipt of the last card payment the kiosk credited.
    pub last_credited_receipt: Option<u32>,
}

impl KnownCardPayment {
    fn of(open: &OpenPayment, last_credited_receipt: Option<u32>) -> Option<Self> {
        Some(KnownCardPayment {
            amount: open.card_amount?,
            approval: open.card_approved.clone(),
            completed: open.card_completed,
            last_credited_receipt,
        })
    }
}

/// What becomes of the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardVerdict {
    /// The terminal holds it and the goods were issued.
    Credit(CardApproval),
    /// The terminal (may) hold it and the goods were not issued.
    Reverse { receipt_no: u32 },
    /// The terminal does not hold it.
    NotCharged { detail: &'static str },
}

/// The rules of the module docs, as one pure function.
pub fn assess(known: &KnownCardPayment, last: &CardLastResult) -> CardVerdict {
    let ours = known
        .approval
        .as_ref()
        .filter(|a| a.receipt_no != 0 && last.receipt_no == Some(a.receipt_no));
    if let Some(approval) = known.approval.as_ref().filter(|a| a.receipt_no != 0) {
        return match ours {
            Some(_) if !last.approved() => CardVerdict::NotCharged {
                detail: "the card terminal did not keep the approval: nothing charged",
            },
            // The journaled approval is the truth (the repeated result may lack the amount).
            Some(_) if known.completed => CardVerdict::Credit(approval.clone()),
            // Not ours on the terminal, or ours not completed: reversed either way (a reversal of
            // a payment the terminal no longer holds is refused, and that is learned then).
            _ => CardVerdict::Reverse {
                receipt_no: approval.receipt_no,
            },
        };
    }
    // No handle of our own: only the terminal's word, checked against what the kiosk credited.
    let unseen = last.approved()
        && last.amount_kopecks == Some(known.amount.kopecks())
        && last
            .receipt_no
            .is_some_and(|r| Some(r) != known.last_credited_receipt);
    match last.receipt_no {
        Some(receipt_no) if unseen => CardVerdict::Reverse { receipt_no },
        _ => CardVerdict::NotCharged {
            detail: "never approved: nothing charged",
        },
    }
}

/// Start-up card recovery's state.
#[derive(Debug, Default)]
pub(super) struct CardRecovery {
    /// Payments start-up recovery is settling (not the live session's).
    pending: BTreeSet<String>,
    hold_until: Option<DateTime<Utc>>,
}

impl CardRecovery {
    pub(super) fn owns(&self, payment_id: &str) -> bool {
        self.pending.contains(payment_id)
    }

    pub(super) fn holds_customers(&self, now: DateTime<Utc>) -> bool {
        !self.pending.is_empty() && self.hold_until.is_some_and(|until| now < until)
    }

    pub(super) fn is_settling(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// How a settled card payment ended, for the caller that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CardSettled {
    /// Still waiting (a reversal went out).
    Pending,
    Credited(CardApproval),
    Reversed,
    NotCharged,
}

impl Session {
    /// After a restart: every card payment the journal holds open is put to the terminal before
    /// customers are served (at most [`HOLD_CUSTOMERS`]).
    pub fn begin_card_recovery(&mut self, now: DateTime<Utc>) {
        self.now = now;
        let live = self.live_payment_id();
        let open: Vec<OpenPayment> = self
            .ledger
            .open_payments
            .values()
            .filter(|p| p.method == PaymentMethod::Card && Some(&p.payment_id) != live.as_ref())
            .cloned()
            .collect();
        for payment in open {
            let payment_id = payment.payment_id.clone();
            if payment.card_amount.is_none() {
                // The intent is journaled before the amount goes out: it never reached the terminal.
                self.journal(JournalEvent::PaymentCancelled {
                    payment_id: payment_id.clone(),
                    reason: "interrupted before the amount went to the card terminal".into(),
                });
                self.journal(JournalEvent::RecoveryResolved {
                    payment_id,
                    detail: "card payment never sent to the terminal: cancelled".into(),
                });
                continue;
            }
            self.journal(JournalEvent::CardOutcomeUnknown {
                payment_id: payment_id.clone(),
                detail: "the kiosk restarted during the card payment".into(),
            });
            tracing::info!(payment = %payment_id, approved = payment.card_approved.is_some(),
                completed = payment.card_completed, "card payment left open: asking the terminal");
            self.card_recovery.pending.insert(payment_id.clone());
            self.emit(Output::Card(CardCommand::Recover { payment_id }));
        }
        if self.card_recovery.is_settling() {
            self.card_recovery.hold_until = Some(now + HOLD_CUSTOMERS);
        }
    }

    /// A start-up recovery step for a payment no customer is waiting on.
    pub(super) fn on_recovered_card_step(&mut self, payment_id: &str, step: CardRecoveryStep) {
        match self.settle_card_step(payment_id, step, false) {
            CardSettled::Pending => return,
            CardSettled::Credited(approval) => {
                let Some(open) = self.ledger.open_payments.get(payment_id).cloned() else {
                    return;
                };
                let amount = Money::from_kopecks(approval.amount_kopecks);
                self.journal(JournalEvent::PaymentCompleted {
                    payment_id: payment_id.to_string(),
                    account: open.account.clone(),
                    method: PaymentMethod::Card,
                    total_kopecks: amount.kopecks(),
                    allocations: allocations_to_wire(&open.requested_allocations(amount)),
                });
                self.journal(JournalEvent::RecoveryResolved {
                    payment_id: payment_id.to_string(),
                    detail: format!(
                        "card payment of {} completed before the interruption: credited",
                        amount.format_plain()
                    ),
                });
                self.fiscalise_unreceipted();
            }
            CardSettled::Reversed => {
                self.journal(JournalEvent::PaymentCancelled {
                    payment_id: payment_id.to_string(),
                    reason: "card payment approved but not completed before the interruption"
                        .into(),
                });
                self.journal(JournalEvent::RecoveryResolved {
                    payment_id: payment_id.to_string(),
                    detail: "approved, not completed: reversed on the card terminal".into(),
                });
            }
            CardSettled::NotCharged => {
                self.journal(JournalEvent::PaymentCancelled {
                    payment_id: payment_id.to_string(),
                    reason: "card payment interrupted, nothing charged".into(),
                });
                self.journal(JournalEvent::RecoveryResolved {
                    payment_id: payment_id.to_string(),
                    detail: "the card terminal does not hold it: nothing charged".into(),
                });
            }
        }
        self.card_recovery.pending.remove(payment_id);
        if !self.card_recovery.is_settling() {
            tracing::info!("card recovery settled");
        }
    }

    /// One step of either owner's recovery: journals what the terminal's answer means and sends
    /// the next command. The caller journals how the payment ends. `goods_issued_sent`: the live
    /// session sent 80 00 before the link went (a restarted kiosk knows only what it journaled).
    pub(super) fn settle_card_step(
        &mut self,
        payment_id: &str,
        step: CardRecoveryStep,
        goods_issued_sent: bool,
    ) -> CardSettled {
        let Some(open) = self.ledger.open_payments.get(payment_id) else {
            tracing::warn!(payment = %payment_id, "card recovery step for a payment that is not open");
            return CardSettled::Pending;
        };
        let Some(mut known) = KnownCardPayment::of(open, self.ledger.last_card_receipt) else {
            tracing::warn!(payment = %payment_id, "card recovery step for a payment never sent");
            return CardSettled::Pending;
        };
        let completion_journaled = known.completed;
        known.completed |= goods_issued_sent;
        let settled = match step {
            CardRecoveryStep::LastResult(last) => match assess(&known, &last) {
                CardVerdict::Credit(approval) => {
                    if !completion_journaled {
                        self.journal(JournalEvent::CardCompleted {
                            payment_id: payment_id.to_string(),
                            amount_kopecks: approval.amount_kopecks,
                        });
                    }
                    CardSettled::Credited(approval)
                }
                CardVerdict::Reverse { receipt_no } => {
                    // Write-ahead: the reversal's intent is durable before 06 30 goes out.
                    self.journal(JournalEvent::CardReversalRequested {
                        payment_id: payment_id.to_string(),
                        receipt_no,
                    });
                    self.emit(Output::Card(CardCommand::Reverse {
                        payment_id: payment_id.to_string(),
                        receipt_no,
                    }));
                    return CardSettled::Pending;
                }
                CardVerdict::NotCharged { detail } => {
                    tracing::info!(payment = %payment_id, detail, "card recovery: nothing charged");
                    CardSettled::NotCharged
                }
            },
            CardRecoveryStep::Reversed { receipt_no } => {
                let amount = known
                    .approval
                    .as_ref()
                    .filter(|a| a.receipt_no == receipt_no)
                    .map_or(known.amount.kopecks(), |a| a.amount_kopecks);
                self.journal(JournalEvent::CardReversed {
                    payment_id: payment_id.to_string(),
                    receipt_no,
                    amount_kopecks: amount,
                });
                CardSettled::Reversed
            }
            CardRecoveryStep::NotHeld { receipt_no } => {
                tracing::info!(payment = %payment_id, receipt = receipt_no,
                    "card recovery: the terminal no longer holds it");
                CardSettled::NotCharged
            }
        };
        self.emit(Output::Card(CardCommand::Resolved {
            payment_id: payment_id.to_string(),
        }));
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(receipt_no: u32, kopecks: i64) -> CardApproval {
        CardApproval {
            amount_kopecks: kopecks,
            receipt_no,
            trace_no: 1,
            masked_pan: "4111********1111".into(),
            auth_code: "A1".into(),
            card_terminal_id: "29001234".into(),
            rrn: None,
        }
    }

    fn known(approval: Option<CardApproval>, completed: bool) -> KnownCardPayment {
        KnownCardPayment {
            amount: Money::from_kopecks(30_000),
            approval,
            completed,
            last_credited_receipt: Some(4),
        }
    }

    fn last(code: Option<u8>, receipt_no: Option<u32>, kopecks: Option<i64>) -> CardLastResult {
        CardLastResult {
            result_code: code,
            receipt_no,
            amount_kopecks: kopecks,
            approval: None,
        }
    }

    #[test]
    fn our_completed_approval_on_the_terminal_is_credited_with_the_journaled_amount() {
        let ours = approval(7, 30_000);
        // The repeated result lacks the amount: the journal's word stands.
        let verdict = assess(
            &known(Some(ours.clone()), true),
            &last(Some(0), Some(7), None),
        );
        assert_eq!(verdict, CardVerdict::Credit(ours));
    }

    #[test]
    fn our_approval_not_completed_is_reversed() {
        let verdict = assess(
            &known(Some(approval(7, 30_000)), false),
            &last(Some(0), Some(7), Some(30_000)),
        );
        assert_eq!(verdict, CardVerdict::Reverse { receipt_no: 7 });
    }

    #[test]
    fn our_approval_the_terminal_did_not_keep_charged_nothing() {
        let verdict = assess(
            &known(Some(approval(7, 30_000)), true),
            &last(Some(0x6c), Some(7), Some(30_000)),
        );
        assert!(matches!(verdict, CardVerdict::NotCharged { .. }));
    }

    #[test]
    fn a_completed_approval_the_terminal_reports_no_more_is_reversed_not_credited() {
        // Another transaction is the terminal's last: ours cannot be confirmed, so it is reversed
        // (refused, and then learned as not held, if the terminal reversed it itself).
        let verdict = assess(
            &known(Some(approval(7, 30_000)), true),
            &last(Some(0), Some(9), Some(5_000)),
        );
        assert_eq!(verdict, CardVerdict::Reverse { receipt_no: 7 });
    }

    #[test]
    fn an_approval_the_kiosk_never_saw_is_reversed_unless_it_is_the_last_credited() {
        let unseen = last(Some(0), Some(8), Some(30_000));
        assert_eq!(
            assess(&known(None, false), &unseen),
            CardVerdict::Reverse { receipt_no: 8 }
        );
        let credited_before = last(Some(0), Some(4), Some(30_000));
        assert!(matches!(
            assess(&known(None, false), &credited_before),
            CardVerdict::NotCharged { .. }
        ));
        let other_amount = last(Some(0), Some(8), Some(29_900));
        assert!(matches!(
            assess(&known(None, false), &other_amount),
            CardVerdict::NotCharged { .. }
        ));
        assert!(matches!(
            assess(&known(None, false), &CardLastResult::default()),
            CardVerdict::NotCharged { .. }
        ));
    }

    #[test]
    fn an_approval_journaled_without_a_receipt_number_falls_back_to_the_terminals_word() {
        let verdict = assess(
            &known(Some(approval(0, 30_000)), false),
            &last(Some(0), Some(8), Some(30_000)),
        );
        assert_eq!(verdict, CardVerdict::Reverse { receipt_no: 8 });
    }
}

//! Start-up recovery of card payments a crash left open.
//!
//! Before customers are served, every open card payment in the journal is put to the card terminal
//! (`CardCommand::Recover`: repeat last result 06 20) and settled on the terminal's word: credited
//! (and receipted) if the kiosk had completed it, reversed (06 30) if it was approved but not
//! completed, cancelled if it was never approved or the terminal does not hold it. Every step is
//! journaled before the next command goes out. Customers wait like they do for the bill validator's
//! start-up report, but not forever: a card terminal that does not answer must not take cash
//! payments down with it (the card task refuses card payments until it has answered).

use std::collections::BTreeSet;

use backend_sync::event::PaymentMethod;
use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{Clock, Core, CoreError};
use crate::money::Money;
use crate::session::{CardCommand, CardRecoveryStep};

/// How long customers wait for card recovery before cash is served without the card terminal.
const HOLD_CUSTOMERS: chrono::Duration = chrono::Duration::seconds(60);

/// Card payments whose recovery is still under way.
#[derive(Debug, Default)]
pub(super) struct CardRecovery {
    pending: BTreeSet<String>,
    hold_until: Option<DateTime<Utc>>,
}

impl CardRecovery {
    /// A payment start-up recovery is settling (not one a session is waiting on).
    pub(super) fn owns(&self, payment_id: &str) -> bool {
        self.pending.contains(payment_id)
    }

    /// True while customers must wait for card recovery.
    pub(super) fn holds_customers(&self, now: DateTime<Utc>) -> bool {
        !self.pending.is_empty() && self.hold_until.is_some_and(|until| now < until)
    }
}

impl<C: Clock> Core<C> {
    /// Journals each open card payment's unknown outcome and asks the card task about it.
    pub(super) async fn start_card_recovery(&mut self) -> Result<(), CoreError> {
        let open: Vec<_> = self
            .session
            .ledger()
            .open_payments
            .values()
            .filter(|p| p.method == PaymentMethod::Card)
            .cloned()
            .collect();
        for payment in open {
            let pid = payment.payment_id.clone();
            let Some(amount) = payment.card_amount else {
                // The amount never went to the terminal (the intent is journaled before it is sent).
                self.record(&JournalEvent::PaymentCancelled {
                    payment_id: pid.clone(),
                    reason: "interrupted before the amount went to the card terminal".into(),
                })?;
                self.record(&JournalEvent::RecoveryResolved {
                    payment_id: pid,
                    detail: "card payment never sent to the terminal: cancelled".into(),
                })?;
                continue;
            };
            self.record(&JournalEvent::CardOutcomeUnknown {
                payment_id: pid.clone(),
                detail: "the kiosk restarted during the card payment".into(),
            })?;
            info!(payment = %pid, kopecks = amount.kopecks(), approved = payment.card_approved.is_some(),
                completed = payment.card_completed, "card payment left open: asking the terminal");
            self.card_recovery.pending.insert(pid.clone());
            self.send_card(CardCommand::Recover {
                payment_id: pid,
                amount,
                approval: payment.card_approved.clone(),
                completed: payment.card_completed,
                last_credited_receipt: self.session.ledger().last_card_receipt,
            })
            .await?;
        }
        if !self.card_recovery.pending.is_empty() {
            self.card_recovery.hold_until = Some(self.clock.now() + HOLD_CUSTOMERS);
        }
        Ok(())
    }

    async fn send_card(&mut self, command: CardCommand) -> Result<(), CoreError> {
        self.links
            .card
            .send(command)
            .await
            .map_err(|_| CoreError::DeviceGone("card reader"))
    }

    /// Settles one step the card task reported.
    pub(super) async fn on_card_recovery(
        &mut self,
        payment_id: String,
        step: CardRecoveryStep,
    ) -> Result<(), CoreError> {
        let Some(open) = self
            .session
            .ledger()
            .open_payments
            .get(&payment_id)
            .cloned()
        else {
            warn!(payment = %payment_id, "card recovery step for a payment that is not open");
            self.card_recovery.pending.remove(&payment_id);
            return Ok(());
        };
        match step {
            CardRecoveryStep::Credit(approval) => {
                // The journaled approval is the truth; the terminal's repeated result may lack
                // the amount, and then the amount the kiosk sent it stands.
                let amount = match (&open.card_approved, open.card_amount) {
                    (Some(journaled), _) => Money::from_kopecks(journaled.amount_kopecks),
                    (None, _) if approval.amount_kopecks > 0 => {
                        Money::from_kopecks(approval.amount_kopecks)
                    }
                    (None, Some(sent)) => sent,
                    (None, None) => Money::from_kopecks(approval.amount_kopecks),
                };
                if !open.card_completed {
                    self.record(&JournalEvent::CardCompleted {
                        payment_id: payment_id.clone(),
                        amount_kopecks: amount.kopecks(),
                    })?;
                }
                self.record(&JournalEvent::PaymentCompleted {
                    payment_id: payment_id.clone(),
                    account: open.account.clone(),
                    method: PaymentMethod::Card,
                    total_kopecks: amount.kopecks(),
                    allocations: crate::session::allocations_to_wire(
                        &open.requested_allocations(amount),
                    ),
                })?;
                self.record(&JournalEvent::RecoveryResolved {
                    payment_id: payment_id.clone(),
                    detail: format!(
                        "card payment of {} completed before the interruption: credited",
                        amount.format_plain()
                    ),
                })?;
                self.card_recovery.pending.remove(&payment_id);
                let now = self.clock.now();
                self.session.fiscalise_pending(now);
                self.flush().await?;
            }
            CardRecoveryStep::MustReverse { receipt_no } => {
                // Write-ahead: the reversal's intent is durable before 06 30 goes out.
                self.record(&JournalEvent::CardReversalRequested {
                    payment_id: payment_id.clone(),
                    receipt_no,
                })?;
                self.send_card(CardCommand::Reverse {
                    payment_id,
                    receipt_no,
                })
                .await?;
            }
            CardRecoveryStep::Reversed { receipt_no } => {
                let amount = open
                    .card_approved
                    .as_ref()
                    .map(|a| a.amount_kopecks)
                    .or(open.card_amount.map(|m| m.kopecks()))
                    .unwrap_or(0);
                self.record(&JournalEvent::CardReversed {
                    payment_id: payment_id.clone(),
                    receipt_no,
                    amount_kopecks: amount,
                })?;
                self.record(&JournalEvent::PaymentCancelled {
                    payment_id: payment_id.clone(),
                    reason: "card payment approved but not completed before the interruption"
                        .into(),
                })?;
                self.record(&JournalEvent::RecoveryResolved {
                    payment_id: payment_id.clone(),
                    detail: "approved, not completed: reversed on the card terminal".into(),
                })?;
                self.card_recovery.pending.remove(&payment_id);
            }
            CardRecoveryStep::NotCharged { detail } => {
                self.record(&JournalEvent::PaymentCancelled {
                    payment_id: payment_id.clone(),
                    reason: "card payment interrupted, nothing charged".into(),
                })?;
                self.record(&JournalEvent::RecoveryResolved {
                    payment_id: payment_id.clone(),
                    detail,
                })?;
                self.card_recovery.pending.remove(&payment_id);
            }
        }
        if self.card_recovery.pending.is_empty() {
            info!("card recovery settled");
        }
        Ok(())
    }
}

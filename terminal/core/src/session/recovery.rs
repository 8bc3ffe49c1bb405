//! The session core's rules for money no customer in front of the kiosk is paying: payments a
//! crash left open, bill reports that arrive outside a cash payment, stuck notes reported late,
//! credited payments still without a fiscal receipt, and the retry of failed fiscalisations.
//!
//! Each rule reads the [`Ledger`](crate::ledger::Ledger) (the journal's view, kept in step by
//! the session's own entries and by [`Session::journaled`]) and answers with journal entries and
//! device requests like the rest of the session. No I/O, no clock: time comes in as a value.
//!
//! One rule per event:
//! - a stacked report with a crashed payment's stack in flight is that payment's bill;
//! - a stacked report with no stack in flight resolves the oldest unresolved stuck note of its
//!   denomination (the validator came back and reported it late: credited as a payment of its
//!   own); with none, it is a repeat of a report already journaled (its ACK was lost) and is
//!   recorded as such, never credited;
//! - once the validator settled after a start (or did not within `startup_deadline`), a stack
//!   still in flight is a stuck note, and every open cash payment is credited with what was
//!   stacked, split as the customer asked at `PaymentStarted`;
//! - a credited payment without a receipt is fiscalised unless the live session owns it; a failed
//!   fiscalisation is tried again with growing pauses.

use std::collections::BTreeMap;

use backend_sync::event::{PaymentMethod, StuckNoteOutcome};
use backend_sync::JournalEvent;
use chrono::{DateTime, Duration, Utc};

use super::{
    allocations_to_wire, BillPlace, DeviceInput, FiscalRequest, FiscalResume, Output, Session,
    State, StuckNote,
};
use crate::money::{Allocation, Money};

/// What recovery is waiting for.
#[derive(Debug, Default)]
pub(super) struct Recovery {
    /// Receipts recovery asked for: receipt id → (payment id, total).
    receipts: BTreeMap<String, (String, Money)>,
    /// Start-up waits for the validator until then (`None`: not waiting).
    startup_deadline: Option<DateTime<Utc>>,
    /// The validator settled since the start: open payments may be closed.
    settled: bool,
    /// When unreceipted payments are tried again, and the pause before the next try.
    fiscal_retry_at: Option<DateTime<Utc>>,
    fiscal_retry_pause: Option<Duration>,
}

impl Recovery {
    pub(super) fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        [self.startup_deadline, self.fiscal_retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// True when no receipt recovery asked for is still out at the receipt task.
    pub(super) fn is_idle(&self) -> bool {
        self.receipts.is_empty()
    }

    /// True for fiscal and print results of receipts recovery asked for.
    pub(super) fn owns(&self, input: &DeviceInput) -> bool {
        let id = match input {
            DeviceInput::Fiscalised { receipt_id, .. }
            | DeviceInput::FiscalisationFailed { receipt_id, .. }
            | DeviceInput::Printed { receipt_id }
            | DeviceInput::PrintFailed { receipt_id, .. } => receipt_id,
            _ => return false,
        };
        self.receipts.contains_key(id)
    }
}

/// The receipt id of a payment recovery fiscalises: the same for every try, so a fiscal register
/// can tell a repeat from a new sale.
fn recovery_receipt_id(terminal_id: &str, payment_id: &str) -> String {
    format!("R{terminal_id}-{payment_id}")
}

impl Session {
    /// After a restart: customers wait until the validator delivered what it held, at most
    /// `startup_deadline` (then what is still in flight is a stuck note).
    pub fn begin_recovery(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.recovery.settled = false;
        self.recovery.startup_deadline = Some(now + self.config.startup_deadline);
    }

    /// True while start-up recovery waits for the validator.
    pub fn is_recovering(&self) -> bool {
        self.recovery.startup_deadline.is_some()
    }

    /// The validator finished its start-up (or recovery stopped waiting for it): settle what a
    /// crash left open and fiscalise what is unreceipted.
    pub fn validator_settled(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.recovery.startup_deadline = None;
        self.recovery.settled = true;
        self.settle_open_payments(now);
        self.settle_open_sbp();
        self.fiscalise_unreceipted();
    }

    pub(super) fn recovery_timeout(&mut self, now: DateTime<Utc>) {
        if self.recovery.startup_deadline.is_some_and(|t| now >= t) {
            tracing::warn!("the validator did not finish its start-up in time; settling anyway");
            self.validator_settled(now);
        }
        if self.recovery.fiscal_retry_at.is_some_and(|t| now >= t) {
            self.recovery.fiscal_retry_at = None;
            self.fiscalise_unreceipted();
        }
    }

    /// A bill report while no cash payment is open (see the module docs for the rules).
    pub(super) fn bill_outside_payment(&mut self, input: DeviceInput, now: DateTime<Utc>) {
        let in_flight = self.ledger.open_payments.values().find_map(|p| {
            p.stack_in_flight
                .map(|bill| (p.payment_id.clone(), p.account.clone(), bill))
        });
        match (input, in_flight) {
            (
                DeviceInput::BillStacked(_)
                | DeviceInput::BillPowerUp {
                    bill: Some(BillPlace::Stacker),
                },
                Some((payment_id, _, bill)),
            ) => {
                tracing::info!(payment = %payment_id, kopecks = bill.kopecks(), "a bill of an interrupted payment stacked");
                self.journal(JournalEvent::BillStacked {
                    payment_id: Some(payment_id),
                    denomination_kopecks: bill.kopecks(),
                });
            }
            (
                DeviceInput::BillReturned(_)
                | DeviceInput::BillPowerUp {
                    bill: Some(BillPlace::Validator),
                },
                Some((payment_id, _, bill)),
            ) => self.journal(JournalEvent::BillReturned {
                payment_id: Some(payment_id),
                denomination_kopecks: bill.kopecks(),
                reason: "returned after a restart".into(),
            }),
            (
                DeviceInput::BillJammed { .. } | DeviceInput::BillPowerUp { bill: None },
                Some((payment_id, account, bill)),
            ) => {
                let reference = self.document_id("S", now);
                self.journal(JournalEvent::BillStuck {
                    payment_id: Some(payment_id),
                    account,
                    denomination_kopecks: bill.kopecks(),
                    reference,
                    reason: "no outcome after a restart".into(),
                });
            }
            (DeviceInput::BillStacked(bill), None) => {
                return self.stacked_without_intent(bill, now)
            }
            _ => return,
        }
        if self.recovery.settled {
            self.settle_open_payments(now);
            self.fiscalise_unreceipted();
        }
    }

    /// A stacked report with no stack open: a stuck note reported late, or a repeat.
    pub(super) fn stacked_without_intent(&mut self, bill: Money, now: DateTime<Utc>) {
        let late = self
            .ledger
            .stuck_notes
            .values()
            .find(|n| bill == Money::ZERO || n.denomination == bill)
            .cloned();
        let Some(note) = late else {
            // Its ACK was lost and the validator repeated it: it was journaled already.
            tracing::info!(
                kopecks = bill.kopecks(),
                "stacked report without a stack intent: a repeat, not credited"
            );
            self.journal(JournalEvent::DeviceStateChanged {
                device: "bill_validator".into(),
                state: "stacked_report_repeated".into(),
                detail: format!(
                    "{} reported stacked with no stack open; not credited",
                    bill.format_plain()
                ),
            });
            return;
        };
        self.credit_stuck_note(&note, StuckNoteOutcome::ReportedStacked, now);
    }

    /// A technician found a stuck note: in the cassette (credited as a payment of its own) or
    /// in the bill path, handed back to the customer (recorded, nothing credited).
    pub fn resolve_stuck_note(
        &mut self,
        reference: &str,
        found_in_cassette: bool,
        now: DateTime<Utc>,
    ) {
        self.now = now;
        let Some(note) = self.ledger.stuck_notes.get(reference).cloned() else {
            tracing::warn!(reference, "no unresolved stuck note with this reference");
            return;
        };
        if found_in_cassette {
            self.credit_stuck_note(&note, StuckNoteOutcome::FoundInCassette, now);
        } else {
            self.journal(JournalEvent::StuckNoteResolved {
                reference: note.reference.clone(),
                outcome: StuckNoteOutcome::HandedBack,
                payment_id: None,
            });
        }
    }

    /// Credits a stuck note that turned out to be in the cassette, as a payment of its own to
    /// the account it was inserted for, with its own receipt.
    pub(super) fn credit_stuck_note(
        &mut self,
        note: &crate::ledger::StuckNote,
        outcome: StuckNoteOutcome,
        now: DateTime<Utc>,
    ) {
        let payment_id = self.document_id("P", now);
        self.journal(JournalEvent::StuckNoteResolved {
            reference: note.reference.clone(),
            outcome,
            payment_id: Some(payment_id.clone()),
        });
        let allocations = vec![Allocation {
            service_id: "account".into(),
            name: format!("Оплата по лицевому счёту (купюра {})", note.reference),
            to_debt: note.denomination,
            to_advance: Money::ZERO,
        }];
        self.journal(JournalEvent::PaymentCompleted {
            payment_id: payment_id.clone(),
            account: note.account.clone(),
            method: PaymentMethod::Cash,
            total_kopecks: note.denomination.kopecks(),
            allocations: allocations_to_wire(&allocations),
        });
        self.request_recovery_receipt(
            payment_id,
            note.account.clone(),
            PaymentMethod::Cash,
            note.denomination,
            allocations,
            None,
        );
    }

    /// Ends payments a crash left open: a stack still in flight is a stuck note; what was
    /// stacked is credited as the customer split it.
    fn settle_open_payments(&mut self, now: DateTime<Utc>) {
        let live = self.live_payment_id();
        let open: Vec<_> = self
            .ledger
            .open_payments
            .values()
            .filter(|p| p.method == PaymentMethod::Cash && Some(&p.payment_id) != live.as_ref())
            .cloned()
            .collect();
        for payment in open {
            let stacked = payment.stacked;
            if let Some(bill) = payment.stack_in_flight {
                let reference = self.document_id("S", now);
                self.journal(JournalEvent::BillStuck {
                    payment_id: Some(payment.payment_id.clone()),
                    account: payment.account.clone(),
                    denomination_kopecks: bill.kopecks(),
                    reference,
                    reason: "no outcome reported after a restart".into(),
                });
            }
            if stacked > Money::ZERO {
                let allocations = payment.requested_allocations(stacked);
                self.journal(JournalEvent::PaymentCompleted {
                    payment_id: payment.payment_id.clone(),
                    account: payment.account.clone(),
                    method: PaymentMethod::Cash,
                    total_kopecks: stacked.kopecks(),
                    allocations: allocations_to_wire(&allocations),
                });
                self.journal(JournalEvent::RecoveryResolved {
                    payment_id: payment.payment_id.clone(),
                    detail: format!(
                        "credited {} stacked before the interruption",
                        stacked.format_plain()
                    ),
                });
                self.request_recovery_receipt(
                    payment.payment_id.clone(),
                    payment.account.clone(),
                    PaymentMethod::Cash,
                    stacked,
                    allocations,
                    None,
                );
            } else {
                self.journal(JournalEvent::PaymentCancelled {
                    payment_id: payment.payment_id.clone(),
                    reason: "interrupted before any bill was stacked".into(),
                });
            }
        }
    }

    /// The payment the customer in front of the kiosk is paying or being receipted for: its
    /// receipt is the session's, never recovery's.
    pub(super) fn live_payment_id(&self) -> Option<String> {
        match &self.state {
            State::Cash(cash) => Some(cash.payment.id.clone()),
            State::Card(card) => Some(card.payment.id.clone()),
            State::Sbp(sbp) => Some(sbp.payment.id.clone()),
            State::ReceiptChoice(c) | State::Fiscalising(c, _) | State::Printing(c, _) => {
                Some(c.payment.id.clone())
            }
            _ => None,
        }
    }

    /// Credited payments without a fiscal receipt get one now (the customer may be gone: the
    /// receipt is printed if paper allows, else it stays reprintable).
    pub(super) fn fiscalise_unreceipted(&mut self) {
        let live = self.live_payment_id();
        let mut pending: Vec<_> = self
            .ledger
            .unreceipted
            .values()
            .filter(|p| Some(&p.payment_id) != live.as_ref())
            .cloned()
            .collect();
        // Receipts tried before go first, in the order the register got them: a lookup then
        // finds each one's document before a later receipt of the same total could claim it.
        pending.sort_by_key(|p| p.fiscal_attempt.as_ref().map_or(u64::MAX, |a| a.seq));
        for p in pending {
            let allocations = p
                .allocations
                .iter()
                .map(|a| Allocation {
                    service_id: a.service_id.clone(),
                    name: a.service_name.clone(),
                    to_debt: Money::from_kopecks(a.debt_kopecks),
                    to_advance: Money::from_kopecks(a.advance_kopecks),
                })
                .collect();
            self.request_recovery_receipt(
                p.payment_id.clone(),
                p.account.clone(),
                p.method,
                p.total,
                allocations,
                p.card_approval.clone(),
            );
        }
    }

    pub(super) fn request_recovery_receipt(
        &mut self,
        payment_id: String,
        account: String,
        method: PaymentMethod,
        total: Money,
        allocations: Vec<Allocation>,
        card_approval: Option<backend_sync::event::CardApproval>,
    ) {
        let receipt_id = recovery_receipt_id(&self.config.terminal_id, &payment_id);
        if self.recovery.receipts.contains_key(&receipt_id) {
            return; // already asked for; its result is on the way
        }
        let stuck_notes: Vec<StuckNote> = self
            .ledger
            .stuck_notes
            .values()
            .filter(|n| n.payment_id.as_deref() == Some(payment_id.as_str()))
            .map(|n| StuckNote {
                reference: n.reference.clone(),
                denomination: n.denomination,
            })
            .collect();
        let (cash, card) = match method {
            PaymentMethod::Cash => (total, Money::ZERO),
            PaymentMethod::Card | PaymentMethod::Sbp => (Money::ZERO, total),
        };
        let sbp_operation = self
            .ledger
            .unreceipted
            .get(&payment_id)
            .and_then(|u| u.sbp_operation.clone());
        self.recovery
            .receipts
            .insert(receipt_id.clone(), (payment_id.clone(), total));
        self.send_to_fiscal(FiscalRequest {
            receipt_id,
            payment_id,
            account,
            allocations,
            cash,
            card,
            contact: None,
            card_approval,
            sbp_operation,
            stuck_notes,
            resume: None,
        });
    }

    /// Sends a receipt to the fiscal register, write-ahead: the journal first holds the request
    /// with the newest FD it knows; a payment tried before is looked up in the register first.
    pub(super) fn send_to_fiscal(&mut self, mut request: FiscalRequest) {
        request.resume = self
            .ledger
            .unreceipted
            .get(&request.payment_id)
            .and_then(|u| u.fiscal_attempt.as_ref())
            .map(|attempt| FiscalResume {
                fn_number: attempt.after.as_ref().and_then(|m| m.fn_number.clone()),
                after_fd: attempt.after.as_ref().map_or(0, |m| m.fd),
                claimed: attempt.claimed.iter().copied().collect(),
            });
        let last = self.ledger.last_fd.clone();
        self.journal(JournalEvent::ReceiptRequested {
            receipt_id: request.receipt_id.clone(),
            payment_id: Some(request.payment_id.clone()),
            total_kopecks: (request.cash + request.card).kopecks(),
            fn_number: last.as_ref().and_then(|m| m.fn_number.clone()),
            last_fd: last.map(|m| m.fd),
        });
        self.emit(Output::Fiscalise(request));
    }

    /// Fiscal and print results for receipts recovery asked for.
    pub(super) fn on_recovery_receipt(&mut self, input: DeviceInput, now: DateTime<Utc>) {
        match input {
            DeviceInput::Fiscalised {
                receipt_id,
                fiscal,
                printed_by_register,
            } => {
                let Some((payment_id, total)) = self.recovery.receipts.get(&receipt_id).cloned()
                else {
                    return;
                };
                self.journal(JournalEvent::ReceiptFiscalised {
                    receipt_id: receipt_id.clone(),
                    payment_id: Some(payment_id),
                    total_kopecks: total.kopecks(),
                    fiscal,
                    printed_by_register,
                });
                self.recovery.fiscal_retry_pause = None;
                if printed_by_register {
                    self.recovery.receipts.remove(&receipt_id);
                    self.journal(JournalEvent::ReceiptPrinted { receipt_id });
                } else {
                    self.emit(Output::PrintReceipt { receipt_id });
                }
            }
            DeviceInput::FiscalisationFailed { receipt_id, reason } => {
                if let Some((payment_id, _)) = self.recovery.receipts.remove(&receipt_id) {
                    self.journal(JournalEvent::FiscalisationFailed {
                        receipt_id,
                        payment_id: Some(payment_id),
                        reason,
                    });
                    self.schedule_fiscal_retry(now);
                }
            }
            DeviceInput::Printed { receipt_id } => {
                self.recovery.receipts.remove(&receipt_id);
                self.journal(JournalEvent::ReceiptPrinted { receipt_id });
            }
            DeviceInput::PrintFailed { receipt_id, reason } => {
                self.recovery.receipts.remove(&receipt_id);
                self.journal(JournalEvent::ReceiptUnprinted { receipt_id, reason });
            }
            _ => {}
        }
    }

    /// A fiscalisation failed (recovery's or a customer's): unreceipted payments are tried
    /// again after a pause that doubles with every failure, up to `fiscal_retry_max`.
    pub(super) fn schedule_fiscal_retry(&mut self, now: DateTime<Utc>) {
        let pause = match self.recovery.fiscal_retry_pause {
            None => self.config.fiscal_retry_min,
            Some(p) => (p * 2).min(self.config.fiscal_retry_max),
        };
        self.recovery.fiscal_retry_pause = Some(pause);
        let at = now + pause;
        self.recovery.fiscal_retry_at =
            Some(self.recovery.fiscal_retry_at.map_or(at, |t| t.min(at)));
    }

    /// The cassette came out: journal what the kiosk expected in it, once. A second removal
    /// report with no cassette inserted in between (a restart or a port re-open with the
    /// cassette still out) must not replace that expectation with an empty one.
    pub(super) fn cassette_removed(&mut self) {
        if self.ledger.cassette_out {
            tracing::info!("cassette reported removed again; it is still out");
            return;
        }
        let expected = self
            .ledger
            .cassette
            .iter()
            .map(|(d, n)| (d.to_string(), *n))
            .collect();
        let total = self.ledger.cassette_total().kopecks();
        self.journal(JournalEvent::CassetteRemoved {
            expected,
            expected_total_kopecks: total,
        });
    }

    /// Fiscalises credited payments that have no receipt (after card recovery credited one).
    pub fn fiscalise_pending(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.fiscalise_unreceipted();
    }

    /// When unreceipted payments are tried again (for the service screen).
    pub fn next_fiscal_retry(&self) -> Option<DateTime<Utc>> {
        self.recovery.fiscal_retry_at
    }
}

//! What the journal says about money, rebuilt by replaying it: the cassette's contents by
//! denomination, what each account paid today, payments left open by a crash, credited payments
//! still without a fiscal receipt, receipts that did not print. The journal is the one truth; this is
//! a view of it, rebuilt at start-up and kept up to date as entries are appended.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use backend_sync::event::{PaymentMethod, RequestedService, ServiceAmount, StuckNoteOutcome};
use backend_sync::JournalEvent;
use chrono::NaiveDate;

use crate::money::Money;

/// A payment that started and has not ended (a crash or power loss in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPayment {
    pub payment_id: String,
    pub account: String,
    pub method: PaymentMethod,
    /// The split the customer asked for (empty in journals from before it was recorded).
    pub services: Vec<RequestedService>,
    /// Cash stacked for it so far.
    pub stacked: Money,
    /// A STACK was journaled and its outcome was not.
    pub stack_in_flight: Option<Money>,
    /// Card: the amount sent to the reader, and what was learned since.
    pub card_amount: Option<Money>,
    pub card_approved: Option<backend_sync::event::CardApproval>,
    pub card_completed: bool,
    /// СБП: the amount the QR was asked for, and whether its revocation was journaled.
    pub sbp_amount: Option<Money>,
    pub sbp_revoke_requested: bool,
    /// The bank's operation once it confirmed the payment (`SbpPaid`).
    pub sbp_operation: Option<String>,
}

impl OpenPayment {
    /// How `total` is credited: split as the customer asked at `PaymentStarted` (one account
    /// line for journals from before the split was recorded).
    pub fn requested_allocations(&self, total: Money) -> Vec<crate::money::Allocation> {
        if self.services.is_empty() {
            return vec![crate::money::Allocation {
                service_id: "account".into(),
                name: "Оплата по лицевому счёту".into(),
                to_debt: total,
                to_advance: Money::ZERO,
            }];
        }
        let services: Vec<crate::money::ServiceDue> = self
            .services
            .iter()
            .map(|s| crate::money::ServiceDue {
                service_id: s.service_id.clone(),
                name: s.service_name.clone(),
                debt: Money::from_kopecks(s.debt_kopecks),
            })
            .collect();
        let requested: Vec<Money> = self
            .services
            .iter()
            .map(|s| Money::from_kopecks(s.requested_kopecks))
            .collect();
        crate::money::allocate_requested(total, &services, &requested)
    }
}

/// A note journaled stuck (`BillStuck`) that no technician has resolved yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckNote {
    pub reference: String,
    pub payment_id: Option<String>,
    pub account: String,
    pub denomination: Money,
    /// Which cassette it went stuck with (counts `CassetteRemoved`): a note found in the cassette
    /// is counted into it only if that cassette is still in.
    cassette_epoch: u32,
}

/// A credited payment that has no fiscal receipt yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreceipted {
    pub payment_id: String,
    pub account: String,
    pub method: PaymentMethod,
    pub total: Money,
    pub allocations: Vec<ServiceAmount>,
    /// A card payment's approval, for the card slip on its receipt.
    pub card_approval: Option<backend_sync::event::CardApproval>,
    /// A СБП payment's operation at the bank.
    pub sbp_operation: Option<String>,
    /// Its first `ReceiptRequested`: once a sale may have reached the fiscal register, every
    /// later try asks the register for it first.
    pub fiscal_attempt: Option<FiscalAttempt>,
}

/// An open fiscal shift, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenShift {
    pub number: u32,
    /// `None` for a shift journaled before the kiosk recorded opening times.
    pub opened_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The newest fiscal document the journal holds (receipt or shift report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdMark {
    pub fn_number: Option<String>,
    pub fd: u32,
}

/// A receipt sent (or about to be sent) to the fiscal register and not yet journaled as
/// fiscalised: where in the register to look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalAttempt {
    /// The journal entry of the first request: older attempts are looked up first, in the
    /// order the register received them.
    pub seq: u64,
    /// The newest FD journaled before the first request (`None`: none ever).
    pub after: Option<FdMark>,
    /// FDs journaled since by other documents: not this payment's receipt.
    pub claimed: BTreeSet<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Bills in the cassette since it was last inserted: denomination (kopecks) → count.
    pub cassette: BTreeMap<i64, u32>,
    pub open_payments: BTreeMap<String, OpenPayment>,
    pub unreceipted: BTreeMap<String, Unreceipted>,
    /// Stuck notes not yet resolved, by reference.
    pub stuck_notes: BTreeMap<String, StuckNote>,
    /// The cassette was removed and no new one was inserted since.
    pub cassette_out: bool,
    /// How many times the cassette was removed (see [`StuckNote`]).
    cassette_epoch: u32,
    /// Receipts fiscalised but not printed and not reprinted since.
    pub unprinted: BTreeMap<String, Money>,
    /// (account, local date) → paid.
    paid: HashMap<(String, NaiveDate), Money>,
    /// Totals over the whole journal, for checks.
    pub stacked_total: Money,
    pub card_completed_total: Money,
    /// What the bank confirmed of СБП payments (`SbpPaid`).
    pub sbp_paid_total: Money,
    /// The card-terminal receipt of the last completed card payment (card recovery tells it from
    /// an approval the kiosk never saw).
    pub last_card_receipt: Option<u32>,
    /// Card payments completed since the last card end-of-day: what the terminal's batch should
    /// hold (count, total).
    pub card_since_end_of_day: (u32, Money),
    pub credited_total: Money,
    /// The newest fiscal document journaled.
    pub last_fd: Option<FdMark>,
    /// The fiscal shift the journal last saw opened and not closed.
    pub shift: Option<OpenShift>,
    pub last_seq: u64,
}

impl Ledger {
    /// Replays `(seq, local date, event)` in order.
    pub fn replay<'a>(
        entries: impl IntoIterator<Item = (u64, NaiveDate, &'a JournalEvent)>,
    ) -> Ledger {
        let mut ledger = Ledger::default();
        for (seq, date, event) in entries {
            ledger.apply(seq, date, event);
        }
        ledger
    }

    pub fn cassette_total(&self) -> Money {
        Money::from_kopecks(self.cassette.iter().map(|(d, n)| d * i64::from(*n)).sum())
    }

    pub fn paid_today(&self, account: &str, today: NaiveDate) -> Money {
        self.paid
            .get(&(account.to_string(), today))
            .copied()
            .unwrap_or_default()
    }

    /// Applies one entry.
    pub fn apply(&mut self, seq: u64, date: NaiveDate, event: &JournalEvent) {
        self.last_seq = seq;
        match event {
            JournalEvent::PaymentStarted {
                payment_id,
                account,
                method,
                services,
                ..
            } => {
                self.open_payments.insert(
                    payment_id.clone(),
                    OpenPayment {
                        payment_id: payment_id.clone(),
                        account: account.clone(),
                        method: *method,
                        services: services.clone(),
                        stacked: Money::ZERO,
                        stack_in_flight: None,
                        card_amount: None,
                        card_approved: None,
                        card_completed: false,
                        sbp_amount: None,
                        sbp_revoke_requested: false,
                        sbp_operation: None,
                    },
                );
            }
            JournalEvent::BillStackRequested {
                payment_id,
                denomination_kopecks,
            } => {
                if let Some(open) = payment_id
                    .as_ref()
                    .and_then(|p| self.open_payments.get_mut(p))
                {
                    open.stack_in_flight = Some(Money::from_kopecks(*denomination_kopecks));
                }
            }
            JournalEvent::BillStacked {
                payment_id,
                denomination_kopecks,
            } => {
                *self.cassette.entry(*denomination_kopecks).or_default() += 1;
                self.stacked_total += Money::from_kopecks(*denomination_kopecks);
                match payment_id
                    .as_ref()
                    .and_then(|p| self.open_payments.get_mut(p))
                {
                    Some(open) => {
                        open.stacked += Money::from_kopecks(*denomination_kopecks);
                        open.stack_in_flight = None;
                    }
                    // Unassigned cash counts as credited to the kiosk's suspense.
                    None => self.credited_total += Money::from_kopecks(*denomination_kopecks),
                }
            }
            JournalEvent::BillStuck {
                payment_id,
                account,
                denomination_kopecks,
                reference,
                ..
            } => {
                if let Some(open) = payment_id
                    .as_ref()
                    .and_then(|p| self.open_payments.get_mut(p))
                {
                    open.stack_in_flight = None;
                }
                self.stuck_notes.insert(
                    reference.clone(),
                    StuckNote {
                        reference: reference.clone(),
                        payment_id: payment_id.clone(),
                        account: account.clone(),
                        denomination: Money::from_kopecks(*denomination_kopecks),
                        cassette_epoch: self.cassette_epoch,
                    },
                );
            }
            JournalEvent::StuckNoteResolved {
                reference, outcome, ..
            } => {
                let Some(note) = self.stuck_notes.remove(reference) else {
                    return;
                };
                let in_this_cassette = note.cassette_epoch == self.cassette_epoch;
                if *outcome != StuckNoteOutcome::HandedBack && in_this_cassette {
                    *self
                        .cassette
                        .entry(note.denomination.kopecks())
                        .or_default() += 1;
                    self.stacked_total += note.denomination;
                }
            }
            JournalEvent::BillReturned { payment_id, .. } => {
                if let Some(open) = payment_id
                    .as_ref()
                    .and_then(|p| self.open_payments.get_mut(p))
                {
                    open.stack_in_flight = None;
                }
            }
            JournalEvent::CardAuthorisationRequested {
                payment_id,
                amount_kopecks,
            } => {
                if let Some(open) = self.open_payments.get_mut(payment_id) {
                    open.card_amount = Some(Money::from_kopecks(*amount_kopecks));
                }
            }
            JournalEvent::CardApproved {
                payment_id,
                approval,
            } => {
                if let Some(open) = self.open_payments.get_mut(payment_id) {
                    open.card_approved = Some(approval.clone());
                }
            }
            JournalEvent::CardCompleted {
                payment_id,
                amount_kopecks,
            } => {
                self.card_completed_total += Money::from_kopecks(*amount_kopecks);
                self.card_since_end_of_day.0 += 1;
                self.card_since_end_of_day.1 += Money::from_kopecks(*amount_kopecks);
                if let Some(open) = self.open_payments.get_mut(payment_id) {
                    open.card_completed = true;
                    if let Some(approval) = &open.card_approved {
                        self.last_card_receipt = Some(approval.receipt_no);
                    }
                }
            }
            JournalEvent::SbpQrRequested {
                payment_id,
                amount_kopecks,
            } => {
                if let Some(open) = self.open_payments.get_mut(payment_id) {
                    open.sbp_amount = Some(Money::from_kopecks(*amount_kopecks));
                }
            }
            JournalEvent::SbpRevokeRequested { payment_id, .. } => {
                if let Some(open) = self.open_payments.get_mut(payment_id) {
                    open.sbp_revoke_requested = true;
                }
            }
            JournalEvent::SbpPaid {
                payment_id,
                amount_kopecks,
                bank_payment_id,
            } => {
                self.sbp_paid_total += Money::from_kopecks(*amount_kopecks);
                if let Some(open) = self.open_payments.get_mut(payment_id) {
                    open.sbp_operation = Some(bank_payment_id.clone());
                }
            }
            JournalEvent::PaymentCompleted {
                payment_id,
                account,
                method,
                total_kopecks,
                allocations,
            } => {
                let (card_approval, sbp_operation) = self
                    .open_payments
                    .remove(payment_id)
                    .map_or((None, None), |open| {
                        (open.card_approved, open.sbp_operation)
                    });
                let total = Money::from_kopecks(*total_kopecks);
                self.credited_total += total;
                *self.paid.entry((account.clone(), date)).or_default() += total;
                self.unreceipted.insert(
                    payment_id.clone(),
                    Unreceipted {
                        payment_id: payment_id.clone(),
                        account: account.clone(),
                        method: *method,
                        total,
                        allocations: allocations.clone(),
                        card_approval,
                        sbp_operation,
                        fiscal_attempt: None,
                    },
                );
            }
            JournalEvent::ReceiptRequested {
                payment_id: Some(p),
                fn_number,
                last_fd,
                ..
            } => {
                if let Some(u) = self.unreceipted.get_mut(p) {
                    u.fiscal_attempt.get_or_insert_with(|| FiscalAttempt {
                        seq,
                        after: last_fd.map(|fd| FdMark {
                            fn_number: fn_number.clone(),
                            fd,
                        }),
                        claimed: BTreeSet::new(),
                    });
                }
            }
            JournalEvent::PaymentCancelled { payment_id, .. } => {
                self.open_payments.remove(payment_id);
            }
            JournalEvent::ReceiptFiscalised {
                payment_id,
                receipt_id,
                total_kopecks,
                fiscal,
                ..
            } => {
                if let Some(p) = payment_id {
                    self.unreceipted.remove(p);
                }
                self.fiscal_document(Some(&fiscal.fn_number), fiscal.fd_number);
                // Printed unless a later entry says otherwise; tracked from ReceiptUnprinted.
                let _ = (receipt_id, total_kopecks);
            }
            JournalEvent::ReceiptUnprinted { receipt_id, .. } => {
                self.unprinted.insert(receipt_id.clone(), Money::ZERO);
            }
            JournalEvent::ReceiptPrinted { receipt_id }
            | JournalEvent::ReceiptReprinted { receipt_id } => {
                self.unprinted.remove(receipt_id);
            }
            JournalEvent::CassetteRemoved { .. } => {
                self.cassette.clear();
                self.cassette_epoch += 1;
                self.cassette_out = true;
            }
            JournalEvent::CassetteInserted {} => self.cassette_out = false,
            JournalEvent::CardEndOfDay { .. } => self.card_since_end_of_day = (0, Money::ZERO),
            JournalEvent::ShiftOpened {
                shift_number,
                fn_number,
                fd_number,
                opened_utc,
            } => {
                self.shift = Some(OpenShift {
                    number: *shift_number,
                    opened_at: opened_utc
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&chrono::Utc)),
                });
                if let Some(fd) = fd_number {
                    self.fiscal_document(fn_number.as_deref(), *fd);
                }
            }
            JournalEvent::ShiftClosed {
                fn_number,
                fd_number,
                ..
            } => {
                self.shift = None;
                if let Some(fd) = fd_number {
                    self.fiscal_document(fn_number.as_deref(), *fd);
                }
            }
            _ => {}
        }
    }

    /// A fiscal document was journaled: it is no pending receipt's, and the newest if its number
    /// is the highest on its FN.
    fn fiscal_document(&mut self, fn_number: Option<&str>, fd: u32) {
        for attempt in self
            .unreceipted
            .values_mut()
            .filter_map(|u| u.fiscal_attempt.as_mut())
        {
            attempt.claimed.insert(fd);
        }
        // The highest FD of the FN, not the last journaled: a receipt found in the FN after a
        // crash is journaled after newer documents, and a lookup that started after it would
        // take those newer documents for its own (seed 104276 of the long run).
        let newer = match &self.last_fd {
            Some(mark) if mark.fn_number.as_deref() == fn_number => fd > mark.fd,
            _ => true,
        };
        if newer {
            self.last_fd = Some(FdMark {
                fn_number: fn_number.map(str::to_string),
                fd,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_fd_is_the_highest_on_the_fn_even_when_an_older_one_is_journaled_later() {
        let receipt = |id: &str, fd: u32| JournalEvent::ReceiptFiscalised {
            receipt_id: id.into(),
            payment_id: None,
            total_kopecks: 162_000,
            fiscal: backend_sync::event::FiscalAttributes {
                fn_number: "9999078900012345".into(),
                fd_number: fd,
                fiscal_sign: "0000000001".into(),
                shift_number: 1,
                time: "2026-12-01T15:07".into(),
                qr: String::new(),
            },
            printed_by_register: true,
        };
        let mut l = Ledger::default();
        l.apply(1, day(), &receipt("R61", 61));
        // A receipt whose answer a crash lost, found in the FN after FD 61 was made.
        l.apply(2, day(), &receipt("R60", 60));
        assert_eq!(l.last_fd.as_ref().map(|m| m.fd), Some(61));
        // A new FN numbers from 1 again: its documents are the newest.
        l.apply(
            3,
            day(),
            &JournalEvent::ShiftOpened {
                shift_number: 1,
                fn_number: Some("9999078900099999".into()),
                fd_number: Some(1),
                opened_utc: None,
            },
        );
        assert_eq!(l.last_fd.as_ref().map(|m| m.fd), Some(1));
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    #[test]
    fn a_crash_mid_payment_leaves_an_open_payment_with_its_stacked_cash() {
        let events = [
            JournalEvent::PaymentStarted {
                payment_id: "P1".into(),
                account: "1000000001".into(),
                account_verified: true,
                method: PaymentMethod::Cash,
                requested_kopecks: 150_000,
                services: vec![],
            },
            JournalEvent::BillStackRequested {
                payment_id: Some("P1".into()),
                denomination_kopecks: 100_000,
            },
            JournalEvent::BillStacked {
                payment_id: Some("P1".into()),
                denomination_kopecks: 100_000,
            },
            JournalEvent::BillStackRequested {
                payment_id: Some("P1".into()),
                denomination_kopecks: 50_000,
            },
        ];
        let ledger = Ledger::replay(
            events
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 1, day(), e)),
        );
        let open = &ledger.open_payments["P1"];
        assert_eq!(open.stacked, Money::from_rubles(1_000));
        assert_eq!(open.stack_in_flight, Some(Money::from_rubles(500)));
        assert_eq!(ledger.cassette.get(&100_000), Some(&1));
        assert_eq!(ledger.credited_total, Money::ZERO);
    }

    #[test]
    fn completed_payments_count_towards_today_and_wait_for_a_receipt() {
        let events = [
            JournalEvent::PaymentCompleted {
                payment_id: "P1".into(),
                account: "A".into(),
                method: PaymentMethod::Card,
                total_kopecks: 70_000,
                allocations: vec![],
            },
            JournalEvent::CassetteRemoved {
                expected: BTreeMap::new(),
                expected_total_kopecks: 0,
            },
        ];
        let ledger = Ledger::replay(
            events
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 1, day(), e)),
        );
        assert_eq!(ledger.paid_today("A", day()), Money::from_rubles(700));
        assert!(ledger.unreceipted.contains_key("P1"));
        assert!(ledger.cassette.is_empty());
    }
}

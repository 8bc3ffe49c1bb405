//! Builds realistic terminal journals (hash-chained records of typed events) for tests, benchmarks
//! and demos, exactly as a terminal would write them.

use std::collections::BTreeMap;

use backend_sync::event::{
    CardApproval, FiscalAttributes, PaymentMethod, ServiceAmount, StuckNoteOutcome,
};
use backend_sync::{JournalEvent, JournalRecord, GENESIS_HASH};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// Appends events to one terminal's chain with a controllable clock.
#[derive(Debug, Clone)]
pub struct JournalWriter {
    pub terminal_id: String,
    pub seq: u64,
    pub prev_hash: String,
    pub clock: DateTime<Utc>,
    pub fn_number: String,
    pub fd_number: u32,
    pub card_terminal_id: String,
    pub card_receipt_no: u32,
    payment_no: u64,
    /// Bills stacked since the last encashment, by denomination.
    pub cassette: BTreeMap<i64, u32>,
}

/// Totals a terminal can state about itself, to compare with the back office.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalTotals {
    pub payments: u64,
    pub cash_kopecks: i64,
    pub card_kopecks: i64,
    pub sbp_kopecks: i64,
    pub bills: u64,
}

impl JournalWriter {
    pub fn new(terminal_id: &str, start: DateTime<Utc>) -> Self {
        JournalWriter {
            terminal_id: terminal_id.to_string(),
            seq: 0,
            prev_hash: GENESIS_HASH.to_string(),
            clock: start,
            fn_number: format!("92820001{:08}", terminal_id.len() * 7919),
            fd_number: 0,
            card_terminal_id: format!("CT-{terminal_id}"),
            card_receipt_no: 0,
            payment_no: 0,
            cassette: BTreeMap::new(),
        }
    }

    /// Appends one event, advancing the clock by `step_ms`.
    pub fn push(&mut self, event: &JournalEvent, step_ms: i64) -> JournalRecord {
        self.clock += Duration::milliseconds(step_ms);
        self.seq += 1;
        let rec = JournalRecord::new(
            self.seq,
            self.clock.to_rfc3339_opts(SecondsFormat::Millis, true),
            event.kind().to_string(),
            event.canonical_payload(),
            self.prev_hash.clone(),
        );
        self.prev_hash = rec.hash.clone();
        rec
    }

    fn next_payment_id(&mut self) -> String {
        self.payment_no += 1;
        format!("{}-P{:07}", self.terminal_id, self.payment_no)
    }

    fn fiscalise(&mut self, payment_id: &str, total: i64, out: &mut Vec<JournalRecord>) -> String {
        self.fd_number += 1;
        let receipt_id = format!("{payment_id}-R");
        let fiscal = FiscalAttributes {
            fn_number: self.fn_number.clone(),
            fd_number: self.fd_number,
            fiscal_sign: format!(
                "{:010}",
                (self.fd_number as u64 * 2_654_435_761) % 10_000_000_000
            ),
            shift_number: 1,
            time: self.clock.format("%Y-%m-%dT%H:%M").to_string(),
            qr: format!(
                "t={}&s={}.{:02}&fn={}&i={}&fp=1&n=1",
                self.clock.format("%Y%m%dT%H%M"),
                total / 100,
                total % 100,
                self.fn_number,
                self.fd_number
            ),
        };
        out.push(self.push(
            &JournalEvent::ReceiptFiscalised {
                receipt_id: receipt_id.clone(),
                payment_id: Some(payment_id.to_string()),
                total_kopecks: total,
                fiscal,
                printed_by_register: false,
            },
            300,
        ));
        receipt_id
    }

    /// A complete cash payment with the given bills; returns its records.
    pub fn cash_payment(&mut self, account: &str, bills: &[i64]) -> Vec<JournalRecord> {
        let mut out = Vec::new();
        let pid = self.next_payment_id();
        let total: i64 = bills.iter().sum();
        out.push(self.push(
            &JournalEvent::PaymentStarted {
                payment_id: pid.clone(),
                account: account.into(),
                account_verified: true,
                method: PaymentMethod::Cash,
                requested_kopecks: total,
                services: vec![],
            },
            5_000,
        ));
        for &b in bills {
            let p = Some(pid.clone());
            out.push(self.push(
                &JournalEvent::BillStackRequested {
                    payment_id: p.clone(),
                    denomination_kopecks: b,
                },
                1_500,
            ));
            out.push(self.push(
                &JournalEvent::BillStacked {
                    payment_id: p,
                    denomination_kopecks: b,
                },
                800,
            ));
            *self.cassette.entry(b).or_default() += 1;
        }
        out.push(self.push(
            &JournalEvent::PaymentCompleted {
                payment_id: pid.clone(),
                account: account.into(),
                method: PaymentMethod::Cash,
                total_kopecks: total,
                allocations: vec![ServiceAmount {
                    service_id: "electricity".into(),
                    service_name: "Электроэнергия".into(),
                    debt_kopecks: total,
                    advance_kopecks: 0,
                }],
            },
            200,
        ));
        let rid = self.fiscalise(&pid, total, &mut out);
        out.push(self.push(&JournalEvent::ReceiptPrinted { receipt_id: rid }, 2_000));
        out
    }

    /// A cash payment during which the last note stuck: `stacked` bills are credited (the
    /// payment completes with them, or is cancelled when there are none) and `stuck` is
    /// journaled as a stuck note named `reference`, credited to nobody yet.
    pub fn cash_payment_with_stuck_note(
        &mut self,
        account: &str,
        stacked: &[i64],
        stuck: i64,
        reference: &str,
    ) -> Vec<JournalRecord> {
        let mut out = Vec::new();
        let pid = self.next_payment_id();
        let total: i64 = stacked.iter().sum();
        out.push(self.push(
            &JournalEvent::PaymentStarted {
                payment_id: pid.clone(),
                account: account.into(),
                account_verified: true,
                method: PaymentMethod::Cash,
                requested_kopecks: total + stuck,
                services: vec![],
            },
            5_000,
        ));
        for &b in stacked {
            out.push(self.push(
                &JournalEvent::BillStackRequested {
                    payment_id: Some(pid.clone()),
                    denomination_kopecks: b,
                },
                1_500,
            ));
            out.push(self.push(
                &JournalEvent::BillStacked {
                    payment_id: Some(pid.clone()),
                    denomination_kopecks: b,
                },
                800,
            ));
            *self.cassette.entry(b).or_default() += 1;
        }
        out.push(self.push(
            &JournalEvent::BillStackRequested {
                payment_id: Some(pid.clone()),
                denomination_kopecks: stuck,
            },
            1_500,
        ));
        out.push(self.push(
            &JournalEvent::BillStuck {
                payment_id: Some(pid.clone()),
                account: account.into(),
                denomination_kopecks: stuck,
                reference: reference.into(),
                reason: "validator jammed after STACK".into(),
            },
            10_000,
        ));
        if stacked.is_empty() {
            out.push(self.push(
                &JournalEvent::PaymentCancelled {
                    payment_id: pid,
                    reason: "nothing stacked".into(),
                },
                200,
            ));
            return out;
        }
        out.push(self.push(
            &JournalEvent::PaymentCompleted {
                payment_id: pid.clone(),
                account: account.into(),
                method: PaymentMethod::Cash,
                total_kopecks: total,
                allocations: vec![ServiceAmount {
                    service_id: "electricity".into(),
                    service_name: "Электроэнергия".into(),
                    debt_kopecks: total,
                    advance_kopecks: 0,
                }],
            },
            200,
        ));
        let rid = self.fiscalise(&pid, total, &mut out);
        out.push(self.push(&JournalEvent::ReceiptPrinted { receipt_id: rid }, 2_000));
        out
    }

    /// A technician's resolution of stuck note `reference` (of `stuck` kopecks, inserted for
    /// `account`): found in the cassette or reported stacked, it is credited as a cash payment
    /// of its own with its receipt (and counts in the cassette); handed back, nothing.
    pub fn resolve_stuck_note(
        &mut self,
        reference: &str,
        account: &str,
        stuck: i64,
        outcome: StuckNoteOutcome,
    ) -> Vec<JournalRecord> {
        let mut out = Vec::new();
        if outcome == StuckNoteOutcome::HandedBack {
            out.push(self.push(
                &JournalEvent::StuckNoteResolved {
                    reference: reference.into(),
                    outcome,
                    payment_id: None,
                },
                60_000,
            ));
            return out;
        }
        let pid = self.next_payment_id();
        out.push(self.push(
            &JournalEvent::StuckNoteResolved {
                reference: reference.into(),
                outcome,
                payment_id: Some(pid.clone()),
            },
            60_000,
        ));
        out.push(self.push(
            &JournalEvent::PaymentCompleted {
                payment_id: pid.clone(),
                account: account.into(),
                method: PaymentMethod::Cash,
                total_kopecks: stuck,
                allocations: vec![ServiceAmount {
                    service_id: "account".into(),
                    service_name: format!("Оплата по лицевому счёту (купюра {reference})"),
                    debt_kopecks: stuck,
                    advance_kopecks: 0,
                }],
            },
            200,
        ));
        *self.cassette.entry(stuck).or_default() += 1;
        let rid = self.fiscalise(&pid, stuck, &mut out);
        out.push(self.push(&JournalEvent::ReceiptPrinted { receipt_id: rid }, 2_000));
        out
    }

    /// A complete card payment; returns its records and the approval (for settlement files).
    pub fn card_payment(
        &mut self,
        account: &str,
        amount: i64,
    ) -> (Vec<JournalRecord>, CardApproval) {
        let mut out = Vec::new();
        let pid = self.next_payment_id();
        self.card_receipt_no += 1;
        let approval = CardApproval {
            amount_kopecks: amount,
            receipt_no: self.card_receipt_no,
            trace_no: self.card_receipt_no + 1000,
            masked_pan: "4111********1111".into(),
            auth_code: format!("A{:05}", self.card_receipt_no),
            card_terminal_id: self.card_terminal_id.clone(),
            rrn: Some(format!("{:012}", self.card_receipt_no)),
        };
        out.push(self.push(
            &JournalEvent::PaymentStarted {
                payment_id: pid.clone(),
                account: account.into(),
                account_verified: true,
                method: PaymentMethod::Card,
                requested_kopecks: amount,
                services: vec![],
            },
            5_000,
        ));
        out.push(self.push(
            &JournalEvent::CardAuthorisationRequested {
                payment_id: pid.clone(),
                amount_kopecks: amount,
            },
            500,
        ));
        out.push(self.push(
            &JournalEvent::CardApproved {
                payment_id: pid.clone(),
                approval: approval.clone(),
            },
            15_000,
        ));
        out.push(self.push(
            &JournalEvent::CardCompleted {
                payment_id: pid.clone(),
                amount_kopecks: amount,
            },
            500,
        ));
        out.push(self.push(
            &JournalEvent::PaymentCompleted {
                payment_id: pid.clone(),
                account: account.into(),
                method: PaymentMethod::Card,
                total_kopecks: amount,
                allocations: vec![ServiceAmount {
                    service_id: "electricity".into(),
                    service_name: "Электроэнергия".into(),
                    debt_kopecks: amount,
                    advance_kopecks: 0,
                }],
            },
            200,
        ));
        let rid = self.fiscalise(&pid, amount, &mut out);
        out.push(self.push(&JournalEvent::ReceiptPrinted { receipt_id: rid }, 2_000));
        (out, approval)
    }

    /// Cassette removal and the technician's count. `missing` bills (denomination, how many) are
    /// taken out of the count to plant a discrepancy.
    pub fn encashment(
        &mut self,
        encashment_id: &str,
        missing: &[(i64, u32)],
    ) -> Vec<JournalRecord> {
        let expected: BTreeMap<String, u32> = self
            .cassette
            .iter()
            .map(|(d, n)| (d.to_string(), *n))
            .collect();
        let expected_total: i64 = self.cassette.iter().map(|(d, n)| d * i64::from(*n)).sum();
        let mut counted = self.cassette.clone();
        for (d, n) in missing {
            if let Some(c) = counted.get_mut(d) {
                *c = c.saturating_sub(*n);
            }
        }
        let counted_total: i64 = counted.iter().map(|(d, n)| d * i64::from(*n)).sum();
        let out = vec![
            self.push(
                &JournalEvent::CassetteRemoved {
                    expected,
                    expected_total_kopecks: expected_total,
                },
                60_000,
            ),
            self.push(
                &JournalEvent::EncashmentCounted {
                    encashment_id: encashment_id.into(),
                    counted: counted.iter().map(|(d, n)| (d.to_string(), *n)).collect(),
                    counted_total_kopecks: counted_total,
                    expected_total_kopecks: expected_total,
                },
                60_000,
            ),
            self.push(&JournalEvent::CassetteInserted {}, 60_000),
        ];
        self.cassette.clear();
        out
    }
}

/// Sums what a terminal's own records say it took.
pub fn totals(records: &[JournalRecord]) -> TerminalTotals {
    let mut t = TerminalTotals::default();
    for r in records {
        match JournalEvent::from_payload(&r.payload) {
            Ok(JournalEvent::PaymentCompleted {
                method,
                total_kopecks,
                ..
            }) => {
                t.payments += 1;
                match method {
                    PaymentMethod::Cash => t.cash_kopecks += total_kopecks,
                    PaymentMethod::Card => t.card_kopecks += total_kopecks,
                    PaymentMethod::Sbp => t.sbp_kopecks += total_kopecks,
                }
            }
            Ok(JournalEvent::BillStacked { .. }) => t.bills += 1,
            _ => {}
        }
    }
    t
}

/// Bills the kiosk accepts (kopecks).
pub const DENOMINATIONS: [i64; 6] = [5_000, 10_000, 50_000, 100_000, 200_000, 500_000];

//! The session core's rules for a payment by СБП QR code (the Faster Payments System).
//!
//! The money rule is the card's: credit only what the bank confirmed. The back office registers
//! the QR with the bank and learns the outcome; the terminal's СБП task carries
//! [`SbpCommand`]s to it and reports every change as an [`SbpReport`]. Here:
//!
//! - `PaymentStarted` and `SbpQrRequested` are journaled before the QR is asked for;
//! - the customer sees the QR only after `SbpQrIssued` is journaled, and «оплачено» only after
//!   `SbpPaid` (the credit point) and `PaymentCompleted`;
//! - cancel and the end of the countdown journal `SbpRevokeRequested` and revoke the QR; the bank
//!   may still confirm a payment made in the last second, and that is credited;
//! - a bank that has not answered within `sbp_check_timeout` releases the customer
//!   (`SbpOutcomeUnknown`): the payment stays open, the СБП task keeps asking, and a payment the
//!   bank confirms later is credited and fiscalised here like any payment a restart left open;
//! - a payment is credited once: a report for a payment the journal no longer holds open (a
//!   duplicated notification, a repeated poll) changes nothing.

use backend_sync::event::PaymentMethod;
use backend_sync::sbp::SbpState;
use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};

use super::{Payment, Refused, SbpReport, Session, State, SummaryProblem};
use crate::commands::SbpCommand;
use crate::money::Money;

/// Where a live СБП payment stands.
#[derive(Debug, Clone)]
pub(super) enum SbpPhase {
    /// The QR is asked for (write-ahead journaled); nothing is shown yet.
    Requesting,
    /// The QR is on the screen.
    Showing { payload: String },
    /// Revoked (cancel or countdown); waiting for the bank's last word.
    Checking,
}

/// A live СБП payment: the customer is in front of the kiosk.
#[derive(Debug, Clone)]
pub(super) struct Sbp {
    pub(super) payment: Payment,
    pub(super) amount: Money,
    pub(super) phase: SbpPhase,
    /// When the current phase gives up: no QR in time, the countdown's end, the bank's silence.
    pub(super) deadline: DateTime<Utc>,
}

/// How a payment the bank will not pay ended, for the customer.
fn not_paid_notice(state: SbpState) -> Refused<SummaryProblem> {
    match state {
        SbpState::Declined => Refused::new(
            SummaryProblem::SbpDeclined,
            "Банк не подтвердил оплату. Деньги не списаны",
        ),
        SbpState::Expired => Refused::new(
            SummaryProblem::SbpExpired,
            "Время на оплату по QR-коду истекло. Деньги не списаны",
        ),
        _ => Refused::new(SummaryProblem::SbpCancelled, "Оплата по QR-коду отменена"),
    }
}

impl Session {
    /// «По QR-коду СБП» on the payment-method screen.
    pub(super) fn start_sbp(
        &mut self,
        account: super::CustomerAccount,
        amounts: Vec<Money>,
        now: DateTime<Utc>,
    ) -> State {
        let total: Money = amounts.iter().copied().sum();
        let refusal = if !self.availability.sbp || !self.availability.online {
            Some(Refused::new(
                SummaryProblem::SbpUnavailable,
                "Оплата по QR-коду сейчас недоступна — оплатите наличными или картой",
            ))
        } else if total <= Money::ZERO {
            Some(Refused::new(
                SummaryProblem::ZeroAmount,
                "Введите сумму к оплате больше нуля",
            ))
        } else {
            self.config
                .limits
                .check(total, account.paid_today)
                .err()
                .map(super::limit_refusal)
        };
        if let Some(error) = refusal {
            return State::Summary {
                account,
                amounts,
                error: Some(error),
            };
        }
        let payment = self.begin_payment(account, amounts, PaymentMethod::Sbp, now);
        let payment_id = payment.id.clone();
        self.journal(JournalEvent::SbpQrRequested {
            payment_id: payment_id.clone(),
            amount_kopecks: total.kopecks(),
        });
        self.emit(super::Output::Sbp(SbpCommand::Create {
            payment_id,
            amount: total,
            account: payment.account.number.clone(),
        }));
        State::Sbp(Sbp {
            payment,
            amount: total,
            phase: SbpPhase::Requesting,
            deadline: now + self.config.sbp_request_timeout,
        })
    }

    /// The customer pressed «Отменить» while the QR was being made or shown.
    pub(super) fn cancel_sbp(&mut self, sbp: Sbp, now: DateTime<Utc>) -> State {
        match sbp.phase {
            SbpPhase::Requesting | SbpPhase::Showing { .. } => {
                self.revoke_live(sbp, "cancelled by the customer", now)
            }
            SbpPhase::Checking => State::Sbp(sbp),
        }
    }

    fn revoke_live(&mut self, mut sbp: Sbp, reason: &str, now: DateTime<Utc>) -> State {
        self.request_revoke(&sbp.payment.id, reason);
        sbp.phase = SbpPhase::Checking;
        sbp.deadline = now + self.config.sbp_check_timeout;
        State::Sbp(sbp)
    }

    /// Journals the revocation (once per payment) and asks the СБП task for it.
    fn request_revoke(&mut self, payment_id: &str, reason: &str) {
        let journaled = self
            .ledger
            .open_payments
            .get(payment_id)
            .is_some_and(|p| p.sbp_revoke_requested);
        if !journaled {
            self.journal(JournalEvent::SbpRevokeRequested {
                payment_id: payment_id.to_string(),
                reason: reason.to_string(),
            });
        }
        self.emit(super::Output::Sbp(SbpCommand::Revoke {
            payment_id: payment_id.to_string(),
        }));
    }

    /// The live payment's deadline passed (see [`Sbp::deadline`]).
    pub(super) fn sbp_deadline(&mut self, sbp: Sbp, now: DateTime<Utc>) {
        match sbp.phase {
            SbpPhase::Requesting => {
                // No QR reached the screen, so nobody could pay it: the customer chooses again
                // at once, and the QR (if the back office registered one) is revoked behind.
                self.request_revoke(&sbp.payment.id, "no QR within the deadline");
                self.journal(JournalEvent::SbpOutcomeUnknown {
                    payment_id: sbp.payment.id.clone(),
                    detail: "the back office did not issue a QR in time".into(),
                });
                self.enter(
                    State::Summary {
                        account: sbp.payment.account,
                        amounts: sbp.payment.amounts,
                        error: Some(Refused::new(
                            SummaryProblem::SbpUnavailable,
                            "Не удалось получить QR-код — оплатите наличными или картой",
                        )),
                    },
                    now,
                );
            }
            SbpPhase::Showing { .. } => {
                let next = self.revoke_live(sbp, "the time to pay ran out", now);
                self.enter(next, now);
            }
            SbpPhase::Checking => {
                self.journal(JournalEvent::SbpOutcomeUnknown {
                    payment_id: sbp.payment.id.clone(),
                    detail: "no final answer from the bank after the revocation".into(),
                });
                let text = format!(
                    "Банк пока не ответил, прошла ли оплата. Если деньги списались, платёж {} \
                     зачислим на лицевой счёт автоматически, как только банк его подтвердит. \
                     Повторно платить не нужно.",
                    sbp.payment.id
                );
                self.enter(State::Notice { text }, now);
            }
        }
    }

    /// A report of the СБП task. Only payments the journal holds open are touched, so a
    /// repeated report credits nothing twice.
    pub(super) fn on_sbp_report(&mut self, report: SbpReport, now: DateTime<Utc>) {
        let open = self
            .ledger
            .open_payments
            .get(&report.payment_id)
            .filter(|p| p.method == PaymentMethod::Sbp)
            .cloned();
        let Some(open) = open else {
            tracing::debug!(payment = %report.payment_id, state = report.state.as_str(), "СБП report for a payment no longer open");
            return;
        };
        let state = std::mem::replace(&mut self.state, State::Welcome);
        match state {
            State::Sbp(sbp) if sbp.payment.id == report.payment_id => {
                self.on_live_report(sbp, report, now)
            }
            other => {
                self.state = other;
                self.on_background_report(open, report, now);
            }
        }
    }

    fn on_live_report(&mut self, mut sbp: Sbp, report: SbpReport, now: DateTime<Utc>) {
        match report.state {
            SbpState::Pending => {
                if let (SbpPhase::Requesting, Some(payload)) = (&sbp.phase, report.payload) {
                    self.journal(JournalEvent::SbpQrIssued {
                        payment_id: sbp.payment.id.clone(),
                        bank_payment_id: report.bank_payment_id.unwrap_or_default(),
                        expires_utc: report
                            .expires_at
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                            .unwrap_or_default(),
                    });
                    let mut deadline = now + self.config.sbp_pay_time;
                    if let Some(expires) = report.expires_at {
                        deadline = deadline.min(expires);
                    }
                    sbp.phase = SbpPhase::Showing { payload };
                    sbp.deadline = deadline;
                    self.state = State::Sbp(sbp);
                    self.restart_idle_clock(now);
                    return;
                }
                self.state = State::Sbp(sbp);
            }
            SbpState::Paid => {
                let paid = self.journal_paid(&sbp.payment.id, sbp.amount, &report);
                let mut credited = self.credit(sbp.payment, PaymentMethod::Sbp, paid, None, now);
                credited.sbp_operation = report.bank_payment_id;
                self.enter(State::ReceiptChoice(credited), now);
            }
            // Refunded before the kiosk heard it was paid: the customer has the money back.
            SbpState::Declined | SbpState::Expired | SbpState::Revoked | SbpState::Refunded => {
                self.journal_not_paid(&sbp.payment.id, &report);
                let state = State::Summary {
                    account: sbp.payment.account,
                    amounts: sbp.payment.amounts,
                    error: Some(not_paid_notice(report.state)),
                };
                self.enter(state, now);
            }
        }
    }

    /// A payment no customer waits for any more (released, or open since a restart).
    fn on_background_report(
        &mut self,
        open: crate::ledger::OpenPayment,
        report: SbpReport,
        _now: DateTime<Utc>,
    ) {
        match report.state {
            SbpState::Pending => {}
            SbpState::Paid => {
                let asked = open.sbp_amount.unwrap_or(Money::ZERO);
                let paid = self.journal_paid(&open.payment_id, asked, &report);
                let allocations = open.requested_allocations(paid);
                self.journal(JournalEvent::PaymentCompleted {
                    payment_id: open.payment_id.clone(),
                    account: open.account.clone(),
                    method: PaymentMethod::Sbp,
                    total_kopecks: paid.kopecks(),
                    allocations: super::allocations_to_wire(&allocations),
                });
                self.journal(JournalEvent::RecoveryResolved {
                    payment_id: open.payment_id.clone(),
                    detail: format!(
                        "СБП payment confirmed by the bank after the customer left: credited {}",
                        paid.format_plain()
                    ),
                });
                self.request_recovery_receipt(
                    open.payment_id,
                    open.account,
                    PaymentMethod::Sbp,
                    paid,
                    allocations,
                    None,
                );
            }
            SbpState::Declined | SbpState::Expired | SbpState::Revoked | SbpState::Refunded => {
                self.journal_not_paid(&open.payment_id, &report)
            }
        }
    }

    /// Journals the credit point; the amount is what the bank confirmed.
    fn journal_paid(&mut self, payment_id: &str, asked: Money, report: &SbpReport) -> Money {
        if report.amount != asked {
            tracing::warn!(
                payment = payment_id,
                asked = asked.kopecks(),
                paid = report.amount.kopecks(),
                "the bank confirmed another amount than the QR asked; crediting what was paid"
            );
        }
        self.journal(JournalEvent::SbpPaid {
            payment_id: payment_id.to_string(),
            amount_kopecks: report.amount.kopecks(),
            bank_payment_id: report.bank_payment_id.clone().unwrap_or_default(),
        });
        report.amount
    }

    fn journal_not_paid(&mut self, payment_id: &str, report: &SbpReport) {
        self.journal(JournalEvent::SbpNotPaid {
            payment_id: payment_id.to_string(),
            state: report.state,
            detail: report.detail.clone(),
        });
        self.journal(JournalEvent::PaymentCancelled {
            payment_id: payment_id.to_string(),
            reason: format!("СБП: {}", report.state.as_str()),
        });
    }

    /// After a restart: every СБП payment still open is revoked unless paid, and watched until
    /// the bank's final answer (the customer has gone).
    pub(super) fn settle_open_sbp(&mut self) {
        let live = self.live_payment_id();
        let open: Vec<String> = self
            .ledger
            .open_payments
            .values()
            .filter(|p| p.method == PaymentMethod::Sbp && Some(&p.payment_id) != live.as_ref())
            .map(|p| p.payment_id.clone())
            .collect();
        for payment_id in open {
            self.request_revoke(&payment_id, "open after a restart");
        }
    }
}

//! The СБП side of the simulated kiosk: the bank behind the back office, and the СБП task's
//! watchers in front of it.
//!
//! The bank holds one QR per payment id (the back office's create is idempotent) and moves it on
//! its own clock: the customer's bank app pays it, declines it, or nobody does and it expires; a
//! revocation of an unpaid QR makes it unpayable, unless the customer's payment got in first
//! (`paid_after_revoke`). The watchers play `devices::sbp`: one per payment the core asked
//! about, reporting each change of state (and, like a duplicated notification or a repeated
//! poll, sometimes the same paid state twice) until the bank's final answer; a back office that
//! is down answers nothing until it is back. A crash loses the watchers, never the bank.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use backend_sync::sbp::SbpState;
use rand::rngs::StdRng;
use rand::Rng;

use crate::money::Money;
use crate::session::{DeviceInput, SbpCommand, SbpReport};

/// Between a watcher's requests while the QR is pending.
const POLL: Duration = Duration::from_secs(1);

/// A QR the bank registered.
#[derive(Debug, Clone)]
pub(super) struct Qr {
    pub(super) amount: Money,
    pub(super) state: SbpState,
    /// What the customer's bank app will do, and when.
    pay_at: Option<Instant>,
    decline_at: Option<Instant>,
    expires_at: Instant,
    /// The payment gets in before a revocation does.
    paid_after_revoke: bool,
}

/// One payment the СБП task follows.
#[derive(Debug, Clone)]
struct Watcher {
    /// The QR still to be asked for (amount).
    create: Option<Money>,
    revoke: bool,
    revoke_sent: bool,
    last: Option<(SbpState, bool)>,
    next_request: Instant,
}

#[derive(Default)]
pub(super) struct SbpSide {
    pub(super) qrs: BTreeMap<String, Qr>,
    watchers: BTreeMap<String, Watcher>,
    /// The back office (or the bank behind it) does not answer until then.
    pub(super) down_until: Option<Instant>,
    /// The next QR is paid in the moment it is revoked.
    pub(super) pay_next_at_revoke: bool,
}

impl SbpSide {
    pub(super) fn command(&mut self, command: SbpCommand, now: Instant) {
        match command {
            SbpCommand::Create {
                payment_id, amount, ..
            } => {
                self.watchers.entry(payment_id).or_insert(Watcher {
                    create: Some(amount),
                    revoke: false,
                    revoke_sent: false,
                    last: None,
                    next_request: now + Duration::from_millis(300),
                });
            }
            SbpCommand::Revoke { payment_id } => {
                let watcher = self.watchers.entry(payment_id).or_insert(Watcher {
                    create: None,
                    revoke: false,
                    revoke_sent: false,
                    last: None,
                    next_request: now,
                });
                watcher.revoke = true;
                watcher.next_request = watcher.next_request.min(now);
            }
        }
    }

    /// The process died: its watchers with it.
    pub(super) fn restart(&mut self) {
        self.watchers.clear();
    }

    pub(super) fn is_idle(&self) -> bool {
        self.watchers.is_empty()
    }

    pub(super) fn next_wake(&self) -> Option<Instant> {
        let bank = self
            .qrs
            .values()
            .filter(|q| q.state == SbpState::Pending)
            .flat_map(|q| [q.pay_at, q.decline_at, Some(q.expires_at)])
            .flatten();
        self.watchers
            .values()
            .map(|w| w.next_request)
            .chain(bank)
            .chain(self.down_until)
            .min()
    }

    /// The bank moves on, then every watcher due asks the back office; the reports, in order.
    pub(super) fn exchange(&mut self, now: Instant, rng: &mut StdRng) -> Vec<DeviceInput> {
        for qr in self.qrs.values_mut() {
            if qr.state != SbpState::Pending {
                continue;
            }
            if qr.pay_at.is_some_and(|t| now >= t) {
                qr.state = SbpState::Paid;
            } else if qr.decline_at.is_some_and(|t| now >= t) {
                qr.state = SbpState::Declined;
            } else if now >= qr.expires_at {
                qr.state = SbpState::Expired;
            }
        }
        if self.down_until.is_some_and(|t| now >= t) {
            self.down_until = None;
        }
        let due: Vec<String> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.next_request <= now)
            .map(|(p, _)| p.clone())
            .collect();
        let mut reports = Vec::new();
        for payment_id in due {
            if let Some(report) = self.ask(&payment_id, now, rng) {
                reports.push(DeviceInput::Sbp(report));
            }
        }
        reports
    }

    /// One request of one watcher.
    fn ask(&mut self, payment_id: &str, now: Instant, rng: &mut StdRng) -> Option<SbpReport> {
        let down = self.down_until.is_some();
        let watcher = self.watchers.get_mut(payment_id)?;
        if down {
            watcher.next_request = now + Duration::from_secs(rng.gen_range(1..5));
            return None;
        }
        watcher.next_request = now + POLL;
        if let Some(amount) = watcher.create.take() {
            let paid_after_revoke = std::mem::take(&mut self.pay_next_at_revoke);
            self.qrs.entry(payment_id.to_string()).or_insert_with(|| {
                // What the customer's bank app does: most pay within minutes, some decline, some
                // never pay (the QR expires or is revoked).
                let roll = rng.gen_range(0..100);
                let within = Duration::from_secs(rng.gen_range(3..400));
                Qr {
                    amount,
                    state: SbpState::Pending,
                    pay_at: (roll < 65).then_some(now + within),
                    decline_at: (65..75).contains(&roll).then_some(now + within),
                    expires_at: now + Duration::from_secs(600),
                    paid_after_revoke,
                }
            });
        }
        let revoking = watcher.revoke && !watcher.revoke_sent;
        let Some(qr) = self.qrs.get_mut(payment_id) else {
            if watcher.revoke {
                // The back office holds no QR: nobody was shown one.
                self.watchers.remove(payment_id);
                return Some(SbpReport {
                    payment_id: payment_id.to_string(),
                    state: SbpState::Revoked,
                    amount: Money::ZERO,
                    payload: None,
                    expires_at: None,
                    bank_payment_id: None,
                    detail: "no QR".into(),
                });
            }
            return None;
        };
        if revoking {
            watcher.revoke_sent = true;
            if qr.state == SbpState::Pending {
                qr.state = if qr.paid_after_revoke {
                    SbpState::Paid
                } else {
                    SbpState::Revoked
                };
            }
        }
        let seen = (qr.state, qr.state == SbpState::Pending);
        let repeat = qr.state == SbpState::Paid && rng.gen_bool(0.2);
        let report = (watcher.last != Some(seen) || repeat).then(|| SbpReport {
            payment_id: payment_id.to_string(),
            state: qr.state,
            amount: qr.amount,
            payload: seen.1.then(|| {
                format!(
                    "https://qr.nspk.ru/SIM{payment_id}?type=02&sum={}",
                    qr.amount.kopecks()
                )
            }),
            expires_at: None,
            bank_payment_id: Some(format!("B{payment_id}")),
            detail: String::new(),
        });
        watcher.last = Some(seen);
        // A paid answer may come once more (a duplicated notification) before the watcher ends.
        if qr.state.is_final() && !repeat {
            self.watchers.remove(payment_id);
        }
        report
    }

    /// What the bank holds as paid: payment id → amount.
    pub(super) fn paid(&self) -> BTreeMap<String, Money> {
        self.qrs
            .iter()
            .filter(|(_, q)| q.state == SbpState::Paid)
            .map(|(p, q)| (p.clone(), q.amount))
            .collect()
    }
}

//! The emulated bank's books: payments, their statuses, refunds and the scripts that decide
//! what happens to each. No I/O here: the server ([`crate::server`]) asks, this answers, and
//! every status change returns the notifications it owes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// What the emulated bank does with a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// The customer pays this long after `Init`.
    PaidAfter(Duration),
    /// The customer's bank refuses it (`REJECTED`) this long after `Init`.
    DeclinedAfter(Duration),
    /// Nobody pays: `DEADLINE_EXPIRED` this long after `Init`.
    ExpiresAfter(Duration),
    /// `Init` and `GetQr` answer; `GetState` and `Cancel` of the payment hang (the client times
    /// out) until the payment is given another script ([`crate::BankEmulator::script_order`]).
    NeverAnswers,
    /// The customer pays just as the merchant revokes: `Cancel` finds the payment `CONFIRMED`
    /// (the notification goes out) and answers an error with `Status: CONFIRMED`; a `Cancel`
    /// that names an `Amount` (an explicit refund) refunds it instead.
    PaidAfterRevoke,
    /// Paid after [`SCRIPT_DELAY`], and no notification is sent: only `GetState` tells.
    NotificationLost,
    /// Paid after [`SCRIPT_DELAY`]; the notification is sent twice (each copy until answered `OK`).
    NotificationDuplicated,
    /// Nothing happens until [`crate::BankEmulator::pay`] or [`crate::BankEmulator::decline`]
    /// (or the `RedirectDueDate`).
    Manual,
}

/// How long after `Init` the notification scripts pay.
pub const SCRIPT_DELAY: Duration = Duration::from_millis(300);

/// A payment's status, in T-Bank's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    New,
    FormShowed,
    Confirmed,
    Rejected,
    Canceled,
    DeadlineExpired,
    Refunded,
    PartialRefunded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::FormShowed => "FORM_SHOWED",
            Status::Confirmed => "CONFIRMED",
            Status::Rejected => "REJECTED",
            Status::Canceled => "CANCELED",
            Status::DeadlineExpired => "DEADLINE_EXPIRED",
            Status::Refunded => "REFUNDED",
            Status::PartialRefunded => "PARTIAL_REFUNDED",
        }
    }

    /// Still payable.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::FormShowed)
    }

    fn is_paid(self) -> bool {
        matches!(self, Status::Confirmed | Status::PartialRefunded)
    }
}

/// A payment as the emulated bank holds it (see [`crate::BankEmulator::payments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedPayment {
    /// The bank's `PaymentId`.
    pub payment_id: String,
    pub order_id: String,
    pub amount_kopecks: i64,
    pub status: Status,
    pub refunded_kopecks: i64,
    /// Notification requests made (every copy and every retry).
    pub notifications_sent: u32,
    /// Of those, how many the merchant answered `OK`.
    pub notifications_acked: u32,
    pub script: Script,
    pub paid_utc: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Payment {
    pub view: EmulatedPayment,
    pub description: String,
    pub created: Instant,
    pub due_utc: Option<DateTime<Utc>>,
    pub notification_url: Option<String>,
}

/// One refund, for the registry.
#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub payment_id: String,
    pub order_id: String,
    pub amount_kopecks: i64,
    pub time_utc: DateTime<Utc>,
}

/// A notification the bank owes: `copies` POSTs of the payment's state to `url`.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub url: String,
    pub payment_id: String,
    pub order_id: String,
    pub status: Status,
    pub amount_kopecks: i64,
    pub copies: u32,
}

/// Why a `Cancel` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CancelRefusal {
    /// The payment is in a status that cannot be cancelled (it is returned with its status).
    WrongStatus(Status),
    /// More than what is left to refund.
    TooMuch,
    /// No such payment.
    NotFound,
}

#[derive(Debug)]
pub(crate) struct Books {
    next_id: u64,
    pub payments: BTreeMap<u64, Payment>,
    pub refunds: Vec<Refund>,
    default: Script,
    next: VecDeque<Script>,
    by_order: HashMap<String, Script>,
}

impl Books {
    pub fn new() -> Self {
        Books {
            next_id: 4_000_000_001,
            payments: BTreeMap::new(),
            refunds: Vec::new(),
            default: Script::Manual,
            next: VecDeque::new(),
            by_order: HashMap::new(),
        }
    }

    pub fn set_default(&mut self, s: Script) {
        self.default = s;
    }

    pub fn script_next(&mut self, s: Script) {
        self.next.push_back(s);
    }

    /// Scripts the payments of `order_id` to come, and those already there.
    pub fn script_order(&mut self, order_id: &str, s: Script) {
        for p in self.payments.values_mut() {
            if p.view.order_id == order_id {
                p.view.script = s.clone();
                p.created = Instant::now();
            }
        }
        self.by_order.insert(order_id.to_string(), s);
    }

    pub fn init(
        &mut self,
        order_id: &str,
        amount_kopecks: i64,
        description: &str,
        due_utc: Option<DateTime<Utc>>,
        notification_url: Option<String>,
    ) -> EmulatedPayment {
        let script = match self.by_order.get(order_id) {
            Some(s) => s.clone(),
            None => self
                .next
                .pop_front()
                .unwrap_or_else(|| self.default.clone()),
        };
        let id = self.next_id;
        self.next_id += 1;
        let view = EmulatedPayment {
            payment_id: id.to_string(),
            order_id: order_id.to_string(),
            amount_kopecks,
            status: Status::New,
            refunded_kopecks: 0,
            notifications_sent: 0,
            notifications_acked: 0,
            script,
            paid_utc: None,
        };
        self.payments.insert(
            id,
            Payment {
                view: view.clone(),
                description: description.to_string(),
                created: Instant::now(),
                due_utc,
                notification_url,
            },
        );
        view
    }

    pub fn get(&self, payment_id: &str) -> Option<&Payment> {
        self.payments.get(&payment_id.parse().ok()?)
    }

    pub fn get_mut(&mut self, payment_id: &str) -> Option<&mut Payment> {
        self.payments.get_mut(&payment_id.parse().ok()?)
    }

    /// The newest payment of an order.
    fn latest_of(&mut self, order_id: &str) -> Option<&mut Payment> {
        self.payments
            .values_mut()
            .rev()
            .find(|p| p.view.order_id == order_id)
    }

    /// Moves a payment to `status`; returns the notification owed, if any.
    pub fn set_status(&mut self, payment_id: &str, status: Status) -> Option<Notice> {
        let p = self.get_mut(payment_id)?;
        p.view.status = status;
        if status == Status::Confirmed && p.view.paid_utc.is_none() {
            p.view.paid_utc = Some(Utc::now());
        }
        let copies = match p.view.script {
            Script::NotificationLost => 0,
            Script::NotificationDuplicated => 2,
            _ => 1,
        };
        let url = p.notification_url.clone()?;
        (copies > 0).then(|| Notice {
            url,
            payment_id: p.view.payment_id.clone(),
            order_id: p.view.order_id.clone(),
            status,
            amount_kopecks: p.view.amount_kopecks,
            copies,
        })
    }

    /// `pay`/`decline` of the simulator: the order's open payment gets `status`.
    pub fn settle_order(&mut self, order_id: &str, status: Status) -> (bool, Option<Notice>) {
        let Some(p) = self.latest_of(order_id) else {
            return (false, None);
        };
        if !p.view.status.is_open() {
            return (false, None);
        }
        let id = p.view.payment_id.clone();
        (true, self.set_status(&id, status))
    }

    /// What the scripts and deadlines decide by now.
    pub fn tick(&mut self, now: Instant, now_utc: DateTime<Utc>) -> Vec<Notice> {
        let mut due = Vec::new();
        for p in self.payments.values() {
            if !p.view.status.is_open() {
                continue;
            }
            let age = now.saturating_duration_since(p.created);
            let next = match &p.view.script {
                Script::PaidAfter(d) if age >= *d => Some(Status::Confirmed),
                Script::DeclinedAfter(d) if age >= *d => Some(Status::Rejected),
                Script::ExpiresAfter(d) if age >= *d => Some(Status::DeadlineExpired),
                Script::NotificationLost | Script::NotificationDuplicated
                    if age >= SCRIPT_DELAY =>
                {
                    Some(Status::Confirmed)
                }
                _ => None,
            };
            let next = next.or_else(|| {
                p.due_utc
                    .filter(|d| *d <= now_utc)
                    .map(|_| Status::DeadlineExpired)
            });
            if let Some(s) = next {
                due.push((p.view.payment_id.clone(), s));
            }
        }
        due.into_iter()
            .filter_map(|(id, s)| self.set_status(&id, s))
            .collect()
    }

    /// `Cancel`: an open payment is cancelled, a paid one refunded (`amount`, or what is left).
    /// Returns the payment's new status and the notifications owed.
    pub fn cancel(
        &mut self,
        payment_id: &str,
        amount: Option<i64>,
    ) -> Result<(Status, Vec<Notice>), (CancelRefusal, Vec<Notice>)> {
        let mut notices = Vec::new();
        let Some(p) = self.get(payment_id) else {
            return Err((CancelRefusal::NotFound, notices));
        };
        let (status, script) = (p.view.status, p.view.script.clone());
        if status.is_open() {
            if script == Script::PaidAfterRevoke {
                // The customer's payment completed first.
                notices.extend(self.set_status(payment_id, Status::Confirmed));
                if amount.is_none() {
                    return Err((CancelRefusal::WrongStatus(Status::Confirmed), notices));
                }
            } else {
                notices.extend(self.set_status(payment_id, Status::Canceled));
                return Ok((Status::Canceled, notices));
            }
        }
        let Some(p) = self.get(payment_id) else {
            return Err((CancelRefusal::WrongStatus(status), notices));
        };
        if !p.view.status.is_paid() {
            return Err((CancelRefusal::WrongStatus(p.view.status), notices));
        }
        let left = p.view.amount_kopecks - p.view.refunded_kopecks;
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err((CancelRefusal::TooMuch, notices));
        }
        let (order_id, id) = (p.view.order_id.clone(), p.view.payment_id.clone());
        let new = if amount == left {
            Status::Refunded
        } else {
            Status::PartialRefunded
        };
        if let Some(p) = self.get_mut(payment_id) {
            p.view.refunded_kopecks += amount;
        }
        self.refunds.push(Refund {
            payment_id: id,
            order_id,
            amount_kopecks: amount,
            time_utc: Utc::now(),
        });
        notices.extend(self.set_status(payment_id, new));
        Ok((new, notices))
    }
}

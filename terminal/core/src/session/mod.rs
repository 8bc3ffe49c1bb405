//! The customer session core: a sans-IO state machine.
//!
//! Feed it what happened ([`Session::handle`] with UI intents and device reports, and
//! [`Session::handle_timeout`] when [`Session::poll_timeout`] says), then drain
//! [`Session::poll_output`] in order. A [`Output::Journal`] must be durable before the outputs after
//! it are executed: intents are journaled before money-moving commands, outcomes before the customer
//! sees them. Time is always passed in; the core never reads a clock.
//!
//! Money rules: cash is credited when the validator reports a bill *stacked*; card money when the
//! card terminal confirmed completion after an approval. Cancel and idle timeout never lose money:
//! whatever was stacked is credited and receipted; a bill in escrow is returned; an approval that
//! arrives after the customer cancelled is answered "not issued", so the terminal reverses it.
//!
//! The [`View`] carries refusals typed ([`Refused`]: a kind such as [`SummaryProblem::DayLimit`]
//! or [`ReadingProblem::BelowPrevious`], and the domain rules' exact Russian explanation), so the
//! screen can show every refusal exactly without reading its text. The idle timeouts and the
//! countdown's lead are in [`SessionConfig`] (tests use seconds).

mod card_recovery;
mod recovery;
mod sbp;
mod shift;
mod stop;
mod types;
mod view;

use std::collections::VecDeque;

use backend_sync::event::{
    CardApproval, PaymentMethod, ReceiptContact, RequestedService, ServiceAmount,
};
use backend_sync::JournalEvent;
use chrono::{DateTime, Duration, Utc};

use crate::ledger::Ledger;
use crate::money::{allocate_requested, Allocation, Limits, Money};
use card_recovery::CardSettled;

pub use crate::commands::{BillCommand, CardCommand, SbpCommand};
pub use card_recovery::{assess, CardLastResult, CardRecoveryStep, CardVerdict, KnownCardPayment};
pub use shift::{renewal_due, RENEW_AFTER, RENEW_RETRY};
pub use types::*;
pub use view::*;

/// Checks typed meter readings.
pub trait ReadingRules: Send {
    /// Checks the zones typed for one meter together; `Ok` gives (zone code, value) for each,
    /// `Err` why, with the Russian explanation shown at once (with the numbers in it).
    fn check_meter(
        &self,
        account: &CustomerAccount,
        meter: &MeterInfo,
        inputs: &[ReadingInput],
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, Refused<ReadingProblem>>;
}

/// Fixed settings of the core.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub terminal_id: String,
    /// The kiosk's time zone: "today" for daily limits is local.
    pub tz: chrono_tz::Tz,
    pub limits: Limits,
    /// No touch for this long clears the session (a visible countdown runs before).
    pub idle_timeout: Duration,
    /// While inserting cash the customer may fumble for bills longer.
    pub cash_idle_timeout: Duration,
    /// The countdown shows for this long before an idle timeout.
    pub idle_warning: Duration,
    /// How long the final screens stay.
    pub done_timeout: Duration,
    /// First number for payment ids, receipts and registrations (continues after a restart).
    pub first_document_no: u64,
    /// A bill whose STACK was sent and that has neither stacked nor come back by then is a stuck
    /// note (a jam the validator did not report, a line that went silent).
    pub stack_deadline: Duration,
    /// How long start-up waits for the validator to deliver what it held from before a crash;
    /// then what is still in flight is a stuck note and open payments are settled.
    pub startup_deadline: Duration,
    /// The first retry of a failed fiscalisation; each next one waits twice as long, up to
    /// `fiscal_retry_max`.
    pub fiscal_retry_min: Duration,
    pub fiscal_retry_max: Duration,
    /// The daily time (local) the fiscal shift is closed and a new one opened, between
    /// customers; without it a shift is renewed [`RENEW_AFTER`] after it opened.
    pub shift_close_at: Option<chrono::NaiveTime>,
    /// СБП: how long the back office may take to issue a QR, how long the customer has to pay
    /// it (the countdown; the bank's own expiry may be sooner), and how long the customer waits
    /// for the bank's last word after a revocation before the kiosk lets them go.
    pub sbp_request_timeout: Duration,
    pub sbp_pay_time: Duration,
    pub sbp_check_timeout: Duration,
}

impl SessionConfig {
    pub fn new(terminal_id: impl Into<String>, limits: Limits) -> Self {
        SessionConfig {
            terminal_id: terminal_id.into(),
            tz: chrono_tz::Europe::Moscow,
            limits,
            idle_timeout: Duration::seconds(60),
            cash_idle_timeout: Duration::seconds(120),
            idle_warning: Duration::seconds(20),
            done_timeout: Duration::seconds(20),
            first_document_no: 1,
            stack_deadline: Duration::seconds(30),
            startup_deadline: Duration::seconds(60),
            fiscal_retry_min: Duration::seconds(30),
            fiscal_retry_max: Duration::minutes(30),
            shift_close_at: None,
            sbp_request_timeout: Duration::seconds(20),
            sbp_pay_time: Duration::minutes(3),
            sbp_check_timeout: Duration::seconds(30),
        }
    }
}

#[derive(Debug, Clone)]
struct Payment {
    id: String,
    account: CustomerAccount,
    /// What the customer asked per service (same order as `account.services`).
    amounts: Vec<Money>,
}

impl Payment {
    fn requested(&self) -> Money {
        self.amounts.iter().copied().sum()
    }

    /// The split as journaled at `PaymentStarted` (recovery credits exactly this).
    fn requested_services(&self) -> Vec<RequestedService> {
        self.account
            .services
            .iter()
            .zip(&self.amounts)
            .map(|(service, amount)| RequestedService {
                service_id: service.service_id.clone(),
                service_name: service.name.clone(),
                debt_kopecks: service.debt.kopecks(),
                requested_kopecks: amount.kopecks(),
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Cash {
    payment: Payment,
    inserted: Money,
    /// Bill whose STACK was sent and whose outcome is awaited.
    stacking: Option<Money>,
    /// When the bill in `stacking` becomes a stuck note.
    stack_deadline: Option<DateTime<Utc>>,
    /// Notes that went stuck in this payment.
    stuck: Vec<StuckNote>,
    /// Finish was asked for while a bill was in flight.
    finishing: bool,
    notice: Option<Refused<CashProblem>>,
}

#[derive(Debug, Clone)]
enum CardPhase {
    Authorising {
        cancel_requested: bool,
    },
    Completing(CardApproval),
    Reversing(CardApproval),
    /// The outcome is being learned from the terminal; `goods_issued`: 80 00 was sent.
    Unknown {
        goods_issued: bool,
    },
}

#[derive(Debug, Clone)]
struct Card {
    payment: Payment,
    amount: Money,
    prompt: String,
    phase: CardPhase,
}

/// A credited payment on its way to a receipt.
#[derive(Debug, Clone)]
struct Credited {
    payment: Payment,
    method: PaymentMethod,
    total: Money,
    allocations: Vec<Allocation>,
    approval: Option<CardApproval>,
    /// СБП: the bank's operation.
    sbp_operation: Option<String>,
    receipt_id: String,
    stuck: Vec<StuckNote>,
}

impl Credited {
    fn debt_left(&self) -> Money {
        let paid_to_debt: Money = self.allocations.iter().map(|a| a.to_debt).sum();
        self.payment.account.total_debt() - paid_to_debt
    }
}

#[derive(Debug, Clone)]
enum State {
    Welcome,
    AccountEntry {
        purpose: Purpose,
        error: Option<Refused<AccountProblem>>,
    },
    LookingUp {
        purpose: Purpose,
        number: String,
        sum_hint: Option<Money>,
    },
    Summary {
        account: CustomerAccount,
        amounts: Vec<Money>,
        error: Option<Refused<SummaryProblem>>,
    },
    Cash(Cash),
    Card(Card),
    Sbp(sbp::Sbp),
    ReceiptChoice(Credited),
    Fiscalising(Credited, ReceiptChoice),
    Printing(Credited, Option<String>),
    Done {
        credited: Credited,
        delivery: ReceiptDelivery,
        qr: Option<String>,
        message: String,
    },
    Readings {
        account: CustomerAccount,
        refusals: Vec<ReadingRefusal>,
        accepted: Vec<AcceptedReading>,
    },
    ReadingsDone {
        account: String,
        accepted: Vec<AcceptedReading>,
        printed: bool,
        time: DateTime<Utc>,
    },
    CertificateDone {
        certificate_no: String,
        printed: bool,
        account: String,
        holder_masked: String,
        time: DateTime<Utc>,
    },
    Notice {
        text: String,
    },
}

/// The customer session core.
pub struct Session {
    config: SessionConfig,
    rules: Box<dyn ReadingRules>,
    state: State,
    availability: Availability,
    outputs: VecDeque<Output>,
    idle_deadline: Option<DateTime<Utc>>,
    next_no: u64,
    /// The validator's denominations (empty until it reported its bill table).
    bill_table: Vec<Money>,
    /// What the journal says about money (kept in step by [`Session::journaled`]).
    ledger: Ledger,
    /// The fiscal shift's renewal between customers (`shift.rs`).
    shift_renewal: shift::ShiftRenewal,
    /// Crash recovery, unreceipted payments and fiscal retries (`recovery.rs`).
    recovery: recovery::Recovery,
    card_recovery: card_recovery::CardRecovery,
    /// An orderly stop was asked for (`stop.rs`).
    stopping: bool,
    /// The time of the input being handled (journal entries are dated with it).
    now: DateTime<Utc>,
}

/// Allocations as journaled.
pub(crate) fn allocations_to_wire(allocations: &[Allocation]) -> Vec<ServiceAmount> {
    allocations
        .iter()
        .map(|a| ServiceAmount {
            service_id: a.service_id.clone(),
            service_name: a.name.clone(),
            debt_kopecks: a.to_debt.kopecks(),
            advance_kopecks: a.to_advance.kopecks(),
        })
        .collect()
}

impl Session {
    pub fn new(config: SessionConfig, rules: Box<dyn ReadingRules>) -> Session {
        let next_no = config.first_document_no;
        Session {
            config,
            rules,
            state: State::Welcome,
            availability: Availability::default(),
            outputs: VecDeque::new(),
            idle_deadline: None,
            next_no,
            bill_table: Vec::new(),
            ledger: Ledger::default(),
            shift_renewal: shift::ShiftRenewal::default(),
            recovery: recovery::Recovery::default(),
            card_recovery: card_recovery::CardRecovery::default(),
            stopping: false,
            now: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    pub fn set_time_zone(&mut self, tz: chrono_tz::Tz) {
        self.config.tz = tz;
    }

    /// Starts from what the journal says (the ledger replayed at start-up).
    pub fn restore(&mut self, ledger: Ledger) {
        self.ledger = ledger;
    }

    /// What the journal says about money. The runtime hands every appended entry to
    /// [`Session::journaled`], so this stays the journal's view.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Keeps the ledger in step with an entry the runtime journaled itself (device states,
    /// service operations…). The session's own [`Output::Journal`] entries are in it already.
    pub fn journaled(&mut self, seq: u64, date: chrono::NaiveDate, event: &JournalEvent) {
        self.ledger.apply(seq, date, event);
        if matches!(
            event,
            JournalEvent::ShiftOpened { .. } | JournalEvent::ShiftClosed { .. }
        ) {
            self.shift_renewal.answered();
        }
    }

    /// When the open fiscal shift is to be renewed, while no customer is served.
    fn shift_renewal_due(&self) -> Option<DateTime<Utc>> {
        // A receipt whose earlier try may be in the register is looked up first: found after a
        // renewal it would be journaled with the new shift, and that shift's Z-report would
        // not match the journal.
        let lookup_pending = self
            .ledger
            .unreceipted
            .values()
            .any(|u| u.fiscal_attempt.is_some());
        if self.stopping || !self.is_idle() || self.holds_customers(self.now) || lookup_pending {
            return None;
        }
        let opened_at = self.ledger.shift.as_ref().and_then(|s| s.opened_at);
        self.shift_renewal
            .next(opened_at, self.config.shift_close_at, self.config.tz)
    }

    /// Asks the receipt task to renew the shift when it is due and nobody is served.
    fn renew_shift_if_due(&mut self, now: DateTime<Utc>) {
        if self.shift_renewal_due().is_some_and(|due| due <= now) {
            tracing::info!(
                shift = self.ledger.shift.as_ref().map(|s| s.number),
                "renewing the fiscal shift between customers"
            );
            self.shift_renewal.pending = true;
            self.emit(Output::RenewShift);
        }
    }

    /// True when no customer is being served (the kiosk may run service work).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Welcome)
    }

    /// True while money is in flight or being credited: power or service work must wait.
    /// True while start-up recovery keeps customers waiting: the validator has not delivered
    /// what it held, or card payments a restart left open are still put to the terminal.
    pub fn holds_customers(&self, now: DateTime<Utc>) -> bool {
        self.is_recovering() || self.card_recovery.holds_customers(now)
    }

    pub fn holds_money(&self) -> bool {
        matches!(
            self.state,
            State::Cash(_)
                | State::Card(_)
                | State::Sbp(_)
                | State::ReceiptChoice(_)
                | State::Fiscalising(..)
                | State::Printing(..)
        )
    }

    /// True while a cash payment is open (bill reports belong to it).
    pub fn is_accepting_cash(&self) -> bool {
        matches!(self.state, State::Cash(_))
    }

    pub fn availability(&self) -> Availability {
        self.availability
    }

    /// The receipt of a customer who did not choose (gone, timed out, an orderly stop): paper
    /// while there is paper, else on screen only.
    fn unchosen_receipt(&self) -> ReceiptChoice {
        if self.availability.paper {
            ReceiptChoice::Paper
        } else {
            ReceiptChoice::ScreenOnly
        }
    }

    /// The next output to execute.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Session::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let stack = match &self.state {
            State::Cash(cash) => cash.stack_deadline,
            State::Sbp(sbp) => Some(sbp.deadline),
            _ => None,
        };
        [
            self.idle_deadline,
            stack,
            self.recovery.poll_timeout(),
            self.shift_renewal_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn next_number(&mut self) -> u64 {
        let n = self.next_no;
        self.next_no += 1;
        n
    }

    fn document_id(&mut self, prefix: &str, now: DateTime<Utc>) -> String {
        let n = self.next_number();
        format!(
            "{prefix}{}-{}-{n:06}",
            self.config.terminal_id,
            now.format("%y%m%d")
        )
    }

    fn emit(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// Journals `event`: the runtime makes it durable before it runs any later output, so the
    /// ledger takes it now and the session's next decisions see it.
    fn journal(&mut self, event: JournalEvent) {
        let date = self.now.with_timezone(&self.config.tz).date_naive();
        self.ledger.apply(self.ledger.last_seq + 1, date, &event);
        self.outputs.push_back(Output::Journal(event));
    }

    /// Sets the state and (re)starts its idle clock.
    fn enter(&mut self, state: State, now: DateTime<Utc>) {
        self.state = state;
        self.restart_idle_clock(now);
    }

    fn restart_idle_clock(&mut self, now: DateTime<Utc>) {
        let timeout = match &self.state {
            State::Welcome
            | State::LookingUp { .. }
            | State::Card(_)
            | State::Sbp(_)
            | State::Fiscalising(..)
            | State::Printing(..) => None,
            State::Cash(_) => Some(self.config.cash_idle_timeout),
            State::Done { .. }
            | State::ReadingsDone { .. }
            | State::CertificateDone { .. }
            | State::Notice { .. } => Some(self.config.done_timeout),
            _ => Some(self.config.idle_timeout),
        };
        self.idle_deadline = timeout.map(|t| now + t);
    }

    /// Feeds one input.
    pub fn handle(&mut self, input: Input, now: DateTime<Utc>) {
        self.on_input(input, now);
        self.after_step(now);
    }

    /// What follows every input and timeout: the shift's renewal, or a stop's next step.
    fn after_step(&mut self, now: DateTime<Utc>) {
        if self.stopping {
            self.park_for_stop(now);
        } else {
            self.renew_shift_if_due(now);
        }
    }

    fn on_input(&mut self, input: Input, now: DateTime<Utc>) {
        self.now = now;
        match input {
            Input::Ui(_) if self.holds_customers(now) => {
                tracing::info!("start-up recovery still running; the screen waits");
            }
            Input::Ui(_) if self.stopping => {
                tracing::info!("stopping: the screen takes no more touches");
            }
            Input::Ui(intent) => {
                if self.idle_deadline.is_some() {
                    self.restart_idle_clock(now);
                }
                self.on_intent(intent, now);
            }
            Input::Device(DeviceInput::Availability(a)) => self.availability = a,
            Input::Device(DeviceInput::BillTable(mut table)) => {
                table.sort();
                table.dedup();
                self.bill_table = table;
            }
            Input::Device(DeviceInput::BillValidatorSettled) => self.validator_settled(now),
            Input::Device(DeviceInput::CassetteRemoved) => self.cassette_removed(),
            Input::Device(DeviceInput::ShiftRenewalFailed { reason }) => {
                tracing::warn!(%reason, "the fiscal shift was not renewed; trying again later");
                self.shift_renewal.failed(now);
            }
            Input::Device(device) if self.recovery.owns(&device) => {
                self.on_recovery_receipt(device, now)
            }
            Input::Device(DeviceInput::CardRecovery { payment_id, step })
                if self.card_recovery.owns(&payment_id) =>
            {
                self.on_recovered_card_step(&payment_id, step)
            }
            Input::Device(DeviceInput::Sbp(report)) => self.on_sbp_report(report, now),
            Input::Device(device) => self.on_device(device, now),
        }
    }

    /// Call when `now` has reached [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.on_timeout(now);
        self.after_step(now);
    }

    fn on_timeout(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.recovery_timeout(now);
        let stack_overdue =
            matches!(&self.state, State::Cash(c) if c.stack_deadline.is_some_and(|t| now >= t));
        if stack_overdue {
            if let State::Cash(cash) = std::mem::replace(&mut self.state, State::Welcome) {
                return self.stuck_in_cash(cash, None, "no outcome within the deadline", now);
            }
        }
        if matches!(&self.state, State::Sbp(sbp) if now >= sbp.deadline) {
            if let State::Sbp(sbp) = std::mem::replace(&mut self.state, State::Welcome) {
                return self.sbp_deadline(sbp, now);
            }
        }
        match self.idle_deadline {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        self.idle_deadline = None;
        let state = std::mem::replace(&mut self.state, State::Welcome);
        match state {
            State::Cash(cash) => self.finish_cash(cash, true, now),
            State::ReceiptChoice(credited) => {
                let choice = self.unchosen_receipt();
                self.fiscalise(credited, choice, now);
            }
            State::Summary { .. }
            | State::AccountEntry { .. }
            | State::Readings { .. }
            | State::Done { .. }
            | State::ReadingsDone { .. }
            | State::CertificateDone { .. }
            | State::Notice { .. }
            | State::Welcome => self.enter(State::Welcome, now),
            other => {
                // States that wait on a device keep waiting; they have no idle clock.
                self.state = other;
            }
        }
    }

    fn on_intent(&mut self, intent: Intent, now: DateTime<Utc>) {
        let state = std::mem::replace(&mut self.state, State::Welcome);
        let next = match (state, intent) {
            (state, Intent::Touch) => state,
            (State::Welcome, Intent::Start(purpose)) => State::AccountEntry {
                purpose,
                error: None,
            },
            (
                State::Welcome
                | State::AccountEntry {
                    purpose: Purpose::Pay,
                    ..
                },
                Intent::SubmitScannedBill { account, sum },
            ) => {
                self.emit(Output::LookupAccount {
                    number: account.clone(),
                });
                State::LookingUp {
                    purpose: Purpose::Pay,
                    number: account,
                    sum_hint: sum,
                }
            }
            (
                State::Welcome
                | State::AccountEntry {
                    purpose: Purpose::Pay,
                    ..
                },
                Intent::ScanRefused { message },
            ) => State::AccountEntry {
                // The keypad, so the customer can type the number the code did not give.
                purpose: Purpose::Pay,
                error: Some(Refused::new(AccountProblem::UnknownCode, message)),
            },
            (State::AccountEntry { purpose, .. }, Intent::SubmitAccount(text)) => {
                let number: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                if number.is_empty() {
                    State::AccountEntry {
                        purpose,
                        error: Some(Refused::new(
                            AccountProblem::Empty,
                            "Введите номер лицевого счёта",
                        )),
                    }
                } else {
                    self.emit(Output::LookupAccount {
                        number: number.clone(),
                    });
                    State::LookingUp {
                        purpose,
                        number,
                        sum_hint: None,
                    }
                }
            }
            (
                State::Summary {
                    account,
                    mut amounts,
                    ..
                },
                Intent::SetServiceAmount { index, text },
            ) => {
                let bad = |message: String| Some(Refused::new(SummaryProblem::BadAmount, message));
                let error = match (amounts.get_mut(index), Money::parse(&text)) {
                    (None, _) => bad("Нет такой услуги".to_string()),
                    (Some(_), Err(_)) => bad(format!(
                        "«{text}» — не сумма. Введите рубли и копейки, например 1500,00"
                    )),
                    (Some(_), Ok(m)) if m < Money::ZERO => {
                        bad("Сумма не может быть отрицательной".into())
                    }
                    (Some(slot), Ok(m)) => {
                        *slot = m;
                        None
                    }
                };
                State::Summary {
                    account,
                    amounts,
                    error,
                }
            }
            (
                State::Summary {
                    account, amounts, ..
                },
                Intent::PayCash,
            ) => self.start_cash(account, amounts, now),
            (
                State::Summary {
                    account, amounts, ..
                },
                Intent::PayCard,
            ) => self.start_card(account, amounts, now),
            (
                State::Summary {
                    account, amounts, ..
                },
                Intent::PaySbp,
            ) => self.start_sbp(account, amounts, now),
            (State::Sbp(sbp), Intent::Cancel) => self.cancel_sbp(sbp, now),
            (State::Cash(cash), Intent::FinishCash | Intent::Cancel | Intent::Home) => {
                self.finish_cash(cash, false, now);
                return;
            }
            (State::Card(mut card), Intent::Cancel) => {
                if let CardPhase::Authorising {
                    cancel_requested: false,
                } = card.phase
                {
                    card.phase = CardPhase::Authorising {
                        cancel_requested: true,
                    };
                    card.prompt = "Отменяем оплату…".into();
                    self.emit(Output::Card(CardCommand::Abort));
                }
                State::Card(card)
            }
            (State::ReceiptChoice(credited), Intent::ChooseReceipt(choice)) => {
                let choice = match choice {
                    ReceiptChoice::Paper if !self.availability.paper => ReceiptChoice::ScreenOnly,
                    other => other,
                };
                self.fiscalise(credited, choice, now);
                return;
            }
            (
                State::Done { credited, qr, .. },
                Intent::ChooseReceipt(ReceiptChoice::Electronic(contact)),
            ) => {
                self.journal(JournalEvent::EReceiptRequested {
                    receipt_id: credited.receipt_id.clone(),
                    contact: contact.clone(),
                });
                let message = match contact {
                    ReceiptContact::Sms(_) => "Чек отправлен по SMS".to_string(),
                    ReceiptContact::Email(_) => "Чек отправлен на электронную почту".to_string(),
                };
                State::Done {
                    credited,
                    delivery: ReceiptDelivery::Sent {
                        to: mask_contact(&contact),
                    },
                    qr,
                    message,
                }
            }
            (State::Done { credited, .. }, Intent::RequestCertificate)
                if credited.debt_left() <= Money::ZERO =>
            {
                self.issue_certificate(&credited.payment.account, now)
            }
            (
                State::Readings {
                    account,
                    refusals,
                    accepted,
                },
                Intent::SubmitReadings(inputs),
            ) => self.check_readings(account, refusals, accepted, inputs, now),
            (
                State::Readings {
                    account, accepted, ..
                },
                Intent::Cancel,
            ) if !accepted.is_empty() => State::ReadingsDone {
                account: account.number,
                accepted,
                printed: false,
                time: now,
            },
            (
                State::ReadingsDone {
                    account,
                    accepted,
                    printed: false,
                    time,
                },
                Intent::PrintReadingSlip,
            ) => {
                let printed = self.availability.paper;
                if printed {
                    self.emit(Output::PrintSlip(SlipRequest::Readings {
                        account: account.clone(),
                        accepted: accepted.clone(),
                        time: now,
                    }));
                }
                State::ReadingsDone {
                    account,
                    accepted,
                    printed,
                    time,
                }
            }
            // Cancel and Home leave every state that holds no money.
            (
                state @ (State::Card(_)
                | State::Sbp(_)
                | State::Fiscalising(..)
                | State::Printing(..)
                | State::LookingUp { .. }),
                _,
            ) => state,
            (State::ReceiptChoice(credited), Intent::Cancel | Intent::Home) => {
                // The money is credited already: a receipt is still due. Paper if possible.
                let choice = self.unchosen_receipt();
                self.fiscalise(credited, choice, now);
                return;
            }
            (State::Summary { .. }, Intent::Cancel) => State::AccountEntry {
                purpose: Purpose::Pay,
                error: None,
            },
            (_, Intent::Cancel | Intent::Home) => State::Welcome,
            (state, _) => state,
        };
        self.enter(next, now);
    }

    fn start_cash(
        &mut self,
        account: CustomerAccount,
        amounts: Vec<Money>,
        now: DateTime<Utc>,
    ) -> State {
        let allowed = self.config.limits.allowed_now(account.paid_today);
        if !self.availability.cash {
            return State::Summary {
                account,
                amounts,
                error: Some(Refused::new(
                    SummaryProblem::CashUnavailable,
                    "Приём наличных сейчас недоступен — оплатите картой",
                )),
            };
        }
        if allowed <= Money::ZERO {
            let error = self
                .config
                .limits
                .check(Money::from_kopecks(1), account.paid_today)
                .err()
                .map(limit_refusal);
            return State::Summary {
                account,
                amounts,
                error,
            };
        }
        let payment = self.begin_payment(account, amounts, PaymentMethod::Cash, now);
        self.emit(Output::Bill(BillCommand::Enable { max_bill: allowed }));
        State::Cash(Cash {
            payment,
            inserted: Money::ZERO,
            stacking: None,
            stack_deadline: None,
            stuck: Vec::new(),
            finishing: false,
            notice: None,
        })
    }

    fn start_card(
        &mut self,
        account: CustomerAccount,
        amounts: Vec<Money>,
        now: DateTime<Utc>,
    ) -> State {
        let total: Money = amounts.iter().copied().sum();
        // A card payment a restart left open is settled on the terminal before it takes another.
        if !self.availability.card || self.card_recovery.is_settling() {
            return State::Summary {
                account,
                amounts,
                error: Some(Refused::new(
                    SummaryProblem::CardUnavailable,
                    "Оплата картой сейчас недоступна — оплатите наличными",
                )),
            };
        }
        if total <= Money::ZERO {
            return State::Summary {
                account,
                amounts,
                error: Some(Refused::new(
                    SummaryProblem::ZeroAmount,
                    "Введите сумму к оплате больше нуля",
                )),
            };
        }
        if let Err(e) = self.config.limits.check(total, account.paid_today) {
            return State::Summary {
                account,
                amounts,
                error: Some(limit_refusal(e)),
            };
        }
        let payment = self.begin_payment(account, amounts, PaymentMethod::Card, now);
        let payment_id = payment.id.clone();
        self.journal(JournalEvent::CardAuthorisationRequested {
            payment_id: payment_id.clone(),
            amount_kopecks: total.kopecks(),
        });
        self.emit(Output::Card(CardCommand::Authorise {
            payment_id,
            amount: total,
        }));
        State::Card(Card {
            payment,
            amount: total,
            prompt: "Приложите или вставьте карту".into(),
            phase: CardPhase::Authorising {
                cancel_requested: false,
            },
        })
    }

    /// A new payment of `amounts` to `account`, journaled with the customer's split before any
    /// device is asked to take money.
    fn begin_payment(
        &mut self,
        account: CustomerAccount,
        amounts: Vec<Money>,
        method: PaymentMethod,
        now: DateTime<Utc>,
    ) -> Payment {
        let payment = Payment {
            id: self.document_id("P", now),
            account,
            amounts,
        };
        self.journal(JournalEvent::PaymentStarted {
            payment_id: payment.id.clone(),
            account: payment.account.number.clone(),
            account_verified: payment.account.verified,
            method,
            requested_kopecks: payment.requested().kopecks(),
            services: payment.requested_services(),
        });
        payment
    }

    /// Ends cash intake: waits for a bill in flight, then credits what was stacked.
    fn finish_cash(&mut self, mut cash: Cash, by_timeout: bool, now: DateTime<Utc>) {
        if !cash.finishing {
            self.emit(Output::Bill(BillCommand::Disable));
        }
        if cash.stacking.is_some() {
            cash.finishing = true;
            self.state = State::Cash(cash);
            self.idle_deadline = None;
            return;
        }
        if cash.inserted <= Money::ZERO && !cash.stuck.is_empty() {
            let references: Vec<&str> = cash.stuck.iter().map(|n| n.reference.as_str()).collect();
            self.journal(JournalEvent::PaymentCancelled {
                payment_id: cash.payment.id.clone(),
                reason: format!("nothing stacked; stuck note {}", references.join(", ")),
            });
            let text = stuck_notice(&cash.stuck);
            self.enter(State::Notice { text }, now);
            return;
        }
        if cash.inserted <= Money::ZERO {
            self.journal(JournalEvent::PaymentCancelled {
                payment_id: cash.payment.id.clone(),
                reason: if self.stopping {
                    "terminal stopping, nothing inserted"
                } else if by_timeout {
                    "idle timeout, nothing inserted"
                } else {
                    "cancelled, nothing inserted"
                }
                .into(),
            });
            let next = if by_timeout {
                State::Welcome
            } else {
                State::Summary {
                    account: cash.payment.account,
                    amounts: cash.payment.amounts,
                    error: None,
                }
            };
            self.enter(next, now);
            return;
        }
        let mut credited = self.credit(cash.payment, PaymentMethod::Cash, cash.inserted, None, now);
        credited.stuck = cash.stuck;
        if by_timeout {
            let choice = self.unchosen_receipt();
            self.fiscalise(credited, choice, now);
        } else {
            self.enter(State::ReceiptChoice(credited), now);
        }
    }

    fn credit(
        &mut self,
        payment: Payment,
        method: PaymentMethod,
        total: Money,
        approval: Option<CardApproval>,
        now: DateTime<Utc>,
    ) -> Credited {
        let allocations = allocate_requested(total, &payment.account.services, &payment.amounts);
        self.journal(JournalEvent::PaymentCompleted {
            payment_id: payment.id.clone(),
            account: payment.account.number.clone(),
            method,
            total_kopecks: total.kopecks(),
            allocations: allocations_to_wire(&allocations),
        });
        let receipt_id = self.document_id("R", now);
        Credited {
            payment,
            method,
            total,
            allocations,
            approval,
            sbp_operation: None,
            receipt_id,
            stuck: Vec::new(),
        }
    }

    fn fiscalise(&mut self, credited: Credited, choice: ReceiptChoice, now: DateTime<Utc>) {
        let contact = match &choice {
            ReceiptChoice::Electronic(contact) => Some(contact.clone()),
            _ => None,
        };
        let (cash, card) = match credited.method {
            PaymentMethod::Cash => (credited.total, Money::ZERO),
            PaymentMethod::Card | PaymentMethod::Sbp => (Money::ZERO, credited.total),
        };
        self.send_to_fiscal(FiscalRequest {
            receipt_id: credited.receipt_id.clone(),
            payment_id: credited.payment.id.clone(),
            account: credited.payment.account.number.clone(),
            allocations: credited.allocations.clone(),
            cash,
            card,
            contact,
            card_approval: credited.approval.clone(),
            sbp_operation: credited.sbp_operation.clone(),
            stuck_notes: credited.stuck.clone(),
            resume: None,
        });
        self.enter(State::Fiscalising(credited, choice), now);
    }

    fn issue_certificate(&mut self, account: &CustomerAccount, now: DateTime<Utc>) -> State {
        let certificate_no = self.document_id("C", now);
        self.journal(JournalEvent::NoDebtCertificateIssued {
            account: account.number.clone(),
            certificate_no: certificate_no.clone(),
        });
        let printed = self.availability.paper;
        if printed {
            self.emit(Output::PrintSlip(SlipRequest::NoDebtCertificate {
                account: account.number.clone(),
                holder_masked: account.holder_masked.clone(),
                address_masked: account.address_masked.clone(),
                certificate_no: certificate_no.clone(),
                time: now,
            }));
        }
        State::CertificateDone {
            certificate_no,
            printed,
            account: account.number.clone(),
            holder_masked: account.holder_masked.clone(),
            time: now,
        }
    }

    fn check_readings(
        &mut self,
        account: CustomerAccount,
        _old_refusals: Vec<ReadingRefusal>,
        mut accepted: Vec<AcceptedReading>,
        inputs: Vec<ReadingInput>,
        now: DateTime<Utc>,
    ) -> State {
        let mut refusals = Vec::new();
        let inputs: Vec<ReadingInput> = inputs
            .into_iter()
            .filter(|i| !i.text.trim().is_empty())
            .collect();
        for input in &inputs {
            if !account.meters.iter().any(|m| m.id == input.meter_id) {
                refusals.push(ReadingRefusal {
                    meter_id: input.meter_id.clone(),
                    zone: input.zone.clone(),
                    kind: ReadingProblem::UnknownMeter,
                    message: "Такого прибора учёта нет на этом лицевом счёте".into(),
                });
            }
        }
        // A meter's zones are checked together: a reading is only whole with every zone.
        for meter in &account.meters {
            let typed: Vec<ReadingInput> = inputs
                .iter()
                .filter(|i| i.meter_id == meter.id)
                .cloned()
                .collect();
            if typed.is_empty() {
                continue;
            }
            match self.rules.check_meter(&account, meter, &typed, now) {
                Ok(values) => {
                    for (zone, value) in values {
                        let previous = meter
                            .zones
                            .iter()
                            .find(|z| z.code == zone)
                            .map(|z| z.previous)
                            .unwrap_or(0);
                        let registration_no = self.document_id("M", now);
                        self.journal(JournalEvent::MeterReadingAccepted {
                            registration_no: registration_no.clone(),
                            account: account.number.clone(),
                            meter_id: meter.id.clone(),
                            zone: zone.clone(),
                            value,
                            previous,
                        });
                        accepted.retain(|a| !(a.meter_id == meter.id && a.zone == zone));
                        accepted.push(AcceptedReading {
                            registration_no,
                            meter_id: meter.id.clone(),
                            meter_name: meter.name.clone(),
                            zone,
                            value,
                            previous,
                        });
                    }
                }
                Err(Refused { kind, message }) => {
                    for input in typed {
                        self.journal(JournalEvent::MeterReadingRefused {
                            account: account.number.clone(),
                            meter_id: input.meter_id.clone(),
                            zone: input.zone.clone(),
                            value: input.text.trim().parse().unwrap_or(0),
                            reason: message.clone(),
                        });
                        refusals.push(ReadingRefusal {
                            meter_id: input.meter_id,
                            zone: input.zone,
                            kind,
                            message: message.clone(),
                        });
                    }
                }
            }
        }
        if refusals.is_empty() && !accepted.is_empty() {
            State::ReadingsDone {
                account: account.number,
                accepted,
                printed: false,
                time: now,
            }
        } else {
            State::Readings {
                account,
                refusals,
                accepted,
            }
        }
    }

    fn on_device(&mut self, input: DeviceInput, now: DateTime<Utc>) {
        let state = std::mem::replace(&mut self.state, State::Welcome);
        match (state, input) {
            (
                State::LookingUp {
                    purpose, sum_hint, ..
                },
                DeviceInput::AccountFound(account),
            ) => {
                let next = match purpose {
                    Purpose::Pay => {
                        let amounts = initial_amounts(&account, sum_hint);
                        State::Summary { account, amounts, error: None }
                    }
                    Purpose::Readings if account.meters.is_empty() => State::Notice {
                        text: "На этом лицевом счёте нет приборов учёта, показания которых принимает терминал. Обратитесь в офис обслуживания.".into(),
                    },
                    Purpose::Readings => State::Readings { account, refusals: Vec::new(), accepted: Vec::new() },
                    Purpose::Certificate if account.verified && account.total_debt() <= Money::ZERO => self.issue_certificate(&account, now),
                    Purpose::Certificate if !account.verified => State::Notice {
                        text: "Нет связи с расчётным центром: справку сейчас выдать нельзя. Попробуйте позже или обратитесь в офис.".into(),
                    },
                    Purpose::Certificate => {
                        let debt = account.total_debt();
                        let error = Some(Refused::new(SummaryProblem::HasDebt { debt }, format!(
                            "Справка выдаётся, когда задолженности нет. Задолженность: {debt}. Оплатите её — и справку можно будет получить сразу."
                        )));
                        let amounts = initial_amounts(&account, None);
                        State::Summary { account, amounts, error }
                    }
                };
                self.enter(next, now);
            }
            (
                State::LookingUp {
                    purpose, number, ..
                },
                DeviceInput::AccountNotFound { .. },
            ) => {
                let error = Some(Refused::new(
                    AccountProblem::NotFound,
                    format!("Лицевой счёт {number} не найден. Проверьте номер по квитанции."),
                ));
                self.enter(State::AccountEntry { purpose, error }, now);
            }
            (
                State::LookingUp { purpose, .. },
                DeviceInput::AccountRefused { problem, message },
            ) => {
                self.enter(
                    State::AccountEntry {
                        purpose,
                        error: Some(Refused::new(problem, message)),
                    },
                    now,
                );
            }
            (
                State::Welcome | State::AccountEntry { .. },
                DeviceInput::AccountRefused { problem, message },
            ) => {
                self.enter(
                    State::AccountEntry {
                        purpose: Purpose::Pay,
                        error: Some(Refused::new(problem, message)),
                    },
                    now,
                );
            }
            (
                State::Cash(cash),
                input @ (DeviceInput::BillEscrow(_)
                | DeviceInput::BillStacked(_)
                | DeviceInput::BillReturned(_)
                | DeviceInput::BillRejected { .. }
                | DeviceInput::BillJammed { .. }
                | DeviceInput::BillPowerUp { .. }),
            ) => self.on_cash(cash, input, now),
            (State::Card(card), input) => self.on_card(card, input, now),
            (
                State::Fiscalising(credited, choice),
                DeviceInput::Fiscalised {
                    receipt_id,
                    fiscal,
                    printed_by_register,
                },
            ) if receipt_id == credited.receipt_id => {
                self.journal(JournalEvent::ReceiptFiscalised {
                    receipt_id: receipt_id.clone(),
                    payment_id: Some(credited.payment.id.clone()),
                    total_kopecks: credited.total.kopecks(),
                    fiscal: fiscal.clone(),
                    printed_by_register,
                });
                if let ReceiptChoice::Electronic(contact) = &choice {
                    self.journal(JournalEvent::EReceiptRequested {
                        receipt_id: receipt_id.clone(),
                        contact: contact.clone(),
                    });
                }
                let qr = Some(fiscal.qr.clone());
                match choice {
                    ReceiptChoice::Paper if printed_by_register => {
                        self.journal(JournalEvent::ReceiptPrinted { receipt_id });
                        self.done(
                            credited,
                            ReceiptDelivery::Printed,
                            qr,
                            "Возьмите чек".into(),
                            now,
                        );
                    }
                    ReceiptChoice::Paper => {
                        self.emit(Output::PrintReceipt { receipt_id });
                        self.enter(State::Printing(credited, qr), now);
                    }
                    ReceiptChoice::Electronic(contact) => self.done(
                        credited,
                        ReceiptDelivery::Sent {
                            to: mask_contact(&contact),
                        },
                        qr,
                        "Чек будет отправлен в течение 5 минут".into(),
                        now,
                    ),
                    ReceiptChoice::ScreenOnly => self.done(
                        credited,
                        ReceiptDelivery::OnScreen,
                        qr,
                        "Отсканируйте QR-код — это ваш кассовый чек".into(),
                        now,
                    ),
                }
            }
            (
                State::Fiscalising(credited, _),
                DeviceInput::FiscalisationFailed { receipt_id, reason },
            ) if receipt_id == credited.receipt_id => {
                self.journal(JournalEvent::FiscalisationFailed {
                    receipt_id,
                    payment_id: Some(credited.payment.id.clone()),
                    reason,
                });
                self.schedule_fiscal_retry(now);
                self.done(credited, ReceiptDelivery::Later, None, "Платёж зачислен. Чек не удалось оформить — он будет оформлен и отправлен позже.".into(), now);
            }
            (State::Printing(credited, qr), DeviceInput::Printed { receipt_id })
                if receipt_id == credited.receipt_id =>
            {
                self.journal(JournalEvent::ReceiptPrinted { receipt_id });
                self.done(
                    credited,
                    ReceiptDelivery::Printed,
                    qr,
                    "Возьмите чек".into(),
                    now,
                );
            }
            (State::Printing(credited, qr), DeviceInput::PrintFailed { receipt_id, reason })
                if receipt_id == credited.receipt_id =>
            {
                self.journal(JournalEvent::ReceiptUnprinted { receipt_id, reason });
                self.done(
                    credited,
                    ReceiptDelivery::OnScreen,
                    qr,
                    "Платёж зачислен, но чек не напечатан. Отсканируйте QR-код чека или получите чек по SMS или e-mail.".into(),
                    now,
                );
            }
            (state, DeviceInput::BillEscrow(_)) => {
                // No cash payment is open (a bill left in escrow across a restart, or inserted
                // while the screen was elsewhere): give it back rather than keep the validator
                // holding it.
                self.emit(Output::Bill(BillCommand::Return));
                self.state = state;
            }
            (
                state,
                input @ (DeviceInput::BillStacked(_)
                | DeviceInput::BillReturned(_)
                | DeviceInput::BillJammed { .. }
                | DeviceInput::BillPowerUp { .. }),
            ) => {
                // No cash payment is open: the tail of a payment a crash interrupted, a stuck
                // note reported late, or a repeat of a report already journaled.
                self.state = state;
                self.bill_outside_payment(input, now);
            }
            (state, _) => self.state = state,
        }
    }

    fn done(
        &mut self,
        credited: Credited,
        delivery: ReceiptDelivery,
        qr: Option<String>,
        message: String,
        now: DateTime<Utc>,
    ) {
        self.enter(
            State::Done {
                credited,
                delivery,
                qr,
                message,
            },
            now,
        );
    }

    fn on_cash(&mut self, mut cash: Cash, input: DeviceInput, now: DateTime<Utc>) {
        let pid = Some(cash.payment.id.clone());
        let max_left = self
            .config
            .limits
            .allowed_now(cash.payment.account.paid_today)
            - cash.inserted;
        match input {
            DeviceInput::BillEscrow(bill) => {
                if cash.finishing || cash.stacking.is_some() {
                    self.emit(Output::Bill(BillCommand::Return));
                } else if bill > max_left {
                    cash.notice = Some(Refused::new(CashProblem::OverLimit, format!("Купюра {bill} не принята: можно внести ещё не больше {max_left}. Возьмите купюру.")));
                    self.emit(Output::Bill(BillCommand::Return));
                } else {
                    self.journal(JournalEvent::BillStackRequested {
                        payment_id: pid,
                        denomination_kopecks: bill.kopecks(),
                    });
                    self.emit(Output::Bill(BillCommand::Stack));
                    cash.stacking = Some(bill);
                    cash.stack_deadline = Some(now + self.config.stack_deadline);
                    cash.notice = None;
                }
            }
            DeviceInput::BillStacked(_)
            | DeviceInput::BillPowerUp {
                bill: Some(BillPlace::Stacker),
            } if cash.stacking.is_some() => {
                // The credit point: the bill whose stack this payment asked for (a power-up
                // with the bill in the stacker says the same).
                let bill = cash.stacking.take().unwrap_or(Money::ZERO);
                cash.stack_deadline = None;
                self.journal(JournalEvent::BillStacked {
                    payment_id: pid,
                    denomination_kopecks: bill.kopecks(),
                });
                cash.inserted += bill;
                let left = max_left - bill;
                if cash.finishing || left <= Money::ZERO {
                    return self.finish_cash(cash, false, now);
                }
                self.emit(Output::Bill(BillCommand::Enable { max_bill: left }));
            }
            DeviceInput::BillStacked(bill) => {
                // No stack is open in this payment: a report repeated after a lost ACK, or a
                // stuck note reported late. Never credited to the customer in front of the kiosk.
                self.state = State::Cash(cash);
                return self.stacked_without_intent(bill, now);
            }
            DeviceInput::BillReturned(bill) => {
                let instead_of_stacked = cash.stacking.take();
                cash.stack_deadline = None;
                let bill = if bill > Money::ZERO {
                    bill
                } else {
                    instead_of_stacked.unwrap_or(bill)
                };
                self.journal(JournalEvent::BillReturned {
                    payment_id: pid,
                    denomination_kopecks: bill.kopecks(),
                    reason: if instead_of_stacked.is_some() {
                        "returned instead of stacked"
                    } else {
                        "returned"
                    }
                    .into(),
                });
                if cash.finishing {
                    return self.finish_cash(cash, false, now);
                }
            }
            DeviceInput::BillPowerUp {
                bill: Some(BillPlace::Validator),
            } if cash.stacking.is_some() => {
                let bill = cash.stacking.take().unwrap_or(Money::ZERO);
                cash.stack_deadline = None;
                self.journal(JournalEvent::BillReturned {
                    payment_id: pid,
                    denomination_kopecks: bill.kopecks(),
                    reason: "power cut while stacking: the bill came back".into(),
                });
                if cash.finishing {
                    return self.finish_cash(cash, false, now);
                }
            }
            DeviceInput::BillJammed { denomination } => {
                return self.stuck_in_cash(cash, denomination, "the validator jammed", now);
            }
            DeviceInput::BillPowerUp { bill: None } if cash.stacking.is_some() => {
                return self.stuck_in_cash(
                    cash,
                    None,
                    "the validator powered up without the bill",
                    now,
                );
            }
            DeviceInput::BillRejected { reason } => {
                self.journal(JournalEvent::BillRejected {
                    payment_id: pid,
                    reason: reason.clone(),
                });
                cash.notice = Some(Refused::new(CashProblem::Rejected, reason));
            }
            _ => {}
        }
        let keep_clock = cash.finishing || cash.stacking.is_some();
        self.state = State::Cash(cash);
        if keep_clock {
            self.idle_deadline = None;
        } else {
            self.restart_idle_clock(now);
        }
    }

    /// A note in flight has no outcome (a jam, a power-up without it, silence past the
    /// deadline): it is journaled as a stuck note and the payment ends with what was stacked.
    /// A jam with no bill in flight ends the payment too: the validator takes no more.
    fn stuck_in_cash(
        &mut self,
        mut cash: Cash,
        jammed_bill: Option<Money>,
        reason: &str,
        now: DateTime<Utc>,
    ) {
        cash.stack_deadline = None;
        if let Some(bill) = cash.stacking.take().or(jammed_bill) {
            let reference = self.document_id("S", now);
            self.journal(JournalEvent::BillStuck {
                payment_id: Some(cash.payment.id.clone()),
                account: cash.payment.account.number.clone(),
                denomination_kopecks: bill.kopecks(),
                reference: reference.clone(),
                reason: reason.into(),
            });
            cash.stuck.push(StuckNote {
                reference,
                denomination: bill,
            });
        }
        self.finish_cash(cash, false, now);
    }

    fn on_card(&mut self, mut card: Card, input: DeviceInput, now: DateTime<Utc>) {
        let pid = card.payment.id.clone();
        match (input, card.phase.clone()) {
            (DeviceInput::CardPrompt(text), CardPhase::Authorising { .. }) => card.prompt = text,
            (
                DeviceInput::CardApproved(approval),
                phase @ (CardPhase::Authorising { .. } | CardPhase::Unknown { .. }),
            ) => {
                let cancel_requested = matches!(
                    phase,
                    CardPhase::Authorising {
                        cancel_requested: true
                    }
                );
                self.journal(JournalEvent::CardApproved {
                    payment_id: pid.clone(),
                    approval: approval.clone(),
                });
                let issued = !cancel_requested && approval.amount_kopecks == card.amount.kopecks();
                self.emit(Output::Card(CardCommand::GoodsIssued {
                    payment_id: pid,
                    issued,
                }));
                card.phase = if issued {
                    CardPhase::Completing(approval)
                } else {
                    CardPhase::Reversing(approval)
                };
                card.prompt = "Завершаем оплату…".into();
            }
            (DeviceInput::CardCompleted, CardPhase::Completing(approval)) => {
                self.card_completed(pid, card.payment, approval, now);
                return;
            }
            (
                DeviceInput::CardReversed,
                CardPhase::Reversing(approval) | CardPhase::Completing(approval),
            ) => {
                self.journal(JournalEvent::CardReversed {
                    payment_id: pid.clone(),
                    receipt_no: approval.receipt_no,
                    amount_kopecks: approval.amount_kopecks,
                });
                self.card_payment_ended(
                    card,
                    "card payment reversed",
                    Refused::new(
                        SummaryProblem::CardReversed,
                        "Оплата отменена, деньги вернутся на карту",
                    ),
                    now,
                );
                return;
            }
            (
                DeviceInput::CardDeclined { reason },
                CardPhase::Authorising { .. } | CardPhase::Unknown { .. },
            ) => {
                self.journal(JournalEvent::CardDeclined {
                    payment_id: pid.clone(),
                    reason: reason.clone(),
                });
                self.card_payment_ended(
                    card,
                    "card declined",
                    Refused::new(
                        SummaryProblem::CardDeclined,
                        format!("Оплата не прошла: {reason}"),
                    ),
                    now,
                );
                return;
            }
            (
                DeviceInput::CardCancelled,
                CardPhase::Authorising { .. } | CardPhase::Unknown { .. },
            ) => {
                self.card_payment_ended(
                    card,
                    "card payment cancelled",
                    Refused::new(SummaryProblem::CardCancelled, "Оплата картой отменена"),
                    now,
                );
                return;
            }
            (
                DeviceInput::CardOutcomeUnknown { detail },
                phase @ (CardPhase::Authorising { .. }
                | CardPhase::Completing(_)
                | CardPhase::Reversing(_)),
            ) => {
                // The reader is now blocked; the card task asks it (06 20) and reports the answer.
                self.journal(JournalEvent::CardOutcomeUnknown {
                    payment_id: pid.clone(),
                    detail,
                });
                card.phase = CardPhase::Unknown {
                    goods_issued: matches!(phase, CardPhase::Completing(_)),
                };
                card.prompt = "Проверяем результат оплаты, не уходите…".into();
                self.emit(Output::Card(CardCommand::Recover { payment_id: pid }));
            }
            (
                DeviceInput::CardRecovery { payment_id, step },
                CardPhase::Unknown { goods_issued },
            ) if payment_id == pid => {
                // The card task learned something (06 20, 06 30); what it means is decided here.
                match self.settle_card_step(&pid, step, goods_issued) {
                    CardSettled::Pending => {}
                    CardSettled::Credited(approval) => {
                        let amount = Money::from_kopecks(approval.amount_kopecks);
                        let credited = self.credit(
                            card.payment,
                            PaymentMethod::Card,
                            amount,
                            Some(approval),
                            now,
                        );
                        self.enter(State::ReceiptChoice(credited), now);
                        return;
                    }
                    CardSettled::Reversed => {
                        self.card_payment_ended(
                            card,
                            "card payment not completed: reversed",
                            Refused::new(
                                SummaryProblem::CardReversed,
                                "Оплата не завершена, деньги вернутся на карту",
                            ),
                            now,
                        );
                        return;
                    }
                    CardSettled::NotCharged => {
                        self.card_payment_ended(
                            card,
                            "card payment outcome learned: nothing charged",
                            Refused::new(
                                SummaryProblem::CardDeclined,
                                "Оплата не прошла, деньги не списаны",
                            ),
                            now,
                        );
                        return;
                    }
                }
            }
            (DeviceInput::CardCompleted, CardPhase::Unknown { .. }) => {
                // Recovery learned the payment was approved and completed, approval details unknown
                // here: the card glue reports CardApproved first, so this is not expected.
            }
            (DeviceInput::CardReversed, CardPhase::Unknown { .. }) => {
                self.card_payment_ended(
                    card,
                    "card payment not completed",
                    Refused::new(
                        SummaryProblem::CardReversed,
                        "Оплата не завершена, деньги вернутся на карту",
                    ),
                    now,
                );
                return;
            }
            _ => {}
        }
        self.state = State::Card(card);
    }

    /// A card payment that took no money: journal its end and go back to the summary with the
    /// reason on screen.
    /// The terminal holds the money and the goods were issued: journal the completion, credit
    /// the payment and go on to the receipt choice.
    fn card_completed(
        &mut self,
        payment_id: String,
        payment: Payment,
        approval: CardApproval,
        now: DateTime<Utc>,
    ) {
        let amount = Money::from_kopecks(approval.amount_kopecks);
        self.journal(JournalEvent::CardCompleted {
            payment_id,
            amount_kopecks: approval.amount_kopecks,
        });
        let credited = self.credit(payment, PaymentMethod::Card, amount, Some(approval), now);
        self.enter(State::ReceiptChoice(credited), now);
    }

    fn card_payment_ended(
        &mut self,
        card: Card,
        reason: &str,
        message: Refused<SummaryProblem>,
        now: DateTime<Utc>,
    ) {
        self.journal(JournalEvent::PaymentCancelled {
            payment_id: card.payment.id.clone(),
            reason: reason.into(),
        });
        let state = State::Summary {
            account: card.payment.account,
            amounts: card.payment.amounts,
            error: Some(message),
        };
        self.enter(state, now);
    }

    /// What the screen shows now.
    pub fn view(&self) -> View {
        let screen = match &self.state {
            State::Welcome => Screen::Welcome,
            State::AccountEntry { purpose, error } => Screen::AccountEntry {
                purpose: *purpose,
                error: error.clone(),
            },
            State::LookingUp {
                purpose, number, ..
            } => Screen::LookingUp {
                purpose: *purpose,
                number: number.clone(),
            },
            State::Summary {
                account,
                amounts,
                error,
            } => {
                let total = amounts.iter().copied().sum();
                // Without a refusal to show, say which limit the chosen total runs into.
                let notice = error.clone().or_else(|| {
                    self.config
                        .limits
                        .check(total, account.paid_today)
                        .err()
                        .map(limit_refusal)
                });
                Screen::Summary {
                    account: account.clone(),
                    amounts: amounts.clone(),
                    total,
                    max_payment: self.config.limits.allowed_now(account.paid_today),
                    notice,
                    cash: self.availability.cash,
                    card: self.availability.card,
                    sbp: self.availability.sbp && self.availability.online,
                }
            }
            State::Cash(cash) => {
                let limit = self
                    .config
                    .limits
                    .allowed_now(cash.payment.account.paid_today);
                let max_left = limit - cash.inserted;
                Screen::Cash {
                    account: cash.payment.account.number.clone(),
                    requested: cash.payment.requested(),
                    inserted: cash.inserted,
                    limit,
                    max_left,
                    accepted: self
                        .bill_table
                        .iter()
                        .copied()
                        .filter(|bill| *bill <= max_left)
                        .collect(),
                    notice: cash.notice.clone(),
                    busy: cash.stacking.is_some() || cash.finishing,
                }
            }
            State::Sbp(sbp) => Screen::Sbp(SbpScreen {
                account: sbp.payment.account.number.clone(),
                amount: sbp.amount,
                payload: match &sbp.phase {
                    sbp::SbpPhase::Showing { payload } => Some(payload.clone()),
                    _ => None,
                },
                pay_until: matches!(sbp.phase, sbp::SbpPhase::Showing { .. })
                    .then_some(sbp.deadline),
                checking: matches!(sbp.phase, sbp::SbpPhase::Checking),
            }),
            State::Card(card) => Screen::Card {
                account: card.payment.account.number.clone(),
                amount: card.amount,
                prompt: card.prompt.clone(),
                can_cancel: matches!(
                    card.phase,
                    CardPhase::Authorising {
                        cancel_requested: false
                    }
                ),
            },
            State::ReceiptChoice(credited) => Screen::ReceiptChoice {
                total: credited.total,
                paper: self.availability.paper,
            },
            State::Fiscalising(..) => Screen::Processing {
                text: "Оформляем чек…".into(),
            },
            State::Printing(..) => Screen::Processing {
                text: "Печатаем чек…".into(),
            },
            State::Done {
                credited,
                delivery,
                qr,
                message,
            } => Screen::Done {
                total: credited.total,
                printed: *delivery == ReceiptDelivery::Printed,
                qr: if *delivery == ReceiptDelivery::Printed {
                    None
                } else {
                    qr.clone()
                },
                delivery: delivery.clone(),
                message: message.clone(),
                advance: credited.allocations.iter().map(|a| a.to_advance).sum(),
                certificate_available: credited.debt_left() <= Money::ZERO
                    && credited.payment.account.verified,
                stuck_notice: (!credited.stuck.is_empty()).then(|| stuck_notice(&credited.stuck)),
            },
            State::Readings {
                account,
                refusals,
                accepted,
            } => Screen::Readings {
                account: account.clone(),
                refusals: refusals.clone(),
                accepted: accepted.clone(),
            },
            State::ReadingsDone {
                accepted,
                printed,
                time,
                ..
            } => Screen::ReadingsDone {
                accepted: accepted.clone(),
                printed: *printed,
                time: *time,
                terminal_id: self.config.terminal_id.clone(),
            },
            State::CertificateDone {
                certificate_no,
                printed,
                account,
                holder_masked,
                time,
            } => Screen::CertificateDone {
                certificate_no: certificate_no.clone(),
                printed: *printed,
                account: account.clone(),
                holder_masked: holder_masked.clone(),
                time: *time,
            },
            State::Notice { text } => Screen::Notice { text: text.clone() },
        };
        // Final screens go back to the start on their own; a countdown there would only cover
        // the receipt and the «Готово» button.
        let final_screen = matches!(
            self.state,
            State::Done { .. }
                | State::ReadingsDone { .. }
                | State::CertificateDone { .. }
                | State::Notice { .. }
        );
        View {
            screen,
            idle_deadline: self.idle_deadline,
            countdown_from: self
                .idle_deadline
                .filter(|_| !final_screen)
                .map(|deadline| deadline - self.config.idle_warning),
            availability: Availability {
                // A stopping kiosk takes no new customer: its start screen says so.
                out_of_service: self.availability.out_of_service || self.stopping,
                ..self.availability
            },
            service: None,
        }
    }
}

/// A limit refusal in the customer's words, typed.
/// What the customer is told about notes that went stuck (screen and receipt say the same).
pub fn stuck_notice(notes: &[StuckNote]) -> String {
    notes
        .iter()
        .map(|n| {
            format!(
                "Купюра {} застряла в купюроприёмнике и пока не зачислена. Номер обращения: {}. \
                 Сотрудник найдёт её и зачислит на ваш счёт или вернёт вам.",
                n.denomination, n.reference
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn limit_refusal(error: crate::money::LimitError) -> Refused<SummaryProblem> {
    let kind = match error {
        crate::money::LimitError::PerPayment { limit, .. } => {
            SummaryProblem::PerPaymentLimit { limit }
        }
        crate::money::LimitError::PerDay { left, .. } => SummaryProblem::DayLimit { left },
    };
    Refused::new(kind, error.message_ru())
}

/// The contact an e-receipt goes to, masked for the screen: `+7 *** ***-45-67`, `iv***@mail.ru`.
fn mask_contact(contact: &ReceiptContact) -> String {
    match contact {
        ReceiptContact::Sms(phone) => {
            let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            let (a, b) = tail.split_at(tail.len().min(2));
            format!("+7 *** ***-{a}-{b}")
        }
        ReceiptContact::Email(address) => match address.split_once('@') {
            Some((user, domain)) => {
                let head: String = user.chars().take(2).collect();
                format!("{head}***@{domain}")
            }
            None => "***".into(),
        },
    }
}

/// Debt per service, or the bill's QR sum spread over the debts.
fn initial_amounts(account: &CustomerAccount, sum_hint: Option<Money>) -> Vec<Money> {
    match sum_hint {
        Some(sum) => crate::money::allocate(sum, &account.services)
            .iter()
            .map(Allocation::total)
            .collect(),
        None => account
            .services
            .iter()
            .map(|s| s.debt.max(Money::ZERO))
            .collect(),
    }
}

#[cfg(test)]
mod money_tests;
#[cfg(test)]
mod sbp_tests;
#[cfg(test)]
mod shift_tests;
#[cfg(test)]
mod stop_tests;
#[cfg(test)]
mod tests;

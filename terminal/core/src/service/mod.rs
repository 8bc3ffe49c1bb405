//! Service mode for technicians, as a sans-IO state machine (the [`ServiceDesk`]).
//!
//! Entry: [`ServiceDesk::TAPS`] taps on the hidden header corner within a few seconds, while no
//! customer session is running, open the PIN entry (only dots are shown). The PIN is checked by
//! [`ServiceAccess`] (Argon2id, lockout with doubling); every attempt is journaled as
//! `ServiceLogin`, and the lockout streak is rebuilt from those entries at start
//! ([`lockout_from_journal`]), so a restart does not reset it.
//!
//! Inside: the status screen and the operations — device tests (printer test page, a test bill
//! that is returned and never credited, card-reader diagnosis), encashment, paper replaced, close
//! shift (Z report), reprint of recent receipts (unprinted first), outage history, journal export.
//! Every operation is journaled as `ServiceOperation` plus its specific event
//! (`CassetteRemoved`/`EncashmentCounted`, `ShiftClosed`, `ReceiptReprinted`, `BillReturned`).
//! An idle timeout, or «Выйти», goes back to the customer welcome screen.
//!
//! Inputs: [`ServiceInput`] (the technician's intents and the devices' results) with a
//! [`ServiceFacts`] snapshot; outputs: [`ServiceCommand`]s (journal entries first, then device
//! commands) and the [`ServiceView`]. The core (`runtime::service`) executes the commands.

mod facts;
mod lockout;
mod view;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::PathBuf;

use backend_sync::JournalEvent;
use chrono::{DateTime, Duration, Utc};
use tracing::info;

pub use facts::{
    device_name_ru, device_state_ru, DeviceFact, ErrorFact, HealthFacts, OutageFact, ServiceFacts,
    ShiftFact,
};
pub use lockout::lockout_from_journal;
pub use view::{DeviceLine, PinRefusal, ServiceView};

use crate::commands::{BillCommand, CardCommand};
use crate::money::Money;
use crate::service_pin::{
    Credential, LockoutState, LoginOutcome, ServiceAccess, ServiceAccessConfig, ServicePinError,
};

/// The PIN of `terminal run --simulate` and the demo: 1234 (documented in the README).
pub const DEMO_PIN: &str = "1234";
/// Argon2id PHC string of [`DEMO_PIN`] (also the example config's).
pub const DEMO_PIN_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$a2lvc2stZXhhbXBsZTE$n+ANWJZL+Jz8FrixfA5X9AvSg7SIUmFW+ekKrHAZeWk";

/// The largest bill the validator may take for the test (it is returned).
const TEST_BILL_MAX: Money = Money::from_rubles(5_000);

pub use ui_model::ServiceOp;

/// What the technician does, already stripped of presentation (from the screen bridge).
#[derive(Clone, PartialEq, Eq)]
pub enum ServiceIntent {
    CornerTapped,
    Digit(u8),
    Backspace,
    Clear,
    Submit,
    Op(ServiceOp),
    Pick(usize),
    /// «Назад» or «На главную» on a service screen.
    Back,
    Touch,
}

// PIN digits must not reach a log through `{:?}`.
impl fmt::Debug for ServiceIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceIntent::Digit(_) => f.write_str("Digit(*)"),
            ServiceIntent::CornerTapped => f.write_str("CornerTapped"),
            ServiceIntent::Backspace => f.write_str("Backspace"),
            ServiceIntent::Clear => f.write_str("Clear"),
            ServiceIntent::Submit => f.write_str("Submit"),
            ServiceIntent::Op(op) => write!(f, "Op({op:?})"),
            ServiceIntent::Pick(i) => write!(f, "Pick({i})"),
            ServiceIntent::Back => f.write_str("Back"),
            ServiceIntent::Touch => f.write_str("Touch"),
        }
    }
}

/// Counters of a shift closed from the service menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftReport {
    pub shift_number: u32,
    pub receipts: u32,
    pub total_kopecks: i64,
    pub cash_kopecks: i64,
    pub card_kopecks: i64,
    pub fn_number: Option<String>,
    pub fd_number: Option<u32>,
    /// Whether the Z report came out of the printer.
    pub printed: Result<(), String>,
}

/// Everything that reaches the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceInput {
    Intent(ServiceIntent),
    TestPagePrinted(Result<(), String>),
    /// The test bill (kopecks) is in escrow.
    TestBillEscrow(i64),
    TestBillReturned(i64),
    /// The validator stacked the test bill after all (it was told to return it).
    TestBillStacked(i64),
    TestBillRejected(String),
    CardDiagnosis(Result<(), String>),
    ShiftClosed(Result<ShiftReport, String>),
    EncashmentSlipPrinted(Result<(), String>),
    Reprinted {
        receipt_id: String,
        result: Result<(), String>,
    },
    /// The journal export: the file and the number of entries, or why not.
    Exported(Result<(PathBuf, u64), String>),
}

/// What the core must do for the desk, in order (journal entries are durable before the next).
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceCommand {
    Journal(JournalEvent),
    Bill(BillCommand),
    Card(CardCommand),
    PrintTestPage,
    CloseShift,
    PrintEncashmentSlip(EncashmentSlip),
    Reprint {
        receipt_id: String,
    },
    ExportJournal {
        dir: PathBuf,
    },
    /// Resolve a stuck note (the session core credits one found in the cassette).
    ResolveStuckNote {
        reference: String,
        found_in_cassette: bool,
    },
}

/// The encashment receipt the technician signs: expected and counted notes per denomination
/// (kopecks → count) at the desk's local time. The receipt task lays it out on paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncashmentSlip {
    pub encashment_id: String,
    pub terminal_id: String,
    pub expected: BTreeMap<i64, u32>,
    pub counted: BTreeMap<i64, u32>,
    pub time: chrono::NaiveDateTime,
}

/// How the desk is set up.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub access: ServiceAccessConfig,
    /// Where «Выгрузить журнал» writes (removable media mount point).
    pub export_dir: PathBuf,
    pub tz: chrono_tz::Tz,
    /// Seconds without a touch before service mode closes.
    pub idle_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Tests {
        bill_test: bool,
        pending: u8,
    },
    Encashment {
        expected: BTreeMap<i64, u32>,
        counted: BTreeMap<i64, u32>,
        done: bool,
    },
    Paper {
        done: bool,
    },
    CloseShift {
        busy: bool,
        done: bool,
    },
    Reprint {
        pending: Option<String>,
    },
    Outages,
    StuckNotes,
    Export {
        busy: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Closed,
    Pin {
        digits: String,
        error: Option<PinRefusal>,
    },
    Status,
    Op(Op),
}

/// Service mode (see the module docs).
pub struct ServiceDesk {
    config: DeskConfig,
    access: ServiceAccess,
    taps: VecDeque<DateTime<Utc>>,
    mode: Mode,
    /// Result lines of the current operation.
    log: Vec<(String, String)>,
    deadline: Option<DateTime<Utc>>,
    out: VecDeque<ServiceCommand>,
}

fn op_event(operation: &str, detail: impl Into<String>) -> ServiceCommand {
    ServiceCommand::Journal(JournalEvent::ServiceOperation {
        operation: operation.into(),
        detail: detail.into(),
    })
}

fn rub(kopecks: i64) -> String {
    ui_model::rubles(kopecks)
}

fn total(counts: &BTreeMap<i64, u32>) -> i64 {
    counts.iter().map(|(d, n)| d * i64::from(*n)).sum()
}

fn keyed(counts: &BTreeMap<i64, u32>) -> BTreeMap<String, u32> {
    counts.iter().map(|(d, n)| (d.to_string(), *n)).collect()
}

fn minutes_left(until: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    let secs = (until - now).num_seconds().max(0);
    u32::try_from((secs + 59) / 60).unwrap_or(u32::MAX)
}

impl ServiceDesk {
    /// Taps on the corner that open the PIN entry…
    pub const TAPS: usize = 5;
    /// …within this many seconds.
    pub const TAP_WINDOW_SECONDS: i64 = 5;

    /// `lockout` is the streak rebuilt from the journal ([`lockout_from_journal`]).
    pub fn new(config: DeskConfig, lockout: LockoutState) -> Result<ServiceDesk, ServicePinError> {
        let access = ServiceAccess::new(&config.access, lockout)?;
        Ok(ServiceDesk {
            config,
            access,
            taps: VecDeque::new(),
            mode: Mode::Closed,
            log: Vec::new(),
            deadline: None,
            out: VecDeque::new(),
        })
    }

    /// Service mode is on the screen (the customer screens wait).
    pub fn is_open(&self) -> bool {
        self.mode != Mode::Closed
    }

    /// The bill validator is lent to the desk for a test bill.
    pub fn bill_test_active(&self) -> bool {
        matches!(
            self.mode,
            Mode::Op(Op::Tests {
                bill_test: true,
                ..
            })
        )
    }

    /// A reprint of `receipt_id` is awaited.
    pub fn awaits_reprint(&self, receipt_id: &str) -> bool {
        matches!(&self.mode, Mode::Op(Op::Reprint { pending: Some(p) }) if p == receipt_id)
    }

    pub fn poll_output(&mut self) -> Option<ServiceCommand> {
        self.out.pop_front()
    }

    /// When the idle timeout fires.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.deadline
    }

    /// The idle timeout: back to the customer screens.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        if self.deadline.is_some_and(|d| d <= now) && self.is_open() {
            info!("service mode closed by the idle timeout");
            self.close("idle timeout");
        }
    }

    fn push(&mut self, command: ServiceCommand) {
        self.out.push_back(command);
    }

    fn close(&mut self, why: &str) {
        if self.bill_test_active() {
            self.push(ServiceCommand::Bill(BillCommand::Disable));
        }
        if !matches!(self.mode, Mode::Pin { .. } | Mode::Closed) {
            self.push(op_event("exit", why));
        }
        self.mode = Mode::Closed;
        self.deadline = None;
        self.log.clear();
    }

    fn set_log(&mut self, label: &str, text: impl Into<String>) {
        let text = text.into();
        match self.log.iter_mut().find(|(l, _)| l == label) {
            Some(line) => line.1 = text,
            None => self.log.push((label.to_owned(), text)),
        }
    }

    /// One step.
    pub fn handle(&mut self, input: ServiceInput, facts: &ServiceFacts, now: DateTime<Utc>) {
        match input {
            ServiceInput::Intent(intent) => self.on_intent(intent, facts, now),
            other => self.on_result(other, now),
        }
    }

    fn on_intent(&mut self, intent: ServiceIntent, facts: &ServiceFacts, now: DateTime<Utc>) {
        if self.mode == Mode::Closed {
            if intent == ServiceIntent::CornerTapped {
                self.corner(facts, now);
            }
            return;
        }
        self.deadline = Some(now + Duration::seconds(self.config.idle_seconds.max(10)));
        match (&mut self.mode, intent) {
            (_, ServiceIntent::Touch | ServiceIntent::CornerTapped) => {}
            (Mode::Pin { .. }, ServiceIntent::Back | ServiceIntent::Op(ServiceOp::Exit)) => {
                self.close("pin entry left");
            }
            (Mode::Pin { digits, .. }, ServiceIntent::Digit(d)) => {
                if digits.len() < 12 && d <= 9 {
                    digits.push(char::from(b'0' + d));
                }
            }
            (Mode::Pin { digits, .. }, ServiceIntent::Backspace) => {
                digits.pop();
            }
            (Mode::Pin { digits, .. }, ServiceIntent::Clear) => digits.clear(),
            (Mode::Pin { digits, .. }, ServiceIntent::Submit) => {
                let pin = std::mem::take(digits);
                if !pin.is_empty() {
                    self.login(&pin, now);
                }
            }
            (Mode::Pin { .. }, _) => {}
            (_, ServiceIntent::Op(ServiceOp::Exit)) => self.close("exit"),
            (Mode::Status, ServiceIntent::Op(op)) => self.open_op(op, facts),
            (Mode::Status, _) => {}
            (Mode::Op(_), ServiceIntent::Op(ServiceOp::Back) | ServiceIntent::Back) => {
                if self.bill_test_active() {
                    self.push(ServiceCommand::Bill(BillCommand::Disable));
                }
                self.mode = Mode::Status;
                self.log.clear();
            }
            (Mode::Op(_), ServiceIntent::Op(ServiceOp::Confirm)) => self.confirm(facts, now),
            (Mode::Op(_), ServiceIntent::Pick(i)) => self.pick(i, facts, now),
            (Mode::Op(_), _) => {}
            (Mode::Closed, _) => {}
        }
    }

    fn corner(&mut self, facts: &ServiceFacts, now: DateTime<Utc>) {
        if !facts.customer_idle {
            self.taps.clear();
            return;
        }
        let window = Duration::seconds(Self::TAP_WINDOW_SECONDS);
        while self.taps.front().is_some_and(|t| now - *t > window) {
            self.taps.pop_front();
        }
        self.taps.push_back(now);
        if self.taps.len() >= Self::TAPS {
            self.taps.clear();
            let error = self
                .access
                .locked_until(now)
                .map(|until| PinRefusal::Locked {
                    minutes: minutes_left(until, now),
                });
            self.mode = Mode::Pin {
                digits: String::new(),
                error,
            };
            self.deadline = Some(now + Duration::seconds(self.config.idle_seconds.max(10)));
        }
    }

    fn login(&mut self, pin: &str, now: DateTime<Utc>) {
        let (outcome, event) = self.access.attempt(Credential::Pin(pin), now);
        self.push(ServiceCommand::Journal(event));
        let error = match outcome {
            LoginOutcome::Granted => {
                self.mode = Mode::Status;
                return;
            }
            LoginOutcome::Denied { remaining } => PinRefusal::Wrong {
                attempts_left: remaining,
            },
            LoginOutcome::DeniedAndLocked { until } | LoginOutcome::LockedOut { until } => {
                PinRefusal::Locked {
                    minutes: minutes_left(until, now),
                }
            }
        };
        self.mode = Mode::Pin {
            digits: String::new(),
            error: Some(error),
        };
    }

    fn open_op(&mut self, op: ServiceOp, facts: &ServiceFacts) {
        self.log.clear();
        let op = match op {
            ServiceOp::DeviceTests => Op::Tests {
                bill_test: false,
                pending: 0,
            },
            ServiceOp::Encashment => {
                let expected = facts
                    .removed_uncounted
                    .clone()
                    .unwrap_or_else(|| facts.cassette.clone());
                Op::Encashment {
                    counted: expected.clone(),
                    expected,
                    done: false,
                }
            }
            ServiceOp::PaperReplaced => Op::Paper { done: false },
            ServiceOp::CloseShift => Op::CloseShift {
                busy: false,
                done: false,
            },
            ServiceOp::Reprint => Op::Reprint { pending: None },
            ServiceOp::OutageHistory => {
                self.push(op_event(
                    "outage_history",
                    format!("{} outages shown", facts.health.outages.len()),
                ));
                Op::Outages
            }
            ServiceOp::StuckNotes => Op::StuckNotes,
            ServiceOp::ExportJournal => Op::Export { busy: false },
            ServiceOp::Confirm | ServiceOp::Back | ServiceOp::Exit => return,
        };
        self.mode = Mode::Op(op);
    }

    fn confirm(&mut self, facts: &ServiceFacts, now: DateTime<Utc>) {
        let Mode::Op(op) = &mut self.mode else { return };
        match op {
            Op::Encashment {
                expected,
                counted,
                done,
            } if !*done => {
                *done = true;
                let (expected, counted) = (expected.clone(), counted.clone());
                self.encash(&expected, &counted, facts, now);
            }
            Op::Paper { done } if !*done => {
                *done = true;
                self.push(op_event("paper_replaced", ""));
                self.set_log("Бумага", "замена отмечена");
                if !facts.unprinted.is_empty() {
                    self.set_log(
                        "Ненапечатанных чеков",
                        format!("{} — «Повтор чека»", facts.unprinted.len()),
                    );
                }
            }
            Op::CloseShift { busy, done } if !*busy && !*done => {
                *busy = true;
                self.push(op_event("close_shift", "requested"));
                self.push(ServiceCommand::CloseShift);
                self.set_log("Смена", "закрывается…");
            }
            Op::Export { busy } if !*busy => {
                *busy = true;
                let dir = self.config.export_dir.clone();
                self.push(ServiceCommand::ExportJournal { dir });
                self.set_log("Журнал", "выгружается…");
            }
            _ => {}
        }
    }

    fn encash(
        &mut self,
        expected: &BTreeMap<i64, u32>,
        counted: &BTreeMap<i64, u32>,
        facts: &ServiceFacts,
        now: DateTime<Utc>,
    ) {
        let local = now.with_timezone(&self.config.tz);
        let id = format!("E{}-{}", facts.terminal_id, local.format("%Y%m%d%H%M%S"));
        let (expected_total, counted_total) = (total(expected), total(counted));
        // Without a cassette sensor the removal is the technician's word: journal it so the
        // ledger's counters reset with it.
        if facts.removed_uncounted.is_none() {
            self.push(ServiceCommand::Journal(JournalEvent::CassetteRemoved {
                expected: keyed(expected),
                expected_total_kopecks: expected_total,
            }));
        }
        self.push(ServiceCommand::Journal(JournalEvent::EncashmentCounted {
            encashment_id: id.clone(),
            counted: keyed(counted),
            counted_total_kopecks: counted_total,
            expected_total_kopecks: expected_total,
        }));
        self.push(op_event(
            "encashment",
            format!("{id}: counted {counted_total} of expected {expected_total} kopecks"),
        ));
        self.push(ServiceCommand::PrintEncashmentSlip(EncashmentSlip {
            encashment_id: id.clone(),
            terminal_id: facts.terminal_id.clone(),
            expected: expected.clone(),
            counted: counted.clone(),
            time: local.naive_local(),
        }));
        self.set_log("Инкассация", id);
        self.set_log("Квитанция", "печатается…");
    }

    fn pick(&mut self, index: usize, facts: &ServiceFacts, _now: DateTime<Utc>) {
        let Mode::Op(op) = &mut self.mode else { return };
        match op {
            Op::Tests { bill_test, pending } => match index {
                0 => {
                    *pending += 1;
                    self.push(op_event("test_printer", "started"));
                    self.push(ServiceCommand::PrintTestPage);
                    self.set_log("Принтер", "печать тестовой страницы…");
                }
                1 if !*bill_test => {
                    *bill_test = true;
                    self.push(op_event("test_bill", "started"));
                    self.push(ServiceCommand::Bill(BillCommand::Enable {
                        max_bill: TEST_BILL_MAX,
                    }));
                    self.set_log("Купюроприёмник", "вставьте купюру — она будет возвращена");
                }
                2 => {
                    *pending += 1;
                    self.push(op_event("test_card_reader", "started"));
                    self.push(ServiceCommand::Card(CardCommand::Diagnose));
                    self.set_log("Картридер", "диагностика…");
                }
                _ => {}
            },
            Op::Encashment {
                expected,
                counted,
                done: false,
            } => {
                let denominations: Vec<i64> = expected.keys().copied().collect();
                if let Some(d) = denominations.get(index / 2) {
                    let n = counted.entry(*d).or_default();
                    *n = if index % 2 == 0 {
                        n.saturating_add(1)
                    } else {
                        n.saturating_sub(1)
                    };
                }
            }
            Op::StuckNotes => {
                // Two choices per note: found in the cassette, handed back to the customer.
                if let Some((reference, denomination, _)) = facts.stuck_notes.get(index / 2) {
                    let found_in_cassette = index % 2 == 0;
                    self.push(op_event(
                        "stuck_note",
                        format!(
                            "{reference} {} {}",
                            denomination.format_plain(),
                            if found_in_cassette {
                                "found in the cassette"
                            } else {
                                "handed back"
                            }
                        ),
                    ));
                    self.push(ServiceCommand::ResolveStuckNote {
                        reference: reference.clone(),
                        found_in_cassette,
                    });
                    let outcome = if found_in_cassette {
                        "найдена в кассете, зачислена"
                    } else {
                        "возвращена клиенту"
                    };
                    self.set_log(reference, outcome);
                }
            }
            Op::Reprint { pending } if pending.is_none() => {
                if let Some((receipt_id, _)) = reprint_items(facts).into_iter().nth(index) {
                    *pending = Some(receipt_id.clone());
                    self.push(op_event("reprint", format!("{receipt_id} requested")));
                    self.push(ServiceCommand::Reprint {
                        receipt_id: receipt_id.clone(),
                    });
                    self.set_log(&receipt_id, "печатается…");
                }
            }
            _ => {}
        }
    }

    fn on_result(&mut self, input: ServiceInput, _now: DateTime<Utc>) {
        match input {
            ServiceInput::Intent(_) => {}
            ServiceInput::TestPagePrinted(result) => {
                self.test_done();
                self.push(op_event("test_printer", outcome(&result)));
                self.set_log(
                    "Принтер",
                    outcome_ru(&result, "тестовая страница напечатана"),
                );
            }
            ServiceInput::CardDiagnosis(result) => {
                self.test_done();
                self.push(op_event("test_card_reader", outcome(&result)));
                self.set_log("Картридер", outcome_ru(&result, "диагностика пройдена"));
            }
            ServiceInput::TestBillEscrow(kopecks) => {
                // Journaled before the command: a crash in between leaves the intent on record.
                self.push(op_event(
                    "test_bill",
                    format!("{kopecks} kopecks in escrow, returning"),
                ));
                self.push(ServiceCommand::Bill(BillCommand::Return));
                self.set_log(
                    "Купюроприёмник",
                    format!("купюра {} распознана, возвращается", rub(kopecks)),
                );
            }
            ServiceInput::TestBillReturned(kopecks) => {
                self.push(ServiceCommand::Journal(JournalEvent::BillReturned {
                    payment_id: None,
                    denomination_kopecks: kopecks,
                    reason: "service test bill".into(),
                }));
                self.push(op_event("test_bill", format!("{kopecks} kopecks returned")));
                self.end_bill_test();
                self.set_log(
                    "Купюроприёмник",
                    format!("купюра {} распознана и возвращена", rub(kopecks)),
                );
            }
            ServiceInput::TestBillStacked(kopecks) => {
                // Not credited to anyone: unassigned cash in the cassette, counted at encashment.
                self.push(ServiceCommand::Journal(JournalEvent::BillStacked {
                    payment_id: None,
                    denomination_kopecks: kopecks,
                }));
                self.push(op_event(
                    "test_bill",
                    format!("{kopecks} kopecks stacked instead of returned; unassigned cash"),
                ));
                self.end_bill_test();
                self.set_log(
                    "Купюроприёмник",
                    format!("купюра {} ушла в кассету (не зачислена)", rub(kopecks)),
                );
            }
            ServiceInput::TestBillRejected(reason) => {
                self.set_log("Купюроприёмник", format!("купюра не принята: {reason}"));
            }
            ServiceInput::ShiftClosed(result) => {
                if let Mode::Op(Op::CloseShift { busy, done }) = &mut self.mode {
                    *busy = false;
                    *done = result.is_ok();
                }
                match result {
                    Ok(z) => {
                        self.push(ServiceCommand::Journal(JournalEvent::ShiftClosed {
                            shift_number: z.shift_number,
                            receipts: z.receipts,
                            total_kopecks: z.total_kopecks,
                            cash_kopecks: z.cash_kopecks,
                            card_kopecks: z.card_kopecks,
                            fn_number: z.fn_number.clone(),
                            fd_number: z.fd_number,
                        }));
                        self.push(op_event(
                            "close_shift",
                            format!(
                                "shift {} closed: {} receipts, {} kopecks",
                                z.shift_number, z.receipts, z.total_kopecks
                            ),
                        ));
                        self.log.clear();
                        self.set_log("Смена", format!("№ {} закрыта", z.shift_number));
                        self.set_log("Чеков за смену", z.receipts.to_string());
                        self.set_log("Приход", rub(z.total_kopecks));
                        self.set_log("  наличными", rub(z.cash_kopecks));
                        self.set_log("  картой", rub(z.card_kopecks));
                        self.set_log("Z-отчёт", outcome_ru(&z.printed, "напечатан"));
                    }
                    Err(reason) => {
                        self.push(op_event("close_shift", format!("failed: {reason}")));
                        self.set_log("Смена", format!("не закрыта: {reason}"));
                    }
                }
            }
            ServiceInput::EncashmentSlipPrinted(result) => {
                self.push(op_event("encashment_slip", outcome(&result)));
                self.set_log("Квитанция", outcome_ru(&result, "напечатана"));
            }
            ServiceInput::Reprinted { receipt_id, result } => {
                if let Mode::Op(Op::Reprint { pending }) = &mut self.mode {
                    if pending.as_deref() == Some(receipt_id.as_str()) {
                        *pending = None;
                    }
                }
                match &result {
                    Ok(()) => self.push(ServiceCommand::Journal(JournalEvent::ReceiptReprinted {
                        receipt_id: receipt_id.clone(),
                    })),
                    Err(reason) => self.push(op_event(
                        "reprint",
                        format!("{receipt_id} failed: {reason}"),
                    )),
                }
                self.set_log(&receipt_id, outcome_ru(&result, "напечатан"));
            }
            ServiceInput::Exported(result) => {
                if let Mode::Op(Op::Export { busy }) = &mut self.mode {
                    *busy = false;
                }
                match result {
                    Ok((path, entries)) => {
                        self.push(op_event(
                            "journal_export",
                            format!("{entries} entries to {}", path.display()),
                        ));
                        self.set_log("Журнал", format!("выгружено записей: {entries}"));
                        self.set_log("Файл", path.display().to_string());
                    }
                    Err(reason) => {
                        self.push(op_event("journal_export", format!("failed: {reason}")));
                        self.set_log("Журнал", format!("не выгружен: {reason}"));
                    }
                }
            }
        }
    }

    fn test_done(&mut self) {
        if let Mode::Op(Op::Tests { pending, .. }) = &mut self.mode {
            *pending = pending.saturating_sub(1);
        }
    }

    fn end_bill_test(&mut self) {
        if let Mode::Op(Op::Tests { bill_test, .. }) = &mut self.mode {
            *bill_test = false;
        }
        self.push(ServiceCommand::Bill(BillCommand::Disable));
    }

    /// What the screen shows; `None` while closed.
    pub fn view(&self, facts: &ServiceFacts) -> Option<ServiceView> {
        let report = |title: &str,
                      lines: Vec<(String, String)>,
                      choices: Vec<String>,
                      confirm: Option<&str>,
                      busy: bool| {
            Some(ServiceView::Report {
                title: title.into(),
                lines,
                choices,
                confirm: confirm.map(str::to_owned),
                busy,
            })
        };
        let mut lines = self.log.clone();
        match &self.mode {
            Mode::Closed => None,
            Mode::Pin { digits, error } => Some(ServiceView::Pin {
                digits_entered: digits.len(),
                error: *error,
            }),
            Mode::Status => Some(status_view(facts)),
            Mode::Op(Op::Tests { bill_test, pending }) => {
                let choices = vec![
                    "Печать тестовой страницы".into(),
                    if *bill_test {
                        "Ждём купюру…".into()
                    } else {
                        "Проверка купюроприёмника".into()
                    },
                    "Диагностика картридера".into(),
                ];
                report("Проверка устройств", lines, choices, None, *pending > 0)
            }
            Mode::Op(Op::Encashment {
                expected,
                counted,
                done,
            }) => {
                let mut body = Vec::new();
                for (d, n) in expected {
                    let c = counted.get(d).copied().unwrap_or_default();
                    body.push((rub(*d), format!("ожидается {n} · пересчитано {c}")));
                }
                if expected.is_empty() {
                    body.push(("Кассета".into(), "пуста".into()));
                }
                body.push(("Ожидается".into(), rub(total(expected))));
                body.push(("Пересчитано".into(), rub(total(counted))));
                body.append(&mut lines);
                let choices = if *done {
                    Vec::new()
                } else {
                    expected
                        .keys()
                        .flat_map(|d| [format!("+1 × {}", rub(*d)), format!("−1 × {}", rub(*d))])
                        .collect()
                };
                let confirm = (!*done).then_some("Подтвердить инкассацию");
                report("Инкассация", body, choices, confirm, false)
            }
            Mode::Op(Op::Paper { done }) => {
                let mut body = vec![(
                    "Ненапечатанных чеков".to_owned(),
                    facts.unprinted.len().to_string(),
                )];
                if !*done {
                    body.clear();
                    body.push((
                        "Вставьте новый рулон и закройте крышку".into(),
                        String::new(),
                    ));
                }
                body.append(&mut lines);
                let confirm = (!*done).then_some("Бумага заменена");
                report("Замена бумаги", body, Vec::new(), confirm, false)
            }
            Mode::Op(Op::CloseShift { busy, done }) => {
                let mut body = if *done || *busy {
                    Vec::new()
                } else {
                    vec![("Смена".to_owned(), shift_text(facts.shift))]
                };
                body.append(&mut lines);
                let confirm = (!*done).then_some("Закрыть смену");
                report("Закрытие смены", body, Vec::new(), confirm, *busy)
            }
            Mode::Op(Op::StuckNotes) => {
                let mut body: Vec<(String, String)> = facts
                    .stuck_notes
                    .iter()
                    .map(|(reference, denomination, account)| {
                        (reference.clone(), format!("{denomination} · л/с {account}"))
                    })
                    .collect();
                if body.is_empty() {
                    body.push(("Застрявших купюр нет".into(), String::new()));
                }
                body.append(&mut lines);
                let choices = facts
                    .stuck_notes
                    .iter()
                    .flat_map(|(reference, denomination, _)| {
                        [
                            format!("{reference} · {denomination} найдена в кассете"),
                            format!("{reference} · {denomination} возвращена клиенту"),
                        ]
                    })
                    .collect();
                report("Застрявшие купюры", body, choices, None, false)
            }
            Mode::Op(Op::Reprint { pending }) => {
                let items = reprint_items(facts);
                let mut body = Vec::new();
                if items.is_empty() {
                    body.push(("Чеков для повтора нет".to_owned(), String::new()));
                }
                body.append(&mut lines);
                let choices = items
                    .iter()
                    .map(|(id, unprinted)| {
                        if *unprinted {
                            format!("{id} · не напечатан")
                        } else {
                            id.clone()
                        }
                    })
                    .collect();
                report("Повтор чека", body, choices, None, pending.is_some())
            }
            Mode::Op(Op::Outages) => {
                let mut body: Vec<(String, String)> = facts
                    .health
                    .outages
                    .iter()
                    .map(|o| {
                        (
                            format!(
                                "{} – {}",
                                o.started,
                                o.ended.as_deref().unwrap_or("продолжается")
                            ),
                            format!("{} раб. мин · {}", o.working_minutes, o.cause),
                        )
                    })
                    .collect();
                if body.is_empty() {
                    body.push(("Простоев не зафиксировано".into(), String::new()));
                } else {
                    let sum: u32 = facts.health.outages.iter().map(|o| o.working_minutes).sum();
                    body.push(("Всего".into(), format!("{sum} раб. мин")));
                }
                report("История простоев", body, Vec::new(), None, false)
            }
            Mode::Op(Op::Export { busy }) => {
                let mut body = vec![(
                    "Каталог".to_owned(),
                    self.config.export_dir.display().to_string(),
                )];
                body.append(&mut lines);
                report(
                    "Выгрузка журнала",
                    body,
                    Vec::new(),
                    Some("Выгрузить журнал"),
                    *busy,
                )
            }
        }
    }
}

fn outcome(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(reason) => format!("failed: {reason}"),
    }
}

fn outcome_ru(result: &Result<(), String>, ok: &str) -> String {
    match result {
        Ok(()) => ok.into(),
        Err(reason) => format!("ошибка: {reason}"),
    }
}

fn shift_text(shift: ShiftFact) -> String {
    match (shift.number, shift.open) {
        (Some(n), true) => format!("№ {n} открыта"),
        (Some(n), false) => format!("№ {n} закрыта"),
        (None, _) => "не открывалась".into(),
    }
}

/// Receipts offered for reprint: unprinted first (oldest first), then recent ones; at most six.
fn reprint_items(facts: &ServiceFacts) -> Vec<(String, bool)> {
    let mut items: Vec<(String, bool)> = facts
        .unprinted
        .iter()
        .map(|id| (id.clone(), true))
        .collect();
    for id in &facts.recent_receipts {
        if !items.iter().any(|(i, _)| i == id) {
            items.push((id.clone(), false));
        }
    }
    items.truncate(6);
    items
}

fn status_view(facts: &ServiceFacts) -> ServiceView {
    let devices = if facts.health.devices.is_empty() {
        &facts.journal_devices
    } else {
        &facts.health.devices
    };
    let bills: u32 = facts.cassette.values().sum();
    ServiceView::Status {
        terminal_id: facts.terminal_id.clone(),
        devices: devices
            .iter()
            .map(|d| DeviceLine {
                name: d.name.clone(),
                state: d.state.clone(),
                ok: d.ok,
            })
            .collect(),
        cash_in_box: format!("{bills} куп. · {}", rub(total(&facts.cassette))),
        paper: facts
            .health
            .paper
            .clone()
            .unwrap_or_else(|| "нет данных".into()),
        shift: shift_text(facts.shift),
        last_errors: facts
            .last_errors
            .iter()
            .map(|e| (e.time.clone(), e.message.clone()))
            .collect(),
    }
}

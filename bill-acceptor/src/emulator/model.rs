//! The emulated validator's mechanics, protocol-neutral: where the bill is, what the cassette
//! holds, which faults are active. The protocol front-end ([`super::device`]) turns its requests
//! and statuses into bytes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::model::*;
use crate::protocol::Protocol;

/// How long the mechanics take (shorter values make tests fast).
#[derive(Clone, Debug)]
pub struct Timing {
    pub initialize: Duration,
    pub accept: Duration,
    pub stack: Duration,
    pub return_bill: Duration,
    pub reject: Duration,
    /// Escrow (and each HOLD) lasts this long before the bill is returned.
    pub escrow: Duration,
    pub cheat: Duration,
    pub stack_finished: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            initialize: Duration::from_millis(300),
            accept: Duration::from_millis(300),
            stack: Duration::from_millis(400),
            return_bill: Duration::from_millis(300),
            reject: Duration::from_millis(500),
            escrow: Duration::from_secs(10),
            cheat: Duration::from_millis(1000),
            stack_finished: Duration::from_millis(200),
        }
    }
}

impl Timing {
    /// Quick mechanics for tests.
    pub fn fast() -> Self {
        Self {
            initialize: Duration::from_millis(100),
            accept: Duration::from_millis(100),
            stack: Duration::from_millis(150),
            return_bill: Duration::from_millis(100),
            reject: Duration::from_millis(200),
            escrow: Duration::from_secs(10),
            cheat: Duration::from_millis(400),
            stack_finished: Duration::from_millis(100),
        }
    }
}

/// The Russian bill table the emulator carries, in the order a CashCode RUB firmware lists it
/// (200 and 2000 were added later, so they sit after 5000). Rubles.
pub const RUB_TABLE: [(u8, i64); 8] = [
    (2, 10),
    (3, 50),
    (4, 100),
    (5, 500),
    (6, 1000),
    (7, 5000),
    (8, 200),
    (9, 2000),
];

/// JCM's country byte used for the emulated RUB table in ID003.
pub const ID003_RUB_COUNTRY: &str = "0x2c";

pub fn rub_bill_table(protocol: Protocol) -> BillTable {
    let country = match protocol {
        Protocol::Ccnet => "RUS",
        Protocol::Id003 => ID003_RUB_COUNTRY,
    };
    BillTable {
        bills: RUB_TABLE
            .iter()
            .map(|&(index, rubles)| BillType {
                index,
                denomination_kopecks: rubles * 100,
                country: country.to_string(),
            })
            .collect(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bill {
    /// `None` for a fake or a note the table does not know: it will be rejected.
    bill_type: Option<u8>,
    denomination_kopecks: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    Validator,
    Stacker,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    PowerUp(Option<(Location, Bill)>),
    Initializing {
        until: Instant,
    },
    Ready,
    Accepting {
        bill: Bill,
        until: Instant,
    },
    Escrow {
        bill: Bill,
        until: Instant,
        held: bool,
    },
    Stacking {
        bill: Bill,
        until: Instant,
    },
    /// Stacked (CCNET 81 / ID003 VEND VALID), repeated until acknowledged. Already in the cassette.
    StackedPending {
        bill: Bill,
    },
    StackFinished {
        until: Instant,
    },
    Returning {
        bill: Bill,
        until: Instant,
    },
    ReturnedPending {
        bill: Bill,
    },
    Rejecting {
        reason: RejectReason,
        until: Instant,
    },
    Jammed {
        bill: Option<Bill>,
    },
    Cheated {
        until: Instant,
    },
    Failure(FailureCode),
}

/// Why the emulator refused a scripted action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmulatorError {
    #[error("the validator is not taking bills now (status {0})")]
    NotAccepting(String),
    #[error("a bill is in the bill path")]
    BillInPath,
    #[error("the cassette is {0}")]
    Cassette(&'static str),
    #[error("nothing to clear")]
    NothingToClear,
}

/// The validator mechanics.
pub struct ValidatorModel {
    protocol: Protocol,
    timing: Timing,
    table: BillTable,
    state: State,
    enabled_mask: u32,
    security_mask: u32,
    inhibited: bool,
    cassette_present: bool,
    cassette_forced_full: bool,
    cassette: BTreeMap<i64, u32>,
    collected: Vec<BTreeMap<i64, u32>>,
    returned_to_customer: Vec<i64>,
    taken_by_technician: Vec<i64>,
    off_until: Option<Instant>,
    identification: Identification,
    /// The last poll reply carried a stacked/returned report: only then does an ACK consume it.
    reported_money: bool,
    /// For benchmarks: when each STACK arrived and how long after the bill reached escrow.
    stack_decisions: Vec<(Instant, Duration)>,
}

impl ValidatorModel {
    pub fn new(protocol: Protocol, timing: Timing) -> Self {
        let identification = match protocol {
            Protocol::Ccnet => Identification {
                part_number: "EMU-CCNET-RU01".into(),
                serial_number: "00KIOSK00001".into(),
                asset_number: "00000000000001".into(),
            },
            Protocol::Id003 => Identification {
                part_number: "ID003 EMU RUB V1.00".into(),
                ..Identification::default()
            },
        };
        Self {
            protocol,
            timing,
            table: rub_bill_table(protocol),
            state: State::PowerUp(None),
            enabled_mask: 0,
            security_mask: 0,
            inhibited: true,
            cassette_present: true,
            cassette_forced_full: false,
            cassette: BTreeMap::new(),
            collected: Vec::new(),
            returned_to_customer: Vec::new(),
            taken_by_technician: Vec::new(),
            off_until: None,
            identification,
            reported_money: false,
            stack_decisions: Vec::new(),
        }
    }

    pub fn is_powered(&self, now: Instant) -> bool {
        self.off_until.is_none_or(|t| now >= t)
    }

    /// Bills in the cassette now, kopecks → count.
    pub fn cassette(&self) -> BTreeMap<i64, u32> {
        self.cassette.clone()
    }

    /// Every bill ever stacked: the cassette now plus every cassette removed.
    pub fn stacked_total(&self) -> BTreeMap<i64, u32> {
        let mut total = self.cassette.clone();
        for c in &self.collected {
            for (d, n) in c {
                *total.entry(*d).or_default() += n;
            }
        }
        total
    }

    /// (arrival, time since the bill reached escrow) of every STACK that was not preceded by HOLD.
    pub fn take_stack_decisions(&mut self) -> Vec<(Instant, Duration)> {
        std::mem::take(&mut self.stack_decisions)
    }

    pub fn returned_to_customer(&self) -> &[i64] {
        &self.returned_to_customer
    }

    pub fn taken_by_technician(&self) -> &[i64] {
        &self.taken_by_technician
    }

    pub fn table(&self) -> &BillTable {
        &self.table
    }

    /// Advance time-driven mechanics.
    pub fn tick(&mut self, now: Instant) {
        if let Some(t) = self.off_until {
            if now < t {
                return;
            }
            self.off_until = None;
        }
        loop {
            let next = match self.state.clone() {
                State::Initializing { until } if now >= until => State::Ready,
                State::Accepting { bill, until } if now >= until => {
                    self.after_accepting(bill, until)
                }
                State::Escrow { bill, until, .. } if now >= until => State::Returning {
                    bill,
                    until: until + self.timing.return_bill,
                },
                State::Stacking { bill, until } if now >= until => {
                    self.put_in_cassette(bill);
                    State::StackedPending { bill }
                }
                State::Returning { bill, until } if now >= until => {
                    self.returned_to_customer.push(bill.denomination_kopecks);
                    match self.protocol {
                        Protocol::Ccnet => State::ReturnedPending { bill },
                        Protocol::Id003 => State::Ready,
                    }
                }
                State::Rejecting { until, .. } if now >= until => State::Ready,
                State::StackFinished { until } if now >= until => State::Ready,
                State::Cheated { until } if now >= until => State::Ready,
                _ => return,
            };
            self.state = next;
        }
    }

    fn after_accepting(&mut self, bill: Bill, at: Instant) -> State {
        let reject = |code_ccnet: u8, code_id003: u8| {
            let reason = match self.protocol {
                Protocol::Ccnet => crate::ccnet::reject_reason(code_ccnet),
                Protocol::Id003 => crate::id003::reject_reason(code_id003),
            };
            State::Rejecting {
                reason,
                until: at + self.timing.reject,
            }
        };
        match bill.bill_type {
            // A note it cannot identify.
            None => {
                self.returned_to_customer.push(bill.denomination_kopecks);
                reject(0x65, 0x76)
            }
            Some(t) if !self.type_enabled(t) => {
                self.returned_to_customer.push(bill.denomination_kopecks);
                reject(0x68, 0x79)
            }
            Some(_) => State::Escrow {
                bill,
                until: at + self.timing.escrow,
                held: false,
            },
        }
    }

    fn put_in_cassette(&mut self, bill: Bill) {
        *self.cassette.entry(bill.denomination_kopecks).or_default() += 1;
    }

    fn type_enabled(&self, t: u8) -> bool {
        t < 32 && self.enabled_mask & (1 << t) != 0 && !self.inhibited_now()
    }

    fn inhibited_now(&self) -> bool {
        self.protocol == Protocol::Id003 && self.inhibited
    }

    fn accepting_bills(&self) -> bool {
        self.enabled_mask != 0
            && !self.inhibited_now()
            && self.cassette_present
            && !self.cassette_forced_full
    }

    /// What a poll reports now.
    pub fn status(&self) -> DeviceStatus {
        match &self.state {
            State::PowerUp(None) => DeviceStatus::PowerUp,
            State::PowerUp(Some((Location::Validator, _))) => {
                DeviceStatus::PowerUpWithBillInValidator
            }
            State::PowerUp(Some((Location::Stacker, _))) => DeviceStatus::PowerUpWithBillInStacker,
            State::Initializing { .. } => DeviceStatus::Initializing,
            State::Ready if !self.cassette_present => DeviceStatus::CassetteRemoved,
            State::Ready if self.cassette_forced_full => DeviceStatus::CassetteFull,
            State::Ready if self.accepting_bills() => DeviceStatus::Idling,
            State::Ready => DeviceStatus::Disabled,
            State::Accepting { .. } => DeviceStatus::Accepting,
            State::Escrow { held: true, .. } => DeviceStatus::Holding,
            State::Escrow { bill, .. } => DeviceStatus::Escrow(bill.bill_type.unwrap_or(0)),
            State::Stacking { .. } => DeviceStatus::Stacking,
            State::StackedPending { bill } => DeviceStatus::Stacked(bill.bill_type),
            State::StackFinished { .. } => DeviceStatus::StackFinished,
            State::Returning { .. } => DeviceStatus::Returning,
            State::ReturnedPending { bill } => DeviceStatus::Returned(bill.bill_type.unwrap_or(0)),
            State::Rejecting { reason, .. } => DeviceStatus::Rejecting(*reason),
            State::Jammed { .. } => DeviceStatus::ValidatorJammed,
            State::Cheated { .. } => DeviceStatus::Cheated,
            State::Failure(code) => DeviceStatus::Failure(*code),
        }
    }

    /// The host acknowledged the last data reply.
    pub fn acknowledge(&mut self, now: Instant) {
        self.tick(now);
        if !std::mem::take(&mut self.reported_money) {
            // The ACK is for a reply that carried no report (the state may have moved on since).
            return;
        }
        match &self.state {
            State::StackedPending { .. } => {
                self.state = match self.protocol {
                    Protocol::Ccnet => State::Ready,
                    Protocol::Id003 => State::StackFinished {
                        until: now + self.timing.stack_finished,
                    },
                }
            }
            State::ReturnedPending { .. } => self.state = State::Ready,
            _ => {}
        }
    }

    /// A decoded host request (other than ACK/NAK); returns the reply.
    pub fn handle(&mut self, req: &Request, now: Instant) -> Reply {
        self.tick(now);
        // An ACK acknowledges the last reply only: any other reply supersedes a report.
        self.reported_money = false;
        match req {
            Request::Poll => {
                let status = self.status();
                self.reported_money =
                    matches!(status, DeviceStatus::Stacked(_) | DeviceStatus::Returned(_));
                Reply::Status(status)
            }
            Request::Identify => Reply::Identification(self.identification.clone()),
            Request::GetBillTable => Reply::BillTable(self.table.clone()),
            Request::Reset => {
                self.reset(now);
                Reply::Ack
            }
            Request::SetSecurity(mask) => {
                self.security_mask = *mask;
                Reply::Ack
            }
            Request::GetStatus => Reply::Settings {
                enabled: self.enabled_mask,
                security: self.security_mask,
            },
            Request::EnableBills { enabled, .. } => {
                self.enabled_mask = *enabled;
                Reply::Ack
            }
            Request::SetInhibit(on) if self.protocol == Protocol::Id003 => {
                self.inhibited = *on;
                Reply::Ack
            }
            Request::Stack | Request::Return | Request::Hold => self.escrow_decision(req, now),
            Request::SetInhibit(_) | Request::Ack | Request::Nak => Reply::IllegalCommand,
        }
    }

    fn escrow_decision(&mut self, req: &Request, now: Instant) -> Reply {
        let State::Escrow { bill, until, held } = self.state else {
            return Reply::IllegalCommand;
        };
        if *req == Request::Stack && !held {
            let entered = until - self.timing.escrow;
            self.stack_decisions
                .push((now, now.saturating_duration_since(entered)));
        }
        self.state = match req {
            Request::Stack => State::Stacking {
                bill,
                until: now + self.timing.stack,
            },
            Request::Return => State::Returning {
                bill,
                until: now + self.timing.return_bill,
            },
            _ => State::Escrow {
                bill,
                until: now + self.timing.escrow,
                held: true,
            },
        };
        Reply::Ack
    }

    fn reset(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Ready) {
            // Bills still in the path go back to the customer; the stacker one is already counted.
            State::PowerUp(Some((Location::Validator, bill)))
            | State::Accepting { bill, .. }
            | State::Escrow { bill, .. }
            | State::Returning { bill, .. } => {
                self.returned_to_customer.push(bill.denomination_kopecks)
            }
            State::Stacking { bill, .. } => self.put_in_cassette(bill),
            State::Jammed { bill } => {
                // Still stuck: a reset does not clear a jam.
                self.state = State::Jammed { bill };
                return;
            }
            _ => {}
        }
        self.enabled_mask = 0;
        self.inhibited = true;
        self.state = State::Initializing {
            until: now + self.timing.initialize,
        };
    }

    // ---- scripted actions (the emulator's "customer" and "technician") ----

    /// A customer inserts a note of `rubles`. Unknown denominations are rejected like fakes.
    pub fn insert(&mut self, rubles: i64, now: Instant) -> Result<(), EmulatorError> {
        let kopecks = rubles.saturating_mul(100);
        let bill = Bill {
            bill_type: self.table.index_of(kopecks),
            denomination_kopecks: kopecks,
        };
        self.insert_bill(bill, now)
    }

    /// A counterfeit: read, then rejected.
    pub fn insert_fake(&mut self, now: Instant) -> Result<(), EmulatorError> {
        self.insert_bill(
            Bill {
                bill_type: None,
                denomination_kopecks: 0,
            },
            now,
        )
    }

    fn insert_bill(&mut self, bill: Bill, now: Instant) -> Result<(), EmulatorError> {
        self.tick(now);
        if !self.is_powered(now) || self.state != State::Ready || !self.accepting_bills() {
            return Err(EmulatorError::NotAccepting(format!("{:?}", self.status())));
        }
        self.state = State::Accepting {
            bill,
            until: now + self.timing.accept,
        };
        Ok(())
    }

    /// The bill path jams; a bill in the path is stuck there.
    pub fn jam(&mut self, now: Instant) {
        self.tick(now);
        let bill = match &self.state {
            State::Accepting { bill, .. }
            | State::Escrow { bill, .. }
            | State::Stacking { bill, .. }
            | State::Returning { bill, .. } => Some(*bill),
            State::Jammed { bill } => *bill,
            _ => None,
        };
        self.state = State::Jammed { bill };
    }

    /// A technician clears the jam, taking out a stuck bill; the validator re-initialises.
    pub fn clear_jam(&mut self, now: Instant) -> Result<(), EmulatorError> {
        let State::Jammed { bill } = self.state else {
            return Err(EmulatorError::NothingToClear);
        };
        if let Some(bill) = bill {
            self.taken_by_technician.push(bill.denomination_kopecks);
        }
        self.state = State::Initializing {
            until: now + self.timing.initialize,
        };
        Ok(())
    }

    pub fn cassette_full(&mut self) {
        self.cassette_forced_full = true;
    }

    /// Take the cassette out (encashment): its contents are collected.
    pub fn remove_cassette(&mut self, now: Instant) -> Result<BTreeMap<i64, u32>, EmulatorError> {
        self.tick(now);
        if !self.cassette_present {
            return Err(EmulatorError::Cassette("already out"));
        }
        if self.bill_in_path() {
            return Err(EmulatorError::BillInPath);
        }
        self.cassette_present = false;
        let contents = std::mem::take(&mut self.cassette);
        self.collected.push(contents.clone());
        Ok(contents)
    }

    /// Put an empty cassette in.
    pub fn insert_cassette(&mut self) -> Result<(), EmulatorError> {
        if self.cassette_present {
            return Err(EmulatorError::Cassette("already in"));
        }
        self.cassette_present = true;
        self.cassette_forced_full = false;
        Ok(())
    }

    /// Someone tampers (a bill on a string): a bill being read or held goes back out.
    pub fn cheat(&mut self, now: Instant) -> Result<(), EmulatorError> {
        self.tick(now);
        match &self.state {
            State::Stacking { .. } | State::StackedPending { .. } => {
                return Err(EmulatorError::BillInPath)
            }
            State::Accepting { bill, .. } | State::Escrow { bill, .. } => {
                self.returned_to_customer.push(bill.denomination_kopecks)
            }
            _ => {}
        }
        self.state = State::Cheated {
            until: now + self.timing.cheat,
        };
        Ok(())
    }

    pub fn fail(&mut self, code: FailureCode) {
        self.state = State::Failure(code);
    }

    /// Power is cut for `off_for`; the validator comes back reporting where a bill was.
    pub fn power_loss(&mut self, now: Instant, off_for: Duration) {
        self.tick(now);
        let bill = match std::mem::replace(&mut self.state, State::Ready) {
            State::Accepting { bill, .. }
            | State::Escrow { bill, .. }
            | State::Returning { bill, .. } => Some((Location::Validator, bill)),
            State::Stacking { bill, .. } => {
                // Past the point of no return: it lands in the cassette.
                self.put_in_cassette(bill);
                Some((Location::Stacker, bill))
            }
            // In the cassette already, but the host never acknowledged the report: the validator
            // reports it as a bill in the stacker so that it is not lost to the host.
            State::StackedPending { bill } => Some((Location::Stacker, bill)),
            State::PowerUp(b) => b,
            State::Jammed { bill } => {
                self.state = State::Jammed { bill };
                self.off_until = Some(now + off_for);
                return;
            }
            _ => None,
        };
        self.state = State::PowerUp(bill);
        self.reported_money = false;
        self.enabled_mask = 0;
        self.inhibited = true;
        self.off_until = Some(now + off_for);
    }

    fn bill_in_path(&self) -> bool {
        matches!(
            self.state,
            State::Accepting { .. }
                | State::Escrow { .. }
                | State::Stacking { .. }
                | State::Returning { .. }
        )
    }
}

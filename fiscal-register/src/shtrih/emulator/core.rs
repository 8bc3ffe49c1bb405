//! The emulated KKT (sans-IO): bytes in through the device link, commands run against the FN
//! model, answers and printed documents out, faults scripted from outside. Time comes in as
//! an `Instant` for the link and is turned into the KKT's wall clock from a start time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Timelike};

use super::device_link::{DeviceInput, DeviceLink};
use super::model::{FnModel, OpenReceipt, PrintState, Printed};
use crate::document::{
    AgentData, AgentType, Item, PaymentMethod, Payments, Seller, Subject, Supplier,
};
use crate::shtrih::commands::{self, date_time_bytes, from_win1251, Mode, Submode};
use crate::shtrih::commands::{FLAG_COVER_OPEN, FLAG_RECEIPT_OPTICAL, FLAG_RECEIPT_ROLL};
use crate::shtrih::errors::ErrorCode;
use crate::shtrih::frame::{Command, Reader, Writer};
use crate::shtrih::register::vat_from_bits;
use crate::tlv;

/// Faults the emulator can be told to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No paper (sales refused with 6Bh; submode 1).
    PaperOut,
    /// The next receipt runs out of paper while printing (submode 2, then 3 until B0h).
    PaperEndsDuringPrint,
    CoverOpen,
    /// FN archive 90% full (warning bit in FF01).
    MemoryNearFull,
    /// No OFD link: documents stay unsent (after 30 days the FN blocks sales).
    OfdOffline,
    /// The next FF45 registers the receipt but its answer is never sent.
    LoseAnswerAfterRegistration,
    /// The next run of this command happens but its answer is never sent.
    LoseNextAnswerTo(Command),
    /// The KKT is switched off: nothing is answered.
    Silent,
}

/// The emulator's setup.
#[derive(Debug, Clone)]
pub struct KktConfig {
    pub fn_number: String,
    /// The key the emulated FN signs with (fiscal sign = HMAC-SHA256, as the emulated module).
    pub key: Vec<u8>,
    /// Registration data held in the KKT's tables (INN, name, address, tax system…).
    pub seller: Seller,
    /// Operator or administrator password the KKT accepts.
    pub password: u32,
    /// The KKT's wall clock when the emulator starts.
    pub start_time: NaiveDateTime,
}

/// The wire-level KKT emulator core.
#[derive(Debug)]
pub struct KktCore {
    link: DeviceLink,
    pub(crate) fn_model: FnModel,
    password: u32,
    clock: (Instant, NaiveDateTime),
    lose_next_registration_answer: bool,
    lose_next_answer: Option<Command>,
    silent: bool,
    printed: VecDeque<Printed>,
    /// Commands executed, in order (tests count FF45s).
    executed: Vec<Command>,
}

impl KktCore {
    pub fn new(config: KktConfig, now: Instant) -> Self {
        KktCore {
            link: DeviceLink::new(Duration::from_millis(50)),
            fn_model: FnModel::new(config.fn_number, config.key, config.seller),
            password: config.password,
            clock: (now, config.start_time),
            lose_next_registration_answer: false,
            lose_next_answer: None,
            silent: false,
            printed: VecDeque::new(),
            executed: Vec::new(),
        }
    }

    /// The KKT's clock at `now`, to the minute (what the FN stores).
    pub fn wall_clock(&self, now: Instant) -> NaiveDateTime {
        let elapsed = now.saturating_duration_since(self.clock.0);
        let t = self.clock.1 + chrono::Duration::from_std(elapsed).unwrap_or_default();
        t.with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(t)
    }

    pub fn set_fault(&mut self, fault: Fault, active: bool) {
        tracing::info!(?fault, active, "KKT emulator fault");
        let m = &mut self.fn_model;
        match fault {
            Fault::PaperOut if active => m.paper = false,
            Fault::PaperOut => m.paper_in(),
            Fault::PaperEndsDuringPrint => m.paper_ends_in_next_print = active,
            Fault::CoverOpen => m.cover_open = active,
            Fault::MemoryNearFull => m.memory_near_full = active,
            Fault::OfdOffline => {
                m.ofd_online = !active;
                if !active {
                    m.ofd_sync();
                }
            }
            Fault::LoseAnswerAfterRegistration => self.lose_next_registration_answer = active,
            Fault::LoseNextAnswerTo(command) => {
                self.lose_next_answer = active.then_some(command);
            }
            Fault::Silent => self.silent = active,
        }
    }

    /// Feeds bytes from the host and runs every whole command.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.silent {
            return;
        }
        self.link.handle_input(bytes, now);
        while let Some(DeviceInput::Command(payload)) = self.link.poll_input() {
            self.run(&payload, now);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
    }

    /// What the KKT printed since the last call.
    pub fn poll_printed(&mut self) -> Option<Printed> {
        self.printed.pop_front()
    }

    /// Every command executed so far.
    pub fn executed(&self) -> &[Command] {
        &self.executed
    }

    /// FD numbers made so far.
    pub fn last_fd(&self) -> u32 {
        self.fn_model.last_fd
    }

    /// Documents the FN holds.
    pub fn documents(&self) -> &[crate::FoundDocument] {
        &self.fn_model.documents
    }

    fn run(&mut self, payload: &[u8], now: Instant) {
        let Some((command, data)) = Command::split(payload) else {
            return;
        };
        let wall = self.wall_clock(now);
        let reply = self.execute(command, data, wall);
        tracing::debug!(%command, error = reply.as_ref().err().map(|e| e.byte()), "KKT command");
        let mut answer = Writer::new(command);
        answer = match reply {
            Ok(data) => {
                self.executed.push(command);
                answer.u8(0).bytes(&data)
            }
            Err(code) => answer.u8(code.byte()),
        };
        let answer = answer.finish();
        let registered = command == commands::CLOSE_CHECK && answer.get(2) == Some(&0);
        let targeted = self.lose_next_answer == Some(command);
        if (registered && self.lose_next_registration_answer) || targeted {
            if targeted {
                self.lose_next_answer = None;
            } else {
                self.lose_next_registration_answer = false;
            }
            tracing::warn!(%command, "fault: the answer is lost");
            self.link.lose_answer();
            return;
        }
        self.link.answer(&answer);
    }

    fn execute(
        &mut self,
        command: Command,
        data: &[u8],
        now: NaiveDateTime,
    ) -> Result<Vec<u8>, ErrorCode> {
        if command == commands::DEVICE_TYPE {
            return Ok(device_type());
        }
        let mut r = Reader::new(command, data);
        let password = r.u32().map_err(|_| ErrorCode::BadLengthField)?;
        let operator = [self.operator(password).ok_or(ErrorCode::WrongPassword)?];
        match command {
            commands::SHORT_STATUS => Ok(self.short_status(now)),
            commands::FN_STATUS => Ok(self.fn_status(now)),
            commands::BEGIN_OPEN_SHIFT => self.begin(now, true).map(|_| Vec::new()),
            commands::OPEN_SHIFT_FN | commands::OPEN_SHIFT => {
                let (shift, fd, sign) = self.fn_model.open_shift(now)?;
                if command == commands::OPEN_SHIFT {
                    return Ok(operator.to_vec());
                }
                Ok(Writer::default().u16(shift).u32(fd).u32(sign).finish())
            }
            commands::BEGIN_CLOSE_SHIFT => self.begin(now, false).map(|_| Vec::new()),
            commands::CLOSE_SHIFT_FN | commands::Z_REPORT => {
                let report = self.fn_model.close_shift(now)?;
                let out = Writer::default()
                    .u16(report.shift as u16)
                    .u32(report.fd_number)
                    .u32(report.fiscal_sign)
                    .finish();
                self.emit(Printed::ShiftReport(report));
                Ok(if command == commands::Z_REPORT {
                    operator.to_vec()
                } else {
                    out
                })
            }
            commands::OPERATION => self.operation(&mut r, now).map(|_| Vec::new()),
            commands::OPERATION_TLV => self.operation_tlv(r.rest()).map(|_| Vec::new()),
            commands::DOCUMENT_TLV => self.document_tlv(r.rest()).map(|_| Vec::new()),
            commands::CLOSE_CHECK => self.close_check(&mut r, now),
            commands::CANCEL_CHECK | commands::CANCEL_FN_DOCUMENT => {
                self.fn_model
                    .receipt
                    .take()
                    .ok_or(if command == commands::CANCEL_CHECK {
                        ErrorCode::ReceiptClosedOperationImpossible
                    } else {
                        ErrorCode::FnWrongState
                    })?;
                Ok(if command == commands::CANCEL_CHECK {
                    operator.to_vec()
                } else {
                    Vec::new()
                })
            }
            commands::CONTINUE_PRINT => {
                if let Some(printed) = self.fn_model.continue_print() {
                    self.printed.push_back(printed);
                }
                Ok(operator.to_vec())
            }
            commands::FIND_DOCUMENT => {
                self.find_document(r.u32().map_err(|_| ErrorCode::BadLengthField)?)
            }
            commands::EXCHANGE_STATUS => Ok(self.exchange_status()),
            commands::UNSENT_COUNT => Ok(Writer::default()
                .u16(self.fn_model.unsent.len() as u16)
                .finish()),
            commands::SHIFT_PARAMETERS => {
                let m = &self.fn_model;
                let (open, shift, receipt) = match &m.shift {
                    Some(s) => (1, s.number, s.receipts),
                    None => (0, m.last_shift, 0),
                };
                Ok(Writer::default().u8(open).u16(shift).u16(receipt).finish())
            }
            _ => Err(ErrorCode::UnsupportedCommand),
        }
    }

    /// The operator a password logs in: the configured one (as operator 30, the system
    /// administrator) or a cashier 1..=28 with the factory password equal to its number.
    fn operator(&self, password: u32) -> Option<u8> {
        if password == self.password {
            Some(30)
        } else if (1..=28).contains(&password) {
            Some(password as u8)
        } else {
            None
        }
    }

    fn begin(&mut self, _now: NaiveDateTime, opening: bool) -> Result<(), ErrorCode> {
        let m = &mut self.fn_model;
        match (opening, m.shift.is_some()) {
            (true, true) => Err(ErrorCode::ShiftOpenOperationImpossible),
            (false, false) => Err(ErrorCode::ShiftClosedOperationImpossible),
            (true, false) => {
                m.opening = true;
                Ok(())
            }
            (false, true) => {
                m.closing = true;
                Ok(())
            }
        }
    }

    fn emit(&mut self, printed: Printed) {
        if let Some(printed) = self.fn_model.print(printed) {
            self.printed.push_back(printed);
        }
    }

    fn mode(&self, now: NaiveDateTime) -> Mode {
        let m = &self.fn_model;
        match (&m.receipt, &m.shift) {
            (Some(r), _) => Mode::ReceiptOpen(r.settlement.saturating_sub(1)),
            (None, None) => Mode::ShiftClosed,
            (None, Some(_)) if m.shift_expired(now) => Mode::ShiftExpired,
            (None, Some(_)) => Mode::ShiftOpen,
        }
    }

    fn short_status(&self, now: NaiveDateTime) -> Vec<u8> {
        let m = &self.fn_model;
        let mut flags = 0u16;
        if m.paper {
            flags |= FLAG_RECEIPT_ROLL | FLAG_RECEIPT_OPTICAL;
        }
        if m.cover_open {
            flags |= FLAG_COVER_OPEN;
        }
        let submode = match (m.print, m.paper) {
            (PrintState::ActiveOutOfPaper, _) => Submode::ActiveOutOfPaper,
            (PrintState::WaitingContinue, _) => Submode::WaitingContinuePrint,
            (PrintState::Ready, false) => Submode::PassiveOutOfPaper,
            (PrintState::Ready, true) => Submode::PaperPresent,
        };
        let ops = m
            .receipt
            .as_ref()
            .map_or(0, |r| r.items.len() as u16)
            .to_le_bytes();
        Writer::default()
            .u8(30)
            .u16(flags)
            .u8(self.mode(now).byte())
            .u8(submode.byte())
            .u8(ops[0])
            .u8(0x9B) // battery voltage, as a healthy KKT reports it
            .u8(0xB4) // supply voltage
            .u8(0)
            .u8(0)
            .u8(ops[1])
            .bytes(&[0, 0, 0])
            .finish()
    }

    fn fn_status(&self, now: NaiveDateTime) -> Vec<u8> {
        let m = &self.fn_model;
        let mut warnings = 0u8;
        if m.memory_near_full {
            warnings |= commands::warnings::MEMORY_NEAR_FULL;
        }
        if !m.unsent.is_empty() && !m.ofd_online {
            warnings |= commands::warnings::OFD_TIMEOUT;
        }
        let mut number = m.fn_number.as_bytes().to_vec();
        number.resize(16, b' ');
        Writer::default()
            .u8(0x03) // life phase: set up, fiscal mode open
            .u8(if m.receipt.is_some() { 0x04 } else { 0 })
            .u8(u8::from(
                m.receipt.as_ref().is_some_and(|r| !r.items.is_empty()),
            ))
            .u8(u8::from(m.shift.is_some()))
            .u8(warnings)
            .bytes(&date_time_bytes(now))
            .bytes(&number)
            .u32(m.last_fd)
            .finish()
    }

    fn exchange_status(&self) -> Vec<u8> {
        let m = &self.fn_model;
        let (fd, at) = m
            .unsent
            .first()
            .map_or((0, [0u8; 5]), |(fd, t)| (*fd, date_time_bytes(*t)));
        Writer::default()
            .u8(u8::from(m.ofd_online))
            .u8(0)
            .u16(m.unsent.len() as u16)
            .u32(fd)
            .bytes(&at)
            .finish()
    }

    fn find_document(&self, fd: u32) -> Result<Vec<u8>, ErrorCode> {
        use crate::interface::DocumentKind;
        let doc = self
            .fn_model
            .documents
            .iter()
            .find(|d| d.fd_number == fd)
            .ok_or(ErrorCode::FnNoData)?;
        let doc_type = match doc.kind {
            DocumentKind::Receipt(_) => commands::document_type::RECEIPT,
            DocumentKind::ShiftOpen { .. } => commands::document_type::SHIFT_OPEN,
            DocumentKind::ShiftClose { .. } => commands::document_type::SHIFT_CLOSE,
            DocumentKind::Other(t) => t,
        };
        let w = Writer::default()
            .u8(doc_type)
            .u8(u8::from(doc.acknowledged_by_ofd))
            .bytes(&date_time_bytes(doc.time))
            .u32(doc.fd_number)
            .u32(doc.fiscal_sign);
        Ok(match doc.kind {
            DocumentKind::Receipt(s) => w.u8(s as u8).uint(doc.total.unwrap_or(0).max(0) as u64, 5),
            DocumentKind::ShiftOpen { shift } | DocumentKind::ShiftClose { shift } => w.u16(shift),
            DocumentKind::Other(_) => w,
        }
        .finish())
    }

    fn operation(&mut self, r: &mut Reader<'_>, now: NaiveDateTime) -> Result<(), ErrorCode> {
        let bad = |_| ErrorCode::BadLengthField;
        let kind = r.u8().map_err(bad)?;
        let quantity_micro = r.uint(6).map_err(bad)?;
        let price = r.uint(5).map_err(bad)?;
        let amount = r.uint(5).map_err(bad)?;
        let _vat_amount = r.uint(5).map_err(bad)?;
        let vat = vat_from_bits(r.u8().map_err(bad)?).ok_or(ErrorCode::BadParameters)?;
        let _department = r.u8().map_err(bad)?;
        let method = r.u8().map_err(bad)?;
        let subject = r.u8().map_err(bad)?;
        let name = from_win1251(r.rest());
        if self.fn_model.receipt.is_none() {
            self.fn_model.check_can_sell(now)?;
        }
        let receipt = self.fn_model.receipt.get_or_insert_with(|| OpenReceipt {
            settlement: kind,
            ..OpenReceipt::default()
        });
        if receipt.settlement != kind {
            return Err(ErrorCode::WrongOperation);
        }
        if method != PaymentMethod::FullPayment as u8 || !matches!(subject, 4 | 10) {
            return Err(ErrorCode::BadParameters);
        }
        let mut item = Item::service(
            name,
            i64::try_from(price).map_err(|_| ErrorCode::PriceRange)?,
            vat,
        );
        item.quantity_milli =
            i64::try_from(quantity_micro / 1000).map_err(|_| ErrorCode::QuantityRange)?;
        item.subject = if subject == 10 {
            Subject::Payment
        } else {
            Subject::Service
        };
        if amount != commands::COMPUTED && amount != item.amount().max(0) as u64 {
            return Err(ErrorCode::BadParameters);
        }
        receipt.items.push(item);
        Ok(())
    }

    fn operation_tlv(&mut self, bytes: &[u8]) -> Result<(), ErrorCode> {
        let item = self
            .fn_model
            .receipt
            .as_mut()
            .and_then(|r| r.items.last_mut())
            .ok_or(ErrorCode::ReceiptClosedOperationImpossible)?;
        let tags = tlv::parse(bytes).ok_or(ErrorCode::FnBadParameter)?;
        let (mut agent_type, mut name, mut phone, mut inn) = (None, None, None, None);
        for (tag, value) in tags {
            match tag {
                1222 => agent_type = value.first().copied(),
                1226 => inn = Some(tlv::string_value(value)),
                1224 => {
                    for (inner, v) in tlv::parse(value).ok_or(ErrorCode::FnBadParameter)? {
                        match inner {
                            1225 => name = Some(tlv::string_value(v)),
                            1171 => phone = Some(tlv::string_value(v)),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if let (Some(t), Some(name), Some(inn)) = (agent_type, name, inn) {
            item.agent = Some(AgentData {
                agent_type: agent_type_from(t).ok_or(ErrorCode::FnBadParameter)?,
                supplier: Supplier { name, inn, phone },
            });
        }
        Ok(())
    }

    fn document_tlv(&mut self, bytes: &[u8]) -> Result<(), ErrorCode> {
        let receipt = self
            .fn_model
            .receipt
            .as_mut()
            .ok_or(ErrorCode::ReceiptClosedOperationImpossible)?;
        for (tag, value) in tlv::parse(bytes).ok_or(ErrorCode::FnBadParameter)? {
            match tag {
                1036 => receipt.machine_number = Some(tlv::string_value(value)),
                1008 => receipt.buyer_contact = Some(tlv::string_value(value)),
                _ => {}
            }
        }
        Ok(())
    }

    fn close_check(
        &mut self,
        r: &mut Reader<'_>,
        now: NaiveDateTime,
    ) -> Result<Vec<u8>, ErrorCode> {
        let bad = |_| ErrorCode::BadLengthField;
        let cash = r.uint(5).map_err(bad)?;
        let electronic = r.uint(5).map_err(bad)?;
        r.take(14 * 5 + 1 + 6 * 5).map_err(bad)?;
        let tax_system = r.u8().map_err(bad)?;
        let payments = Payments {
            cash: i64::try_from(cash).map_err(|_| ErrorCode::CashPaymentRange)?,
            electronic: i64::try_from(electronic).map_err(|_| ErrorCode::Payment2Range)?,
        };
        let (document, result, change) = self.fn_model.close_receipt(payments, tax_system, now)?;
        let out = Writer::default()
            .uint(change.max(0) as u64, 5)
            .u32(result.fd_number)
            .u32(result.fiscal_sign)
            .bytes(&date_time_bytes(result.time))
            .finish();
        self.emit(Printed::Receipt {
            document: Box::new(document),
            result,
        });
        Ok(out)
    }
}

/// FCh "Получить тип устройства": type 0 (KKT), subtype, protocol 1.0, model, language 0
/// (Russian), name.
fn device_type() -> Vec<u8> {
    Writer::default()
        .bytes(&[0, 0, 1, 0, 0xF6, 0])
        .bytes(&commands::win1251("ШТРИХ-М-ЭМУЛЯТОР-Ф", 64))
        .finish()
}

fn agent_type_from(bits: u8) -> Option<AgentType> {
    Some(match bits {
        1 => AgentType::BankPaymentAgent,
        2 => AgentType::BankPaymentSubagent,
        4 => AgentType::PaymentAgent,
        8 => AgentType::PaymentSubagent,
        16 => AgentType::Attorney,
        32 => AgentType::CommissionAgent,
        64 => AgentType::Agent,
        _ => return None,
    })
}

//! The [`FiscalModule`] face of a Shtrih-M KKT over any [`Exchange`] (the async driver, or the
//! in-memory session-plus-emulator of the tests), with exactly-once fiscalisation:
//!
//! 1. Before a sale the FN status is read (`FF01`): a receipt left open by an earlier crash is
//!    cancelled (`FF08`, then `88h`), and the last FD number is remembered.
//! 2. The sale goes out as `FF46` (+ `FF4D`) per line, `FF0C` for receipt tags, `FF45`.
//! 3. When an answer is lost (the KKT may or may not have done it), the FN is asked again: a
//!    newer FD that is a receipt of the same type and total (`FF0A`) *is* the sale and its
//!    attributes are returned; no newer FD means nothing was registered, so an open receipt is
//!    cancelled and the sale is sent once more. There is never a second document for a sale.

use std::sync::Mutex;

use chrono::NaiveDateTime;

use super::commands::{
    warnings, CheckClosed, CloseCheck, FnState, Mode, Operation, Reply, Request, ShortStatus,
    COMPUTED,
};
use super::errors::{ErrorCode, ShtrihError};
use crate::document::{FiscalDocument, Item, VatRate};
use crate::interface::*;
use crate::tlv::{Tlv, TlvWriter};

/// One request, one reply: what the register needs from a transport.
pub trait Exchange: Send {
    fn call(&mut self, request: Request) -> Result<Reply, ShtrihError>;
}

/// How many times recovery reads the FN before giving up (the link may still be recovering).
const RECOVERY_READS: usize = 3;

/// A Shtrih-M KKT as a [`FiscalModule`].
pub struct ShtrihRegister<E: Exchange> {
    exchange: Mutex<E>,
    /// True when the KKT prints the receipt on the printer wired to it.
    prints: bool,
}

impl<E: Exchange> std::fmt::Debug for ShtrihRegister<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShtrihRegister")
            .field("prints", &self.prints)
            .finish()
    }
}

impl<E: Exchange> ShtrihRegister<E> {
    /// `prints`: the KKT prints its receipts (kiosk KKT); false when the host prints them.
    pub fn new(exchange: E, prints: bool) -> Self {
        ShtrihRegister {
            exchange: Mutex::new(exchange),
            prints,
        }
    }

    /// Runs `f` on the transport (tests reach the emulator behind it this way).
    pub fn with_exchange<T>(&self, f: impl FnOnce(&mut E) -> T) -> Result<T, FiscalError> {
        let mut exchange = self
            .exchange
            .lock()
            .map_err(|_| FiscalError::State("KKT exchange poisoned by a panic".into()))?;
        Ok(f(&mut exchange))
    }

    fn call(&self, request: Request) -> Result<Reply, FiscalError> {
        let mut exchange = self
            .exchange
            .lock()
            .map_err(|_| FiscalError::State("KKT exchange poisoned by a panic".into()))?;
        Ok(exchange.call(request)?)
    }

    fn unexpected(reply: Reply) -> FiscalError {
        FiscalError::Kkt(ShtrihError::Malformed(format!(
            "unexpected reply {reply:?}"
        )))
    }

    /// FF01h.
    pub fn fn_state(&self) -> Result<FnState, FiscalError> {
        match self.call(Request::FnStatus)? {
            Reply::FnStatus(s) => Ok(s),
            other => Err(Self::unexpected(other)),
        }
    }

    /// 10h.
    pub fn short_status(&self) -> Result<ShortStatus, FiscalError> {
        match self.call(Request::ShortStatus)? {
            Reply::ShortStatus(s) => Ok(s),
            other => Err(Self::unexpected(other)),
        }
    }

    /// B0h: continue printing once paper is back (submode 3).
    pub fn continue_print(&self) -> Result<(), FiscalError> {
        self.call(Request::ContinuePrint).map(|_| ())
    }

    fn shift_parameters(&self) -> Result<super::commands::ShiftParameters, FiscalError> {
        match self.call(Request::ShiftParameters)? {
            Reply::Shift(s) => Ok(s),
            other => Err(Self::unexpected(other)),
        }
    }

    fn document(&self, fd: u32) -> Result<Option<FoundDocument>, FiscalError> {
        match self.call(Request::FindDocument(fd)) {
            Ok(Reply::Document(d)) => Ok(Some(d)),
            Ok(other) => Err(Self::unexpected(other)),
            Err(FiscalError::Kkt(ShtrihError::Refused {
                code: ErrorCode::FnNoData,
                ..
            })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn expired(&self, state: &FnState) -> Result<FiscalError, FiscalError> {
        let shift = self.shift_parameters()?.shift;
        Ok(FiscalError::ShiftExpired {
            shift: u32::from(shift),
            // The KKT does not report when the shift opened; its clock at detection stands in.
            opened_at: state.time - chrono::Duration::hours(MAX_SHIFT_HOURS),
        })
    }

    /// Cancels a receipt left open: in the FN (FF08h) and in the KKT (88h).
    fn cancel_open(&self) -> Result<bool, FiscalError> {
        let mut cancelled = false;
        if self.fn_state()?.open_document != 0 {
            tracing::warn!("cancelling the document left open in the FN");
            self.call(Request::CancelFnDocument)?;
            cancelled = true;
        }
        if let Mode::ReceiptOpen(_) = self.short_status()?.mode {
            tracing::warn!("cancelling the receipt left open in the KKT");
            self.call(Request::CancelCheck)?;
            cancelled = true;
        }
        Ok(cancelled)
    }

    fn sell(&self, document: &FiscalDocument) -> Result<CheckClosed, FiscalError> {
        for request in sale_requests(document)? {
            match self.call(request)? {
                Reply::CheckClosed(closed) => return Ok(closed),
                Reply::Done => {}
                other => return Err(Self::unexpected(other)),
            }
        }
        Err(FiscalError::State("the sale ended without FF45".into()))
    }

    fn result(&self, state: &FnState, closed: CheckClosed) -> Result<FiscalResult, FiscalError> {
        let shift = self.shift_parameters()?;
        Ok(FiscalResult {
            fn_number: state.fn_number.clone(),
            fd_number: closed.fd_number,
            fiscal_sign: closed.fiscal_sign,
            shift: u32::from(shift.shift),
            receipt_in_shift: u32::from(shift.receipt),
            time: closed.time,
            printed_by_module: self.prints,
        })
    }

    /// Reads the FN until it answers (the link that lost an answer may need a moment).
    fn fn_state_patiently(&self) -> Result<FnState, FiscalError> {
        let mut last = None;
        for _ in 0..RECOVERY_READS {
            match self.fn_state() {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| FiscalError::State("FN status unreadable".into())))
    }

    /// After an answer was lost mid-sale: find the sale in the FN, or make sure nothing is open
    /// and sell once more (`retry`).
    fn recover(
        &self,
        document: &FiscalDocument,
        before_fd: u32,
        retry: bool,
    ) -> Result<FiscalResult, FiscalError> {
        let state = self.fn_state_patiently()?;
        tracing::warn!(before_fd, last_fd = state.last_fd, "recovering a sale");
        for fd in (before_fd + 1)..=state.last_fd {
            if let Some(found) = self.document(fd)? {
                if found.matches(document) {
                    tracing::info!(fd, "the lost sale was registered; using its FD");
                    let closed = CheckClosed {
                        change: 0,
                        fd_number: found.fd_number,
                        fiscal_sign: found.fiscal_sign,
                        time: found.time,
                    };
                    return self.result(&state, closed);
                }
            }
        }
        if state.last_fd > before_fd {
            return Err(FiscalError::State(format!(
                "the FN made FD {}..={} during the sale, none of them this sale's receipt",
                before_fd + 1,
                state.last_fd
            )));
        }
        self.cancel_open()?;
        if !retry {
            return Err(FiscalError::Kkt(ShtrihError::NoLink));
        }
        tracing::info!("nothing was registered; selling again");
        match self.sell(document) {
            Ok(closed) => self.result(&state, closed),
            Err(FiscalError::Kkt(e)) if e.outcome_unknown() => {
                self.recover(document, before_fd, false)
            }
            Err(e) => {
                let _ = self.cancel_open();
                Err(e)
            }
        }
    }
}

impl<E: Exchange> FiscalModule for ShtrihRegister<E> {
    fn prints_receipts(&self) -> bool {
        self.prints
    }

    fn open_shift(&mut self, _now: NaiveDateTime) -> Result<ShiftInfo, FiscalError> {
        if self.fn_state()?.shift_open {
            let shift = self.shift_parameters()?.shift;
            return Err(FiscalError::ShiftAlreadyOpen(u32::from(shift)));
        }
        self.call(Request::BeginOpenShift)?;
        let opened = match self.call(Request::OpenShiftFn)? {
            Reply::ShiftOpened(s) => s,
            other => return Err(Self::unexpected(other)),
        };
        let opened_at = match self.document(opened.fd_number)? {
            Some(d) => d.time,
            None => self.fn_state()?.time,
        };
        tracing::info!(shift = opened.shift, fd = opened.fd_number, "shift opened");
        Ok(ShiftInfo {
            shift: u32::from(opened.shift),
            opened_at,
            fd_number: opened.fd_number,
        })
    }

    fn register(
        &mut self,
        document: &FiscalDocument,
        _now: NaiveDateTime,
    ) -> Result<FiscalResult, FiscalError> {
        document.validate()?;
        let state = self.fn_state()?;
        let mut mode = self.short_status()?.mode;
        if state.open_document != 0 || matches!(mode, Mode::ReceiptOpen(_)) {
            self.cancel_open()?;
            mode = self.short_status()?.mode;
        }
        match mode {
            Mode::ShiftClosed => return Err(FiscalError::ShiftClosed),
            Mode::ShiftExpired => return Err(self.expired(&state)?),
            _ => {}
        }
        match self.sell(document) {
            Ok(closed) => {
                tracing::info!(fd = closed.fd_number, total = document.total(), "sold");
                self.result(&state, closed)
            }
            Err(FiscalError::Kkt(e)) if e.outcome_unknown() => {
                self.recover(document, state.last_fd, true)
            }
            Err(e) => {
                // A refused line leaves the receipt open; close it before anything else.
                if let Err(cancel) = self.cancel_open() {
                    tracing::warn!(error = %cancel, "could not cancel the refused receipt");
                }
                match e {
                    FiscalError::Kkt(ShtrihError::Refused {
                        code: ErrorCode::ShiftOver24h | ErrorCode::FnShiftOver24h,
                        ..
                    }) => Err(self.expired(&state)?),
                    other => Err(other),
                }
            }
        }
    }

    fn close_shift(&mut self, _now: NaiveDateTime) -> Result<ZReport, FiscalError> {
        let state = self.fn_state()?;
        if !state.shift_open {
            return Err(FiscalError::ShiftClosed);
        }
        self.cancel_open()?;
        let (opened, receipts, income) = self.shift_totals(state.last_fd)?;
        self.call(Request::BeginCloseShift)?;
        let closed = match self.call(Request::CloseShiftFn)? {
            Reply::ShiftClosed(s) => s,
            other => return Err(Self::unexpected(other)),
        };
        let closed_at = match self.document(closed.fd_number)? {
            Some(d) => d.time,
            None => self.fn_state()?.time,
        };
        Ok(ZReport {
            shift: u32::from(closed.shift),
            opened_at: opened.unwrap_or(closed_at),
            closed_at,
            receipts,
            income,
            cash: 0,
            electronic: 0,
            payments_split: false,
            fd_number: closed.fd_number,
            fiscal_sign: closed.fiscal_sign,
        })
    }

    fn status(&self, _now: NaiveDateTime) -> Result<FnStatus, FiscalError> {
        let state = self.fn_state()?;
        let short = self.short_status()?;
        let shift = self.shift_parameters()?;
        let exchange = match self.call(Request::ExchangeStatus)? {
            Reply::Exchange(e) => e,
            other => return Err(Self::unexpected(other)),
        };
        Ok(FnStatus {
            fn_number: state.fn_number.clone(),
            shift_open: state.shift_open,
            shift: u32::from(shift.shift),
            shift_opened_at: None,
            shift_expired: short.mode == Mode::ShiftExpired,
            last_fd_number: state.last_fd,
            open_receipt: state.open_document != 0 || matches!(short.mode, Mode::ReceiptOpen(_)),
            warnings: FnWarnings {
                memory_near_full: state.warnings & warnings::MEMORY_NEAR_FULL != 0,
                resource_ending: state.warnings & warnings::RESOURCE_ENDING != 0,
                urgent_replacement: state.warnings & warnings::URGENT_REPLACEMENT != 0,
                ofd_timeout: state.warnings & warnings::OFD_TIMEOUT != 0,
                unsent_documents: u32::from(exchange.unsent),
                oldest_unsent: exchange.first_unsent_at,
            },
        })
    }

    fn find_document(&mut self, fd_number: u32) -> Result<Option<FoundDocument>, FiscalError> {
        self.document(fd_number)
    }

    fn cancel_open_receipt(&mut self, _now: NaiveDateTime) -> Result<bool, FiscalError> {
        self.cancel_open()
    }
}

impl<E: Exchange> ShtrihRegister<E> {
    /// Walks the FN back from `last_fd` to the shift-opening report: when the shift opened, how
    /// many income receipts it holds and their sum (returns subtracted).
    fn shift_totals(&self, last_fd: u32) -> Result<(Option<NaiveDateTime>, u32, i64), FiscalError> {
        let (mut receipts, mut income) = (0u32, 0i64);
        for fd in (1..=last_fd).rev() {
            let Some(doc) = self.document(fd)? else {
                continue;
            };
            match doc.kind {
                DocumentKind::ShiftOpen { .. } => return Ok((Some(doc.time), receipts, income)),
                DocumentKind::Receipt(crate::SettlementType::Income) => {
                    receipts += 1;
                    income += doc.total.unwrap_or(0);
                }
                DocumentKind::Receipt(crate::SettlementType::IncomeReturn) => {
                    income -= doc.total.unwrap_or(0);
                }
                _ => {}
            }
        }
        Ok((None, receipts, income))
    }
}

/// The FF46 VAT bit for a rate (Shtrih tax groups 1..6; 5% and 7% are groups 7 and 8 on
/// firmware with the 2025 rates). The 22% rates use the groups of 20%, which the 2026
/// firmware renamed.
fn vat_bits(rate: VatRate) -> Result<u8, FiscalError> {
    Ok(match rate {
        VatRate::Vat20 | VatRate::Vat22 => 0x01,
        VatRate::Vat10 => 0x02,
        VatRate::Vat0 => 0x04,
        VatRate::NoVat => 0x08,
        VatRate::Vat20_120 | VatRate::Vat22_122 => 0x10,
        VatRate::Vat10_110 => 0x20,
        VatRate::Vat5 => 0x40,
        VatRate::Vat7 => 0x80,
        VatRate::Vat5_105 | VatRate::Vat7_107 => {
            return Err(FiscalError::InvalidDocument(format!(
                "VAT rate {} has no Shtrih-M tax group in this driver",
                rate.label()
            )))
        }
    })
}

/// The VAT rate of an FF46 bit (the emulator reads it back).
pub(crate) fn vat_from_bits(bits: u8) -> Option<VatRate> {
    Some(match bits {
        0x01 => VatRate::Vat22,
        0x02 => VatRate::Vat10,
        0x04 => VatRate::Vat0,
        0x08 => VatRate::NoVat,
        0x10 => VatRate::Vat22_122,
        0x20 => VatRate::Vat10_110,
        0x40 => VatRate::Vat5,
        0x80 => VatRate::Vat7,
        _ => return None,
    })
}

fn operation(document: &FiscalDocument, item: &Item) -> Result<Operation, FiscalError> {
    let positive = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Operation {
        kind: document.settlement as u8,
        quantity_micro: positive(item.quantity_milli) * 1000,
        price: positive(item.price),
        amount: positive(item.amount()),
        vat_amount: COMPUTED,
        vat_rate: vat_bits(item.vat)?,
        department: 1,
        method: item.method as u8,
        subject: item.subject as u8,
        name: item.name.clone(),
    })
}

/// Tags of a line sent with FF4D: 2108 measure (0 = piece, mandatory in FFD 1.2) and the agent
/// data 1222/1224/1226 when the retailer collects for another supplier.
fn line_tags(item: &Item) -> Vec<u8> {
    let mut w = TlvWriter::new();
    w.put(Tlv::byte(2108, 0));
    if let Some(agent) = &item.agent {
        w.put(Tlv::byte(1222, agent.agent_type as u8));
        let mut supplier = TlvWriter::new();
        supplier.put(Tlv::string(1225, &agent.supplier.name));
        if let Some(phone) = &agent.supplier.phone {
            supplier.put(Tlv::string(1171, phone));
        }
        w.put(Tlv::stlv(1224, supplier.finish()));
        w.put(Tlv::string(1226, &agent.supplier.inn));
    }
    w.finish()
}

/// Receipt-level tags sent with FF0C: 1036 machine number, 1057 agent flags, 1008 contact.
fn receipt_tags(document: &FiscalDocument) -> Vec<u8> {
    let mut w = TlvWriter::new();
    w.put(Tlv::string(1036, &document.seller.machine_number));
    let agent = document.agent_flags();
    if agent != 0 {
        w.put(Tlv::byte(1057, agent));
    }
    if let Some(contact) = &document.buyer_contact {
        w.put(Tlv::string(1008, contact));
    }
    w.finish()
}

/// The requests that make `document` a receipt, in order, ending with FF45.
pub fn sale_requests(document: &FiscalDocument) -> Result<Vec<Request>, FiscalError> {
    let mut out = Vec::with_capacity(document.items.len() * 2 + 2);
    for item in &document.items {
        out.push(Request::Operation(operation(document, item)?));
        out.push(Request::OperationTlv(line_tags(item)));
    }
    out.push(Request::DocumentTlv(receipt_tags(document)));
    out.push(Request::CloseCheck(CloseCheck {
        cash: u64::try_from(document.payments.cash).unwrap_or(0),
        electronic: u64::try_from(document.payments.electronic).unwrap_or(0),
        tax_system: document.seller.tax_system as u8,
        text: String::new(),
    }));
    Ok(out)
}

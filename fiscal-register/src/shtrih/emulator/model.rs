//! The emulated KKT's fiscal storage and print state: shift and its 24-hour limit, FD
//! numbering, fiscal signs, the receipt being formed, OFD documents not yet sent, paper and
//! cover. Pure state with the rules the FN enforces; the wire is elsewhere.

use chrono::{Duration, NaiveDateTime};

use crate::document::{FiscalDocument, Item, Payments, Seller};
use crate::emulated::fiscal_sign;
use crate::interface::{DocumentKind, FiscalResult, FoundDocument, ZReport, MAX_SHIFT_HOURS};
use crate::shtrih::errors::ErrorCode;

/// How long the FN lets documents wait for the OFD before it blocks sales.
pub const OFD_LIMIT_DAYS: i64 = 30;

/// An open shift.
#[derive(Debug, Clone)]
pub struct Shift {
    pub number: u16,
    pub opened_at: NaiveDateTime,
    pub receipts: u16,
    pub income: i64,
    pub cash: i64,
    pub electronic: i64,
}

/// The receipt being formed between the first FF46 and FF45.
#[derive(Debug, Clone, Default)]
pub struct OpenReceipt {
    pub settlement: u8,
    pub items: Vec<Item>,
    pub machine_number: Option<String>,
    pub buyer_contact: Option<String>,
}

/// Where the print head is (the 10h submode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintState {
    Ready,
    /// Paper ran out while printing; the rest waits for paper.
    ActiveOutOfPaper,
    /// Paper is back; waiting for B0h.
    WaitingContinue,
}

/// What the KKT printed, for the ESC/POS path and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Printed {
    Receipt {
        document: Box<FiscalDocument>,
        result: FiscalResult,
    },
    ShiftReport(ZReport),
}

/// The emulated FN and printer.
#[derive(Debug, Clone)]
pub struct FnModel {
    pub fn_number: String,
    key: Vec<u8>,
    pub seller: Seller,
    pub last_fd: u32,
    pub last_shift: u16,
    pub shift: Option<Shift>,
    /// FF41 / FF42 was sent and the matching FF0B / FF43 is expected.
    pub opening: bool,
    pub closing: bool,
    pub receipt: Option<OpenReceipt>,
    pub documents: Vec<FoundDocument>,
    /// FD numbers and times of documents the OFD has not confirmed.
    pub unsent: Vec<(u32, NaiveDateTime)>,
    pub ofd_online: bool,
    pub paper: bool,
    pub cover_open: bool,
    pub memory_near_full: bool,
    pub print: PrintState,
    /// A receipt held while paper is out (printed on B0h).
    pub held: Option<Printed>,
    /// The next receipt runs out of paper halfway.
    pub paper_ends_in_next_print: bool,
}

impl FnModel {
    pub fn new(fn_number: String, key: Vec<u8>, seller: Seller) -> Self {
        FnModel {
            fn_number,
            key,
            seller,
            last_fd: 0,
            last_shift: 0,
            shift: None,
            opening: false,
            closing: false,
            receipt: None,
            documents: Vec::new(),
            unsent: Vec::new(),
            ofd_online: true,
            paper: true,
            cover_open: false,
            memory_near_full: false,
            print: PrintState::Ready,
            held: None,
            paper_ends_in_next_print: false,
        }
    }

    pub fn shift_expired(&self, now: NaiveDateTime) -> bool {
        self.shift
            .as_ref()
            .is_some_and(|s| now - s.opened_at > Duration::hours(MAX_SHIFT_HOURS))
    }

    fn ofd_blocked(&self, now: NaiveDateTime) -> bool {
        self.unsent
            .first()
            .is_some_and(|(_, t)| now - *t > Duration::days(OFD_LIMIT_DAYS))
    }

    /// Refuses what the FN and the printer would refuse before a receipt line is added.
    pub fn check_can_sell(&self, now: NaiveDateTime) -> Result<(), ErrorCode> {
        if self.shift.is_none() {
            return Err(ErrorCode::ShiftClosedOperationImpossible);
        }
        if self.shift_expired(now) {
            return Err(ErrorCode::ShiftOver24h);
        }
        if self.ofd_blocked(now) {
            return Err(ErrorCode::FnOfdWaitExhausted);
        }
        if !self.paper || self.print != PrintState::Ready {
            return Err(ErrorCode::NoReceiptPaper);
        }
        if self.cover_open {
            return Err(ErrorCode::PrinterNoSensorSignal);
        }
        Ok(())
    }

    fn next_document(
        &mut self,
        kind: DocumentKind,
        total: Option<i64>,
        sign: u32,
        time: NaiveDateTime,
    ) -> u32 {
        self.last_fd += 1;
        let fd_number = self.last_fd;
        self.documents.push(FoundDocument {
            fd_number,
            kind,
            total,
            time,
            fiscal_sign: sign,
            acknowledged_by_ofd: self.ofd_online,
        });
        if !self.ofd_online {
            self.unsent.push((fd_number, time));
        }
        fd_number
    }

    fn report_sign(&self, shift: u16, fd: u32, time: NaiveDateTime) -> u32 {
        let mut data = shift.to_le_bytes().to_vec();
        data.extend_from_slice(&fd.to_le_bytes());
        data.extend_from_slice(time.and_utc().timestamp().to_le_bytes().as_slice());
        fiscal_sign(&self.key, &data)
    }

    /// FF0B / E0: opens the next shift; returns (shift, FD, fiscal sign).
    pub fn open_shift(&mut self, now: NaiveDateTime) -> Result<(u16, u32, u32), ErrorCode> {
        if self.shift.is_some() {
            return Err(ErrorCode::ShiftOpenOperationImpossible);
        }
        let number = self.last_shift + 1;
        let sign = self.report_sign(number, self.last_fd + 1, now);
        let fd = self.next_document(DocumentKind::ShiftOpen { shift: number }, None, sign, now);
        self.last_shift = number;
        self.opening = false;
        self.shift = Some(Shift {
            number,
            opened_at: now,
            receipts: 0,
            income: 0,
            cash: 0,
            electronic: 0,
        });
        Ok((number, fd, sign))
    }

    /// FF43 / 41h: closes the shift; the Z-report is also printed.
    pub fn close_shift(&mut self, now: NaiveDateTime) -> Result<ZReport, ErrorCode> {
        if self.receipt.is_some() {
            return Err(ErrorCode::ReceiptOpen);
        }
        let shift = self
            .shift
            .take()
            .ok_or(ErrorCode::ShiftClosedOperationImpossible)?;
        let sign = self.report_sign(shift.number, self.last_fd + 1, now);
        let fd = self.next_document(
            DocumentKind::ShiftClose {
                shift: shift.number,
            },
            None,
            sign,
            now,
        );
        self.closing = false;
        Ok(ZReport {
            shift: u32::from(shift.number),
            opened_at: shift.opened_at,
            closed_at: now,
            receipts: u32::from(shift.receipts),
            income: shift.income,
            cash: shift.cash,
            electronic: shift.electronic,
            payments_split: true,
            fd_number: fd,
            fiscal_sign: sign,
        })
    }

    /// FF45: registers the open receipt; returns it with its attributes.
    pub fn close_receipt(
        &mut self,
        payments: Payments,
        tax_system: u8,
        now: NaiveDateTime,
    ) -> Result<(FiscalDocument, FiscalResult, i64), ErrorCode> {
        let receipt = self
            .receipt
            .as_ref()
            .ok_or(ErrorCode::ReceiptClosedOperationImpossible)?;
        let mut seller = self.seller.clone();
        if let Some(machine) = &receipt.machine_number {
            seller.machine_number = machine.clone();
        }
        if tax_system != seller.tax_system as u8 {
            return Err(ErrorCode::BadParameterForSettings);
        }
        let settlement =
            crate::SettlementType::from_code(receipt.settlement).ok_or(ErrorCode::BadParameters)?;
        let mut document = FiscalDocument {
            settlement,
            seller,
            items: receipt.items.clone(),
            payments,
            buyer_contact: receipt.buyer_contact.clone(),
        };
        let total = document.total();
        if total == 0 {
            return Err(ErrorCode::ZeroReceiptTotal);
        }
        if payments.electronic > total {
            return Err(ErrorCode::CashlessAboveTotal);
        }
        if payments.total() < total {
            return Err(ErrorCode::PaymentsBelowTotal);
        }
        // No change is recorded: the cash payment in the document is what stays in the till.
        let change = payments.total() - total;
        document.payments.cash -= change;
        let fd_number = self.last_fd + 1;
        let sign = fiscal_sign(&self.key, &document.to_tlv(&self.fn_number, fd_number, now));
        self.next_document(DocumentKind::Receipt(settlement), Some(total), sign, now);
        self.receipt = None;
        let shift = self
            .shift
            .as_mut()
            .ok_or(ErrorCode::ShiftClosedOperationImpossible)?;
        shift.receipts += 1;
        shift.income += total;
        shift.cash += document.payments.cash;
        shift.electronic += document.payments.electronic;
        let result = FiscalResult {
            fn_number: self.fn_number.clone(),
            fd_number,
            fiscal_sign: sign,
            shift: u32::from(shift.number),
            receipt_in_shift: u32::from(shift.receipts),
            time: now,
            printed_by_module: true,
        };
        Ok((document, result, change))
    }

    /// Prints (or holds, when the paper runs out on the way).
    pub fn print(&mut self, printed: Printed) -> Option<Printed> {
        if self.paper_ends_in_next_print {
            self.paper_ends_in_next_print = false;
            self.paper = false;
            self.print = PrintState::ActiveOutOfPaper;
            self.held = Some(printed);
            return None;
        }
        Some(printed)
    }

    /// The technician loaded paper.
    pub fn paper_in(&mut self) {
        self.paper = true;
        if self.print == PrintState::ActiveOutOfPaper {
            self.print = PrintState::WaitingContinue;
        }
    }

    /// B0h: prints what was held.
    pub fn continue_print(&mut self) -> Option<Printed> {
        if self.print == PrintState::WaitingContinue {
            self.print = PrintState::Ready;
            return self.held.take();
        }
        None
    }

    /// The OFD came back: every document is confirmed.
    pub fn ofd_sync(&mut self) {
        let sent: Vec<u32> = self.unsent.drain(..).map(|(fd, _)| fd).collect();
        for doc in &mut self.documents {
            if sent.contains(&doc.fd_number) {
                doc.acknowledged_by_ofd = true;
            }
        }
    }
}

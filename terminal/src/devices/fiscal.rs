//! The fiscal half of the receipt task: registers a receipt with the [`FiscalModule`] exactly
//! once, opening a shift (or closing one older than 24 hours first) as the law requires, and
//! says what to journal. Synchronous, because a KKT call blocks on its serial line: the receipt
//! task runs it on a blocking thread, the fault simulation calls it directly. No rule lives in
//! either of them.
//!
//! Exactly once: a request with a [`FiscalResume`] (the journal holds an earlier try of this
//! payment's receipt, which a crash or a lost answer kept from being journaled) first asks the
//! register for a receipt of that total made after the FD the journal last knew, skipping the
//! FDs journaled for other documents. Found, its attributes are the receipt's; not found, the
//! sale is made. A register that cannot be read sells nothing: the try fails and is repeated.

use std::collections::BTreeSet;

use backend_sync::event::{FiscalAttributes, ReceiptContact};
use backend_sync::JournalEvent;
use chrono::{DateTime, NaiveDateTime, Utc};
use fiscal_register::{
    FiscalDocument, FiscalError, FiscalModule, FiscalResult, Item, Payments, Seller,
    SettlementType, VatRate, ZReport,
};
use tracing::{info, warn};

/// How many of its own FDs a [`Fiscaliser`] remembers: far more than can queue up while one
/// request waits (older ones are in the journal, and so in every request's `claimed`).
const ISSUED_KEPT: usize = 256;

use crate::health::{DeviceCondition, FaultKind};
use crate::session::{DeviceInput, FiscalRequest, FiscalResume};

/// A fiscal module and what every receipt of this kiosk carries.
pub struct Fiscaliser<M: FiscalModule + ?Sized = dyn FiscalModule> {
    /// FDs this process made or matched (newest [`ISSUED_KEPT`]): a request's `claimed` was
    /// read from the journal when the request was made, and requests queue up behind each
    /// other, so a document made meanwhile for another payment is known only here.
    issued: BTreeSet<u32>,
    module: Box<M>,
    seller: Seller,
    vat: VatRate,
    tz: chrono_tz::Tz,
}

/// What one fiscalisation did.
#[derive(Debug)]
pub struct FiscalOutcome {
    /// Shift reports made on the way, to journal before the receipt's own input.
    pub journal: Vec<JournalEvent>,
    pub health: DeviceCondition,
    /// `Fiscalised` or `FiscalisationFailed`, for the session.
    pub input: DeviceInput,
    /// The document and its attributes when registered (for the printed receipt).
    pub registered: Option<(FiscalDocument, FiscalResult)>,
    /// The receipt was found in the register, made by an earlier try.
    pub found_earlier: bool,
}

impl<M: FiscalModule + ?Sized> Fiscaliser<M> {
    pub fn new(module: Box<M>, seller: Seller, vat: VatRate, tz: chrono_tz::Tz) -> Self {
        Fiscaliser {
            issued: BTreeSet::new(),
            module,
            seller,
            vat,
            tz,
        }
    }

    /// Forgets what this process remembered (the fault simulation's process restart keeps the
    /// module, which stands for the device, and drops the rest).
    pub fn forget(&mut self) {
        self.issued.clear();
    }

    /// The module (the fault simulation reaches its emulated KKT this way).
    pub fn module(&self) -> &M {
        &self.module
    }

    pub fn module_mut(&mut self) -> &mut M {
        &mut self.module
    }

    fn local(&self, now: DateTime<Utc>) -> NaiveDateTime {
        now.with_timezone(&self.tz).naive_local()
    }

    /// Registers `req`'s receipt, or finds the one an earlier try registered.
    pub fn fiscalise(&mut self, req: &FiscalRequest, now: DateTime<Utc>) -> FiscalOutcome {
        let doc = fiscal_document(req, &self.seller, self.vat);
        let mut journal = Vec::new();
        let mut found_earlier = false;
        let registered = match &req.resume {
            Some(resume) => match self.find_earlier(resume, &doc, now) {
                Ok(Some(found)) => {
                    found_earlier = true;
                    Ok(found)
                }
                Ok(None) => self.register(&doc, now, &mut journal),
                Err(e) => Err(e),
            },
            None => self.register(&doc, now, &mut journal),
        };
        let health = match &registered {
            Ok(_) => DeviceCondition::Up,
            Err(e) => DeviceCondition::Down {
                kind: FaultKind::Hardware,
                detail: e.to_string(),
            },
        };
        for event in &journal {
            if let JournalEvent::ShiftOpened {
                fd_number: Some(fd),
                ..
            }
            | JournalEvent::ShiftClosed {
                fd_number: Some(fd),
                ..
            } = event
            {
                self.issued(*fd);
            }
        }
        match registered {
            Ok(result) => {
                self.issued(result.fd_number);
                let fiscal = FiscalAttributes {
                    fn_number: result.fn_number.clone(),
                    fd_number: result.fd_number,
                    fiscal_sign: result.fiscal_sign_text(),
                    shift_number: result.shift,
                    time: result.time.format("%Y-%m-%dT%H:%M").to_string(),
                    qr: fiscal_register::qr_string(&doc, &result),
                };
                info!(receipt = %req.receipt_id, fd = fiscal.fd_number, "receipt fiscalised");
                FiscalOutcome {
                    journal,
                    health,
                    input: DeviceInput::Fiscalised {
                        receipt_id: req.receipt_id.clone(),
                        fiscal,
                        printed_by_register: result.printed_by_module,
                    },
                    registered: Some((doc, result)),
                    found_earlier,
                }
            }
            Err(e) => {
                warn!(error = %e, receipt = %req.receipt_id, "fiscal registration failed");
                FiscalOutcome {
                    journal,
                    health,
                    input: DeviceInput::FiscalisationFailed {
                        receipt_id: req.receipt_id.clone(),
                        reason: e.to_string(),
                    },
                    registered: None,
                    found_earlier,
                }
            }
        }
    }

    fn issued(&mut self, fd: u32) {
        self.issued.insert(fd);
        while self.issued.len() > ISSUED_KEPT {
            self.issued.pop_first();
        }
    }

    /// The receipt an earlier try registered, if the register holds it.
    fn find_earlier(
        &mut self,
        resume: &FiscalResume,
        doc: &FiscalDocument,
        now: DateTime<Utc>,
    ) -> Result<Option<FiscalResult>, FiscalError> {
        let local = self.local(now);
        let status = self.module.status(local)?;
        // A new FN numbers from 1: everything on it is newer than what the journal knew.
        let after = match &resume.fn_number {
            Some(fn_number) if *fn_number != status.fn_number => 0,
            _ => resume.after_fd,
        };
        let mut claimed = resume.claimed.clone();
        claimed.extend(self.issued.iter().copied());
        let Some(found) = self.module.find_registered(after, &claimed, doc, local)? else {
            info!(after, "no earlier registration of this receipt; selling");
            return Ok(None);
        };
        warn!(
            fd = found.fd_number,
            "an earlier try registered this receipt; using its FD"
        );
        Ok(Some(FiscalResult {
            fn_number: status.fn_number,
            fd_number: found.fd_number,
            fiscal_sign: found.fiscal_sign,
            // The FN does not say which shift a document is in; the open one is where a sale
            // lost moments ago was made.
            shift: status.shift,
            receipt_in_shift: 0,
            time: found.time,
            printed_by_module: self.module.prints_receipts(),
        }))
    }

    /// Registers, opening a new shift when needed (and closing one older than 24 hours first,
    /// as the law requires); the shift reports go to `journal`.
    fn register(
        &mut self,
        doc: &FiscalDocument,
        now: DateTime<Utc>,
        journal: &mut Vec<JournalEvent>,
    ) -> Result<FiscalResult, FiscalError> {
        let local = self.local(now);
        match self.module.register(doc, local) {
            Err(FiscalError::ShiftClosed) => {
                self.open_shift(local, journal)?;
                self.module.register(doc, local)
            }
            Err(FiscalError::ShiftExpired { .. }) => {
                let (z, fn_number) = self.close_shift(now)?;
                journal.push(shift_closed(&z, fn_number));
                self.open_shift(local, journal)?;
                self.module.register(doc, local)
            }
            other => other,
        }
    }

    fn open_shift(
        &mut self,
        local: NaiveDateTime,
        journal: &mut Vec<JournalEvent>,
    ) -> Result<(), FiscalError> {
        let shift = self.module.open_shift(local)?;
        let fn_number = self.module.status(local).ok().map(|s| s.fn_number);
        journal.push(JournalEvent::ShiftOpened {
            shift_number: shift.shift,
            fn_number,
            fd_number: Some(shift.fd_number),
        });
        Ok(())
    }

    /// Closes the shift: its Z-report and the FN it was made on.
    pub fn close_shift(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<(ZReport, Option<String>), FiscalError> {
        let local = self.local(now);
        let z = self.module.close_shift(local)?;
        let fn_number = self.module.status(local).ok().map(|s| s.fn_number);
        Ok((z, fn_number))
    }
}

/// The journal entry of a closed shift.
fn shift_closed(z: &ZReport, fn_number: Option<String>) -> JournalEvent {
    JournalEvent::ShiftClosed {
        shift_number: z.shift,
        receipts: z.receipts,
        total_kopecks: z.income,
        cash_kopecks: z.cash,
        card_kopecks: z.electronic,
        fn_number,
        fd_number: Some(z.fd_number),
    }
}

/// The FFD 1.2 document of a receipt request: one line per service paid.
pub fn fiscal_document(req: &FiscalRequest, seller: &Seller, vat: VatRate) -> FiscalDocument {
    let items = req
        .allocations
        .iter()
        .filter(|a| a.total().kopecks() > 0)
        .map(|a| {
            Item::service(
                format!("{}, л/с {}", a.name, req.account),
                a.total().kopecks(),
                vat,
            )
        })
        .collect();
    FiscalDocument {
        settlement: SettlementType::Income,
        seller: seller.clone(),
        items,
        payments: Payments {
            cash: req.cash.kopecks(),
            electronic: req.card.kopecks(),
        },
        buyer_contact: req.contact.as_ref().map(|c| match c {
            ReceiptContact::Sms(phone) => phone.clone(),
            ReceiptContact::Email(mail) => mail.clone(),
        }),
    }
}

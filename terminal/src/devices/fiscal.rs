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
    FiscalDocument, FiscalError, FiscalModule, FiscalResult, FnStatus, Item, Payments, Seller,
    SettlementType, VatRate, ZReport,
};
use tracing::{info, warn};

/// How many of its own FDs a [`Fiscaliser`] remembers: far more than can queue up while one
/// request waits (older ones are in the journal, and so in every request's `claimed`).
const ISSUED_KEPT: usize = 256;

use crate::config::{FiscalConfig, FiscalKind};
use crate::health::{DeviceCondition, FaultKind};
use crate::session::{DeviceInput, FiscalRequest, FiscalResume};

/// `[fiscal]` names a register this build cannot drive, or one that does not open.
#[derive(Debug, thiserror::Error)]
pub enum FiscalSetupError {
    #[error("fiscal: {0}")]
    Emulated(FiscalError),
    #[error("fiscal.port {port}: {error}")]
    Port {
        port: std::path::PathBuf,
        error: fiscal_register::shtrih::ShtrihError,
    },
    #[error("fiscal.port: a Shtrih KKT needs its serial port")]
    NoPort,
    #[error("fiscal.kind = \"atol\": the ATOL driver is not implemented yet; use \"shtrih\" or \"emulated\"")]
    Atol,
}

/// The fiscal register `[fiscal]` names: the emulated module (host-printed receipts, for
/// benches), or a Shtrih-M protocol KKT on its serial port (the driver thread owns the port; the
/// register recovers a sale whose answer was lost without selling twice).
pub fn open_module(
    fiscal: &FiscalConfig,
    terminal_id: &str,
    data_dir: &std::path::Path,
) -> Result<Box<dyn FiscalModule>, FiscalSetupError> {
    match (fiscal.kind, &fiscal.port) {
        (FiscalKind::Emulated, _) => Ok(Box::new(
            fiscal_register::EmulatedFiscalModule::open(
                data_dir.join("fiscal.json"),
                "9999078900000001",
                terminal_id.as_bytes(),
            )
            .map_err(FiscalSetupError::Emulated)?,
        )),
        (FiscalKind::Shtrih, Some(port)) => {
            let mut driver = fiscal_register::shtrih::DriverConfig::new(port);
            driver.baud = fiscal.baud;
            driver.password = fiscal.password;
            let driver = fiscal_register::shtrih::ShtrihDriver::spawn(driver).map_err(|error| {
                FiscalSetupError::Port {
                    port: port.clone(),
                    error,
                }
            })?;
            Ok(Box::new(fiscal_register::shtrih::ShtrihRegister::new(
                driver.exchange(),
                fiscal.prints,
            )))
        }
        (FiscalKind::Shtrih, None) => Err(FiscalSetupError::NoPort),
        (FiscalKind::Atol, _) => Err(FiscalSetupError::Atol),
    }
}

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
            // What the FN warns about; a status read that fails right after a sale says
            // nothing about the sale, which worked.
            Ok(_) => {
                let local = self.local(now);
                self.module
                    .status(local)
                    .map_or(DeviceCondition::Up, |status| fn_condition(&status, local))
            }
            Err(e) => DeviceCondition::Down {
                kind: FaultKind::Hardware,
                detail: e.to_string(),
            },
        };
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

    /// The register's health between customers: it answers, and what its FN warns about.
    pub fn check(&mut self, now: DateTime<Utc>) -> DeviceCondition {
        let local = self.local(now);
        match self.module.status(local) {
            Ok(status) => fn_condition(&status, local),
            Err(e) => DeviceCondition::Down {
                kind: FaultKind::Hardware,
                detail: e.message_ru(),
            },
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
                self.open_shift(now, journal)?;
                self.module.register(doc, local)
            }
            Err(FiscalError::ShiftExpired { .. }) => {
                let (z, fn_number) = self.close_shift(now)?;
                journal.push(shift_closed(&z, fn_number));
                self.open_shift(now, journal)?;
                self.module.register(doc, local)
            }
            other => other,
        }
    }

    fn open_shift(
        &mut self,
        now: DateTime<Utc>,
        journal: &mut Vec<JournalEvent>,
    ) -> Result<(), FiscalError> {
        let local = self.local(now);
        let shift = self.module.open_shift(local)?;
        self.issued(shift.fd_number);
        let fn_number = self.module.status(local).ok().map(|s| s.fn_number);
        journal.push(JournalEvent::ShiftOpened {
            shift_number: shift.shift,
            fn_number,
            fd_number: Some(shift.fd_number),
            opened_utc: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        });
        Ok(())
    }

    /// Renews the shift between customers, as the core decided: the open one is closed (its
    /// Z-report) and a new one opened. The shift reports made are in the first half whatever
    /// the outcome, to journal.
    pub fn renew_shift(
        &mut self,
        now: DateTime<Utc>,
    ) -> (Vec<JournalEvent>, Result<(), FiscalError>) {
        let mut journal = Vec::new();
        let result = self.renew(now, &mut journal);
        if let Err(e) = &result {
            warn!(error = %e, "renewing the fiscal shift failed");
        }
        (journal, result)
    }

    fn renew(
        &mut self,
        now: DateTime<Utc>,
        journal: &mut Vec<JournalEvent>,
    ) -> Result<(), FiscalError> {
        let status = self.module.status(self.local(now))?;
        if status.shift_open {
            let (z, fn_number) = self.close_shift(now)?;
            info!(
                shift = z.shift,
                receipts = z.receipts,
                "shift closed on schedule"
            );
            journal.push(shift_closed(&z, fn_number));
        }
        self.open_shift(now, journal)
    }

    /// Closes the shift: its Z-report and the FN it was made on.
    pub fn close_shift(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<(ZReport, Option<String>), FiscalError> {
        let local = self.local(now);
        let z = self.module.close_shift(local)?;
        self.issued(z.fd_number);
        let fn_number = self.module.status(local).ok().map(|s| s.fn_number);
        Ok((z, fn_number))
    }
}

/// Days a document may stay unsent to the OFD before the health desk is told (the FN blocks
/// sales at 30).
pub const UNSENT_WARN_DAYS: i64 = 3;
/// The FN refuses to sell once a document has been unsent this long (54-FZ, art. 4.1).
pub const UNSENT_BLOCK_DAYS: i64 = 30;

/// The health of a fiscal register from its FN status, in Russian for the technician: what
/// the FN warns about, well before it stops the kiosk. An OFD that is merely slow is not worth
/// a warning until documents wait for days.
pub fn fn_condition(status: &FnStatus, now: NaiveDateTime) -> DeviceCondition {
    let w = &status.warnings;
    let unsent_days = w
        .oldest_unsent
        .filter(|_| w.unsent_documents > 0)
        .map(|oldest| (now - oldest).num_days());
    if let Some(days) = unsent_days.filter(|d| *d >= UNSENT_BLOCK_DAYS) {
        return DeviceCondition::Down {
            kind: FaultKind::Hardware,
            detail: format!(
                "ФН заблокирован: {} док. не переданы в ОФД {days} дн.; проверьте связь с ОФД",
                w.unsent_documents
            ),
        };
    }
    let mut notes = Vec::new();
    if w.urgent_replacement {
        notes.push("ФН требует срочной замены (осталось менее 3 дней)".to_string());
    } else if w.resource_ending {
        notes.push("ресурс ФН заканчивается: замените его в течение 30 дней".to_string());
    }
    if w.memory_near_full {
        notes.push("память ФН заполнена на 90 %".to_string());
    }
    if let Some(days) = unsent_days.filter(|d| *d >= UNSENT_WARN_DAYS) {
        notes.push(format!(
            "{} док. не переданы в ОФД {days} дн. (через {} дн. ФН заблокирует продажи)",
            w.unsent_documents,
            UNSENT_BLOCK_DAYS - days
        ));
    }
    if notes.is_empty() {
        DeviceCondition::Up
    } else {
        let joined = notes.join("; ");
        let mut chars = joined.chars();
        let detail = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => joined.clone(),
        };
        DeviceCondition::Warning { detail }
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

#[cfg(test)]
mod tests {
    use super::*;
    use fiscal_register::FnWarnings;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, day)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .expect("valid time")
    }

    fn status(warnings: FnWarnings) -> FnStatus {
        FnStatus {
            fn_number: "9999078900012345".into(),
            shift_open: true,
            shift: 1,
            shift_opened_at: None,
            shift_expired: false,
            last_fd_number: 10,
            open_receipt: false,
            warnings,
        }
    }

    #[test]
    fn a_healthy_fn_and_a_briefly_slow_ofd_are_up() {
        assert_eq!(
            fn_condition(&status(FnWarnings::default()), at(10, 12)),
            DeviceCondition::Up
        );
        let slow = FnWarnings {
            ofd_timeout: true,
            unsent_documents: 4,
            oldest_unsent: Some(at(9, 12)),
            ..FnWarnings::default()
        };
        assert_eq!(fn_condition(&status(slow), at(10, 12)), DeviceCondition::Up);
    }

    #[test]
    fn documents_unsent_for_days_warn_with_the_days_left_and_block_at_30() {
        let unsent = |since| FnWarnings {
            unsent_documents: 7,
            oldest_unsent: Some(since),
            ..FnWarnings::default()
        };
        let DeviceCondition::Warning { detail } =
            fn_condition(&status(unsent(at(1, 9))), at(5, 10))
        else {
            panic!("a warning after 4 days")
        };
        assert_eq!(
            detail,
            "7 док. не переданы в ОФД 4 дн. (через 26 дн. ФН заблокирует продажи)"
        );
        let thirty_days_before = at(1, 9) - chrono::Duration::days(30);
        assert!(matches!(
            fn_condition(&status(unsent(thirty_days_before)), at(1, 10)),
            DeviceCondition::Down { .. }
        ));
    }

    #[test]
    fn fn_wear_warnings_are_joined_in_one_russian_sentence() {
        let worn = FnWarnings {
            resource_ending: true,
            memory_near_full: true,
            ..FnWarnings::default()
        };
        assert_eq!(
            fn_condition(&status(worn), at(10, 12)),
            DeviceCondition::Warning {
                detail: "Ресурс ФН заканчивается: замените его в течение 30 дней; память ФН заполнена на 90 %".into()
            }
        );
        let urgent = FnWarnings {
            urgent_replacement: true,
            resource_ending: true,
            ..FnWarnings::default()
        };
        let DeviceCondition::Warning { detail } = fn_condition(&status(urgent), at(10, 12)) else {
            panic!("a warning")
        };
        assert!(detail.starts_with("ФН требует срочной замены"), "{detail}");
        assert!(
            !detail.contains("30 дней"),
            "the urgent note replaces the early one: {detail}"
        );
    }
}

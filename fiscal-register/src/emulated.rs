//! An emulated fiscal module for simulation and tests.
//!
//! Its state (FD counter, shift) lives in a JSON file replaced atomically (write to a temporary
//! file, fsync, rename, fsync the directory) *before* a result is returned, so a crash can at
//! worst skip an FD number but never reuse one. The fiscal sign is the first four bytes of
//! HMAC-SHA256 over the document's TLV under a device key, printed as ten digits.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::document::FiscalDocument;
use crate::interface::*;
use crate::tlv::{Tlv, TlvWriter};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Shift {
    number: u32,
    opened_at: NaiveDateTime,
    receipts: u32,
    income: i64,
    cash: i64,
    electronic: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    fn_number: String,
    last_fd: u32,
    last_shift: u32,
    open_shift: Option<Shift>,
    /// The documents made, newest last (older state files have none).
    #[serde(default)]
    documents: Vec<FoundDocument>,
}

/// How many documents the state file keeps for [`FiscalModule::find_document`].
const KEPT_DOCUMENTS: usize = 10_000;

impl State {
    fn record(&mut self, document: FoundDocument) {
        self.documents.push(document);
        if self.documents.len() > KEPT_DOCUMENTS {
            let excess = self.documents.len() - KEPT_DOCUMENTS;
            self.documents.drain(..excess);
        }
    }
}

/// A fiscal module that keeps its counters in a file and signs with a device key.
pub struct EmulatedFiscalModule {
    path: PathBuf,
    key: Vec<u8>,
    state: State,
    prints_itself: bool,
}

impl std::fmt::Debug for EmulatedFiscalModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log the device key.
        f.debug_struct("EmulatedFiscalModule")
            .field("path", &self.path)
            .field("fn_number", &self.state.fn_number)
            .field("last_fd", &self.state.last_fd)
            .finish()
    }
}

impl EmulatedFiscalModule {
    /// Opens the module stored at `path`, creating it with `fn_number` if the file is absent.
    pub fn open(
        path: impl AsRef<Path>,
        fn_number: &str,
        device_key: &[u8],
    ) -> Result<Self, FiscalError> {
        let path = path.as_ref().to_path_buf();
        let state = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<State>(&bytes).map_err(|e| {
                FiscalError::State(format!(
                    "{} is not a fiscal state file: {e}",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if fn_number.len() != 16 || !fn_number.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FiscalError::State(format!(
                        "FN number {fn_number:?} is not 16 digits"
                    )));
                }
                let state = State {
                    fn_number: fn_number.to_string(),
                    last_fd: 0,
                    last_shift: 0,
                    open_shift: None,
                    documents: Vec::new(),
                };
                persist(&path, &state)?;
                state
            }
            Err(e) => return Err(e.into()),
        };
        if device_key.is_empty() {
            return Err(FiscalError::State("device key must not be empty".into()));
        }
        Ok(EmulatedFiscalModule {
            path,
            key: device_key.to_vec(),
            state,
            prints_itself: false,
        })
    }

    /// Makes the module behave like a kiosk KKT that prints its own receipts: results carry
    /// `printed_by_module = true`.
    pub fn set_prints_itself(&mut self, yes: bool) {
        self.prints_itself = yes;
    }

    /// Claims the next FD number and stores the new state before anyone sees the number.
    fn commit(&mut self, next: State) -> Result<(), FiscalError> {
        persist(&self.path, &next)?;
        self.state = next;
        Ok(())
    }

    fn open_shift_checked(&self, now: NaiveDateTime) -> Result<&Shift, FiscalError> {
        let shift = self
            .state
            .open_shift
            .as_ref()
            .ok_or(FiscalError::ShiftClosed)?;
        if now - shift.opened_at > chrono::Duration::hours(MAX_SHIFT_HOURS) {
            return Err(FiscalError::ShiftExpired {
                shift: shift.number,
                opened_at: shift.opened_at,
            });
        }
        Ok(shift)
    }

    fn sign(&self, tlv: &[u8]) -> u32 {
        fiscal_sign(&self.key, tlv)
    }

    fn report_tlv(&self, kind: u16, shift: u32, fd: u32, now: NaiveDateTime) -> Vec<u8> {
        let mut w = TlvWriter::new();
        w.put(Tlv::u32(kind, shift));
        w.put(Tlv::string(1041, &self.state.fn_number));
        w.put(Tlv::u32(1040, fd));
        w.put(Tlv::unix_time(1012, now));
        w.finish()
    }
}

/// The fiscal sign of a document's TLV under a device key.
pub fn fiscal_sign(device_key: &[u8], tlv: &[u8]) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(device_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(tlv);
    let digest = mac.finalize().into_bytes();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks a receipt's fiscal sign against its document and the device key.
pub fn verify_fiscal_sign(
    device_key: &[u8],
    document: &FiscalDocument,
    fiscal: &FiscalResult,
) -> bool {
    let tlv = document.to_tlv(&fiscal.fn_number, fiscal.fd_number, fiscal.time);
    fiscal_sign(device_key, &tlv) == fiscal.fiscal_sign
}

fn persist(path: &Path, state: &State) -> Result<(), FiscalError> {
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| FiscalError::State(format!("cannot serialise state: {e}")))?;
    let tmp = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl FiscalModule for EmulatedFiscalModule {
    fn prints_receipts(&self) -> bool {
        self.prints_itself
    }

    fn open_shift(&mut self, now: NaiveDateTime) -> Result<ShiftInfo, FiscalError> {
        if let Some(shift) = &self.state.open_shift {
            return Err(FiscalError::ShiftAlreadyOpen(shift.number));
        }
        let mut next = self.state.clone();
        next.last_fd += 1;
        next.last_shift += 1;
        next.open_shift = Some(Shift {
            number: next.last_shift,
            opened_at: now,
            receipts: 0,
            income: 0,
            cash: 0,
            electronic: 0,
        });
        let sign = self.sign(&self.report_tlv(1038, next.last_shift, next.last_fd, now));
        next.record(FoundDocument {
            fd_number: next.last_fd,
            kind: DocumentKind::ShiftOpen {
                shift: next.last_shift as u16,
            },
            total: None,
            time: now,
            fiscal_sign: sign,
            acknowledged_by_ofd: false,
        });
        self.commit(next)?;
        tracing::info!(
            shift = self.state.last_shift,
            fd = self.state.last_fd,
            "shift opened"
        );
        Ok(ShiftInfo {
            shift: self.state.last_shift,
            opened_at: now,
            fd_number: self.state.last_fd,
        })
    }

    fn register(
        &mut self,
        document: &FiscalDocument,
        now: NaiveDateTime,
    ) -> Result<FiscalResult, FiscalError> {
        document.validate()?;
        let shift = self.open_shift_checked(now)?.clone();
        let mut next = self.state.clone();
        next.last_fd += 1;
        let fd_number = next.last_fd;
        let updated = Shift {
            receipts: shift.receipts + 1,
            income: shift.income + document.total(),
            cash: shift.cash + document.payments.cash,
            electronic: shift.electronic + document.payments.electronic,
            ..shift
        };
        next.open_shift = Some(updated.clone());
        let tlv = document.to_tlv(&self.state.fn_number, fd_number, now);
        let fiscal_sign = self.sign(&tlv);
        next.record(FoundDocument {
            fd_number,
            kind: DocumentKind::Receipt(document.settlement),
            total: Some(document.total()),
            time: now,
            fiscal_sign,
            acknowledged_by_ofd: false,
        });
        self.commit(next)?;
        let result = FiscalResult {
            fn_number: self.state.fn_number.clone(),
            fd_number,
            fiscal_sign,
            shift: updated.number,
            receipt_in_shift: updated.receipts,
            time: now,
            printed_by_module: self.prints_itself,
        };
        tracing::info!(
            fd = fd_number,
            shift = updated.number,
            total = document.total(),
            "receipt registered"
        );
        Ok(result)
    }

    fn close_shift(&mut self, now: NaiveDateTime) -> Result<ZReport, FiscalError> {
        // An expired shift can (and must) still be closed.
        let shift = self
            .state
            .open_shift
            .clone()
            .ok_or(FiscalError::ShiftClosed)?;
        let mut next = self.state.clone();
        next.last_fd += 1;
        next.open_shift = None;
        let fd_number = next.last_fd;
        let sign = self.sign(&self.report_tlv(1038, shift.number, fd_number, now));
        next.record(FoundDocument {
            fd_number,
            kind: DocumentKind::ShiftClose {
                shift: shift.number as u16,
            },
            total: None,
            time: now,
            fiscal_sign: sign,
            acknowledged_by_ofd: false,
        });
        self.commit(next)?;
        tracing::info!(shift = shift.number, fd = fd_number, "shift closed");
        Ok(ZReport {
            shift: shift.number,
            opened_at: shift.opened_at,
            closed_at: now,
            receipts: shift.receipts,
            income: shift.income,
            cash: shift.cash,
            electronic: shift.electronic,
            payments_split: true,
            fd_number,
            fiscal_sign: sign,
        })
    }

    fn status(&self, now: NaiveDateTime) -> Result<FnStatus, FiscalError> {
        let shift = self.state.open_shift.as_ref();
        Ok(FnStatus {
            fn_number: self.state.fn_number.clone(),
            shift_open: shift.is_some(),
            shift: shift.map_or(self.state.last_shift, |s| s.number),
            shift_opened_at: shift.map(|s| s.opened_at),
            shift_expired: shift
                .is_some_and(|s| now - s.opened_at > chrono::Duration::hours(MAX_SHIFT_HOURS)),
            last_fd_number: self.state.last_fd,
            open_receipt: false,
            warnings: FnWarnings::default(),
        })
    }

    fn find_document(&mut self, fd_number: u32) -> Result<Option<FoundDocument>, FiscalError> {
        Ok(self
            .state
            .documents
            .iter()
            .find(|d| d.fd_number == fd_number)
            .cloned())
    }

    /// The emulated module registers a receipt in one step, so none is ever left open.
    fn cancel_open_receipt(&mut self, _now: NaiveDateTime) -> Result<bool, FiscalError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use crate::SettlementType;
    use chrono::Duration;

    const KEY: &[u8] = b"key";

    fn module(dir: &tempfile::TempDir) -> EmulatedFiscalModule {
        EmulatedFiscalModule::open(dir.path().join("fn.json"), "9999078900012345", KEY).unwrap()
    }

    #[test]
    fn fd_numbers_survive_a_restart_and_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let t = sample::time();
        let mut fm = module(&dir);
        assert_eq!(fm.open_shift(t).unwrap().fd_number, 1);
        assert_eq!(fm.register(&sample::document(), t).unwrap().fd_number, 2);
        drop(fm);
        let mut fm = module(&dir);
        let r = fm
            .register(&sample::document(), t + Duration::minutes(1))
            .unwrap();
        assert_eq!((r.fd_number, r.shift, r.receipt_in_shift), (3, 1, 2));
        let z = fm.close_shift(t + Duration::hours(1)).unwrap();
        assert_eq!(
            (z.fd_number, z.receipts, z.income),
            (4, 2, 2 * sample::document().total())
        );
        let status = fm.status(t).unwrap();
        assert_eq!((status.last_fd_number, status.shift_open), (4, false));
    }

    #[test]
    fn shift_rules_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let t = sample::time();
        let mut fm = module(&dir);
        assert!(matches!(
            fm.register(&sample::document(), t),
            Err(FiscalError::ShiftClosed)
        ));
        assert!(matches!(fm.close_shift(t), Err(FiscalError::ShiftClosed)));
        fm.open_shift(t).unwrap();
        assert!(matches!(
            fm.open_shift(t),
            Err(FiscalError::ShiftAlreadyOpen(1))
        ));
        let late = t + Duration::hours(24) + Duration::seconds(1);
        assert!(matches!(
            fm.register(&sample::document(), late),
            Err(FiscalError::ShiftExpired { shift: 1, .. })
        ));
        assert!(fm.status(late).unwrap().shift_expired);
        // A refused registration uses no FD number; the expired shift can still be closed.
        assert_eq!(fm.status(late).unwrap().last_fd_number, 1);
        assert_eq!(fm.close_shift(late).unwrap().fd_number, 2);
        assert_eq!(fm.open_shift(late).unwrap().shift, 2);
    }

    #[test]
    fn invalid_documents_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut fm = module(&dir);
        fm.open_shift(sample::time()).unwrap();
        let mut doc = sample::document();
        doc.payments.cash -= 1;
        let err = fm.register(&doc, sample::time()).unwrap_err();
        assert!(err.to_string().contains("do not equal the total"), "{err}");
        let mut doc = sample::document();
        doc.seller.inn = "12345".into();
        assert!(matches!(
            fm.register(&doc, sample::time()),
            Err(FiscalError::InvalidDocument(_))
        ));
        let mut doc = sample::document();
        doc.items[0].name = "я".repeat(129);
        assert!(matches!(
            fm.register(&doc, sample::time()),
            Err(FiscalError::InvalidDocument(_))
        ));
        assert_eq!(fm.status(sample::time()).unwrap().last_fd_number, 1);
    }

    #[test]
    fn documents_are_found_by_number_and_a_registered_sale_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let t = sample::time();
        let mut fm = module(&dir);
        let shift = fm.open_shift(t).unwrap();
        let before = fm.status(t).unwrap().last_fd_number;
        let doc = sample::document();
        let r = fm.register(&doc, t).unwrap();
        let found = fm.find_document(r.fd_number).unwrap().unwrap();
        assert_eq!(found.kind, DocumentKind::Receipt(SettlementType::Income));
        assert_eq!(
            (found.total, found.fiscal_sign),
            (Some(doc.total()), r.fiscal_sign)
        );
        assert_eq!(
            fm.find_document(shift.fd_number).unwrap().unwrap().kind,
            DocumentKind::ShiftOpen { shift: 1 }
        );
        assert_eq!(fm.find_document(99).unwrap(), None);
        // Recovery after a lost answer finds the sale instead of selling again.
        let again = fm.find_registered(before, &[], &doc, t).unwrap().unwrap();
        assert_eq!(again.fd_number, r.fd_number);
        // ...unless that document is journaled as another payment's.
        assert_eq!(
            fm.find_registered(before, &[r.fd_number], &doc, t).unwrap(),
            None
        );
        let mut other = doc.clone();
        other.items.pop();
        other.payments.electronic -= 45_050;
        assert_eq!(fm.find_registered(before, &[], &other, t).unwrap(), None);
        assert!(!fm.cancel_open_receipt(t).unwrap());
    }

    #[test]
    fn corrupt_state_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fn.json"), b"{not json").unwrap();
        let err = EmulatedFiscalModule::open(dir.path().join("fn.json"), "9999078900012345", KEY)
            .unwrap_err();
        assert!(err.to_string().contains("not a fiscal state file"), "{err}");
        let err = EmulatedFiscalModule::open(dir.path().join("new.json"), "123", KEY).unwrap_err();
        assert!(err.to_string().contains("16 digits"), "{err}");
    }

    #[test]
    fn fiscal_sign_is_ten_digits_and_depends_on_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let mut fm = module(&dir);
        fm.open_shift(sample::time()).unwrap();
        let doc = sample::document();
        let r = fm.register(&doc, sample::time()).unwrap();
        assert_eq!(r.fiscal_sign_text().len(), 10);
        assert!(verify_fiscal_sign(KEY, &doc, &r));
        let mut other = r.clone();
        other.fd_number += 1;
        assert!(!verify_fiscal_sign(KEY, &doc, &other));
        let mut other = r.clone();
        other.time += Duration::seconds(1);
        assert!(!verify_fiscal_sign(KEY, &doc, &other));
        let mut agentless = doc.clone();
        agentless.items[1].agent = None;
        assert!(!verify_fiscal_sign(KEY, &agentless, &r));
    }
}

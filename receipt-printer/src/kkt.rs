//! The printer wired to an emulated KKT: turns what the KKT emulator prints (fiscal receipts
//! and Z-reports) into this crate's ESC/POS bytes and decodes them with the printer emulator's
//! core, so a KKT-printed receipt can be looked at as text or PNG like any other.

use std::sync::{Arc, Mutex};

use fiscal_register::shtrih::emulator::{Printed, ReceiptSink};

use crate::emulator::{DecodedReceipt, PrinterCore, ReceiptSaver};
use crate::{encode_receipt, shift_report, PrinterProfile, Receipt};

/// A [`ReceiptSink`] that prints through ESC/POS into a decoding printer core.
pub struct EscPosSink {
    profile: PrinterProfile,
    core: PrinterCore,
    header: Vec<String>,
    footer: Vec<String>,
    decoded: Arc<Mutex<Vec<DecodedReceipt>>>,
    /// Every ESC/POS byte the KKT sent to its printer.
    bytes: Arc<Mutex<Vec<u8>>>,
    saver: Option<ReceiptSaver>,
}

impl EscPosSink {
    pub fn new(profile: PrinterProfile, header: Vec<String>, footer: Vec<String>) -> Self {
        EscPosSink {
            core: PrinterCore::new(profile.clone()),
            profile,
            header,
            footer,
            decoded: Arc::default(),
            bytes: Arc::default(),
            saver: None,
        }
    }

    /// Also saves every printout in `dir` as `kkt-receipt-NNNN.txt` and `.png`.
    pub fn saving_to(mut self, dir: std::path::PathBuf) -> Self {
        self.saver = Some(ReceiptSaver::spawn(dir, "kkt-receipt", self.profile.dots));
        self
    }

    /// Where decoded receipts appear (shared, so it can be read while the sink is owned by
    /// the emulator thread).
    pub fn decoded(&self) -> Arc<Mutex<Vec<DecodedReceipt>>> {
        self.decoded.clone()
    }

    /// The raw ESC/POS stream.
    pub fn bytes(&self) -> Arc<Mutex<Vec<u8>>> {
        self.bytes.clone()
    }

    fn layout(&self, printed: &Printed) -> Receipt {
        match printed {
            Printed::Receipt { document, result } => {
                let mut r = Receipt::fiscal_payment((**document).clone(), result.clone());
                r.header = self.header.clone();
                r.footer = self.footer.clone();
                r
            }
            Printed::ShiftReport(z) => shift_report(z, self.header.clone()),
        }
    }
}

impl ReceiptSink for EscPosSink {
    fn printed(&mut self, printed: &Printed) {
        let receipt = self.layout(printed);
        let bytes = match encode_receipt(&receipt, &self.profile) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "KKT printout not encodable");
                return;
            }
        };
        self.core.handle_input(&bytes);
        let mut decoded = self.decoded.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(r) = self.core.poll_receipt() {
            if let Some(saver) = &self.saver {
                saver.save(r.clone());
            }
            decoded.push(r);
        }
        self.bytes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(bytes);
    }
}

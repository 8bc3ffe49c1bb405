//! Saves finished receipts as text and PNG on a thread of its own: rendering a PNG takes far
//! longer than a status reply may, so the emulator that printed keeps answering meanwhile.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::receipt::DecodedReceipt;
use super::render::render_png;

/// Writes `<prefix>-NNNN.txt` and `.png` per receipt, numbered from 1. Dropping it waits for
/// the receipts already handed over.
pub(crate) struct ReceiptSaver {
    tx: Option<mpsc::Sender<DecodedReceipt>>,
    thread: Option<JoinHandle<()>>,
}

impl ReceiptSaver {
    pub(crate) fn spawn(dir: PathBuf, prefix: &'static str, width_dots: u32) -> Self {
        let (tx, rx) = mpsc::channel::<DecodedReceipt>();
        let thread = std::thread::Builder::new()
            .name("receipt-saver".into())
            .spawn(move || {
                for (n, receipt) in rx.into_iter().enumerate() {
                    save(&dir, prefix, n + 1, &receipt, width_dots);
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "no receipt saver thread: receipts not saved"))
            .ok();
        ReceiptSaver {
            tx: Some(tx),
            thread,
        }
    }

    pub(crate) fn save(&self, receipt: DecodedReceipt) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(receipt);
        }
    }
}

impl Drop for ReceiptSaver {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn save(dir: &Path, prefix: &str, n: usize, receipt: &DecodedReceipt, width_dots: u32) {
    let suffix = if receipt.interrupted {
        "-interrupted"
    } else {
        ""
    };
    let base = dir.join(format!("{prefix}-{n:04}{suffix}"));
    if let Err(e) = std::fs::write(base.with_extension("txt"), receipt.text()) {
        tracing::warn!(error = %e, "cannot save receipt text");
    }
    match render_png(receipt, width_dots) {
        Ok(png) => {
            if let Err(e) = std::fs::write(base.with_extension("png"), png) {
                tracing::warn!(error = %e, "cannot save receipt PNG");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot render receipt"),
    }
    tracing::info!(
        receipt = n,
        interrupted = receipt.interrupted,
        "receipt saved"
    );
}

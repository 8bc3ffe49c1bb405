//! What the emulator read off the wire for one receipt.

use serde::{Deserialize, Serialize};

use crate::layout::{format_line, qr_line, Align};

/// One printed text line with the style it was printed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedLine {
    pub text: String,
    pub align: Align,
    pub bold: bool,
    pub double_height: bool,
}

/// A line or a QR code, in paper order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecodedItem {
    Line(DecodedLine),
    /// `model` is the `GS ( k` fn 65 value: 49 model 1, 50 model 2, 51 micro QR.
    Qr {
        data: String,
        module_dots: u8,
        model: u8,
    },
}

/// A receipt as the emulated printer produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedReceipt {
    pub items: Vec<DecodedItem>,
    /// Characters per line of the printer that printed it.
    pub columns: usize,
    /// True when a fault (paper out, cover open, cutter jam) ended it instead of a clean cut.
    pub interrupted: bool,
    /// Commands the decoder did not know.
    pub unknown_commands: usize,
    /// Lines longer than the paper, which the printer had to wrap.
    pub overflowed_lines: usize,
}

impl DecodedReceipt {
    /// The receipt as text, formatted like [`crate::layout::plain_text`].
    pub fn text(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            match item {
                DecodedItem::Line(l) => out.push_str(&format_line(&l.text, l.align, self.columns)),
                DecodedItem::Qr { data, .. } => {
                    out.push_str(&format_line(&qr_line(data), Align::Center, self.columns))
                }
            }
            out.push('\n');
        }
        out
    }

    /// Payloads of the QR codes on the receipt.
    pub fn qr_codes(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                DecodedItem::Qr { data, .. } => Some(data.as_str()),
                DecodedItem::Line(_) => None,
            })
            .collect()
    }
}

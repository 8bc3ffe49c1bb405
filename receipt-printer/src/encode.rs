//! ESC/POS encoding of laid-out receipts, through the `escpos` crate with an explicit CP866
//! encoder. Text is made printable first (see [`crate::text::printable`]), so the encoder never
//! meets a character it cannot map; the code page is selected with `ESC t n` from the profile.

use std::cell::RefCell;
use std::rc::Rc;

use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::utils::{
    Encoder, JustifyMode, Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption,
};

use crate::layout::{layout, Align, Block, Line};
use crate::model::Receipt;
use crate::profile::PrinterProfile;

/// QR module size in dots: 5 dots keeps a 54-FZ string (version 5–6) near 2 cm wide.
pub const QR_MODULE_DOTS: u8 = 5;

/// Why a receipt could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("ESC/POS encoding failed: {0}")]
pub struct EncodeError(String);

impl From<escpos::errors::PrinterError> for EncodeError {
    fn from(e: escpos::errors::PrinterError) -> Self {
        EncodeError(e.to_string())
    }
}

/// A driver that only collects the bytes; the port is ours, not the crate's.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Driver for Capture {
    fn name(&self) -> String {
        "capture".into()
    }
    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }
    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}

/// Style state so that only changes are sent.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Style {
    align: Align,
    bold: bool,
    double_height: bool,
}

/// Encodes a receipt for a profile: init, code page, lines, QR, feed and cut.
pub fn encode_receipt(receipt: &Receipt, profile: &PrinterProfile) -> Result<Vec<u8>, EncodeError> {
    encode_blocks(&layout(receipt, profile.columns), profile)
}

/// Encodes laid-out blocks.
pub fn encode_blocks(blocks: &[Block], profile: &PrinterProfile) -> Result<Vec<u8>, EncodeError> {
    let capture = Capture::default();
    let protocol = Protocol::new(Encoder::new(encoding_rs::IBM866));
    let mut p = Printer::new(capture.clone(), protocol, None);
    p.init()?;
    // ESC t n: the table number for PC866 differs per model, so it comes from the profile.
    p.custom(&[0x1B, b't', profile.code_page])?;
    let mut style = Style {
        align: Align::Left,
        bold: false,
        double_height: false,
    };
    for block in blocks {
        match block {
            Block::Line(line) => {
                set_style(&mut p, &mut style, line)?;
                p.writeln(&line.text)?;
            }
            Block::Qr(data) => {
                set_align(&mut p, &mut style, Align::Center)?;
                let option = QRCodeOption::new(
                    QRCodeModel::Model2,
                    QR_MODULE_DOTS,
                    QRCodeCorrectionLevel::M,
                );
                // The symbol prints on its own; the next line starts below it.
                p.qrcode_option(data, option)?;
            }
            Block::Cut => {
                set_align(&mut p, &mut style, Align::Left)?;
                p.feeds(3)?;
                p.cut()?;
            }
        }
    }
    p.print()?;
    let bytes = capture.0.borrow().clone();
    Ok(bytes)
}

fn set_align(p: &mut Printer<Capture>, style: &mut Style, align: Align) -> Result<(), EncodeError> {
    if style.align != align {
        p.justify(match align {
            Align::Left => JustifyMode::LEFT,
            Align::Center => JustifyMode::CENTER,
            Align::Right => JustifyMode::RIGHT,
        })?;
        style.align = align;
    }
    Ok(())
}

fn set_style(p: &mut Printer<Capture>, style: &mut Style, line: &Line) -> Result<(), EncodeError> {
    set_align(p, style, line.align)?;
    if style.bold != line.bold {
        p.bold(line.bold)?;
        style.bold = line.bold;
    }
    if style.double_height != line.double_height {
        // GS ! n: height ×2 keeps the width, so the line still fits the columns.
        p.size(1, if line.double_height { 2 } else { 1 })?;
        style.double_height = line.double_height;
    }
    Ok(())
}

//! The emulated printer's state machine: decoded commands in, status replies and finished
//! receipts out, with injectable faults. Sans-IO: the pty loop only moves bytes.

use std::collections::VecDeque;

use super::decoder::{Command, Decoder};
use super::receipt::{DecodedItem, DecodedLine, DecodedReceipt};
use crate::layout::Align;
use crate::profile::PrinterProfile;
use crate::status::{PrinterStatus, StatusKind};

/// Faults a test or a technician can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    PaperNearEnd,
    /// Paper runs out now (printing stops mid-receipt).
    PaperOut,
    CoverOpen,
    /// The cutter jams at the next cut.
    CutterJam,
    /// The printer reports offline (answers status, prints nothing).
    Offline,
    /// The printer is silent: no status replies, nothing printed (cable pulled, power off).
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Style {
    align: Align,
    bold: bool,
    double_height: bool,
    double_width: bool,
}

/// The printer core.
#[derive(Debug)]
pub struct PrinterCore {
    profile: PrinterProfile,
    decoder: Decoder,
    status: PrinterStatus,
    silent: bool,
    offline_fault: bool,
    cutter_jam_armed: bool,
    /// Lines of paper left when a "paper out after N lines" fault is armed.
    paper_lines_left: Option<u32>,
    code_page: u8,
    style: Style,
    line: String,
    line_style: Option<Style>,
    items: Vec<DecodedItem>,
    qr_data: Vec<u8>,
    qr_module: u8,
    qr_model: u8,
    unknown_commands: usize,
    overflowed_lines: usize,
    transmit: VecDeque<u8>,
    receipts: VecDeque<DecodedReceipt>,
}

const DEFAULT_STYLE: Style = Style {
    align: Align::Left,
    bold: false,
    double_height: false,
    double_width: false,
};

impl PrinterCore {
    pub fn new(profile: PrinterProfile) -> Self {
        PrinterCore {
            profile,
            decoder: Decoder::new(),
            status: PrinterStatus::default(),
            silent: false,
            offline_fault: false,
            cutter_jam_armed: false,
            paper_lines_left: None,
            code_page: 0,
            style: DEFAULT_STYLE,
            line: String::new(),
            line_style: None,
            items: Vec::new(),
            qr_data: Vec::new(),
            qr_module: 3,
            qr_model: 50,
            unknown_commands: 0,
            overflowed_lines: 0,
            transmit: VecDeque::new(),
            receipts: VecDeque::new(),
        }
    }

    pub fn profile(&self) -> &PrinterProfile {
        &self.profile
    }

    /// The state the printer would report.
    pub fn status(&self) -> PrinterStatus {
        self.status
    }

    fn printing_stopped(&self) -> bool {
        self.silent || self.status.offline
    }

    /// Sets or clears a fault.
    pub fn set_fault(&mut self, fault: Fault, active: bool) {
        match fault {
            Fault::PaperNearEnd => self.status.paper_near_end = active,
            Fault::PaperOut => {
                self.status.paper_out = active;
                self.status.stopped_at_paper_end = active;
                if active {
                    self.interrupt();
                } else {
                    self.paper_lines_left = None;
                    self.status.paper_near_end = false;
                }
            }
            Fault::CoverOpen => {
                self.status.cover_open = active;
                if active {
                    self.interrupt();
                } else {
                    // Closing the cover clears a cutter jam, as on Epson printers.
                    self.status.cutter_error = false;
                    self.status.recoverable_error = false;
                }
            }
            Fault::CutterJam => self.cutter_jam_armed = active,
            Fault::Offline => self.offline_fault = active,
            Fault::Silent => self.silent = active,
        }
        self.refresh_offline();
    }

    /// The offline bit follows every condition that stops printing.
    fn refresh_offline(&mut self) {
        let s = &mut self.status;
        s.offline = self.offline_fault || s.paper_out || s.cover_open || s.cutter_error;
    }

    /// Paper runs out after `lines` more printed lines.
    pub fn paper_out_after(&mut self, lines: u32) {
        self.paper_lines_left = Some(lines);
    }

    /// Feeds bytes from the host.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if self.silent {
            return;
        }
        for cmd in self.decoder.push(bytes) {
            self.apply(cmd);
        }
    }

    /// Bytes to send back to the host.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmit.is_empty() {
            None
        } else {
            Some(self.transmit.drain(..).collect())
        }
    }

    /// A receipt that was cut (or interrupted by a fault).
    pub fn poll_receipt(&mut self) -> Option<DecodedReceipt> {
        self.receipts.pop_front()
    }

    fn apply(&mut self, cmd: Command) {
        // Real-time requests are answered even while printing is stopped.
        if let Command::StatusRequest(n) = cmd {
            if let Some(kind) = StatusKind::from_n(n) {
                self.transmit.push_back(self.status.reply_byte(kind));
            }
            return;
        }
        if self.printing_stopped() {
            // A stopped printer drops print data; ESC @ is still honoured after recovery only.
            return;
        }
        match cmd {
            Command::Text(bytes) => self.text(&bytes),
            Command::LineFeed => self.print_line(),
            Command::CarriageReturn | Command::StatusRequest(_) => {}
            Command::Init => {
                if self.has_content() {
                    self.interrupt();
                }
                self.code_page = 0;
                self.style = DEFAULT_STYLE;
                self.qr_module = 3;
                self.qr_model = 50;
            }
            Command::CodePage(n) => self.code_page = n,
            Command::Align(n) => {
                self.style.align = match n {
                    1 | 49 => Align::Center,
                    2 | 50 => Align::Right,
                    _ => Align::Left,
                }
            }
            Command::Bold(on) => self.style.bold = on,
            Command::PrintMode(n) => {
                self.style.bold = n & 0x08 != 0;
                self.style.double_height = n & 0x10 != 0;
                self.style.double_width = n & 0x20 != 0;
            }
            Command::Size(n) => {
                self.style.double_height = n & 0x0F != 0;
                self.style.double_width = n & 0xF0 != 0;
            }
            Command::FeedLines(n) => {
                self.print_line();
                for _ in 1..n {
                    self.print_line();
                }
            }
            Command::FeedDots(_) => self.print_line(),
            Command::Cut { .. } => self.cut(),
            Command::QrModel(n) => self.qr_model = n,
            Command::QrErrorLevel(_) => {}
            Command::QrModuleSize(n) => self.qr_module = n.clamp(1, 16),
            Command::QrStore(data) => self.qr_data = data,
            Command::QrPrint => {
                if !self.line.is_empty() {
                    self.print_line();
                }
                if self.consume_paper() {
                    let data = String::from_utf8_lossy(&self.qr_data).into_owned();
                    self.items.push(DecodedItem::Qr {
                        data,
                        module_dots: self.qr_module,
                        model: self.qr_model,
                    });
                }
            }
            Command::Ignored(_) => {}
            Command::Unknown(raw) => {
                self.unknown_commands += 1;
                tracing::debug!(bytes = %hex::encode(&raw), "unknown ESC/POS command");
            }
        }
    }

    fn has_content(&self) -> bool {
        !self.items.is_empty() || !self.line.is_empty()
    }

    fn text(&mut self, bytes: &[u8]) {
        if self.line_style.is_none() {
            self.line_style = Some(self.style);
        }
        let text = decode_text(bytes, self.code_page, &self.profile);
        self.line.push_str(&text);
    }

    /// Takes one line of paper; false when the paper has just run out.
    fn consume_paper(&mut self) -> bool {
        match self.paper_lines_left {
            Some(0) => {
                self.set_fault(Fault::PaperOut, true);
                false
            }
            Some(n) => {
                self.paper_lines_left = Some(n - 1);
                true
            }
            None => true,
        }
    }

    fn print_line(&mut self) {
        let style = self.line_style.take().unwrap_or(self.style);
        let text = std::mem::take(&mut self.line);
        let cols = if style.double_width {
            self.profile.columns / 2
        } else {
            self.profile.columns
        };
        let chars: Vec<char> = text.chars().collect();
        let pieces: Vec<String> = if chars.len() > cols {
            // A real printer wraps an over-long line; count it so width tests can see it.
            self.overflowed_lines += 1;
            chars
                .chunks(cols.max(1))
                .map(|c| c.iter().collect())
                .collect()
        } else {
            vec![text]
        };
        for piece in pieces {
            if !self.consume_paper() {
                return;
            }
            self.items.push(DecodedItem::Line(DecodedLine {
                text: piece,
                align: style.align,
                bold: style.bold,
                double_height: style.double_height,
            }));
        }
    }

    fn cut(&mut self) {
        if !self.line.is_empty() {
            self.print_line();
        }
        if self.printing_stopped() {
            return;
        }
        if self.cutter_jam_armed {
            self.cutter_jam_armed = false;
            self.status.cutter_error = true;
            self.status.recoverable_error = true;
            self.refresh_offline();
            self.finish(true);
            return;
        }
        self.finish(false);
    }

    /// Paper ran out or the cover opened mid-receipt: what was printed so far is torn off.
    fn interrupt(&mut self) {
        if self.has_content() {
            if !self.line.is_empty() {
                // The buffered line never reached the paper.
                self.line.clear();
                self.line_style = None;
            }
            self.finish(true);
        }
    }

    fn finish(&mut self, interrupted: bool) {
        let mut items = std::mem::take(&mut self.items);
        while matches!(items.last(), Some(DecodedItem::Line(l)) if l.text.is_empty()) {
            items.pop();
        }
        self.receipts.push_back(DecodedReceipt {
            items,
            columns: self.profile.columns,
            interrupted,
            unknown_commands: std::mem::take(&mut self.unknown_commands),
            overflowed_lines: std::mem::take(&mut self.overflowed_lines),
        });
    }
}

/// Decodes printable bytes in the selected code page. The profile's PC866 number maps to CP866;
/// other Epson table numbers that `encoding_rs` knows are decoded too, the rest as ASCII.
pub fn decode_text(bytes: &[u8], code_page: u8, profile: &PrinterProfile) -> String {
    let encoding = if code_page == profile.code_page {
        Some(encoding_rs::IBM866)
    } else {
        match code_page {
            16 => Some(encoding_rs::WINDOWS_1252),
            45 => Some(encoding_rs::WINDOWS_1250),
            46 => Some(encoding_rs::WINDOWS_1251),
            _ => None,
        }
    };
    match encoding {
        Some(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
        None => bytes
            .iter()
            .map(|&b| if b < 0x80 { b as char } else { '?' })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_status_and_decodes_cp866() {
        let mut p = PrinterCore::new(PrinterProfile::EPSON_TM_T20);
        p.handle_input(b"\x1b@\x1bt\x11\x91\xa2\xa5\xe2\n\x10\x04\x04\x1dVA\x00");
        assert_eq!(p.poll_transmit(), Some(vec![0x12]));
        let r = p.poll_receipt().unwrap();
        assert_eq!(r.text(), "Свет\n");
        assert!(!r.interrupted);
    }

    #[test]
    fn paper_out_stops_printing_and_reports() {
        let mut p = PrinterCore::new(PrinterProfile::EPSON_TM_T20);
        p.paper_out_after(2);
        p.handle_input(b"\x1b@a\nb\nc\nd\n\x1dVA\x00\x10\x04\x04\x10\x04\x02");
        assert_eq!(p.poll_transmit(), Some(vec![0x72, 0x32]));
        let r = p.poll_receipt().unwrap();
        assert!(r.interrupted);
        assert_eq!(r.text(), "a\nb\n");
        assert!(p.poll_receipt().is_none());
        p.set_fault(Fault::PaperOut, false);
        p.handle_input(b"\x10\x04\x04\x10\x04\x01");
        assert_eq!(p.poll_transmit(), Some(vec![0x12, 0x12]));
    }

    #[test]
    fn cutter_jam_reports_error_until_cover_cycled() {
        let mut p = PrinterCore::new(PrinterProfile::EPSON_TM_T20);
        p.set_fault(Fault::CutterJam, true);
        p.handle_input(b"x\n\x1dVA\x00\x10\x04\x03");
        assert_eq!(p.poll_transmit(), Some(vec![0x12 | 0x08 | 0x40]));
        p.set_fault(Fault::CoverOpen, true);
        p.set_fault(Fault::CoverOpen, false);
        p.handle_input(b"\x10\x04\x03\x10\x04\x01");
        assert_eq!(p.poll_transmit(), Some(vec![0x12, 0x12]));
    }
}

//! ESC/POS real-time status: `DLE EOT n` requests and the typed status their replies give.

use serde::{Deserialize, Serialize};

/// `DLE EOT n` request bytes.
pub fn status_request(n: StatusKind) -> [u8; 3] {
    [0x10, 0x04, n as u8]
}

/// Which status `DLE EOT n` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusKind {
    /// n = 1: printer status (bit 3 offline).
    Printer = 1,
    /// n = 2: offline cause (bit 2 cover open, bit 5 stopped at paper end, bit 6 error).
    Offline = 2,
    /// n = 3: error cause (bit 3 cutter, bit 5 unrecoverable, bit 6 auto-recoverable).
    Error = 3,
    /// n = 4: paper sensors (bits 2–3 near end, bits 5–6 paper end).
    Paper = 4,
}

impl StatusKind {
    pub const ALL: [StatusKind; 4] = [
        StatusKind::Printer,
        StatusKind::Offline,
        StatusKind::Error,
        StatusKind::Paper,
    ];

    pub fn from_n(n: u8) -> Option<Self> {
        match n {
            1 => Some(StatusKind::Printer),
            2 => Some(StatusKind::Offline),
            3 => Some(StatusKind::Error),
            4 => Some(StatusKind::Paper),
            _ => None,
        }
    }
}

/// A status reply byte has the fixed pattern `0xx1xx10`; anything else is not a reply.
pub fn is_status_byte(b: u8) -> bool {
    b & 0b1001_0011 == 0b0001_0010
}

/// The printer's state as the four status bytes tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrinterStatus {
    pub offline: bool,
    pub cover_open: bool,
    pub paper_near_end: bool,
    pub paper_out: bool,
    /// Printing stopped because the paper ran out.
    pub stopped_at_paper_end: bool,
    pub cutter_error: bool,
    pub unrecoverable_error: bool,
    pub recoverable_error: bool,
}

impl PrinterStatus {
    /// Folds one reply byte for `DLE EOT n` into the status.
    pub fn apply(&mut self, kind: StatusKind, byte: u8) {
        let bit = |n: u8| byte & (1 << n) != 0;
        match kind {
            StatusKind::Printer => self.offline = bit(3),
            StatusKind::Offline => {
                self.cover_open = bit(2);
                self.stopped_at_paper_end = bit(5);
                if bit(5) {
                    self.paper_out = true;
                }
            }
            StatusKind::Error => {
                self.cutter_error = bit(3);
                self.unrecoverable_error = bit(5);
                self.recoverable_error = bit(6);
            }
            StatusKind::Paper => {
                self.paper_near_end = byte & 0x0C != 0;
                self.paper_out = byte & 0x60 != 0;
            }
        }
    }

    /// The status byte a printer in this state sends for `DLE EOT n` (used by the emulator).
    pub fn reply_byte(&self, kind: StatusKind) -> u8 {
        let mut b = 0b0001_0010u8;
        let mut set = |cond: bool, mask: u8| {
            if cond {
                b |= mask;
            }
        };
        match kind {
            StatusKind::Printer => set(self.offline, 0x08),
            StatusKind::Offline => {
                set(self.cover_open, 0x04);
                set(self.stopped_at_paper_end, 0x20);
                set(
                    self.cutter_error || self.unrecoverable_error || self.recoverable_error,
                    0x40,
                );
            }
            StatusKind::Error => {
                set(self.cutter_error, 0x08);
                set(self.unrecoverable_error, 0x20);
                set(self.recoverable_error, 0x40);
            }
            StatusKind::Paper => {
                set(self.paper_near_end, 0x0C);
                set(self.paper_out, 0x60);
            }
        }
        b
    }

    /// The fault that stops printing, if any, most specific first.
    pub fn blocking_fault(&self) -> Option<crate::PrintError> {
        use crate::PrintError;
        if self.cover_open {
            Some(PrintError::CoverOpen)
        } else if self.paper_out {
            Some(PrintError::PaperOut)
        } else if self.cutter_error {
            Some(PrintError::CutterError)
        } else if self.unrecoverable_error {
            Some(PrintError::Unrecoverable)
        } else if self.recoverable_error {
            Some(PrintError::RecoverableError)
        } else if self.offline {
            Some(PrintError::Offline)
        } else {
            None
        }
    }

    /// True when nothing stops printing.
    pub fn is_ready(&self) -> bool {
        self.blocking_fault().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_bytes_follow_the_fixed_pattern_and_round_trip() {
        let states = [
            PrinterStatus::default(),
            PrinterStatus {
                paper_near_end: true,
                ..Default::default()
            },
            PrinterStatus {
                paper_out: true,
                stopped_at_paper_end: true,
                offline: true,
                ..Default::default()
            },
            PrinterStatus {
                cover_open: true,
                offline: true,
                ..Default::default()
            },
            PrinterStatus {
                cutter_error: true,
                offline: true,
                ..Default::default()
            },
        ];
        for state in states {
            let mut parsed = PrinterStatus::default();
            for kind in StatusKind::ALL {
                let byte = state.reply_byte(kind);
                assert!(is_status_byte(byte), "{byte:#04x}");
                parsed.apply(kind, byte);
            }
            assert_eq!(parsed.cover_open, state.cover_open);
            assert_eq!(parsed.paper_out, state.paper_out);
            assert_eq!(parsed.paper_near_end, state.paper_near_end);
            assert_eq!(parsed.cutter_error, state.cutter_error);
            assert_eq!(parsed.offline, state.offline);
        }
    }

    #[test]
    fn epson_reference_bytes() {
        // DLE EOT 4 with both paper-end sensors set is 0x72; near end only is 0x1E.
        let mut s = PrinterStatus::default();
        s.apply(StatusKind::Paper, 0x72);
        assert!(s.paper_out && !s.paper_near_end);
        let mut s = PrinterStatus::default();
        s.apply(StatusKind::Paper, 0x1E);
        assert!(s.paper_near_end && !s.paper_out);
        assert_eq!(status_request(StatusKind::Paper), [0x10, 0x04, 0x04]);
    }
}

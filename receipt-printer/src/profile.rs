//! Printer profiles: paper geometry and the code-page number that selects PC866.

use serde::{Deserialize, Serialize};

/// What the encoder and the emulator need to know about a printer model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterProfile {
    /// Short name used on the command line (`tm-t20`).
    pub id: &'static str,
    /// Model name.
    pub name: &'static str,
    /// Paper width in millimetres.
    pub paper_mm: u16,
    /// Printable width in dots (203 dpi).
    pub dots: u32,
    /// Characters per line in Font A (12 × 24 dots).
    pub columns: usize,
    /// `ESC t n` value that selects PC866 on this model.
    pub code_page: u8,
    /// Default serial speed of the model's RS-232 interface.
    pub baud: u32,
}

/// Width of a Font A cell in dots.
pub const FONT_A_WIDTH: u32 = 12;
/// Height of a Font A cell in dots.
pub const FONT_A_HEIGHT: u32 = 24;

impl PrinterProfile {
    /// Epson TM-T20 (II/III): 80 mm, 576 dots, 48 columns; PC866 is `ESC t 17`.
    pub const EPSON_TM_T20: PrinterProfile = PrinterProfile {
        id: "tm-t20",
        name: "Epson TM-T20",
        paper_mm: 80,
        dots: 576,
        columns: 48,
        code_page: 17,
        baud: 38_400,
    };

    /// Epson TM-T88 (IV/V/VI): 80 mm paper, 512 dots, 42 columns; PC866 is `ESC t 17`.
    pub const EPSON_TM_T88: PrinterProfile = PrinterProfile {
        id: "tm-t88",
        name: "Epson TM-T88",
        paper_mm: 80,
        dots: 512,
        columns: 42,
        code_page: 17,
        baud: 38_400,
    };

    /// Custom VKP80 (II/III) kiosk printer, Russian firmware: 80 mm, 576 dots, 48 columns.
    /// UNVERIFIED code page: Custom numbers its tables itself and the international firmware
    /// has no PC866 at all; check `n` against the unit's self-test printout and override.
    pub const CUSTOM_VKP80: PrinterProfile = PrinterProfile {
        id: "vkp80",
        name: "Custom VKP80",
        paper_mm: 80,
        dots: 576,
        columns: 48,
        code_page: 17,
        baud: 115_200,
    };

    /// Citizen PPU-700 presenter printer: 80 mm, 576 dots, 48 columns.
    /// UNVERIFIED code page (Citizen's Epson-compatible numbering assumed); check and override.
    pub const CITIZEN_PPU_700: PrinterProfile = PrinterProfile {
        id: "ppu-700",
        name: "Citizen PPU-700",
        paper_mm: 80,
        dots: 576,
        columns: 48,
        code_page: 17,
        baud: 115_200,
    };

    /// Every built-in profile.
    pub const ALL: [PrinterProfile; 4] = [
        Self::EPSON_TM_T20,
        Self::EPSON_TM_T88,
        Self::CUSTOM_VKP80,
        Self::CITIZEN_PPU_700,
    ];

    /// Looks a profile up by its id (case-insensitive).
    pub fn by_id(id: &str) -> Option<PrinterProfile> {
        Self::ALL
            .into_iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
    }

    /// The ids accepted by [`PrinterProfile::by_id`], for error messages.
    pub fn ids() -> Vec<&'static str> {
        Self::ALL.iter().map(|p| p.id).collect()
    }
}

//! What the service desk shows, as plain data; the screen bridge maps it onto the `ui` crate's
//! service screens.

/// Why the last PIN was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRefusal {
    Wrong { attempts_left: u32 },
    Locked { minutes: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLine {
    pub name: String,
    pub state: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceView {
    /// The PIN entry: only the number of digits typed, never the digits.
    Pin {
        digits_entered: usize,
        error: Option<PinRefusal>,
    },
    Status {
        terminal_id: String,
        devices: Vec<DeviceLine>,
        cash_in_box: String,
        paper: String,
        shift: String,
        /// Newest first: (time, message).
        last_errors: Vec<(String, String)>,
    },
    Report {
        title: String,
        lines: Vec<(String, String)>,
        choices: Vec<String>,
        confirm: Option<String>,
        busy: bool,
    },
}

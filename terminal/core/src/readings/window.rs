//! The acceptance window: the days of the month on which readings are taken (from config).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

/// Readings are accepted from `first_day` to `last_day` of each month, both included. A
/// `last_day` beyond the end of a short month means "to the end of the month".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AcceptanceWindow {
    pub first_day: u32,
    pub last_day: u32,
}

impl AcceptanceWindow {
    /// `1 <= first_day <= last_day <= 31`, else `None`.
    pub fn new(first_day: u32, last_day: u32) -> Option<AcceptanceWindow> {
        (1 <= first_day && first_day <= last_day && last_day <= 31).then_some(AcceptanceWindow {
            first_day,
            last_day,
        })
    }

    /// The whole month.
    pub fn whole_month() -> AcceptanceWindow {
        AcceptanceWindow {
            first_day: 1,
            last_day: 31,
        }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&date.day())
    }
}

/// Month names in the genitive, as in «27 ноября».
pub fn month_genitive(month: u32) -> &'static str {
    const NAMES: [&str; 12] = [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ];
    NAMES
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("")
}

//! Working-hours calendar of the host office: when does an outage count?
//!
//! The standard counts out-of-order time only inside the office's working hours. This module
//! answers, exactly to the second, how much of an interval of real (UTC) time falls inside them,
//! and when an outage that started at some instant will have lasted N working minutes (the
//! escalation and breach deadlines).
//!
//! A day's working time is its opening hours minus the lunch break. Precedence, per local date:
//! a *special working day* (a Saturday worked instead of a bridge day) uses its own hours; else a
//! *holiday* has none; else the weekday's hours apply. A *shortened day* (the eve of a holiday)
//! closes `shorten_by_minutes` earlier than its hours say.
//!
//! Configuration (the `[health.calendar]` section of the terminal's TOML):
//!
//! ```toml
//! time_zone = "Europe/Moscow"            # any IANA zone, e.g. "Asia/Yekaterinburg"
//! holidays = ["2026-01-01", "2026-01-02", "2026-03-09", "2026-05-01", "2026-05-11"]
//!
//! [week]                                  # a missing weekday is a day off
//! mon = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
//! tue = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
//! wed = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
//! thu = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
//! fri = { open = "08:00", close = "19:00" }
//! sat = { open = "09:00", close = "15:00" }
//!
//! [[shortened_days]]                      # pre-holiday: one hour shorter unless told otherwise
//! date = "2026-04-30"
//! shorten_by_minutes = 60
//!
//! [[special_working_days]]                # a weekend day worked as a weekday
//! date = "2026-01-10"
//! hours = { open = "09:00", close = "18:00" }
//! ```
//!
//! Times are local wall-clock `HH:MM` (`24:00` allowed as a closing time).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far ahead [`WorkingCalendar::instant_after_working_minutes`] looks before concluding the
/// calendar has no working time at all.
const SEARCH_HORIZON_DAYS: i64 = 400;

/// A local wall-clock time of day in whole minutes, `00:00` ..= `24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    pub const END_OF_DAY: ClockTime = ClockTime(24 * 60);

    /// `hour`:`minute`; `None` unless it lies in `00:00 ..= 24:00`.
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        let m = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && m <= 24 * 60).then_some(ClockTime(m))
    }

    /// Minutes since local midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }

    fn on(self, date: NaiveDate) -> NaiveDateTime {
        NaiveDateTime::new(date, NaiveTime::MIN) + Duration::minutes(i64::from(self.0))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl std::str::FromStr for ClockTime {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CalendarError::BadTime(s.to_owned());
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if h.is_empty() || h.len() > 2 || m.len() != 2 || !digits(h) || !digits(m) {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        ClockTime::new(h, m).ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A break inside the opening hours (lunch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Break {
    pub start: ClockTime,
    pub end: ClockTime,
}

/// Opening hours of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayHours {
    pub open: ClockTime,
    pub close: ClockTime,
    #[serde(default)]
    pub lunch: Option<Break>,
}

impl DayHours {
    fn validate(&self, what: &str) -> Result<(), CalendarError> {
        if self.open >= self.close {
            return Err(CalendarError::BadHours(format!(
                "{what}: opens at {} but closes at {}",
                self.open, self.close
            )));
        }
        if let Some(l) = self.lunch {
            if l.start >= l.end || l.start < self.open || l.end > self.close {
                return Err(CalendarError::BadHours(format!(
                    "{what}: lunch {}–{} must lie inside {}–{}",
                    l.start, l.end, self.open, self.close
                )));
            }
        }
        Ok(())
    }

    /// Local working intervals of the day, the close moved `shorten_by` minutes earlier.
    fn intervals(&self, shorten_by: u16) -> Vec<(ClockTime, ClockTime)> {
        let close = ClockTime(self.close.0.saturating_sub(shorten_by));
        if close <= self.open {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(2);
        match self.lunch {
            Some(l) => {
                out.push((self.open, l.start.min(close)));
                if l.end < close {
                    out.push((l.end, close));
                }
            }
            None => out.push((self.open, close)),
        }
        out.retain(|(a, b)| a < b);
        out
    }
}

/// Hours per weekday; a missing day is a day off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekSchedule {
    #[serde(default)]
    pub mon: Option<DayHours>,
    #[serde(default)]
    pub tue: Option<DayHours>,
    #[serde(default)]
    pub wed: Option<DayHours>,
    #[serde(default)]
    pub thu: Option<DayHours>,
    #[serde(default)]
    pub fri: Option<DayHours>,
    #[serde(default)]
    pub sat: Option<DayHours>,
    #[serde(default)]
    pub sun: Option<DayHours>,
}

impl WeekSchedule {
    fn get(&self, day: Weekday) -> Option<&DayHours> {
        match day {
            Weekday::Mon => self.mon.as_ref(),
            Weekday::Tue => self.tue.as_ref(),
            Weekday::Wed => self.wed.as_ref(),
            Weekday::Thu => self.thu.as_ref(),
            Weekday::Fri => self.fri.as_ref(),
            Weekday::Sat => self.sat.as_ref(),
            Weekday::Sun => self.sun.as_ref(),
        }
    }

    /// The week in a customer's words, consecutive days with equal hours together:
    /// «Пн–Чт 08:00–20:00 (обед 13:00–14:00); Пт 08:00–19:00; Сб 09:00–15:00».
    pub fn describe_ru(&self) -> String {
        const DAYS: [(Weekday, &str); 7] = [
            (Weekday::Mon, "Пн"),
            (Weekday::Tue, "Вт"),
            (Weekday::Wed, "Ср"),
            (Weekday::Thu, "Чт"),
            (Weekday::Fri, "Пт"),
            (Weekday::Sat, "Сб"),
            (Weekday::Sun, "Вс"),
        ];
        // (first day, last day, hours) as indices into DAYS.
        let mut groups: Vec<(usize, usize, &DayHours)> = Vec::new();
        for (i, (day, _)) in DAYS.iter().enumerate() {
            let Some(hours) = self.get(*day) else {
                continue;
            };
            match groups.last_mut() {
                Some((_, last, h)) if *last + 1 == i && *h == hours => *last = i,
                _ => groups.push((i, i, hours)),
            }
        }
        groups
            .into_iter()
            .map(|(first, last, h)| {
                let days = if first == last {
                    DAYS[first].1.to_string()
                } else {
                    format!("{}–{}", DAYS[first].1, DAYS[last].1)
                };
                let lunch = h
                    .lunch
                    .map(|b| format!(" (обед {}–{})", b.start, b.end))
                    .unwrap_or_default();
                format!("{days} {}–{}{lunch}", h.open, h.close)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn default_shorten_by() -> u16 {
    60
}

/// A day that closes early (the eve of a public holiday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortenedDay {
    pub date: NaiveDate,
    #[serde(default = "default_shorten_by")]
    pub shorten_by_minutes: u16,
}

/// A day worked with its own hours although the weekly schedule says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialWorkingDay {
    pub date: NaiveDate,
    pub hours: DayHours,
}

/// The `[health.calendar]` configuration section (see the module docs for the TOML shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    pub time_zone: Tz,
    #[serde(default)]
    pub week: WeekSchedule,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    #[serde(default)]
    pub shortened_days: Vec<ShortenedDay>,
    #[serde(default)]
    pub special_working_days: Vec<SpecialWorkingDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("bad time of day {0:?}: expected HH:MM between 00:00 and 24:00")]
    BadTime(String),
    #[error("bad working hours: {0}")]
    BadHours(String),
}

/// A validated working-hours calendar.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    tz: Tz,
    week: WeekSchedule,
    holidays: BTreeSet<NaiveDate>,
    shortened: BTreeMap<NaiveDate, u16>,
    special: BTreeMap<NaiveDate, DayHours>,
}

impl WorkingCalendar {
    /// The weekly opening hours.
    pub fn week(&self) -> &WeekSchedule {
        &self.week
    }

    /// Validates the configuration: every day opens before it closes and lunch lies inside.
    pub fn new(config: CalendarConfig) -> Result<Self, CalendarError> {
        for (name, day) in [
            ("mon", config.week.mon),
            ("tue", config.week.tue),
            ("wed", config.week.wed),
            ("thu", config.week.thu),
            ("fri", config.week.fri),
            ("sat", config.week.sat),
            ("sun", config.week.sun),
        ] {
            if let Some(h) = day {
                h.validate(name)?;
            }
        }
        for s in &config.special_working_days {
            s.hours
                .validate(&format!("special working day {}", s.date))?;
        }
        Ok(WorkingCalendar {
            tz: config.time_zone,
            week: config.week,
            holidays: config.holidays.into_iter().collect(),
            shortened: config
                .shortened_days
                .into_iter()
                .map(|s| (s.date, s.shorten_by_minutes))
                .collect(),
            special: config
                .special_working_days
                .into_iter()
                .map(|s| (s.date, s.hours))
                .collect(),
        })
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The local working intervals of a date, in order.
    pub fn local_intervals_on(&self, date: NaiveDate) -> Vec<(ClockTime, ClockTime)> {
        let hours = match self.special.get(&date) {
            Some(h) => Some(h),
            None if self.holidays.contains(&date) => None,
            None => self.week.get(date.weekday()),
        };
        let shorten_by = self.shortened.get(&date).copied().unwrap_or(0);
        hours.map(|h| h.intervals(shorten_by)).unwrap_or_default()
    }

    /// The working intervals of a local date as UTC instants.
    pub fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.local_intervals_on(date)
            .into_iter()
            .map(|(a, b)| (self.to_utc(a.on(date)), self.to_utc(b.on(date))))
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// Local wall-clock time to UTC. An ambiguous time (clocks going back) takes the earlier
    /// instant; a time that does not exist (clocks going forward) is read as the first instant
    /// after the gap.
    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        use chrono::LocalResult;
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            LocalResult::None => {
                // Walk forward minute by minute to the end of the gap (gaps are at most hours).
                let mut probe = local;
                for _ in 0..(24 * 60) {
                    probe += Duration::minutes(1);
                    if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&local)
            }
        }
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// True when `t` lies inside working hours.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let d = self.local_date(t);
        [d.pred_opt(), Some(d), d.succ_opt()]
            .into_iter()
            .flatten()
            .flat_map(|d| self.intervals_on(d))
            .any(|(a, b)| a <= t && t < b)
    }

    /// Working time inside `[start, end)`, exact to the second (zero if `end <= start`).
    pub fn working_duration(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
        if end <= start {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        // One day of margin either side covers intervals that cross midnight in UTC terms.
        let mut date = self.local_date(start).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(end).succ_opt().unwrap_or(NaiveDate::MAX);
        while date <= last {
            for (a, b) in self.intervals_on(date) {
                let (a, b) = (a.max(start), b.min(end));
                if a < b {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// Whole working minutes inside `[start, end)` (the working seconds, rounded down).
    pub fn working_minutes_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> u32 {
        u32::try_from(self.working_duration(start, end).num_minutes()).unwrap_or(u32::MAX)
    }

    /// The instant at which `[start, instant)` holds exactly `minutes` working minutes; `None`
    /// when the calendar has no working time within the search horizon (about a year).
    pub fn instant_after_working_minutes(
        &self,
        start: DateTime<Utc>,
        minutes: u32,
    ) -> Option<DateTime<Utc>> {
        let mut left = Duration::minutes(i64::from(minutes));
        if left.is_zero() {
            return Some(start);
        }
        let mut date = self.local_date(start).pred_opt()?;
        let horizon = date + Duration::days(SEARCH_HORIZON_DAYS + i64::from(minutes / 60));
        while date <= horizon {
            for (a, b) in self.intervals_on(date) {
                let a = a.max(start);
                if a >= b {
                    continue;
                }
                if b - a >= left {
                    return Some(a + left);
                }
                left -= b - a;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The first instant at or after `t` that is working time.
    pub fn next_working_instant(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut date = self.local_date(t).pred_opt()?;
        let horizon = date + Duration::days(SEARCH_HORIZON_DAYS);
        while date <= horizon {
            for (a, b) in self.intervals_on(date) {
                if b > t {
                    return Some(a.max(t));
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// The calendar used when none is given: a Moscow customer office, 2026 public holidays.
pub fn default_calendar() -> CalendarConfig {
    let toml = r#"
        time_zone = "Europe/Moscow"
        holidays = ["2026-01-01", "2026-01-02", "2026-01-05", "2026-01-06", "2026-01-07",
                    "2026-01-08", "2026-01-09", "2026-02-23", "2026-03-09", "2026-05-01",
                    "2026-05-11", "2026-06-12", "2026-11-04", "2026-12-31"]
        [week]
        mon = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
        tue = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
        wed = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
        thu = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
        fri = { open = "08:00", close = "19:00", lunch = { start = "13:00", end = "14:00" } }
        sat = { open = "09:00", close = "15:00" }
        [[shortened_days]]
        date = "2026-03-06"
        [[shortened_days]]
        date = "2026-04-30"
        [[shortened_days]]
        date = "2026-05-08"
        [[shortened_days]]
        date = "2026-06-11"
        [[shortened_days]]
        date = "2026-11-03"
    "#;
    // A constant that the unit tests parse; a failure here is a programming error.
    toml::from_str(toml).unwrap_or_else(|e| panic!("built-in calendar does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_time_parses_and_rejects() {
        assert_eq!("08:30".parse::<ClockTime>().unwrap().minutes(), 510);
        assert_eq!("24:00".parse::<ClockTime>().unwrap(), ClockTime::END_OF_DAY);
        for bad in [
            "24:01", "8", "08:60", "x:00", "08:5", "-1:00", "+8:00", "123:00",
        ] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn clock_time_parsing_never_panics_and_round_trips(s in "\\PC{0,8}") {
            if let Ok(t) = s.parse::<ClockTime>() {
                proptest::prop_assert!(t <= ClockTime::END_OF_DAY);
                proptest::prop_assert_eq!(t.to_string().parse::<ClockTime>().ok(), Some(t));
            }
        }
    }

    #[test]
    fn lunch_outside_hours_is_refused() {
        let h = DayHours {
            open: "09:00".parse().unwrap(),
            close: "12:00".parse().unwrap(),
            lunch: Some(Break {
                start: "11:30".parse().unwrap(),
                end: "12:30".parse().unwrap(),
            }),
        };
        assert!(matches!(h.validate("mon"), Err(CalendarError::BadHours(_))));
    }

    #[test]
    fn shortening_clips_the_lunch_and_can_close_the_day() {
        let h = DayHours {
            open: "09:00".parse().unwrap(),
            close: "14:00".parse().unwrap(),
            lunch: Some(Break {
                start: "12:00".parse().unwrap(),
                end: "13:30".parse().unwrap(),
            }),
        };
        let t = |s: &str| s.parse::<ClockTime>().unwrap();
        assert_eq!(h.intervals(60), vec![(t("09:00"), t("12:00"))]);
        assert_eq!(h.intervals(0).len(), 2);
        assert!(h.intervals(600).is_empty());
    }

    #[test]
    fn the_week_reads_like_an_office_door() {
        let config = default_calendar();
        assert_eq!(
            config.week.describe_ru(),
            "Пн–Чт 08:00–20:00 (обед 13:00–14:00); Пт 08:00–19:00 (обед 13:00–14:00); Сб 09:00–15:00"
        );
    }
}

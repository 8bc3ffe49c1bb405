//! Working-hours calendar: outages across lunch, closing time, a weekend, a holiday and a
//! shortened day, each counted to the minute; properties of the working-time measure.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use terminal::health::calendar::{CalendarConfig, WorkingCalendar};

/// Moscow office (UTC+3): Mon–Thu 08:00–20:00 and Fri 08:00–19:00 with lunch 13:00–14:00,
/// Sat 09:00–15:00, Sun closed; 2026-03-09 a holiday, 2026-03-06 shortened by an hour,
/// 2026-03-14 (a Saturday) shortened by 90 minutes, 2026-03-22 (a Sunday) worked.
const MOSCOW: &str = r#"
time_zone = "Europe/Moscow"
holidays = ["2026-03-09"]
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
date = "2026-03-14"
shorten_by_minutes = 90
[[special_working_days]]
date = "2026-03-22"
hours = { open = "10:00", close = "16:00" }
"#;

fn moscow() -> WorkingCalendar {
    let cfg: CalendarConfig = toml::from_str(MOSCOW).unwrap();
    WorkingCalendar::new(cfg).unwrap()
}

/// Local Moscow wall time → UTC.
fn msk(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Moscow
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn an_outage_across_the_lunch_break_skips_the_break() {
    let cal = moscow();
    // Wed 2026-03-04 12:40 → 14:25: 20 min before lunch + 25 after.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 4, 12, 40), msk(2026, 3, 4, 14, 25)),
        45
    );
    // Entirely inside lunch: nothing.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 4, 13, 5), msk(2026, 3, 4, 13, 55)),
        0
    );
}

#[test]
fn an_outage_over_closing_time_stops_counting_and_resumes_at_opening() {
    let cal = moscow();
    // Tue 19:30 → Wed 08:45: 30 + 45.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 3, 19, 30), msk(2026, 3, 4, 8, 45)),
        75
    );
}

#[test]
fn an_outage_over_a_weekend_counts_saturday_hours_only() {
    let cal = moscow();
    // Fri 2026-03-13 18:00 → Mon 2026-03-16 09:00:
    // Fri 18:00–19:00 = 60; Sat (shortened by 90: 09:00–13:30) = 270; Sun 0; Mon 08:00–09:00 = 60.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 13, 18, 0), msk(2026, 3, 16, 9, 0)),
        390
    );
}

#[test]
fn a_holiday_counts_nothing() {
    let cal = moscow();
    // Mon 2026-03-09 is a holiday: the whole day is free of working time.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 9, 0, 0), msk(2026, 3, 10, 0, 0)),
        0
    );
    // Sun 2026-03-08 20:00 → Tue 2026-03-10 08:30: only Tuesday's half hour.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 8, 20, 0), msk(2026, 3, 10, 8, 30)),
        30
    );
}

#[test]
fn a_shortened_day_closes_an_hour_early() {
    let cal = moscow();
    // Fri 2026-03-06 closes at 18:00 instead of 19:00.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 6, 17, 0), msk(2026, 3, 6, 19, 0)),
        60
    );
    assert!(!cal.is_working_time(msk(2026, 3, 6, 18, 0)));
    assert!(cal.is_working_time(msk(2026, 3, 6, 17, 59)));
    // A normal Friday counts both hours.
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 13, 17, 0), msk(2026, 3, 13, 19, 0)),
        120
    );
}

#[test]
fn a_special_working_sunday_counts() {
    let cal = moscow();
    assert_eq!(
        cal.working_minutes_between(msk(2026, 3, 22, 0, 0), msk(2026, 3, 23, 0, 0)),
        360
    );
}

#[test]
fn seconds_are_exact_and_minutes_round_down() {
    let cal = moscow();
    let start = msk(2026, 3, 4, 10, 0) + Duration::seconds(20);
    let end = msk(2026, 3, 4, 10, 5);
    assert_eq!(cal.working_duration(start, end), Duration::seconds(280));
    assert_eq!(cal.working_minutes_between(start, end), 4);
    assert_eq!(cal.working_minutes_between(end, start), 0);
}

#[test]
fn escalation_and_breach_deadlines_skip_lunch_night_and_holiday() {
    let cal = moscow();
    // Wed 12:45: 15 min before lunch, the 30th minute falls at 14:15, the 60th at 14:45.
    let start = msk(2026, 3, 4, 12, 45);
    assert_eq!(
        cal.instant_after_working_minutes(start, 30),
        Some(msk(2026, 3, 4, 14, 15))
    );
    assert_eq!(
        cal.instant_after_working_minutes(start, 60),
        Some(msk(2026, 3, 4, 14, 45))
    );
    // Sat 2026-03-07 14:40 (Saturday closes 15:00): 20 min, then Sunday closed, Monday a
    // holiday, so the 60th minute is Tuesday 08:40.
    assert_eq!(
        cal.instant_after_working_minutes(msk(2026, 3, 7, 14, 40), 60),
        Some(msk(2026, 3, 10, 8, 40))
    );
    // An outage at night starts counting at opening.
    assert_eq!(
        cal.next_working_instant(msk(2026, 3, 4, 23, 0)),
        Some(msk(2026, 3, 5, 8, 0))
    );
}

#[test]
fn other_time_zones_are_honoured() {
    // The same hours in Yekaterinburg (UTC+5) are two hours earlier in UTC than in Moscow.
    let cfg: CalendarConfig =
        toml::from_str(&MOSCOW.replace("Europe/Moscow", "Asia/Yekaterinburg")).unwrap();
    let ekb = WorkingCalendar::new(cfg).unwrap();
    let opening = chrono_tz::Asia::Yekaterinburg
        .with_ymd_and_hms(2026, 3, 4, 8, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(opening, Utc.with_ymd_and_hms(2026, 3, 4, 3, 0, 0).unwrap());
    assert!(ekb.is_working_time(opening));
    assert!(!ekb.is_working_time(opening - Duration::seconds(1)));
    assert!(!moscow().is_working_time(opening));
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let bad_time = MOSCOW.replace("close = \"19:00\"", "close = \"19:75\"");
    let err = toml::from_str::<CalendarConfig>(&bad_time).unwrap_err();
    assert!(err.to_string().contains("19:75"), "{err}");

    let inverted = MOSCOW.replace(
        "sat = { open = \"09:00\", close = \"15:00\" }",
        "sat = { open = \"15:00\", close = \"09:00\" }",
    );
    let cfg: CalendarConfig = toml::from_str(&inverted).unwrap();
    let err = WorkingCalendar::new(cfg).unwrap_err();
    assert!(err.to_string().contains("sat"), "{err}");

    let bad_zone = MOSCOW.replace("Europe/Moscow", "Europe/Atlantis");
    assert!(toml::from_str::<CalendarConfig>(&bad_zone).is_err());

    let unknown_key = format!("{MOSCOW}\nweekend = []\n");
    assert!(toml::from_str::<CalendarConfig>(&unknown_key).is_err());
}

#[test]
fn a_calendar_without_hours_never_reaches_a_deadline() {
    let cal = WorkingCalendar::new(CalendarConfig {
        time_zone: Tz::UTC,
        week: Default::default(),
        holidays: vec![],
        shortened_days: vec![],
        special_working_days: vec![],
    })
    .unwrap();
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(cal.instant_after_working_minutes(t, 1), None);
    assert_eq!(cal.working_minutes_between(t, t + Duration::days(30)), 0);
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Two months around the configured special days, to the second.
    let base = msk(2026, 2, 20, 0, 0);
    (0i64..(60 * 86_400)).prop_map(move |s| base + Duration::seconds(s))
}

proptest! {
    #[test]
    fn working_time_is_additive_over_a_split(a in instant(), b in instant(), c in instant()) {
        let mut v = [a, b, c];
        v.sort();
        let cal = moscow();
        prop_assert_eq!(
            cal.working_duration(v[0], v[1]) + cal.working_duration(v[1], v[2]),
            cal.working_duration(v[0], v[2])
        );
    }

    #[test]
    fn minutes_are_additive_when_split_on_minute_boundaries(a in 0i64..80_000, b in 0i64..80_000, c in 0i64..80_000) {
        let mut v = [a, b, c];
        v.sort();
        let base = msk(2026, 2, 20, 0, 0);
        let at = |m: i64| base + Duration::minutes(m);
        let cal = moscow();
        prop_assert_eq!(
            cal.working_minutes_between(at(v[0]), at(v[1])) + cal.working_minutes_between(at(v[1]), at(v[2])),
            cal.working_minutes_between(at(v[0]), at(v[2]))
        );
    }

    #[test]
    fn never_more_than_wall_time(a in instant(), b in instant()) {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let cal = moscow();
        prop_assert!(cal.working_duration(a, b) <= b - a);
        prop_assert!(i64::from(cal.working_minutes_between(a, b)) <= (b - a).num_minutes());
    }

    #[test]
    fn zero_on_the_holiday(s in 0i64..86_400, len in 0i64..86_400) {
        let cal = moscow();
        let day = msk(2026, 3, 9, 0, 0);
        let start = day + Duration::seconds(s);
        let end = (start + Duration::seconds(len)).min(msk(2026, 3, 10, 0, 0));
        prop_assert_eq!(cal.working_duration(start, end), Duration::zero());
    }

    #[test]
    fn the_deadline_holds_exactly_the_minutes(a in instant(), m in 0u32..2_000) {
        let cal = moscow();
        let t = cal.instant_after_working_minutes(a, m).unwrap();
        prop_assert_eq!(cal.working_duration(a, t), Duration::minutes(i64::from(m)));
        // ...and it is the first such instant: a second earlier holds less (unless m is 0).
        if m > 0 {
            prop_assert!(cal.working_duration(a, t - Duration::seconds(1)) < Duration::minutes(i64::from(m)));
        }
    }

    #[test]
    fn working_time_is_where_is_working_time_says(a in instant()) {
        let cal = moscow();
        let counted = cal.working_duration(a, a + Duration::seconds(1)) == Duration::seconds(1);
        prop_assert_eq!(counted, cal.is_working_time(a));
    }
}

#[test]
fn weekday_helper_sanity() {
    // 2026-03-02 is a Monday: the fleet simulation's default start relies on it.
    use chrono::Datelike;
    assert_eq!(
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().weekday(),
        chrono::Weekday::Mon
    );
}

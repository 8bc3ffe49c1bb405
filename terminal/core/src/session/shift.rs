//! When the fiscal shift is renewed: between customers, before the 24 hours 54-FZ allows (after
//! them the KKT refuses to sell and the next customer would wait for a Z-report), and at the
//! daily closing time the config names. The receipt task only carries the renewal out.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

/// A shift this old is renewed at the next moment no customer is served.
pub const RENEW_AFTER: Duration = Duration::hours(23);
/// A renewal that failed is tried again after this long.
pub const RENEW_RETRY: Duration = Duration::minutes(5);

/// When the shift opened at `opened_at` is due to be renewed: [`RENEW_AFTER`] after it opened,
/// or at the first daily closing time (`close_at`, local in `tz`) after it opened, whichever
/// comes first.
pub fn renewal_due(
    opened_at: DateTime<Utc>,
    close_at: Option<NaiveTime>,
    tz: chrono_tz::Tz,
) -> DateTime<Utc> {
    let limit = opened_at + RENEW_AFTER;
    let Some(close_at) = close_at else {
        return limit;
    };
    let mut date = opened_at.with_timezone(&tz).date_naive();
    for _ in 0..3 {
        // A closing time a DST jump skips that day is taken at the next valid day.
        let candidate = tz
            .from_local_datetime(&date.and_time(close_at))
            .earliest()
            .map(|t| t.with_timezone(&Utc));
        if let Some(at) = candidate.filter(|at| *at > opened_at) {
            return at.min(limit);
        }
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    limit
}

/// The session's side of a renewal: asked and not yet answered, or failed and waiting.
#[derive(Debug, Default)]
pub(super) struct ShiftRenewal {
    pub(super) pending: bool,
    pub(super) retry_at: Option<DateTime<Utc>>,
}

impl ShiftRenewal {
    /// When to renew a shift opened at `opened_at`, unless one is already asked for.
    pub(super) fn next(
        &self,
        opened_at: Option<DateTime<Utc>>,
        close_at: Option<NaiveTime>,
        tz: chrono_tz::Tz,
    ) -> Option<DateTime<Utc>> {
        if self.pending {
            return None;
        }
        let due = renewal_due(opened_at?, close_at, tz);
        Some(self.retry_at.map_or(due, |retry| retry.max(due)))
    }

    /// A shift report was journaled: whatever was asked is answered.
    pub(super) fn answered(&mut self) {
        self.pending = false;
        self.retry_at = None;
    }

    pub(super) fn failed(&mut self, now: DateTime<Utc>) {
        self.pending = false;
        self.retry_at = Some(now + RENEW_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Moscow;
    use proptest::prelude::*;

    fn msk(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Moscow
            .with_ymd_and_hms(2026, 12, d, h, m, 0)
            .single()
            .expect("a valid Moscow time")
            .with_timezone(&Utc)
    }

    #[test]
    fn without_a_closing_time_a_shift_is_renewed_an_hour_before_24_hours() {
        assert_eq!(renewal_due(msk(1, 9, 0), None, Moscow), msk(2, 8, 0));
    }

    #[test]
    fn the_daily_closing_time_comes_first_when_it_is_sooner() {
        let at = NaiveTime::from_hms_opt(23, 45, 0);
        assert_eq!(renewal_due(msk(1, 9, 0), at, Moscow), msk(1, 23, 45));
        // Opened after today's closing time: tomorrow's is more than 23 hours away.
        assert_eq!(renewal_due(msk(1, 23, 50), at, Moscow), msk(2, 22, 50));
        // Opened at one in the night: the same day's closing time.
        assert_eq!(renewal_due(msk(2, 1, 0), at, Moscow), msk(2, 23, 45));
        // Just after midnight that closing time is more than 23 hours away.
        assert_eq!(renewal_due(msk(2, 0, 5), at, Moscow), msk(2, 23, 5));
    }

    #[test]
    fn a_failed_renewal_waits_before_it_is_asked_again() {
        let mut r = ShiftRenewal::default();
        let opened = msk(1, 9, 0);
        assert_eq!(r.next(Some(opened), None, Moscow), Some(msk(2, 8, 0)));
        r.pending = true;
        assert_eq!(r.next(Some(opened), None, Moscow), None, "asked once");
        r.failed(msk(2, 8, 0));
        assert_eq!(r.next(Some(opened), None, Moscow), Some(msk(2, 8, 5)));
        r.answered();
        assert_eq!(r.next(None, None, Moscow), None, "no open shift known");
    }

    proptest! {
        /// Whatever the opening and closing times, the renewal is after the opening and never
        /// later than 23 hours after it: no shift reaches the 24-hour limit while idle.
        #[test]
        fn renewal_is_always_within_23_hours(
            minutes in 0i64..(60 * 24 * 400),
            close_h in 0u32..24,
            close_m in 0u32..60,
            with_close in any::<bool>(),
        ) {
            let opened = msk(1, 0, 0) + Duration::minutes(minutes);
            let close = with_close.then(|| NaiveTime::from_hms_opt(close_h, close_m, 0)).flatten();
            let due = renewal_due(opened, close, Moscow);
            prop_assert!(due > opened);
            prop_assert!(due <= opened + RENEW_AFTER);
        }
    }
}

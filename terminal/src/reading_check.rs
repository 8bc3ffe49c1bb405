//! The session's reading rules backed by [`crate::readings::validate`]: every zone of a meter is
//! checked together against its capacity, the previous value (with rollover), plausible
//! consumption per day and the month's acceptance window.

use chrono::{DateTime, Utc};

use crate::readings::{self, AcceptanceWindow, Refusal, ZoneCode, ZoneInput};
use crate::session::{
    CustomerAccount, MeterInfo, ReadingInput, ReadingProblem, ReadingRules, Refused,
};

pub struct MeterRules {
    pub rules: readings::ReadingRules,
    /// Readings are dated in the kiosk's local time.
    pub tz: chrono_tz::Tz,
}

impl MeterRules {
    /// Rules that accept readings on any day of the month (simulation and demos).
    pub fn any_day(tz: chrono_tz::Tz) -> MeterRules {
        let window = AcceptanceWindow {
            first_day: 1,
            last_day: 31,
        };
        MeterRules {
            rules: readings::ReadingRules {
                window,
                default_max_daily_kwh: 100,
            },
            tz,
        }
    }
}

impl ReadingRules for MeterRules {
    fn check_meter(
        &self,
        _account: &CustomerAccount,
        meter: &MeterInfo,
        inputs: &[ReadingInput],
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, Refused<ReadingProblem>> {
        let Some(rules_meter) = &meter.meter else {
            return Err(Refused::new(
                ReadingProblem::Unreachable,
                "Показания этого прибора учёта сейчас не принимаются: нет связи с расчётным центром. \
                 Попробуйте позже или передайте их в офисе.",
            ));
        };
        let zone_inputs = inputs
            .iter()
            .map(|i| {
                ZoneCode::parse(&i.zone)
                    .map(|zone| ZoneInput::new(zone, i.text.clone()))
                    .ok_or_else(|| {
                        Refused::new(
                            ReadingProblem::Malformed,
                            format!("Неизвестная тарифная зона «{}»", i.zone),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let local = now.with_timezone(&self.tz).naive_local();
        readings::validate(rules_meter, &zone_inputs, local, &self.rules, &[])
            .map(|valid| {
                valid
                    .zones
                    .iter()
                    .map(|z| (z.zone.as_str().to_string(), z.value))
                    .collect()
            })
            .map_err(|refusal| Refused::new(problem(&refusal), refusal.customer_message()))
    }
}

/// The refusal's kind for the screen (the wording stays the domain's).
fn problem(refusal: &Refusal) -> ReadingProblem {
    let day = |d: u32| u8::try_from(d).unwrap_or(u8::MAX);
    match refusal {
        Refusal::OutsideWindow {
            first_day,
            last_day,
            ..
        } => ReadingProblem::OutsideWindow {
            first_day: day(*first_day),
            last_day: day(*last_day),
        },
        Refusal::BelowPrevious { previous, .. } => ReadingProblem::BelowPrevious {
            previous: *previous,
        },
        Refusal::TooManyDigits {
            capacity_digits, ..
        } => ReadingProblem::TooManyDigits {
            capacity: *capacity_digits,
        },
        Refusal::Implausible {
            consumption, limit, ..
        } => ReadingProblem::Implausible {
            consumption: *consumption,
            limit: *limit,
        },
        Refusal::MissingZone(_) | Refusal::Empty(_) => ReadingProblem::Missing,
        Refusal::Duplicate { .. } => ReadingProblem::AlreadyAccepted,
        Refusal::UnknownZone { .. }
        | Refusal::RepeatedZone(_)
        | Refusal::Fraction(_)
        | Refusal::NotNumeric { .. }
        | Refusal::Zero(_) => ReadingProblem::Malformed,
    }
}

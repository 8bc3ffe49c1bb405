//! What the health monitor knows, as the service desk's facts.

use chrono::{DateTime, Utc};

use super::monitor::{Device, DeviceCondition, HealthMonitor};
use crate::service::{device_name_ru, DeviceFact, HealthFacts, OutageFact};

/// What the health monitor knows, for the service screens: each device's condition, the
/// outage history (newest first, the current outage included) and the printer's paper.
pub fn health_facts(monitor: &HealthMonitor, now: DateTime<Utc>, tz: chrono_tz::Tz) -> HealthFacts {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%d.%m %H:%M").to_string();
    let devices = monitor
        .conditions()
        .iter()
        .map(|(device, condition)| {
            let (state, ok) = match condition {
                DeviceCondition::Up => ("работает".to_owned(), true),
                DeviceCondition::Warning { detail } => (detail.clone(), true),
                DeviceCondition::Down { detail, .. } => (detail.clone(), false),
            };
            DeviceFact {
                name: device_name_ru(device.name()),
                state,
                ok,
            }
        })
        .collect();
    let mut closed: Vec<_> = monitor.history().cloned().collect();
    closed.reverse();
    let mut outages: Vec<OutageFact> = monitor
        .current_outage(now)
        .into_iter()
        .chain(closed)
        .map(|o| OutageFact {
            started: local(o.started_at),
            ended: o.recovered_at.map(local),
            working_minutes: o.working_minutes,
            cause: o.cause,
        })
        .collect();
    outages.truncate(20);
    let paper = match monitor.condition(Device::Printer) {
        DeviceCondition::Up => "есть".to_owned(),
        DeviceCondition::Warning { detail } | DeviceCondition::Down { detail, .. } => {
            detail.clone()
        }
    };
    HealthFacts {
        devices,
        outages,
        paper: Some(paper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::calendar::{CalendarConfig, WorkingCalendar};
    use crate::health::monitor::{AlertConfig, FaultKind};
    use chrono::{Duration, TimeZone};

    #[test]
    fn health_facts_come_from_the_monitor_with_the_open_outage_first() {
        let cal: CalendarConfig = toml::from_str(
            r#"
    time_zone = "Europe/Moscow"
    [week]
    wed = { open = "08:00", close = "20:00" }
    "#,
        )
        .unwrap();
        let mut m = HealthMonitor::new(
            "T01",
            AlertConfig::default(),
            WorkingCalendar::new(cal).unwrap(),
        );
        let tz = chrono_tz::Europe::Moscow;
        let t = tz
            .with_ymd_and_hms(2026, 3, 4, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let down = |detail: &str| DeviceCondition::Down {
            kind: FaultKind::Communication,
            detail: detail.into(),
        };
        m.handle_device(Device::BillValidator, down("нет ответа"), t);
        m.handle_device(Device::CardReader, down("нет связи"), t);
        let facts = health_facts(&m, t + Duration::minutes(45), tz);
        let validator = facts
            .devices
            .iter()
            .find(|d| d.name == "Купюроприёмник")
            .unwrap();
        assert!(!validator.ok);
        assert_eq!(validator.state, "нет ответа");
        assert_eq!(facts.outages.len(), 1);
        assert_eq!(facts.outages[0].started, "04.03 10:00");
        assert_eq!(facts.outages[0].ended, None);
        assert_eq!(facts.outages[0].working_minutes, 45);
        assert_eq!(facts.paper.as_deref(), Some("есть"));
    }
}

//! The health monitor under a fake clock: service states, alert timing in working minutes,
//! debouncing of a flapping device, and restart continuity.

use backend_sync::event::{JournalEvent, OutageLevel};
use chrono::{DateTime, Duration, TimeZone, Utc};
use terminal::health::calendar::{CalendarConfig, WorkingCalendar};
use terminal::health::monitor::{
    AlertConfig, Capabilities, Device, DeviceCondition, FaultKind, HealthMonitor, ServiceState,
};

const CAL: &str = r#"
time_zone = "Europe/Moscow"
holidays = ["2026-03-09"]
[week]
mon = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
tue = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
wed = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
thu = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
fri = { open = "08:00", close = "19:00", lunch = { start = "13:00", end = "14:00" } }
"#;

fn msk(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Moscow
        .with_ymd_and_hms(2026, 3, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn monitor() -> HealthMonitor {
    let cfg: CalendarConfig = toml::from_str(CAL).unwrap();
    HealthMonitor::new(
        "T-0001",
        AlertConfig::default(),
        WorkingCalendar::new(cfg).unwrap(),
    )
}

fn down(kind: FaultKind, detail: &str) -> DeviceCondition {
    DeviceCondition::Down {
        kind,
        detail: detail.to_owned(),
    }
}

fn drain(m: &mut HealthMonitor) -> Vec<JournalEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn alerts(events: &[JournalEvent]) -> Vec<(OutageLevel, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::OutageAlert {
                level,
                working_minutes,
                ..
            } => Some((*level, *working_minutes)),
            _ => None,
        })
        .collect()
}

/// Runs the monitor's timers from `from` to `to` the way a driver would.
fn run_until(m: &mut HealthMonitor, to: DateTime<Utc>) -> Vec<JournalEvent> {
    let mut out = Vec::new();
    while let Some(t) = m.poll_timeout() {
        if t > to {
            break;
        }
        m.handle_timeout(t);
        out.extend(drain(m));
    }
    m.handle_timeout(to);
    out.extend(drain(m));
    out
}

#[test]
fn paper_out_leaves_e_receipts_only() {
    let mut m = monitor();
    let t = msk(4, 10, 0);
    m.handle_device(
        Device::Printer,
        down(FaultKind::NeedsAttendant, "paper out"),
        t,
    );
    let works = Capabilities {
        cash: true,
        card: true,
        paper_receipt: false,
        online: true,
        sbp: false,
    };
    assert_eq!(m.service_state(), &ServiceState::Degraded { works });
    assert_eq!(m.service_state().detail(), "e-receipt only");
    let ev = drain(&mut m);
    assert_eq!(
        ev,
        vec![
            JournalEvent::DeviceStateChanged {
                device: "printer".into(),
                state: "down".into(),
                detail: "needs_attendant: paper out".into()
            },
            JournalEvent::ServiceStateChanged {
                state: "degraded".into(),
                detail: "e-receipt only".into()
            },
        ]
    );
    assert_eq!(m.poll_timeout(), None, "no outage, nothing to time");
}

#[test]
fn cassette_full_leaves_card_only_and_offline_is_named() {
    let mut m = monitor();
    let t = msk(4, 10, 0);
    m.handle_device(
        Device::BillValidator,
        down(FaultKind::NeedsAttendant, "cassette full"),
        t,
    );
    assert_eq!(m.service_state().detail(), "card only");
    m.handle_device(
        Device::BackOffice,
        down(FaultKind::Communication, "no route"),
        t,
    );
    assert_eq!(m.service_state().detail(), "card only, offline");
    assert!(!m.service_state().is_out_of_service());
    assert!(alerts(&drain(&mut m)).is_empty());
}

#[test]
fn warnings_do_not_degrade() {
    let mut m = monitor();
    m.handle_device(
        Device::Printer,
        DeviceCondition::Warning {
            detail: "paper near end".into(),
        },
        msk(4, 10, 0),
    );
    assert_eq!(m.service_state(), &ServiceState::InService);
    let ev = drain(&mut m);
    assert_eq!(ev.len(), 1, "only the device change: {ev:?}");
}

#[test]
fn no_payment_method_screen_dead_or_fiscal_down_is_out_of_service() {
    for (devices, word) in [
        (
            vec![Device::BillValidator, Device::CardReader],
            "no payment method",
        ),
        (vec![Device::Ui], "screen"),
        (vec![Device::FiscalModule], "fiscal"),
    ] {
        let mut m = monitor();
        for d in devices {
            m.handle_device(
                d,
                down(FaultKind::Communication, "no answer"),
                msk(4, 10, 0),
            );
        }
        assert!(m.service_state().is_out_of_service());
        assert!(m.service_state().detail().contains(word));
        let ev = drain(&mut m);
        assert_eq!(alerts(&ev), vec![(OutageLevel::Started, 0)], "{word}");
    }
}

#[test]
fn alerts_start_at_once_escalate_at_30_and_breach_at_60_working_minutes() {
    let mut m = monitor();
    // Wed 2026-03-04 12:45, fifteen minutes before lunch.
    let start = msk(4, 12, 45);
    m.handle_device(
        Device::BillValidator,
        down(FaultKind::Hardware, "failure 0x47"),
        start,
    );
    m.handle_device(
        Device::CardReader,
        down(FaultKind::Communication, "link lost"),
        start,
    );
    let ev = drain(&mut m);
    let started = ev
        .iter()
        .find_map(|e| match e {
            JournalEvent::OutageAlert {
                level: OutageLevel::Started,
                outage_id,
                detail,
                ..
            } => Some((outage_id.clone(), detail.clone())),
            _ => None,
        })
        .expect("Started at once");
    assert_eq!(started.0, "T-0001-20260304T094500Z");
    assert!(started.1.contains("failure 0x47") && started.1.contains("link lost"));

    // Escalation: 15 min before lunch + 15 after → 14:15, not 13:15.
    assert_eq!(m.poll_timeout(), Some(msk(4, 14, 15)));
    assert!(run_until(&mut m, msk(4, 14, 14)).is_empty());
    assert_eq!(
        alerts(&run_until(&mut m, msk(4, 14, 15))),
        vec![(OutageLevel::Escalated, 30)]
    );
    assert_eq!(m.poll_timeout(), Some(msk(4, 14, 45)));
    assert_eq!(
        alerts(&run_until(&mut m, msk(4, 14, 45))),
        vec![(OutageLevel::Breach, 60)]
    );
    assert_eq!(m.poll_timeout(), None);

    // Recovery at 15:10 (85 working minutes); Recovered after the 5-minute hold.
    m.handle_device(Device::CardReader, DeviceCondition::Up, msk(4, 15, 10));
    assert_eq!(m.service_state().detail(), "card only");
    assert!(alerts(&drain(&mut m)).is_empty(), "not before the hold");
    assert_eq!(m.poll_timeout(), Some(msk(4, 15, 15)));
    assert_eq!(
        alerts(&run_until(&mut m, msk(4, 15, 15))),
        vec![(OutageLevel::Recovered, 85)]
    );
    let rec: Vec<_> = m.history().cloned().collect();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].working_minutes, 85);
    assert_eq!(rec[0].recovered_at, Some(msk(4, 15, 10)));
    assert!(rec[0].escalated && rec[0].breached);
}

#[test]
fn an_outage_at_night_alerts_at_once_but_escalates_in_the_morning() {
    let mut m = monitor();
    m.handle_device(
        Device::Ui,
        down(FaultKind::Communication, "frozen"),
        msk(4, 22, 0),
    );
    assert_eq!(alerts(&drain(&mut m)), vec![(OutageLevel::Started, 0)]);
    assert_eq!(m.poll_timeout(), Some(msk(5, 8, 30)));
    // Back at 07:00: no working minute passed, no escalation ever.
    m.handle_device(Device::Ui, DeviceCondition::Up, msk(5, 7, 0));
    let ev = run_until(&mut m, msk(5, 12, 0));
    assert_eq!(alerts(&ev), vec![(OutageLevel::Recovered, 0)]);
}

#[test]
fn a_flapping_device_raises_one_outage_not_many() {
    let mut m = monitor();
    let t0 = msk(4, 10, 0);
    // Fiscal module drops out and comes back every two minutes for twenty minutes.
    let mut t = t0;
    for _ in 0..5 {
        m.handle_device(
            Device::FiscalModule,
            down(FaultKind::Communication, "timeout"),
            t,
        );
        t += Duration::minutes(2);
        m.handle_device(Device::FiscalModule, DeviceCondition::Up, t);
        t += Duration::minutes(2);
    }
    // Up for good since t0+18 min.
    let a = alerts(&run_until(&mut m, msk(4, 11, 0)));
    assert_eq!(
        a,
        vec![(OutageLevel::Started, 0), (OutageLevel::Recovered, 18)]
    );
    assert_eq!(m.history().count(), 1);
    assert_eq!(m.history().next().unwrap().started_at, t0);
}

#[test]
fn started_is_sent_once_for_a_flapping_device() {
    let mut m = monitor();
    let mut t = msk(4, 10, 0);
    let mut all = Vec::new();
    for _ in 0..10 {
        m.handle_device(Device::Ui, down(FaultKind::Communication, "hang"), t);
        t += Duration::seconds(30);
        m.handle_device(Device::Ui, DeviceCondition::Up, t);
        t += Duration::seconds(30);
        all.extend(drain(&mut m));
    }
    all.extend(run_until(&mut m, t + Duration::minutes(10)));
    let a = alerts(&all);
    assert_eq!(
        a.iter().filter(|(l, _)| *l == OutageLevel::Started).count(),
        1,
        "{a:?}"
    );
    assert_eq!(a.last().map(|x| x.0), Some(OutageLevel::Recovered));
}

#[test]
fn a_new_outage_after_the_hold_is_a_new_outage() {
    let mut m = monitor();
    m.handle_device(
        Device::Ui,
        down(FaultKind::Communication, "hang"),
        msk(4, 10, 0),
    );
    m.handle_device(Device::Ui, DeviceCondition::Up, msk(4, 10, 3));
    run_until(&mut m, msk(4, 10, 9));
    m.handle_device(
        Device::Ui,
        down(FaultKind::Communication, "hang"),
        msk(4, 10, 10),
    );
    let a = alerts(&drain(&mut m));
    assert_eq!(a, vec![(OutageLevel::Started, 0)]);
    assert_eq!(m.history().count(), 1);
}

#[test]
fn escalation_due_during_the_hold_is_not_sent_if_service_came_back_before_it() {
    let mut m = monitor();
    m.handle_device(
        Device::Ui,
        down(FaultKind::Communication, "hang"),
        msk(4, 10, 0),
    );
    drain(&mut m);
    // Back at 10:28, escalation would have been at 10:30, the hold ends at 10:33.
    m.handle_device(Device::Ui, DeviceCondition::Up, msk(4, 10, 28));
    assert_eq!(m.poll_timeout(), Some(msk(4, 10, 33)));
    let a = alerts(&run_until(&mut m, msk(4, 11, 0)));
    assert_eq!(a, vec![(OutageLevel::Recovered, 28)]);
}

#[test]
fn late_timer_still_reports_escalation_before_recovery() {
    let mut m = monitor();
    m.handle_device(
        Device::Ui,
        down(FaultKind::Communication, "hang"),
        msk(4, 10, 0),
    );
    drain(&mut m);
    // The driver was busy and the next input comes only at 10:45 (service back).
    m.handle_device(Device::Ui, DeviceCondition::Up, msk(4, 10, 45));
    let a = alerts(&drain(&mut m));
    assert_eq!(a, vec![(OutageLevel::Escalated, 45)]);
}

#[test]
fn a_restart_resumes_the_outage_without_a_second_started() {
    let mut m = monitor();
    m.resume_outage(
        "T-0001-20260304T070000Z".into(),
        msk(4, 10, 0),
        "screen is dead".into(),
        &[OutageLevel::Started],
    );
    assert!(m.service_state().is_out_of_service());
    // The restarted terminal reports the screen still down at 10:05: no new Started.
    m.handle_device(
        Device::Ui,
        down(FaultKind::Communication, "no frames"),
        msk(4, 10, 5),
    );
    let mut ev = drain(&mut m);
    ev.extend(run_until(&mut m, msk(4, 10, 40)));
    assert_eq!(alerts(&ev), vec![(OutageLevel::Escalated, 30)]);
    assert_eq!(
        m.current_outage(msk(4, 10, 40)).unwrap().working_minutes,
        40
    );
}

#[test]
fn device_changes_are_journaled_once_each() {
    let mut m = monitor();
    let t = msk(4, 10, 0);
    m.handle_device(Device::BackOffice, down(FaultKind::Communication, "dns"), t);
    m.handle_device(Device::BackOffice, down(FaultKind::Communication, "dns"), t);
    let ev = drain(&mut m);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, JournalEvent::DeviceStateChanged { .. }))
            .count(),
        1
    );
}

#[test]
fn a_kiosk_whose_bank_answers_stays_in_service_when_cash_and_card_are_down() {
    let mut m = monitor();
    let t = msk(4, 10, 0);
    m.handle_device(Device::BillValidator, down(FaultKind::Hardware, "jam"), t);
    m.handle_device(
        Device::CardReader,
        down(FaultKind::Communication, "silent"),
        t,
    );
    // No bank ever reported in: no payment method works.
    assert!(
        m.service_state().is_out_of_service(),
        "{:?}",
        m.service_state()
    );
    m.handle_device(Device::Sbp, DeviceCondition::Up, t);
    assert!(!m.service_state().is_out_of_service());
    assert_eq!(m.service_state().detail(), "СБП only");
    m.handle_device(
        Device::Sbp,
        down(FaultKind::Communication, "the bank does not answer"),
        t,
    );
    assert!(m.service_state().is_out_of_service());
}

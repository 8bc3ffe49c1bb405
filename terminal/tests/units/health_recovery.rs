//! The recovery ladder: order of the rungs, backoff, journaling of every step, restart gating.

use backend_sync::event::JournalEvent;
use chrono::{DateTime, Duration, TimeZone, Utc};
use terminal::health::monitor::Device;
use terminal::health::recovery::{LadderConfig, RecoveryAction, RecoveryLadder, RecoveryStep};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 7, 0, 0).unwrap()
}

fn events(l: &mut RecoveryLadder) -> Vec<(String, bool)> {
    std::iter::from_fn(|| l.poll_event())
        .map(|e| match e {
            JournalEvent::RecoveryStep {
                device,
                step,
                succeeded,
            } => {
                assert_eq!(device, "bill_validator");
                (step, succeeded)
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Drives the ladder with every step failing; returns (time offset in s, step, attempt).
fn fail_everything(l: &mut RecoveryLadder, until: DateTime<Utc>) -> Vec<(i64, RecoveryStep, u32)> {
    let mut out = Vec::new();
    while let Some(due) = l.poll_timeout() {
        if due > until {
            break;
        }
        if let Some(RecoveryAction { step, attempt, .. }) = l.poll_action(due) {
            out.push(((due - t0()).num_seconds(), step, attempt));
            if step != RecoveryStep::RestartProcess {
                // Each step takes one second and fails.
                l.handle_step_result(step, false, due + Duration::seconds(1));
            }
        }
    }
    out
}

#[test]
fn the_ladder_climbs_in_order_with_growing_pauses() {
    let mut l = RecoveryLadder::new(Device::BillValidator, LadderConfig::default(), None);
    assert!(!l.is_active());
    l.handle_fault(t0());
    assert_eq!(l.poll_action(t0()), None, "the first try waits its delay");
    let seq = fail_everything(&mut l, t0() + Duration::minutes(10));
    use RecoveryStep::*;
    assert_eq!(
        seq,
        vec![
            (2, ReopenPort, 1),
            (2 + 1 + 4, ReopenPort, 2),
            (7 + 1 + 8, ProtocolReset, 1),
            (16 + 1 + 16, ProtocolReset, 2),
            (33 + 1 + 32, PowerCycle, 1),
            (66 + 1 + 60, PowerCycle, 2),
            (127 + 1 + 60, RestartProcess, 1),
        ]
    );
    assert!(l.is_exhausted());
    assert_eq!(
        events(&mut l),
        vec![
            ("reopen_port".into(), false),
            ("reopen_port".into(), false),
            ("protocol_reset".into(), false),
            ("protocol_reset".into(), false),
            ("power_cycle".into(), false),
            ("power_cycle".into(), false),
            ("restart_process".into(), true),
        ]
    );
    // Exhausted: it starts over half an hour later, without a second restart within the hour.
    assert_eq!(l.poll_timeout(), Some(t0() + Duration::seconds(188 + 1800)));
    let again = fail_everything(&mut l, t0() + Duration::minutes(45));
    assert_eq!(again.first().map(|x| x.1), Some(ReopenPort));
    assert!(again.iter().all(|x| x.1 != RestartProcess), "{again:?}");
}

#[test]
fn a_successful_step_ends_the_ladder_and_is_journaled() {
    let mut l = RecoveryLadder::new(Device::BillValidator, LadderConfig::default(), None);
    l.handle_fault(t0());
    let a = l.poll_action(t0() + Duration::seconds(2)).unwrap();
    assert_eq!(a.step, RecoveryStep::ReopenPort);
    l.handle_step_result(a.step, false, t0() + Duration::seconds(3));
    let a = l.poll_action(t0() + Duration::seconds(7)).unwrap();
    l.handle_step_result(a.step, true, t0() + Duration::seconds(8));
    assert!(!l.is_active());
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(
        events(&mut l),
        vec![("reopen_port".into(), false), ("reopen_port".into(), true)]
    );
    // A new fault starts from the bottom rung again.
    l.handle_fault(t0() + Duration::minutes(5));
    let a = l.poll_action(t0() + Duration::minutes(6)).unwrap();
    assert_eq!((a.step, a.attempt), (RecoveryStep::ReopenPort, 1));
}

#[test]
fn a_device_back_by_itself_stops_the_ladder_and_late_results_are_ignored() {
    let mut l = RecoveryLadder::new(Device::BillValidator, LadderConfig::default(), None);
    l.handle_fault(t0());
    let a = l.poll_action(t0() + Duration::seconds(2)).unwrap();
    l.handle_recovered();
    l.handle_step_result(a.step, true, t0() + Duration::seconds(3));
    assert!(events(&mut l).is_empty());
    assert!(!l.is_active());
}

#[test]
fn repeated_faults_while_climbing_do_not_restart_the_climb() {
    let mut l = RecoveryLadder::new(Device::BillValidator, LadderConfig::default(), None);
    l.handle_fault(t0());
    let a = l.poll_action(t0() + Duration::seconds(2)).unwrap();
    l.handle_step_result(a.step, false, t0() + Duration::seconds(3));
    l.handle_fault(t0() + Duration::seconds(4));
    let a = l.poll_action(t0() + Duration::seconds(7)).unwrap();
    assert_eq!(a.attempt, 2);
}

#[test]
fn a_recent_restart_is_not_repeated_and_a_device_without_relay_skips_power_cycle() {
    let config = LadderConfig {
        steps: vec![
            RecoveryStep::ReopenPort,
            RecoveryStep::ProtocolReset,
            RecoveryStep::RestartProcess,
        ],
        attempts_per_step: 1,
        ..LadderConfig::default()
    };
    let recent = Some(t0() - Duration::minutes(20));
    let mut l = RecoveryLadder::new(Device::BillValidator, config.clone(), recent);
    l.handle_fault(t0());
    let seq = fail_everything(&mut l, t0() + Duration::minutes(5));
    let steps: Vec<_> = seq.iter().map(|x| x.1).collect();
    assert_eq!(
        steps,
        vec![RecoveryStep::ReopenPort, RecoveryStep::ProtocolReset]
    );
    assert!(l.is_exhausted());

    let long_ago = Some(t0() - Duration::hours(2));
    let mut l = RecoveryLadder::new(Device::BillValidator, config, long_ago);
    l.handle_fault(t0());
    let seq = fail_everything(&mut l, t0() + Duration::minutes(5));
    assert_eq!(seq.last().map(|x| x.1), Some(RecoveryStep::RestartProcess));
}

#[test]
fn the_ladder_config_reads_from_toml() {
    let cfg: LadderConfig = toml::from_str(
        r#"steps = ["reopen_port", "power_cycle"]
           attempts_per_step = 3"#,
    )
    .unwrap();
    assert_eq!(
        cfg.steps,
        vec![RecoveryStep::ReopenPort, RecoveryStep::PowerCycle]
    );
    assert_eq!(cfg.attempts_per_step, 3);
    assert_eq!(cfg.max_delay_seconds, 60);
    assert!(toml::from_str::<LadderConfig>(r#"steps = ["pray"]"#).is_err());
}

//! The fleet simulation: deterministic per seed, self-recovery keeps recoverable outages under
//! the limit, and the report ends with the documented JSON line.

use terminal::health::fleet_sim::{
    default_calendar, print_report, run_fleet_simulation, FleetOptions,
};
use terminal::health::WorkingCalendar;

fn opts(kiosks: u32, days: u32, seed: u64, self_recovery: bool) -> FleetOptions {
    FleetOptions {
        kiosks,
        days,
        seed,
        self_recovery,
        start: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        calendar: default_calendar(),
    }
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let a = run_fleet_simulation(&opts(6, 20, 7, true), None).unwrap();
    let b = run_fleet_simulation(&opts(6, 20, 7, true), None).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let c = run_fleet_simulation(&opts(6, 20, 8, true), None).unwrap();
    assert_ne!(
        serde_json::to_string(&a.per_kiosk).unwrap(),
        serde_json::to_string(&c.per_kiosk).unwrap()
    );
}

#[test]
fn self_recovery_keeps_recoverable_outages_within_the_limit() {
    let with = run_fleet_simulation(&opts(20, 30, 11, true), None).unwrap();
    let without = run_fleet_simulation(&opts(20, 30, 11, false), None).unwrap();
    let (w, wo) = (with.summary(), without.summary());
    assert!(w.faults > 50, "the model must produce faults: {w:?}");
    assert!(w.recovery_steps > 0);
    assert!(w.outages > 0, "{w:?}");
    assert!(
        w.max_recoverable_outage_working_minutes <= 60,
        "recoverable outage too long: {w:?}"
    );
    assert_eq!(wo.recovery_steps, 0);
    assert!(
        wo.total_outage_working_minutes > w.total_outage_working_minutes,
        "self-recovery must shorten outages: {w:?} vs {wo:?}"
    );
    assert!(wo.technician_visits > w.technician_visits);
    // Every outage's minutes are what the calendar says for its span.
    let cal = WorkingCalendar::new(default_calendar()).unwrap();
    for o in with.per_kiosk.iter().flat_map(|k| &k.outages) {
        if let Some(end) = o.recovered_at {
            assert_eq!(
                o.working_minutes,
                cal.working_minutes_between(o.started_at, end)
            );
            assert_eq!(o.breached, o.working_minutes >= 60, "{o:?}");
        }
    }
}

#[test]
fn the_report_ends_with_one_json_line() {
    let report = run_fleet_simulation(&opts(3, 10, 1, true), None).unwrap();
    let cal = WorkingCalendar::new(default_calendar()).unwrap();
    let mut out = Vec::new();
    print_report(&report, &cal, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(r#"{"kiosks":3,"days":10,"outages":"#),
        "{last}"
    );
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    for key in [
        "outages",
        "breaches",
        "max_recoverable_outage_working_minutes",
    ] {
        assert!(v[key].is_u64(), "{key} in {last}");
    }
    assert!(text.lines().any(|l| l.starts_with("kiosk-001:")));
}

/// The report for the lead: `cargo test -p terminal --test units health_fleet -- --ignored --nocapture`
/// runs what `terminal simulate-fleet --kiosks 50 --days 30 --seed 1 [--no-recovery]` runs.
/// Set `FLEET_KIOSKS`, `FLEET_DAYS`, `FLEET_SEED` to vary it.
#[test]
#[ignore]
fn fleet_report_for_the_lead() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fleet: terminal::health::fleet_sim::FleetArgs,
    }
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    for extra in [None, Some("--no-recovery")] {
        let mut argv = vec![
            "simulate-fleet".to_owned(),
            "--kiosks".into(),
            env("FLEET_KIOSKS", "50"),
            "--days".into(),
            env("FLEET_DAYS", "30"),
            "--seed".into(),
            env("FLEET_SEED", "1"),
        ];
        argv.extend(extra.map(str::to_owned));
        println!("$ terminal {}", argv.join(" "));
        let cli = Cli::parse_from(&argv);
        let mut out = Vec::new();
        let summary = terminal::health::fleet_sim::run_cli(&cli.fleet, &mut out).unwrap();
        print!("{}", String::from_utf8(out).unwrap());
        if extra.is_none() {
            assert!(summary.max_recoverable_outage_working_minutes <= 60);
        }
    }
}

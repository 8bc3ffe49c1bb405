//! What the terminal's integration tests share: a session and its core over given devices, wired
//! as `terminal run --simulate` wires them. Each test binary uses a part of it.
#![allow(dead_code)]

use terminal::journal::Journal;
use terminal::money::{Limits, Money};
use terminal::runtime::{Core, CoreSetup, DeviceLinks, SystemClock};
use terminal::session::{Session, SessionConfig, View};
use tokio::sync::watch;

/// The time zone of every test kiosk.
pub const TZ: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// The limits of a test kiosk: 15 000 ₽ a payment, 60 000 ₽ a day.
pub fn limits() -> Limits {
    Limits {
        per_payment: Money::from_rubles(15_000),
        per_day: Money::from_rubles(60_000),
    }
}

/// A session of `config` that accepts meter readings on any day.
pub fn session(config: SessionConfig) -> Session {
    Session::new(
        config,
        Box::new(terminal::reading_check::MeterRules::any_day(TZ)),
    )
}

/// The core of a session of `config` over `journal` and the devices behind `links`, on the
/// system clock, and the view it publishes.
pub fn core(
    config: SessionConfig,
    journal: Journal,
    links: DeviceLinks,
) -> (Core<SystemClock>, watch::Receiver<View>) {
    let setup = CoreSetup {
        tz: TZ,
        terminal_id: config.terminal_id.clone(),
        wait_for_bill_ready: false,
    };
    let session = session(config);
    let (view_tx, view) = watch::channel(session.view());
    let core = Core::new(session, journal, links, SystemClock, view_tx, setup)
        .expect("the core starts over a fresh journal");
    (core, view)
}

/// Starts `binary` (the `terminal` command) with `args`, its log (filtered by `log_filter`)
/// appended to `log` and its standard output dropped: the kill tests' process under test.
pub fn spawn_logged(
    binary: &std::path::Path,
    args: &[&std::ffi::OsStr],
    log_filter: &str,
    log: &std::path::Path,
) -> std::process::Child {
    spawn_logged_with(binary, args, log_filter, log, &[])
}

/// [`spawn_logged`] with more environment variables (e.g. `NOTIFY_SOCKET`).
pub fn spawn_logged_with(
    binary: &std::path::Path,
    args: &[&std::ffi::OsStr],
    log_filter: &str,
    log: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the log file opens");
    std::process::Command::new(binary)
        .args(args)
        .env("KIOSK_LOG", log_filter)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the terminal binary starts")
}

/// The `cash-soak` harness on the validator at `link`, journaling to `journal`, logging to
/// `log` (the kill and stop tests' process), with more environment variables in `env`.
pub fn start_cash_soak(
    link: &std::path::Path,
    journal: &std::path::Path,
    log: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::process::Child {
    let args: [&std::ffi::OsStr; 5] = [
        "cash-soak".as_ref(),
        "--port".as_ref(),
        link.as_ref(),
        "--journal".as_ref(),
        journal.as_ref(),
    ];
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_terminal"));
    spawn_logged_with(binary, &args, "info", log, env)
}

/// The ledger the journal at `path` replays to and its entry count, if it opens and its chain
/// verifies.
pub fn replayed_ledger(path: &std::path::Path) -> Option<(terminal::ledger::Ledger, u64)> {
    let j = Journal::open_for_audit(path).ok()?;
    let events = j.events().ok()?;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)?;
    let ledger = terminal::ledger::Ledger::replay(events.iter().map(|(seq, e)| (*seq, day, e)));
    let n = j.verify().ok()?;
    Some((ledger, n))
}

/// What the validator emulator's cassette holds, in kopecks.
pub fn cassette_kopecks(emulator: &bill_acceptor::EmulatorHandle) -> i64 {
    emulator
        .cassette()
        .iter()
        .map(|(d, n)| d * i64::from(*n))
        .sum()
}

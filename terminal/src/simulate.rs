//! `terminal run --simulate` (the `sim` feature): the kiosk with its window on wire-level
//! emulators of the bill validator, the card terminal and the receipt printer (each on its own
//! pseudo-terminal, driven by the real drivers), a fiscal
//! register (the emulated module, or with `--fiscal shtrih` the Shtrih-M KKT emulator on a pty,
//! which prints the receipts) and a persistent journal under `var/sim/`; the technician's hands
//! are the standard input: `insert 1000`, `insert-fake`, `jam`, `fail`, `cassette-full`,
//! `cassette-out`, `cassette-in`, `card-off`, `paper-near-end`, `paper-out`, `paper-in`, `status`,
//! and the KKT's `kkt-paper-out`, `kkt-paper-in`, `kkt-off`, `kkt-on`, `kkt-lose-answer`. The
//! health desk watches every device: a fault shows on screen as a degraded or out-of-service
//! notice, the validator's recovery ladder re-opens its port and power-cycles it through a
//! simulated relay, and Prometheus metrics are served on localhost. Service mode opens with the
//! demo PIN ([`crate::service::DEMO_PIN`]).
//!
//! It syncs to an embedded back office on 127.0.0.1 (demo accounts) unless one is given. The
//! kiosk itself is [`crate::kiosk::run_kiosk`], as on real devices.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use fiscal_register::shtrih::emulator::{Fault as KktFault, KktEmulator};
use tokio::sync::mpsc;

use crate::kiosk::{prepare, run_kiosk, service_access, KioskSetup, RunError};
use crate::money::{Limits, Money};
use crate::reading_check::MeterRules;
use crate::runtime::health::HealthSetup;
use crate::runtime::{CoreEvent, ServiceSetup};
use crate::service::DEMO_PIN_HASH;
use crate::sim_devices::{self, SimFiscal};
use crate::supervision::DEFAULT_METRICS_ADDR;
use crate::sync::{BackOfficeLink, BackOfficeSetup};

/// The simulated kiosk's terminal id (register it with `back-office terminal add SIM01` to use
/// an external back office).
pub const SIM_TERMINAL_ID: &str = "SIM01";

/// `terminal run --simulate`: runs until the window is closed. Syncs to `back_office`, or to an
/// embedded back office when none is given.
pub fn run(
    data_dir: PathBuf,
    back_office: Option<BackOfficeLink>,
    fiscal: SimFiscal,
    brand: ui::Brand,
) -> Result<(), RunError> {
    let (window, runtime) = prepare(&data_dir)?;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let mut devices = runtime
        .block_on(sim_devices::start_with(
            core_tx.clone(),
            &data_dir,
            None,
            fiscal,
        ))
        .map_err(|e| RunError::Setup(e.to_string()))?;
    if let Some(kkt) = &devices.kkt {
        eprintln!(
            "Fiscal register: the Shtrih-M KKT emulator on {} (a new FN each start); its \
             printouts go to {} as text and PNG. KKT faults: `kkt-paper-out`, `kkt-paper-in`, \
             `kkt-off`, `kkt-on`, `kkt-lose-answer`.",
            kkt.emulator.path().display(),
            kkt.printout_dir.display()
        );
    }
    let back_office = runtime.block_on(BackOfficeSetup::simulated(
        SIM_TERMINAL_ID,
        back_office,
        core_tx.clone(),
    ))?;
    devices.links.lookup = {
        let _rt = runtime.enter();
        crate::devices::lookup::spawn_for(
            &back_office,
            crate::accounts::AccountScheme::default(),
            core_tx.clone(),
        )?
    };
    devices.links.sbp = {
        let _rt = runtime.enter();
        let client = back_office
            .link
            .client()
            .map_err(|e| RunError::Setup(format!("back office: {e}")))?;
        crate::devices::sbp::spawn(client, Default::default(), core_tx.clone())
    };
    match back_office.embedded() {
        Some(_) => eprintln!(
            "Embedded back office: {} (fleet page; demo accounts 1000000001, 1000000028, 1000000036).",
            back_office.link.fleet_url()
        ),
        None => eprintln!("Back office: {}", back_office.link.fleet_url()),
    }
    // The console keeps the emulators for as long as the kiosk runs, even when nobody types on
    // standard input (it may be closed from the start: a desktop launcher, `< /dev/null`).
    spawn_console(
        devices.bill.clone(),
        Arc::new(devices.printer),
        devices.card,
        devices.scanner,
        devices.kkt.take().map(|k| k.emulator),
        back_office.bank(),
    );
    eprintln!(
        "Kiosk running on emulated devices. Type `insert 1000`, `insert-fake`, `jam`, `fail`, \
         `cassette-full`, `cassette-out`, `cassette-in`, `card-off`, `paper-near-end`, \
         `paper-out`, `paper-in`, `status`, `scan` (the demo bill's QR code; `scan FILE` or \
         `scan ST00012|…` for another), and for the bank behind СБП (each QR is paid 10 s after \
         it is shown unless told otherwise) `sbp-pay`, `sbp-decline`, `sbp-next SCRIPT` \
         (`manual`, `declined`, `expires`, `never-answers`, `paid-after-revoke`, \
         `notification-lost`, `notification-duplicated`) here. Metrics: http://{DEFAULT_METRICS_ADDR}/metrics"
    );
    eprintln!(
        "Service mode: tap the top-left corner of the header 5 times, PIN {}.",
        crate::service::DEMO_PIN
    );
    let service = ServiceSetup {
        access: service_access(DEMO_PIN_HASH.into()),
        export_dir: data_dir.join("export"),
        idle_seconds: crate::config::ServiceConfig::DEFAULT_IDLE_SECONDS,
    };
    let setup = KioskSetup {
        terminal_id: SIM_TERMINAL_ID.into(),
        tz: chrono_tz::Europe::Moscow,
        limits: Limits {
            per_payment: Money::from_rubles(15_000),
            per_day: Money::from_rubles(60_000),
        },
        rules: MeterRules::any_day(chrono_tz::Europe::Moscow),
        data_dir,
        wait_for_bill_ready: true,
        health: HealthSetup::standard(chrono_tz::Europe::Moscow),
        recovery: Some(devices.recovery.clone()),
        office: format!("Офис «{}», ул. Примерная, 1", brand.name()),
        shift_close_at: None,
        service,
        brand,
    };
    run_kiosk(
        window,
        runtime,
        setup,
        back_office,
        core_tx,
        core_rx,
        devices.links,
    )
}

/// Does `act` to the newest QR the bank has not settled (the customer's bank app).
fn bank_act(
    bank: Option<&bank_emulator::BankEmulator>,
    act: impl FnOnce(&bank_emulator::BankEmulator, &str) -> bool,
) -> Result<(), String> {
    let bank = bank.ok_or("no emulated bank: the back office is not the embedded one")?;
    let open = bank
        .payments()
        .into_iter()
        .rev()
        .find(|p| {
            matches!(
                p.status,
                bank_emulator::Status::New | bank_emulator::Status::FormShowed
            )
        })
        .ok_or("no QR waiting to be paid")?;
    if act(bank, &open.order_id) {
        Ok(())
    } else {
        Err(format!("the bank did not take it for {}", open.order_id))
    }
}

/// A console name of a bank script; scripted delays are the simulator's demo pace.
fn bank_script(name: &str) -> Option<bank_emulator::Script> {
    use bank_emulator::Script;
    let soon = std::time::Duration::from_secs(10);
    Some(match name {
        "manual" => Script::Manual,
        "paid" => Script::PaidAfter(soon),
        "declined" => Script::DeclinedAfter(soon),
        "expires" => Script::ExpiresAfter(std::time::Duration::from_secs(30)),
        "never-answers" => Script::NeverAnswers,
        "paid-after-revoke" => Script::PaidAfterRevoke,
        "notification-lost" => Script::NotificationLost,
        "notification-duplicated" => Script::NotificationDuplicated,
        _ => return None,
    })
}

/// The technician's console on standard input.
fn spawn_console(
    bill: Arc<bill_acceptor::EmulatorHandle>,
    printer: Arc<receipt_printer::EmulatorHandle>,
    card: card_reader::EmulatorHandle,
    scanner: barcode_scanner::emulator::ScannerEmulator,
    kkt: Option<KktEmulator>,
    bank: Option<Arc<bank_emulator::BankEmulator>>,
) {
    let mut card = Some(card);
    // The KKT's faults, for a cabinet that has one.
    let kkt_fault = move |fault: KktFault, on: bool| match &kkt {
        None => Err("no KKT in this cabinet: start with --fiscal shtrih".to_string()),
        Some(k) => {
            k.set_fault(fault, on);
            Ok(())
        }
    };
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            // `scan` takes the rest of the line as it is: a code may hold spaces.
            if let Some(arg) = line
                .trim_start()
                .strip_prefix("scan")
                .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
            {
                if let Err(e) = scanner.scan(&crate::sim_devices::scan_payload(arg)) {
                    eprintln!("scan: {e}");
                }
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let result = match words.as_slice() {
                ["insert", rubles] => match rubles.parse::<i64>() {
                    Ok(r) => bill.insert(r).map_err(|e| e.to_string()),
                    Err(_) => Err(format!("not a denomination: {rubles}")),
                },
                ["insert-fake"] => bill.insert_fake().map_err(|e| e.to_string()),
                ["jam"] => {
                    bill.jam();
                    Ok(())
                }
                // The card terminal loses power for good (its pty closes): the kiosk notices at
                // the next status enquiry.
                ["card-off"] => card
                    .take()
                    .map(drop)
                    .ok_or_else(|| "the card terminal is already off".to_string()),
                ["cassette-full"] => {
                    bill.cassette_full();
                    Ok(())
                }
                // A failure a reset does not always clear; the recovery ladder takes it from here.
                ["fail"] => {
                    bill.fail(bill_acceptor::FailureCode {
                        kind: bill_acceptor::FailureKind::StackMotor,
                        code: 0x50,
                    });
                    Ok(())
                }
                ["paper-near-end"] => {
                    printer.paper_near_end(true);
                    Ok(())
                }
                ["paper-out"] => {
                    printer.paper_out();
                    Ok(())
                }
                ["paper-in"] => {
                    printer.paper_in();
                    Ok(())
                }
                ["cassette-out"] => bill
                    .remove_cassette()
                    .map(|taken| {
                        println!("cassette removed with {taken:?}");
                    })
                    .map_err(|e| e.to_string()),
                ["cassette-in"] => bill.insert_cassette().map_err(|e| e.to_string()),
                ["status"] => {
                    println!("cassette: {:?}", bill.cassette());
                    Ok(())
                }
                ["kkt-paper-out"] => kkt_fault(KktFault::PaperOut, true),
                // Paper loaded; a receipt held for it waits for the host's continue-print.
                ["kkt-paper-in"] => kkt_fault(KktFault::PaperOut, false),
                ["kkt-off"] => kkt_fault(KktFault::Silent, true),
                ["kkt-on"] => kkt_fault(KktFault::Silent, false),
                // The next sale registers in the FN but its answer never reaches the kiosk.
                ["kkt-lose-answer"] => kkt_fault(KktFault::LoseAnswerAfterRegistration, true),
                ["sbp-pay"] => bank_act(bank.as_deref(), |b, order| b.pay(order)),
                ["sbp-decline"] => bank_act(bank.as_deref(), |b, order| b.decline(order)),
                ["sbp-next", script] => match (bank.as_deref(), bank_script(script)) {
                    (None, _) => {
                        Err("no emulated bank: the back office is not the embedded one".into())
                    }
                    (_, None) => Err(format!("unknown script: {script}")),
                    (Some(b), Some(s)) => {
                        b.script_next(s);
                        Ok(())
                    }
                },
                [] => Ok(()),
                _ => Err(format!("unknown command: {line}")),
            };
            if let Err(e) = result {
                eprintln!("{e}");
            }
        }
        // Standard input closed: the cabinet stays powered (this thread keeps the emulators)
        // until the kiosk exits.
        loop {
            std::thread::park();
        }
    });
}

//! `[fiscal] kind = "shtrih"` as `terminal run --config` builds it: the real Shtrih-M driver on a
//! pty against the wire-level KKT emulator. A shift opens, a sale registers, and a sale whose
//! answer the KKT lost is recovered from the fiscal drive without a second document; the FN's
//! warnings reach the health desk.

use fiscal_register::shtrih::emulator::{Fault, KktEmulator};
use fiscal_register::shtrih::testkit::sample_config;
use fiscal_register::{sample, DocumentKind};
use terminal::config::{FiscalConfig, FiscalKind, TaxSystem};
use terminal::health::DeviceCondition;

/// `[fiscal] kind = "shtrih"` on `port`, as a kiosk config gives it.
fn shtrih_config(port: std::path::PathBuf) -> FiscalConfig {
    FiscalConfig {
        kind: FiscalKind::Shtrih,
        port: Some(port),
        baud: 115_200,
        password: 30,
        prints: true,
        machine_number: "KIOSK-0042".into(),
        kkt_reg_number: "0000000001012345".into(),
        tax_system: TaxSystem::Osn,
        agent: None,
        close_shift_at: None,
    }
}

#[test]
fn the_configured_shtrih_kkt_sells_once_even_when_an_answer_is_lost() {
    let kkt = KktEmulator::spawn(sample_config(), None, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = shtrih_config(kkt.path().to_path_buf());
    let mut register = terminal::devices::fiscal::open_module(&config, "0042", dir.path()).unwrap();
    let now = sample::time();
    register.open_shift(now).unwrap();
    let sold = register.register(&sample::document(), now).unwrap();
    assert!(sold.printed_by_module, "the kiosk KKT prints its receipt");
    kkt.set_fault(Fault::LoseAnswerAfterRegistration, true);
    let recovered = register.register(&sample::cash_sale(150_000), now).unwrap();
    assert_eq!(recovered.fd_number, sold.fd_number + 1);
    let receipts = kkt.with_core(|c| {
        c.documents()
            .iter()
            .filter(|d| matches!(d.kind, DocumentKind::Receipt(_)))
            .count()
    });
    assert_eq!(receipts, 2, "one fiscal document per sale");
}

#[test]
fn a_shtrih_kkt_without_a_port_that_opens_is_a_clear_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = shtrih_config(dir.path().join("no-such-tty"));
    let err = terminal::devices::fiscal::open_module(&config, "0042", dir.path())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("fiscal.port"), "{err}");
}

#[test]
fn the_fn_warnings_of_the_kkt_reach_the_health_desk_in_russian() {
    let kkt = KktEmulator::spawn(sample_config(), None, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = shtrih_config(kkt.path().to_path_buf());
    let module = terminal::devices::fiscal::open_module(&config, "0042", dir.path()).unwrap();
    let mut fiscaliser = terminal::devices::fiscal::Fiscaliser::new(
        module,
        sample::seller(),
        fiscal_register::VatRate::Vat22,
        chrono_tz::Europe::Moscow,
    );
    let now = chrono::Utc::now();
    assert_eq!(fiscaliser.check(now), DeviceCondition::Up);
    kkt.set_fault(Fault::MemoryNearFull, true);
    assert_eq!(
        fiscaliser.check(now),
        DeviceCondition::Warning {
            detail: "Память ФН заполнена на 90 %".into()
        }
    );
    kkt.set_fault(Fault::Silent, true);
    assert!(
        fiscaliser.check(now).is_down(),
        "a KKT that does not answer"
    );
}

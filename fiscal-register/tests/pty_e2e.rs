//! The async driver on a real pty against the KKT emulator: status, shift, a sale, a lost
//! answer recovered, the Z-report — the bytes go through the kernel's tty layer both ways.

use std::time::Duration;

use fiscal_register::shtrih::commands::{Reply, Request};
use fiscal_register::shtrih::emulator::{Fault, KktEmulator, Printed};
use fiscal_register::shtrih::testkit::{sample_config, SAMPLE_KEY};
use fiscal_register::shtrih::{DriverConfig, LinkConfig, ShtrihDriver, ShtrihRegister};
use fiscal_register::{sample, verify_fiscal_sign, DocumentKind, FiscalModule};

fn config(path: &std::path::Path) -> DriverConfig {
    let mut c = DriverConfig::new(path);
    // A loaded CI machine may be slow to schedule the emulator thread.
    c.link = LinkConfig {
        enq_timeout: Duration::from_millis(500),
        ack_timeout: Duration::from_millis(500),
        answer_timeout: Duration::from_secs(2),
        ..LinkConfig::default()
    };
    c
}

#[test]
fn driver_sells_through_the_emulator_on_a_pty_and_recovers_a_lost_answer() {
    let kkt = KktEmulator::spawn(sample_config(), None, None).unwrap();
    let driver = ShtrihDriver::spawn(config(kkt.path())).unwrap();
    assert!(matches!(
        driver.call_blocking(Request::ShortStatus),
        Ok(Reply::ShortStatus(_))
    ));
    let mut reg = ShtrihRegister::new(driver.exchange(), true);
    let now = sample::time();
    assert_eq!(reg.open_shift(now).unwrap().fd_number, 1);
    let doc = sample::document();
    let sold = reg.register(&doc, now).unwrap();
    assert!(verify_fiscal_sign(SAMPLE_KEY, &doc, &sold));
    kkt.set_fault(Fault::LoseAnswerAfterRegistration, true);
    let cash = sample::cash_sale(99_900);
    let recovered = reg.register(&cash, now).unwrap();
    assert_eq!(recovered.fd_number, 3);
    let receipts = kkt.with_core(|c| {
        c.documents()
            .iter()
            .filter(|d| matches!(d.kind, DocumentKind::Receipt(_)))
            .count()
    });
    assert_eq!(receipts, 2);
    let z = reg.close_shift(now).unwrap();
    assert_eq!((z.receipts, z.income), (2, doc.total() + cash.total()));
    let printed = kkt.printed();
    assert_eq!(printed.len(), 3);
    assert!(matches!(&printed[0], Printed::Receipt { document, .. } if **document == doc));
}

#[tokio::test]
async fn the_async_face_answers_from_inside_a_runtime() {
    let kkt = KktEmulator::spawn(sample_config(), None, None).unwrap();
    let driver = ShtrihDriver::spawn(config(kkt.path())).unwrap();
    match driver.call(Request::FnStatus).await {
        Ok(Reply::FnStatus(s)) => assert_eq!(s.fn_number, "9999078900012345"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_port_is_an_error_at_spawn() {
    let err = ShtrihDriver::spawn(DriverConfig::new("/nonexistent/tty")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/tty"), "{err}");
}

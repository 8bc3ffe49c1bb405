//! A kiosk that dies while the bank is asked about a СБП payment: the customer's bank app pays
//! while the kiosk is down, and the restarted kiosk credits and fiscalises it exactly once (and
//! no further restart credits it again). Real session core, journal file, СБП task, embedded
//! back office with the T-Bank adapter and the emulated bank; the crash is the core's
//! `Shutdown` (everything in memory is gone, the journal stays).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use backend_sync::event::PaymentMethod;
use backend_sync::JournalEvent;
use terminal::devices::sbp::SbpTiming;
use terminal::journal::Journal;
use terminal::runtime::CoreEvent;
use terminal::session::{
    Availability, DeviceInput, Intent, Purpose, SbpScreen, Screen, SessionConfig, View,
};
use terminal::sync::BackOfficeLink;
use tokio::sync::{mpsc, watch};

/// One life of the kiosk over `dir`'s journal; `act` runs while it lives, then it dies.
fn life(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    link: &BackOfficeLink,
    act: impl FnOnce(&mpsc::Sender<CoreEvent>, &mut watch::Receiver<View>),
) -> Vec<JournalEvent> {
    let (core_tx, core_rx) = mpsc::channel(64);
    let mut devices = runtime
        .block_on(terminal::sim_devices::start(core_tx.clone(), dir, None))
        .unwrap();
    {
        let _rt = runtime.enter();
        devices.links.sbp = terminal::devices::sbp::spawn(
            link.client().unwrap(),
            SbpTiming {
                poll: Duration::from_millis(100),
                backoff_min: Duration::from_millis(100),
                ..SbpTiming::default()
            },
            core_tx.clone(),
        );
    }
    let journal = Journal::open(&dir.join("journal.sqlite")).unwrap();
    let mut config = SessionConfig::new("KILL01", support::limits());
    config.first_document_no = journal.last_seq() + 1;
    let (core, mut view) = support::core(config, journal, devices.links.clone());
    let core = runtime.spawn(core.run(core_rx));
    // What the health desk says once the heartbeat reports the bank answering.
    send(
        runtime,
        &core_tx,
        CoreEvent::Device(
            DeviceInput::Availability(Availability {
                sbp: true,
                ..Availability::default()
            }),
            None,
        ),
    );
    act(&core_tx, &mut view);
    send(runtime, &core_tx, CoreEvent::Shutdown);
    let journal = runtime.block_on(core).unwrap().unwrap();
    journal
        .events()
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn send(runtime: &tokio::runtime::Runtime, core: &mpsc::Sender<CoreEvent>, event: CoreEvent) {
    runtime.block_on(core.send(event)).unwrap();
}

fn wait(view: &mut watch::Receiver<View>, what: &str, pred: impl Fn(&Screen) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred(&view.borrow().screen) {
        assert!(
            Instant::now() < deadline,
            "waiting for {what}: {:?}",
            view.borrow().screen
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn credited(events: &[JournalEvent]) -> Vec<(String, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::PaymentCompleted {
                payment_id,
                method: PaymentMethod::Sbp,
                total_kopecks,
                ..
            } => Some((payment_id.clone(), *total_kopecks)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_kiosk_that_dies_with_the_qr_on_the_screen_credits_what_the_bank_took_once_after_its_restart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (back_office, bank) = runtime
        .block_on(terminal::sync::embedded_with_bank("KILL01"))
        .unwrap();
    bank.set_default(bank_emulator::Script::Manual);
    let link = BackOfficeLink::new(
        &back_office.url,
        &back_office.terminal_id,
        &back_office.key_hex,
    )
    .unwrap();

    let first = life(&runtime, dir.path(), &link, |core, view| {
        let ui = |intent| send(&runtime, core, CoreEvent::Ui(intent));
        ui(Intent::Start(Purpose::Pay));
        ui(Intent::SubmitAccount("1000000001".into()));
        wait(view, "the summary", |s| matches!(s, Screen::Summary { .. }));
        ui(Intent::PaySbp);
        wait(view, "the QR", |s| {
            matches!(
                s,
                Screen::Sbp(SbpScreen {
                    payload: Some(_),
                    ..
                })
            )
        });
    });
    assert!(first
        .iter()
        .any(|e| matches!(e, JournalEvent::SbpQrIssued { .. })));
    assert!(credited(&first).is_empty());

    // The customer pays in the bank's app while the kiosk is down.
    let order = bank.payments().last().unwrap().order_id.clone();
    assert!(bank.pay(&order));

    // The next start revokes what it finds open; the bank says it was paid: credited. A start
    // may end before the bank's word arrives, so the kiosk is started until it is credited.
    let mut events = Vec::new();
    for _ in 0..10 {
        events = life(&runtime, dir.path(), &link, |_, _| {
            std::thread::sleep(Duration::from_millis(1_500));
        });
        if !credited(&events).is_empty() {
            break;
        }
    }
    assert_eq!(credited(&events), vec![(order.clone(), 150_000)]);
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::SbpRevokeRequested { payment_id, .. } if *payment_id == order
    )));
    assert!(
        events.iter().any(|e| matches!(
            e,
            JournalEvent::ReceiptFiscalised { payment_id: Some(p), total_kopecks: 150_000, .. }
                if *p == order
        )),
        "fiscalised though the customer left"
    );

    // One more life: nothing open, nothing credited again.
    let again = life(&runtime, dir.path(), &link, |_, _| {
        std::thread::sleep(Duration::from_millis(500));
    });
    assert_eq!(credited(&again), vec![(order, 150_000)]);
}

//! Card payments through the real core, journal, card task and ZVT driver against the wire-level
//! emulator: the card slip on the printed fiscal receipt (never a full card number, even from a
//! terminal that sends one), and the daily end of day on a fake clock — its totals equal the
//! journal's card completions since the previous end of day, and it never runs mid-payment.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use card_reader::{CardReader, DriverConfig, Emulator, EmulatorHandle};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use terminal::devices::card::{self, CardSetup, EndOfDaySchedule};
use terminal::journal::Journal;
use terminal::ledger::Ledger;
use terminal::money::Money;
use terminal::runtime::{fakes, wait_for_screen, Clock, CoreEvent, DeviceLinks};
use terminal::session::{Intent, Purpose, ReceiptChoice, Screen, SessionConfig, View};
use tokio::sync::{mpsc, watch};

/// A card kiosk: its day limit leaves room for the repeated payments of the soak-like tests.
fn config() -> SessionConfig {
    let mut limits = support::limits();
    limits.per_day = Money::from_rubles(600_000);
    SessionConfig::new("CARD01", limits)
}

/// The scripted customer: opens account 1000000001 and puts `rubles` on its first service.
async fn summary_with(
    core: &mpsc::Sender<CoreEvent>,
    view: &mut watch::Receiver<View>,
    rubles: i64,
) {
    let limit = Duration::from_secs(30);
    let send = |i: Intent| core.send(CoreEvent::Ui(i));
    send(Intent::Start(Purpose::Pay)).await.unwrap();
    assert!(wait_for_screen(view, limit, |s| matches!(s, Screen::AccountEntry { .. })).await);
    send(Intent::SubmitAccount("1000000001".into()))
        .await
        .unwrap();
    assert!(wait_for_screen(view, limit, |s| matches!(s, Screen::Summary { .. })).await);
    let services = match &view.borrow().screen {
        Screen::Summary { amounts, .. } => amounts.len(),
        _ => 1,
    };
    // All of it to the first service.
    for index in 0..services {
        let text = if index == 0 {
            rubles.to_string()
        } else {
            "0".into()
        };
        send(Intent::SetServiceAmount { index, text })
            .await
            .unwrap();
    }
    assert!(
        wait_for_screen(view, limit, |s| {
            matches!(s, Screen::Summary { total, .. } if *total == Money::from_rubles(rubles))
        })
        .await
    );
}

/// The scripted customer: pays `rubles` by card on account 1000000001 and takes a paper receipt.
async fn pay_by_card(
    core: &mpsc::Sender<CoreEvent>,
    view: &mut watch::Receiver<View>,
    rubles: i64,
) {
    let limit = Duration::from_secs(30);
    let send = |i: Intent| core.send(CoreEvent::Ui(i));
    summary_with(core, view, rubles).await;
    send(Intent::PayCard).await.unwrap();
    assert!(
        wait_for_screen(view, limit, |s| matches!(s, Screen::ReceiptChoice { .. })).await,
        "card payment of {rubles} ₽ did not go through: {:?}",
        view.borrow().screen
    );
    send(Intent::ChooseReceipt(ReceiptChoice::Paper))
        .await
        .unwrap();
    assert!(wait_for_screen(view, limit, |s| matches!(s, Screen::Done { .. })).await);
    send(Intent::Home).await.unwrap();
    assert!(wait_for_screen(view, limit, |s| matches!(s, Screen::Welcome)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_slip_on_the_printed_receipt_never_a_full_pan() {
    let dir = tempfile::tempdir().unwrap();
    let (core_tx, core_rx) = mpsc::channel(64);
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let devices =
        terminal::sim_devices::start(core_tx.clone(), dir.path(), Some(transcript.clone()))
            .await
            .unwrap();
    let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
    let (core, mut view) = support::core(config(), journal, devices.links.clone());
    let core_task = tokio::spawn(core.run(core_rx));

    pay_by_card(&core_tx, &mut view, 700).await;
    // A misconfigured terminal that sends the whole card number: the driver masks it on entry.
    devices.card.set_unmasked_pan(true);
    pay_by_card(&core_tx, &mut view, 800).await;

    core_tx.send(CoreEvent::Shutdown).await.unwrap();
    let journal = core_task.await.unwrap().unwrap();
    let approvals: Vec<_> = journal
        .events()
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e {
            JournalEvent::CardApproved { approval, .. } => Some(approval),
            _ => None,
        })
        .collect();
    assert_eq!(approvals.len(), 2);
    let printed = transcript.lock().unwrap().clone();
    assert_eq!(printed.len(), 2, "two receipts printed");
    for (text, approval) in printed.iter().zip(&approvals) {
        assert!(text.contains("ОПЛАТА БАНКОВСКОЙ КАРТОЙ"), "{text}");
        assert!(
            text.contains(&approval.masked_pan),
            "masked PAN on the slip: {text}"
        );
        assert!(approval.masked_pan.contains('*'));
        assert!(text.contains(&approval.auth_code), "auth code: {text}");
        assert!(
            text.contains(&format!("Трасса: {}", approval.trace_no)),
            "trace: {text}"
        );
        assert!(
            text.contains(&format!("Чек терминала: {}", approval.receipt_no)),
            "terminal receipt no.: {text}"
        );
        assert!(text.contains("29001234"), "terminal id: {text}");
        // The fiscal storage number is 16 digits and may pass Luhn: it is not a card.
        let checked = text.replace("9999078900012345", "FN");
        assert!(
            !card_reader::contains_full_pan(&checked),
            "full PAN on the receipt:\n{text}"
        );
    }
}

/// A clock the test moves.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn moscow(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Moscow
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn events(journal: &Path) -> Vec<(u64, JournalEvent)> {
    Journal::open_for_audit(journal)
        .ok()
        .and_then(|j| j.events().ok())
        .unwrap_or_default()
}

/// Waits for the `n`-th `CardEndOfDay` in the journal; returns its (seq, transactions, total).
async fn end_of_day(journal: &Path, n: usize) -> (u64, u32, i64) {
    let started = Instant::now();
    loop {
        let found: Vec<_> = events(journal)
            .into_iter()
            .filter_map(|(seq, e)| match e {
                JournalEvent::CardEndOfDay {
                    transactions,
                    total_kopecks,
                } => Some((seq, transactions, total_kopecks)),
                _ => None,
            })
            .collect();
        if let Some(eod) = found.get(n - 1) {
            assert_eq!(found.len(), n, "one end of day per due time");
            return *eod;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "end of day {n} never journaled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Card completions journaled after `from_seq`: (count, kopecks, seq of the last).
fn completions_since(journal: &Path, from_seq: u64) -> (u32, i64, u64) {
    events(journal)
        .into_iter()
        .filter(|(seq, _)| *seq > from_seq)
        .fold((0, 0, 0), |acc, (seq, e)| match e {
            JournalEvent::CardCompleted { amount_kopecks, .. } => {
                (acc.0 + 1, acc.1 + amount_kopecks, seq)
            }
            _ => acc,
        })
}

/// The core with the real card task and driver on `emu`; the other devices are stand-ins.
fn card_kiosk(
    emu: &EmulatorHandle,
    driver: DriverConfig,
    setup: CardSetup,
    journal: &Path,
) -> (
    mpsc::Sender<CoreEvent>,
    watch::Receiver<View>,
    tokio::task::JoinHandle<Result<Journal, terminal::runtime::CoreError>>,
) {
    let (core_tx, core_rx) = mpsc::channel(64);
    let reader = CardReader::open(emu.path(), driver).unwrap();
    let mut account = terminal::demo::demo_account();
    account.services[0].debt = Money::from_rubles(100_000);
    let links = DeviceLinks {
        lookup: fakes::spawn_lookup(vec![account], core_tx.clone()),
        bill: {
            let (tx, mut rx) = mpsc::channel(8);
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            tx
        },
        card: card::spawn_with(reader, core_tx.clone(), setup),
        receipts: fakes::spawn_receipts(core_tx.clone(), Arc::new(Mutex::new(Vec::new()))),
        sbp: fakes::no_sbp(),
    };
    let journal = Journal::open(journal).unwrap();
    let (core, view) = support::core(config(), journal, links);
    (core_tx, view, tokio::spawn(core.run(core_rx)))
}

fn card_emulator() -> EmulatorHandle {
    Emulator::spawn_with(card_reader::EmulatorConfig {
        prompt_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_day_daily_totals_equal_the_journal_and_wait_for_a_payment() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal.sqlite");
    let emu = card_emulator();
    let clock = FakeClock(Arc::new(Mutex::new(moscow(2026, 11, 27, 15, 0))));
    let at = NaiveTime::from_hms_opt(23, 30, 0).unwrap();
    let setup = CardSetup {
        end_of_day: Some(EndOfDaySchedule {
            at,
            tz: chrono_tz::Europe::Moscow,
        }),
        clock: Box::new(clock.clone()),
        tick: Duration::from_millis(20),
        ..CardSetup::default()
    };
    let (core_tx, mut view, core_task) =
        card_kiosk(&emu, DriverConfig::default(), setup, &journal_path);

    // Day one: two payments, then 23:31.
    pay_by_card(&core_tx, &mut view, 1_200).await;
    pay_by_card(&core_tx, &mut view, 345).await;
    assert_eq!(emu.batch().total_kopecks, 154_500);
    clock.set(moscow(2026, 11, 27, 23, 31));
    let (eod1, count1, total1) = end_of_day(&journal_path, 1).await;
    let (n, kopecks, _) = completions_since(&journal_path, 0);
    assert_eq!((count1, total1), (n, kopecks), "first end of day = journal");
    assert_eq!((count1, total1), (2, 154_500));
    assert_eq!(emu.batch().count, 0, "the terminal's batch is closed");

    // Day two: a slow payment is under way when 23:30 passes; end of day waits for it.
    emu.set_delay(Duration::from_millis(1_500));
    let paying = {
        let core_tx = core_tx.clone();
        let mut view = view.clone();
        tokio::spawn(async move { pay_by_card(&core_tx, &mut view, 2_000).await })
    };
    assert!(
        wait_for_screen(&mut view, Duration::from_secs(30), |s| matches!(
            s,
            Screen::Card { .. }
        ))
        .await
    );
    clock.set(moscow(2026, 11, 28, 23, 35));
    paying.await.unwrap();
    let (eod2, count2, total2) = end_of_day(&journal_path, 2).await;
    let (n, kopecks, last_completion) = completions_since(&journal_path, eod1);
    assert_eq!(
        (count2, total2),
        (n, kopecks),
        "second end of day = journal since the first"
    );
    assert_eq!((count2, total2), (1, 200_000));
    assert!(
        eod2 > last_completion,
        "end of day ran before the payment in progress was completed"
    );

    core_tx.send(CoreEvent::Shutdown).await.unwrap();
    core_task.await.unwrap().unwrap();
    let ev = events(&journal_path);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let ledger = Ledger::replay(ev.iter().map(|(seq, e)| (*seq, day, e)));
    assert_eq!(ledger.card_since_end_of_day, (0, Money::ZERO));
}

/// The link drops right after the approval reached the kiosk: the goods-issued answer is lost and
/// the outcome is unknown in the running process. The card task asks the terminal (06 20), the
/// session journals each step and ends the payment the way the terminal's batch says; the reader
/// then takes the next payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_drop_after_the_approval_is_settled_as_the_terminal_says() {
    use card_reader::ecr::EcrConfig;
    use card_reader::link::LinkConfig;
    let fast = LinkConfig {
        char_timeout: Duration::from_millis(300),
        ack_timeout: Duration::from_millis(300),
        max_retries: 3,
    };
    let emu = Emulator::spawn_with(card_reader::EmulatorConfig {
        link: fast.clone(),
        prompt_delay: Duration::from_millis(50),
        confirm_timeout: Duration::from_millis(1_500),
        drop_duration: Duration::from_millis(2_500),
        ..Default::default()
    })
    .unwrap();
    let driver = DriverConfig {
        ecr: EcrConfig {
            link: fast,
            t3: Duration::from_secs(2),
            t4: Duration::from_secs(3),
            password: 0,
        },
        recovery_attempts: 10,
        recovery_pause: Duration::from_millis(500),
    };
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal.sqlite");
    let setup = CardSetup {
        retry_pause: Duration::from_millis(500),
        ..CardSetup::default()
    };
    let (core_tx, mut view, core_task) = card_kiosk(&emu, driver, setup, &journal_path);

    emu.drop_link_next();
    let limit = Duration::from_secs(30);
    summary_with(&core_tx, &mut view, 300).await;
    core_tx.send(CoreEvent::Ui(Intent::PayCard)).await.unwrap();
    assert!(wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Card { .. })).await);
    let ended = wait_for_screen(&mut view, limit, |s| {
        matches!(
            s,
            Screen::ReceiptChoice { .. }
                | Screen::Summary {
                    notice: Some(_),
                    ..
                }
        )
    })
    .await;
    assert!(ended, "payment never ended: {:?}", view.borrow().screen);
    let credited = matches!(view.borrow().screen, Screen::ReceiptChoice { .. });
    if credited {
        core_tx
            .send(CoreEvent::Ui(Intent::ChooseReceipt(ReceiptChoice::Paper)))
            .await
            .unwrap();
        assert!(wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Done { .. })).await);
    }
    core_tx.send(CoreEvent::Ui(Intent::Home)).await.unwrap();
    assert!(wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Welcome)).await);
    // The reader is free again.
    pay_by_card(&core_tx, &mut view, 250).await;

    core_tx.send(CoreEvent::Shutdown).await.unwrap();
    core_task.await.unwrap().unwrap();
    let ev = events(&journal_path);
    assert!(
        ev.iter()
            .any(|(_, e)| matches!(e, JournalEvent::CardOutcomeUnknown { .. })),
        "the unknown outcome is journaled"
    );
    let ended = ev
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                JournalEvent::PaymentCompleted { .. } | JournalEvent::PaymentCancelled { .. }
            )
        })
        .count();
    assert_eq!(ended, 2, "each payment ends exactly once");
    let (_, completed, _) = completions_since(&journal_path, 0);
    assert_eq!(
        emu.batch().total_kopecks,
        completed,
        "terminal's batch = journal's completions (first payment credited: {credited})"
    );
}

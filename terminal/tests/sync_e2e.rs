//! End to end: the kiosk's journal reaches the back office exactly once.
//!
//! The real core, journal, outbox and syncer on emulated devices (bill validator, card terminal
//! and printer on ptys), a scripted customer, and an embedded back office (the one
//! `terminal run --simulate` starts). Each test compares the back office's copy of the journal
//! with the terminal's, record by record (same sequence numbers and hashes: no duplicate, no gap,
//! chain verified), and the payments the back office projected with the kiosk's.
//!
//! The fault proxy, forged signatures and reconciliation are the back-office crate's tests.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use back_office::EmbeddedBackOffice;
use backend_sync::event::{PaymentMethod, ReceiptContact};
use backend_sync::{verify_chain, JournalEvent, JournalRecord};
use bill_acceptor::{Emulator, EmulatorHandle, Protocol};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rusqlite::{params, Connection, OpenFlags};
use terminal::accounts::AccountScheme;
use terminal::journal::Journal;
use terminal::ledger::Ledger;
use terminal::money::Money;
use terminal::runtime::{wait_for_screen, CoreEvent};
use terminal::session::{Intent, Purpose, ReceiptChoice, Screen, SessionConfig, View};
use terminal::sim_devices::{self, SimDevices};
use terminal::sync::{BackOfficeLink, BackOfficeSetup, KioskSync, SyncTiming};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(30);

fn fast() -> SyncTiming {
    SyncTiming {
        batch_max: 50,
        idle_poll: Duration::from_millis(200),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        heartbeat_every: Duration::from_millis(300),
    }
}

/// A kiosk in this process: emulated cabinet, real core and journal, synced to `link`.
struct Kiosk {
    core: mpsc::Sender<CoreEvent>,
    view: watch::Receiver<View>,
    devices: SimDevices,
    sync: KioskSync,
    journal_path: PathBuf,
    core_task: tokio::task::JoinHandle<Result<Journal, terminal::runtime::CoreError>>,
    _dir: Option<tempfile::TempDir>,
}

impl Kiosk {
    async fn start(terminal_id: &str, link: BackOfficeLink) -> Kiosk {
        let dir = tempfile::tempdir().unwrap();
        let mut kiosk = Self::start_in(dir.path(), terminal_id, link).await;
        kiosk._dir = Some(dir);
        kiosk
    }

    /// A kiosk whose journal and fiscal state live in `dir` (kept across restarts).
    async fn start_in(dir: &Path, terminal_id: &str, link: BackOfficeLink) -> Kiosk {
        let (core_tx, core_rx) = mpsc::channel(64);
        let mut devices = sim_devices::start(core_tx.clone(), dir, None)
            .await
            .unwrap();
        let mut back_office = BackOfficeSetup::simulated(terminal_id, Some(link), core_tx.clone())
            .await
            .unwrap();
        back_office.timing = fast();
        devices.links.lookup = terminal::devices::lookup::spawn_for(
            &back_office,
            AccountScheme::default(),
            core_tx.clone(),
        )
        .unwrap();
        let journal_path = dir.join("journal.sqlite");
        let mut journal = Journal::open(&journal_path).unwrap();
        let sync = back_office.start(&mut journal, &journal_path).unwrap();
        // Document (and payment) numbers carry on after a restart, as in `terminal run`.
        let mut config = SessionConfig::new(terminal_id, support::limits());
        config.first_document_no = journal.last_seq() + 1;
        let (core, view) = support::core(config, journal, devices.links.clone());
        let core_task = tokio::spawn(core.run(core_rx));
        Kiosk {
            core: core_tx,
            view,
            devices,
            sync,
            journal_path,
            core_task,
            _dir: None,
        }
    }

    /// Closes the kiosk as `terminal run` does when its window closes.
    async fn stop(self) {
        self.core.send(CoreEvent::Shutdown).await.unwrap();
        let journal = self.core_task.await.unwrap().unwrap();
        drop(journal);
        self.sync.shutdown().await;
    }

    async fn send(&self, intent: Intent) {
        self.core.send(CoreEvent::Ui(intent)).await.unwrap();
    }

    async fn until(&mut self, what: &str, pred: impl Fn(&Screen) -> bool) {
        let ok = wait_for_screen(&mut self.view, WAIT, pred).await;
        assert!(
            ok,
            "waiting for {what}; screen is {:?}",
            self.view.borrow().screen
        );
    }

    /// Identifies `account` for payment; returns the summary's total.
    async fn open(&mut self, account: &str) -> Money {
        self.send(Intent::Start(Purpose::Pay)).await;
        self.until("account entry", |s| {
            matches!(s, Screen::AccountEntry { .. })
        })
        .await;
        self.send(Intent::SubmitAccount(account.into())).await;
        self.until("the summary", |s| matches!(s, Screen::Summary { .. }))
            .await;
        match &self.view.borrow().screen {
            Screen::Summary { total, .. } => *total,
            _ => unreachable!(),
        }
    }

    /// Pays `bills` (roubles) in cash to `account`, paper receipt.
    async fn pay_cash(&mut self, account: &str, bills: &[i64]) {
        self.open(account).await;
        self.send(Intent::PayCash).await;
        self.until("the cash screen", |s| matches!(s, Screen::Cash { .. }))
            .await;
        let mut total = Money::ZERO;
        for &bill in bills {
            let deadline = Instant::now() + WAIT;
            while self.devices.bill.insert(bill).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "the validator never took the bill"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            total += Money::from_rubles(bill);
            self.until(
                "the bill to be credited",
                |s| matches!(s, Screen::Cash { inserted, busy: false, .. } if *inserted == total),
            )
            .await;
        }
        self.send(Intent::FinishCash).await;
        self.until("the receipt choice", |s| {
            matches!(s, Screen::ReceiptChoice { .. })
        })
        .await;
        self.send(Intent::ChooseReceipt(ReceiptChoice::Paper)).await;
        self.until("the final screen", |s| matches!(s, Screen::Done { .. }))
            .await;
        self.send(Intent::Home).await;
        self.until("the welcome screen", |s| matches!(s, Screen::Welcome))
            .await;
    }

    /// Pays `amount` by card to `account` (its first service), e-receipt by SMS.
    async fn pay_card_with_sms(&mut self, account: &str, amount: &str, phone: &str) {
        self.open(account).await;
        self.send(Intent::SetServiceAmount {
            index: 0,
            text: amount.into(),
        })
        .await;
        self.send(Intent::PayCard).await;
        self.until("the receipt choice", |s| {
            matches!(s, Screen::ReceiptChoice { .. })
        })
        .await;
        self.send(Intent::ChooseReceipt(ReceiptChoice::Electronic(
            ReceiptContact::Sms(phone.into()),
        )))
        .await;
        self.until("the final screen", |s| matches!(s, Screen::Done { .. }))
            .await;
        self.send(Intent::Home).await;
        self.until("the welcome screen", |s| matches!(s, Screen::Welcome))
            .await;
    }

    fn online(&self) -> bool {
        self.view.borrow().availability.online
    }

    async fn wait_online(&mut self, online: bool) {
        let got = tokio::time::timeout(
            WAIT,
            self.view.wait_for(|v| v.availability.online == online),
        )
        .await;
        assert!(matches!(got, Ok(Ok(_))), "online never became {online}");
    }
}

/// The terminal's journal as written.
fn terminal_records(path: &Path) -> Vec<JournalRecord> {
    let j = Journal::open_for_audit(path).unwrap();
    assert!(j.verify().is_ok(), "the terminal's journal verifies");
    j.records(1, u64::MAX).unwrap()
}

fn back_office_db(bo: &EmbeddedBackOffice) -> Connection {
    let path = bo
        .store
        .sqlite_path()
        .expect("the embedded store is SQLite");
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The back office's copy of one terminal's journal.
fn back_office_records(bo: &EmbeddedBackOffice, terminal: &str) -> Vec<JournalRecord> {
    let conn = back_office_db(bo);
    let mut stmt = conn
        .prepare(
            "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal WHERE terminal_id = ?1 ORDER BY seq",
        )
        .unwrap();
    stmt.query_map(params![terminal], |r| {
        Ok(JournalRecord {
            seq: r.get::<_, i64>(0)? as u64,
            time_utc: r.get(1)?,
            kind: r.get(2)?,
            payload: r.get(3)?,
            prev_hash: r.get(4)?,
            hash: r.get(5)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Payments the back office projected: (count, cash kopecks, card kopecks).
fn back_office_payments(bo: &EmbeddedBackOffice, terminal: &str) -> (u64, i64, i64) {
    let conn = back_office_db(bo);
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN method = 'cash' THEN total_kopecks END), 0),
                COALESCE(SUM(CASE WHEN method = 'card' THEN total_kopecks END), 0)
         FROM payments WHERE terminal_id = ?1",
        params![terminal],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// The same figures from the terminal's journal.
fn terminal_payments(records: &[JournalRecord]) -> (u64, i64, i64) {
    let mut out = (0, 0, 0);
    for r in records {
        if let Ok(JournalEvent::PaymentCompleted {
            method,
            total_kopecks,
            ..
        }) = JournalEvent::from_payload(&r.payload)
        {
            out.0 += 1;
            match method {
                PaymentMethod::Cash => out.1 += total_kopecks,
                PaymentMethod::Card | PaymentMethod::Sbp => out.2 += total_kopecks,
            }
        }
    }
    out
}

/// Waits until the back office holds the terminal's whole journal, then checks it holds exactly
/// that: every record once, in order, identical, a verified chain, the same payments.
async fn assert_synced_exactly(bo: &EmbeddedBackOffice, terminal: &str, journal: &Path) {
    // The kiosk keeps journaling while this waits (device states, the back office's
    // reachability), so both copies are read together and compared until they agree: reading the
    // journal again after the back office caught up raced with the next entry.
    let deadline = Instant::now() + WAIT;
    let (mine, theirs) = loop {
        let mine = terminal_records(journal);
        let theirs = back_office_records(bo, terminal);
        if !mine.is_empty() && theirs == mine {
            break (mine, theirs);
        }
        if Instant::now() >= deadline {
            assert_eq!(
                theirs, mine,
                "the back office's copy is the journal, record by record"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seqs: Vec<u64> = theirs.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=mine.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    verify_chain((0, backend_sync::GENESIS_HASH), &theirs).expect("chain verifies");
    assert_eq!(
        back_office_payments(bo, terminal),
        terminal_payments(&mine),
        "payments: count, cash, card"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_at_the_kiosk_reach_the_back_office_once_with_the_same_totals() {
    let bo = EmbeddedBackOffice::start("E2E01").await.unwrap();
    let link = BackOfficeLink::new(&bo.url, &bo.terminal_id, &bo.key_hex).unwrap();
    let mut kiosk = Kiosk::start("E2E01", link).await;

    // The back office's demo account, found through it.
    assert_eq!(kiosk.open("1000000001").await, Money::from_rubles(1_500));
    match &kiosk.view.borrow().screen {
        Screen::Summary { account, .. } => {
            assert!(account.verified, "from the back office, not the fallback");
            assert_eq!(account.holder_masked, "Ив***в И. И.");
        }
        other => panic!("{other:?}"),
    }
    kiosk.send(Intent::Home).await;
    kiosk
        .until("welcome", |s| matches!(s, Screen::Welcome))
        .await;
    assert!(kiosk.online());

    kiosk.pay_cash("1000000001", &[1000, 500]).await;
    kiosk
        .pay_card_with_sms("1000000036", "700,00", "+79123456789")
        .await;
    assert_synced_exactly(&bo, "E2E01", &kiosk.journal_path).await;
    let (count, cash, card) = back_office_payments(&bo, "E2E01");
    assert_eq!((count, cash, card), (2, 150_000, 70_000));
    let status = kiosk.sync.status();
    assert_eq!(status.queue_len, 0);
    assert!(status.online);

    // The back office now knows the debt is paid (billing has not credited it yet).
    assert_eq!(kiosk.open("1000000001").await, Money::ZERO);
    kiosk.send(Intent::Home).await;

    // The SMS e-receipt went to the back office's sender (the file sender), within 160 chars.
    let deadline = Instant::now() + WAIT;
    let line = loop {
        let text = std::fs::read_to_string(&bo.messages_file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("+79123456789")) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "no e-receipt sent: {text:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let message: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(message["channel"], "sms");
    assert_eq!(message["terminal_id"], "E2E01");
    let body = message["body"].as_str().unwrap();
    assert!(
        body.contains("700.00") && body.contains("1000000036"),
        "{body}"
    );
    assert!(body.chars().count() <= 160);
    kiosk.sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_back_office_gets_the_whole_journal_again() {
    // `run --simulate` keeps its journal in var/sim but starts a new embedded back office each
    // time: the new one holds nothing the outbox already dropped, so the kiosk sends it all again.
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedBackOffice::start("E2E03").await.unwrap();
    let link = BackOfficeLink::new(&first.url, &first.terminal_id, &first.key_hex).unwrap();
    let mut kiosk = Kiosk::start_in(dir.path(), "E2E03", link).await;
    kiosk.pay_cash("1000000001", &[1000, 500]).await;
    assert_synced_exactly(&first, "E2E03", &kiosk.journal_path).await;
    assert_eq!(
        kiosk.sync.status().queue_len,
        0,
        "all acknowledged, outbox empty"
    );
    kiosk.stop().await;

    let second = EmbeddedBackOffice::start("E2E03").await.unwrap();
    let link = BackOfficeLink::new(&second.url, &second.terminal_id, &second.key_hex).unwrap();
    let mut kiosk = Kiosk::start_in(dir.path(), "E2E03", link).await;
    kiosk.pay_cash("1000000028", &[100]).await;
    assert_synced_exactly(&second, "E2E03", &kiosk.journal_path).await;
    assert_eq!(back_office_payments(&second, "E2E03").0, 2);
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_pages_come_from_the_back_office_and_stay_when_it_is_gone() {
    use terminal::content::{self, ContentCache, LocalInfo};
    let bo = EmbeddedBackOffice::start("E2E05").await.unwrap();
    let link = BackOfficeLink::new(&bo.url, &bo.terminal_id, &bo.key_hex).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = LocalInfo {
        office: "Офис на Примерной".into(),
        hours: "Пн–Пт 08:00–20:00".into(),
        hotline: "8-800-000-00-00".into(),
    };
    let (tx, mut shown) = mpsc::unbounded_channel();
    let show = move |topics| {
        let _ = tx.send(topics);
    };
    content::spawn(
        link.client().unwrap(),
        ContentCache::new(dir.path()),
        local.clone(),
        show.clone(),
    );
    // First the kiosk's own office page, then the back office's pages.
    let first: Vec<ui::view::InfoTopic> = shown.recv().await.unwrap();
    assert_eq!(first.len(), 1);
    let fetched = tokio::time::timeout(WAIT, shown.recv())
        .await
        .unwrap()
        .unwrap();
    let titles: Vec<_> = fetched.iter().map(|t| t.title.clone()).collect();
    assert!(titles.contains(&"Тарифы".to_string()), "{titles:?}");
    assert!(
        titles.contains(&"Вопросы и ответы".to_string()),
        "{titles:?}"
    );
    bo.shutdown().await;

    // Restarted with the back office gone: the cached pages are shown at once.
    let unreachable =
        BackOfficeLink::new("http://127.0.0.1:9/", "E2E05", &"00".repeat(32)).unwrap();
    content::spawn(
        unreachable.client().unwrap(),
        ContentCache::new(dir.path()),
        local,
        show,
    );
    let cached = shown.recv().await.unwrap();
    assert_eq!(cached, fetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_at_the_kiosk_is_an_alert_at_the_back_office() {
    let bo = EmbeddedBackOffice::start("E2E06").await.unwrap();
    let link = BackOfficeLink::new(&bo.url, &bo.terminal_id, &bo.key_hex).unwrap();
    let mut kiosk = Kiosk::start("E2E06", link).await;
    // Once the driver's start-up RESET is over (it would clear the failure)…
    let started = tokio::task::block_in_place(|| kiosk.devices.wait_validator_started(WAIT));
    assert!(started, "the validator never started");
    // The validator fails and the card terminal goes dead: no payment method is left.
    kiosk.devices.bill.fail(bill_acceptor::FailureCode {
        kind: bill_acceptor::FailureKind::StackMotor,
        code: 0x50,
    });
    let dead = std::mem::replace(
        &mut kiosk.devices.card,
        card_reader::Emulator::spawn().unwrap(),
    );
    drop(dead);
    let out = kiosk.view.wait_for(|v| v.availability.out_of_service);
    assert!(
        tokio::time::timeout(WAIT, out).await.is_ok(),
        "never out of service"
    );
    // The alert is a journal entry: it reaches the back office with the next batch.
    let deadline = Instant::now() + WAIT;
    let (level, detail) = loop {
        let row: Option<(String, String)> = back_office_db(&bo)
            .query_row(
                "SELECT level, detail FROM outages WHERE terminal_id = ?1",
                params!["E2E06"],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        if let Some(row) = row {
            break row;
        }
        assert!(Instant::now() < deadline, "no outage at the back office");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(level, "started");
    assert!(detail.contains("no payment method works"), "{detail}");
    // And the fleet page says so.
    let fleet = reqwest::Client::new()
        .get(format!("{}/fleet", bo.url.trim_end_matches('/')))
        .bearer_auth(&bo.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(fleet.contains("E2E06"), "{fleet}");
    kiosk.stop().await;
}

/// A TCP gate in front of the back office: when closed, it refuses new connections and cuts the
/// open ones (the HTTP client keeps connections alive). Answers can be held back by `delay`, so
/// the back office has stored a batch well before the kiosk hears so.
struct Gate {
    addr: SocketAddr,
    open: watch::Sender<bool>,
}

/// Copies `from` to `to`, holding each chunk back by `delay`.
async fn copy_delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tokio::time::sleep(delay).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Gate {
    async fn start(to: SocketAddr, delay: Duration) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, open_rx) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !*open_rx.borrow() {
                    continue; // dropped: connection closed at once
                }
                let mut closed = open_rx.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    let up = copy_delayed(in_read, out_write, Duration::ZERO);
                    let down = copy_delayed(out_read, in_write, delay);
                    tokio::select! {
                        _ = async { tokio::join!(up, down) } => {}
                        _ = closed.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Gate { addr, open }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_keeps_serving_while_the_back_office_is_down_and_catches_up_once() {
    let bo = EmbeddedBackOffice::start("E2E02").await.unwrap();
    let gate = Gate::start(addr_of(&bo.url), Duration::ZERO).await;
    let link = BackOfficeLink::new(&gate.url(), &bo.terminal_id, &bo.key_hex).unwrap();
    let mut kiosk = Kiosk::start("E2E02", link).await;

    kiosk.pay_cash("1000000001", &[1000]).await;
    assert_synced_exactly(&bo, "E2E02", &kiosk.journal_path).await;
    let held_before = back_office_records(&bo, "E2E02").len();

    gate.set_open(false);
    kiosk.wait_online(false).await;
    // Customers are still served: the account is offered unverified, cash and card work.
    assert_eq!(kiosk.open("1000000028").await, Money::ZERO);
    match &kiosk.view.borrow().screen {
        Screen::Summary { account, .. } => assert!(!account.verified, "offline fallback"),
        other => panic!("{other:?}"),
    }
    kiosk.send(Intent::Home).await;
    kiosk
        .until("welcome", |s| matches!(s, Screen::Welcome))
        .await;
    kiosk.pay_cash("1000000028", &[100, 50]).await;
    let queued = kiosk.sync.status().queue_len;
    assert!(queued > 0, "entries wait in the outbox");
    kiosk
        .pay_card_with_sms("1000000036", "250,00", "+79990001122")
        .await;
    kiosk.pay_cash("1000000001", &[5000]).await;
    let status = kiosk.sync.status();
    assert!(status.queue_len > queued, "the queue grows: {status:?}");
    assert!(!status.online);
    assert_eq!(
        back_office_records(&bo, "E2E02").len(),
        held_before,
        "nothing reached the back office"
    );

    gate.set_open(true);
    assert_synced_exactly(&bo, "E2E02", &kiosk.journal_path).await;
    kiosk.wait_online(true).await;
    assert_eq!(back_office_payments(&bo, "E2E02").0, 4);
    kiosk.sync.shutdown().await;
}

fn start_soak(
    exe: &Path,
    link: &Path,
    journal: &Path,
    url: &str,
    bo: &EmbeddedBackOffice,
    key: &Path,
    log: &Path,
) -> Soak {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(exe)
        .args(["cash-soak", "--port"])
        .arg(link)
        .arg("--journal")
        .arg(journal)
        .args(["--back-office-url", url, "--terminal-id", &bo.terminal_id])
        .arg("--key-file")
        .arg(key)
        .env("KIOSK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Soak)
        .unwrap()
}

/// A terminal process, SIGKILLed and reaped when dropped (also when a test fails).
struct Soak(Child);

impl Soak {
    /// Fails the test at once when the terminal exited on its own (a bad argument, a crash).
    fn assert_running(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            panic!(
                "the terminal exited ({status}); log tail:\n{}",
                tail.join("\n")
            );
        }
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the kiosk's outbox last heard the back office holds.
fn acked_seq(journal: &Path) -> u64 {
    let conn = Connection::open_with_flags(journal, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT acked_seq FROM sync_state WHERE id = 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |s| s as u64)
}

fn ledger_of(journal: &Path) -> Option<Ledger> {
    let j = Journal::open_for_audit(journal).ok()?;
    let events = j.events().ok()?;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)?;
    Some(Ledger::replay(events.iter().map(|(seq, e)| (*seq, day, e))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_sync_loses_nothing_and_sends_nothing_twice() {
    let bo = EmbeddedBackOffice::start("KILL01").await.unwrap();
    // Answers take a while: a kill often falls after the back office stored a batch and before
    // the kiosk heard so; the restarted kiosk then sends it again.
    let gate = Gate::start(addr_of(&bo.url), Duration::from_millis(400)).await;
    let url = gate.url();
    let dir = tempfile::tempdir().unwrap();
    // Our own copy of the binary: the build directory is shared, and a build elsewhere may replace
    // the file while this test restarts the terminal.
    let exe = dir.path().join("terminal");
    std::fs::copy(env!("CARGO_BIN_EXE_terminal"), &exe).unwrap();
    let key = dir.path().join("terminal.key");
    std::fs::write(&key, format!("{}\n", bo.key_hex)).unwrap();
    let link = dir.path().join("validator");
    let journal = dir.path().join("journal.sqlite");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync_e2e_kill.log");
    let _ = std::fs::remove_file(&log);
    let mut emulator = Emulator::spawn(Protocol::Ccnet).unwrap();
    emulator.link_to(&link).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let cassette =
        |e: &EmulatorHandle| -> i64 { e.cassette().iter().map(|(d, n)| d * i64::from(*n)).sum() };

    let mut kills = 0;
    let mut unacknowledged_at_kill = 0;
    let mut synced_at_kill = Vec::new();
    for _ in 0..4 {
        let mut child = start_soak(&exe, &link, &journal, &url, &bo, &key, &log);
        // Bills go in until the kiosk has journaled a few more entries (each wakes the syncer)…
        let start_tip = Journal::open_for_audit(&journal).map_or(0, |j| j.last_seq());
        let want = start_tip + rng.gen_range(2..8);
        let born = Instant::now();
        while Journal::open_for_audit(&journal).map_or(0, |j| j.last_seq()) < want
            && born.elapsed() < Duration::from_secs(15)
        {
            child.assert_running(&log);
            let _ = emulator.insert([10, 50, 100, 500][rng.gen_range(0..4)]);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(50..200))).await;
        }
        // …and dies a moment later, while the batch carrying them is on its way.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
        drop(child); // SIGKILL
        kills += 1;
        let held = back_office_records(&bo, "KILL01").len() as u64;
        if held > acked_seq(&journal) {
            unacknowledged_at_kill += 1;
        }
        synced_at_kill.push(held);
    }

    // A last start settles what the last kill left open and sends the rest.
    let mut child = Some(start_soak(&exe, &link, &journal, &url, &bo, &key, &log));
    let deadline = Instant::now() + Duration::from_secs(60);
    let tip = || Journal::open_for_audit(&journal).map_or(0, |j| j.last_seq());
    let held = || back_office_records(&bo, "KILL01").len() as u64;
    loop {
        let settled = ledger_of(&journal).is_some_and(|l| {
            !l.open_payments
                .values()
                .any(|p| p.stack_in_flight.is_some() || p.stacked.kopecks() > 0)
                && l.stacked_total.kopecks() == cassette(&emulator)
        });
        if settled && held() == tip() {
            drop(child.take()); // SIGKILL
                                // Nothing may have been appended between the look and the kill; else once more.
            if held() == tip() {
                break;
            }
            child = Some(start_soak(&exe, &link, &journal, &url, &bo, &key, &log));
        }
        let tail: String = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            Instant::now() < deadline,
            "did not settle and sync; log tail:\n{tail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    drop(child);
    assert_synced_exactly(&bo, "KILL01", &journal).await;
    assert!(
        unacknowledged_at_kill > 0,
        "no kill fell between a stored batch and its acknowledgement: the resend was not exercised"
    );
    let ledger = ledger_of(&journal).unwrap();
    assert_eq!(ledger.credited_total.kopecks(), cassette(&emulator));
    let (_, cash, _) = back_office_payments(&bo, "KILL01");
    assert_eq!(
        cash,
        ledger.credited_total.kopecks(),
        "the back office credits what the cassette holds"
    );
    eprintln!(
        "{kills} kills ({unacknowledged_at_kill} with a batch stored but not acknowledged); back office held {synced_at_kill:?} entries at the kills, {} at the end; cassette {} kopecks",
        terminal_records(&journal).len(),
        cassette(&emulator)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_the_back_office_refuses_says_so_and_keeps_the_payment_queued() {
    // Enrolled with the wrong key: every signed request is refused on purpose (401).
    let bo = EmbeddedBackOffice::start("E2E07").await.unwrap();
    let link = BackOfficeLink::new(&bo.url, &bo.terminal_id, &"ab".repeat(32)).unwrap();
    let mut kiosk = Kiosk::start("E2E07", link).await;
    kiosk.wait_online(false).await;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        let status = kiosk.sync.status();
        if status.refused.is_some() {
            break status;
        }
        assert!(Instant::now() < deadline, "never refused: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.online);
    let refusal = status.refused.unwrap_or_default();
    assert!(refusal.contains("401"), "{refusal}");
    // A cash payment is still taken and waits in the outbox; nothing reaches the back office.
    kiosk.pay_cash("1000000001", &[100]).await;
    assert!(kiosk.sync.status().queue_len > 0);
    assert!(back_office_records(&bo, "E2E07").is_empty());
    kiosk.stop().await;
}

//! Customer flows through the real screens (Slint's testing backend, controls found by accessible
//! label) against the real session core, journal and screen bridge, with the bill validator and
//! the printer on wire-level emulators.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use terminal::devices::sbp::SbpTiming;
use terminal::health::{Device, LadderConfig, RecoveryStep};
use terminal::journal::Journal;
use terminal::metrics::MetricsSnapshot;
use terminal::money::Money;
use terminal::runtime::health::HealthSetup;
use terminal::runtime::{CoreEvent, ServiceSetup};
use terminal::screen::ScreenBridge;
use terminal::service::{ServiceView, DEMO_PIN, DEMO_PIN_HASH};
use terminal::service_pin::ServiceAccessConfig;
use terminal::session::{Availability, SbpScreen, Screen, SessionConfig, View};
use terminal::sim_devices::{self, SimDevices};
use terminal::sync::BackOfficeSetup;
use tokio::sync::{mpsc, watch};
use ui::testing::TestUi;

struct Kiosk {
    ui: TestUi,
    bridge: ScreenBridge,
    core: mpsc::Sender<CoreEvent>,
    view: watch::Receiver<View>,
    devices: SimDevices,
    journal: Arc<Mutex<Option<Journal>>>,
    /// What `/metrics` would serve (kiosks started with a health setup).
    metrics: Option<watch::Receiver<MetricsSnapshot>>,
    /// The back office and its emulated bank, for kiosks that take СБП.
    sbp: Option<(terminal::sync::KioskSync, Arc<bank_emulator::BankEmulator>)>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Kiosk {
    fn start() -> Kiosk {
        Kiosk::start_with(|_| {})
    }

    /// A kiosk whose session config `configure` adjusted (e.g. short idle timeouts).
    fn start_with(configure: impl FnOnce(&mut SessionConfig)) -> Kiosk {
        Kiosk::start_full(tempfile::tempdir().unwrap(), configure, None)
    }

    /// A kiosk whose health desk runs on `health` with the cabinet's recovery executor.
    fn start_with_health(health: HealthSetup) -> Kiosk {
        Kiosk::start_full(tempfile::tempdir().unwrap(), |_| {}, Some(health))
    }

    /// Stops the kiosk (returning its journal) and starts it again over the same data.
    fn restart(mut self) -> (Vec<JournalEvent>, Kiosk) {
        let events = self.finish();
        let Kiosk { _dir, .. } = self;
        (events, Kiosk::start_full(_dir, |_| {}, None))
    }

    /// A kiosk syncing to an embedded back office whose СБП goes through the T-Bank adapter to
    /// an emulated bank; the СБП task and the heartbeats are the kiosk's own.
    fn start_with_bank() -> Kiosk {
        Kiosk::start_inner(tempfile::tempdir().unwrap(), |_| {}, None, true)
    }

    fn start_full(
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut SessionConfig),
        health: Option<HealthSetup>,
    ) -> Kiosk {
        Kiosk::start_inner(dir, configure, health, false)
    }

    fn start_inner(
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut SessionConfig),
        health: Option<HealthSetup>,
        bank: bool,
    ) -> Kiosk {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (core_tx, core_rx) = mpsc::channel(64);
        let mut devices = runtime
            .block_on(sim_devices::start(core_tx.clone(), dir.path(), None))
            .unwrap();
        let mut config = SessionConfig::new("UI01", support::limits());
        configure(&mut config);
        let journal_path = dir.path().join("journal.sqlite");
        let mut journal = Journal::open(&journal_path).unwrap();
        let sbp = bank.then(|| {
            let setup = runtime
                .block_on(BackOfficeSetup::simulated("UI01", None, core_tx.clone()))
                .unwrap();
            let bank = setup.bank().expect("the embedded back office's bank");
            let _rt = runtime.enter();
            devices.links.sbp = terminal::devices::sbp::spawn(
                setup.link.client().unwrap(),
                SbpTiming {
                    poll: Duration::from_millis(200),
                    ..SbpTiming::default()
                },
                core_tx.clone(),
            );
            (setup.start(&mut journal, &journal_path).unwrap(), bank)
        });
        let (core, view) = support::core(config, journal, devices.links.clone());
        let core = core
            .with_service(ServiceSetup {
                access: ServiceAccessConfig {
                    pin_hash: DEMO_PIN_HASH.into(),
                    card_hashes: Vec::new(),
                    max_failures: 5,
                    lockout_seconds: 900,
                },
                export_dir: dir.path().join("export"),
                idle_seconds: 300,
            })
            .unwrap();
        let (core, metrics) = match health {
            Some(health) => {
                let (metrics_tx, metrics) = watch::channel(MetricsSnapshot::default());
                let core = core
                    .with_health(health, Some(devices.recovery.clone()))
                    .with_metrics(metrics_tx);
                (core, Some(metrics))
            }
            None => (core, None),
        };
        let done = Arc::new(Mutex::new(None));
        let slot = done.clone();
        runtime.spawn(async move {
            if let Ok(journal) = core.run(core_rx).await {
                *slot.lock().unwrap() = Some(journal);
            }
        });
        let mut kiosk = Kiosk {
            ui: TestUi::new(),
            bridge: ScreenBridge::new("8-800-000-00-00"),
            core: core_tx,
            view,
            devices,
            journal: done,
            metrics,
            sbp,
            runtime,
            _dir: dir,
        };
        kiosk.refresh();
        kiosk
    }

    fn refresh(&mut self) {
        let view = self.view.borrow().clone();
        let state = self.bridge.view_state(&view, chrono::Utc::now());
        self.ui.show(&state);
    }

    /// What the screens are given now, as text (to look for personal data in all of it).
    fn view_state_text(&mut self) -> String {
        let view = self.view.borrow().clone();
        format!("{:?}", self.bridge.view_state(&view, chrono::Utc::now()))
    }

    /// Redraws as time passes, without a touch, until `pred` holds on the core's view.
    fn wait_untouched(&mut self, what: &str, pred: impl Fn(&Screen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pred(&self.view.borrow().screen) {
            assert!(Instant::now() < deadline, "waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.refresh();
    }

    /// Hands the screen's intents to the core, then waits for `pred` on the core's view.
    fn pump_until(&mut self, what: &str, pred: impl Fn(&Screen) -> bool) {
        self.pump_until_view(what, |v| pred(&v.screen));
    }

    /// As [`Kiosk::pump_until`], for the whole view (service mode included).
    fn pump_until_view(&mut self, what: &str, pred: impl Fn(&View) -> bool) {
        for intent in self.ui.take_intents() {
            let view = self.view.borrow().clone();
            for i in self.bridge.on_intent(intent, &view) {
                self.runtime
                    .block_on(self.core.send(CoreEvent::Ui(i)))
                    .unwrap();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pred(&self.view.borrow()) {
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; view is {:?}",
                self.view.borrow()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.refresh();
    }

    fn tap(&mut self, label: &str) {
        self.ui.tap(label).unwrap_or_else(|e| panic!("{e}"));
        self.pump_until(label, |_| true);
    }

    fn tap_then(&mut self, label: &str, what: &str, pred: impl Fn(&Screen) -> bool) {
        self.ui.tap(label).unwrap_or_else(|e| panic!("{e}"));
        self.pump_until(what, pred);
    }

    /// «Оплатить», the demo account's number on the keypad, «Далее»: the account summary.
    fn open_demo_account_for_payment(&mut self) {
        self.tap_then("Оплатить", "account entry", |s| {
            matches!(s, Screen::AccountEntry { .. })
        });
        self.type_digits("1000000001");
        self.tap_then("Далее", "the summary", |s| {
            matches!(s, Screen::Summary { .. })
        });
    }

    /// Waits for the service view to satisfy `pred`.
    fn service_until(&mut self, what: &str, pred: impl Fn(&ServiceView) -> bool) {
        self.pump_until_view(what, |v| v.service.as_ref().is_some_and(&pred));
    }

    /// The technician taps the hidden corner five times and types `pin`.
    fn service_login(&mut self, pin: &str) {
        for _ in 0..5 {
            self.tap("Служебный вход");
        }
        self.service_until("the PIN entry", |s| matches!(s, ServiceView::Pin { .. }));
        self.type_digits(pin);
        let n = pin.len();
        self.service_until(
            "the dots",
            |s| matches!(s, ServiceView::Pin { digits_entered, .. } if *digits_entered == n),
        );
        assert!(!self.ui.shows(pin), "the PIN is never shown");
        self.ui.tap("Войти").unwrap_or_else(|e| panic!("{e}"));
    }

    fn service_status(&mut self) {
        self.service_login(DEMO_PIN);
        self.service_until("the status screen", |s| {
            matches!(s, ServiceView::Status { .. })
        });
    }

    /// A report line whose value satisfies `pred`.
    fn report_until(&mut self, what: &str, pred: impl Fn(&str, &str) -> bool) {
        self.service_until(what, |s| match s {
            ServiceView::Report { lines, .. } => lines.iter().any(|(l, v)| pred(l, v)),
            _ => false,
        });
    }

    fn type_digits(&mut self, digits: &str) {
        for digit in digits.chars() {
            self.tap(&digit.to_string());
        }
    }

    fn insert(&mut self, rubles: i64, total: Money) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.devices.bill.insert(rubles).is_err() {
            assert!(
                Instant::now() < deadline,
                "the validator never took the bill"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.pump_until(
            "the bill to be credited",
            |s| matches!(s, Screen::Cash { inserted, busy: false, .. } if *inserted == total),
        );
    }

    /// Waits (with the core's view refreshed on screen) until what works satisfies `pred`.
    fn wait_availability(&mut self, what: &str, pred: impl Fn(&Availability) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pred(&self.view.borrow().availability) {
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; availability is {:?}",
                self.view.borrow().availability
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.refresh();
    }

    fn finish(&mut self) -> Vec<JournalEvent> {
        self.runtime
            .block_on(self.core.send(CoreEvent::Shutdown))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(journal) = self.journal.lock().unwrap().take() {
                assert!(journal.verify().is_ok());
                return journal
                    .events()
                    .unwrap()
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect();
            }
            assert!(Instant::now() < deadline, "core did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn cash_payment_through_the_screens() {
    let mut k = Kiosk::start();
    k.open_demo_account_for_payment();
    assert!(k.ui.shows("Ив***в И. И."), "masked holder on screen");
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    k.insert(500, Money::from_rubles(1_500));
    assert_eq!(k.ui.value("Внесено").unwrap(), "1\u{a0}500,00\u{a0}₽");
    k.tap_then(
        "Завершить оплату",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    assert!(k.ui.shows("Возьмите чек"));
    let printed = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    assert!(
        printed[0].text().contains("1 500,00"),
        "{}",
        printed[0].text()
    );
    k.tap_then("Готово", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });
    let events = k.finish();
    let credited = credited_kopecks(&events);
    assert_eq!(credited, 150_000);
}

#[test]
fn card_payment_through_the_screens() {
    let mut k = Kiosk::start();
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then(
        "Банковской картой",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap("Чек по SMS");
    k.type_digits("9123456789");
    k.tap_then("Отправить чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::CardCompleted {
            amount_kopecks: 150_000,
            ..
        }
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, JournalEvent::EReceiptRequested { .. })));
    // The card went through the real ZVT driver and emulator: no full card number in the journal.
    // (The fiscal storage number is 16 digits too and may pass Luhn: it is not a card.)
    for e in &events {
        let payload = e.canonical_payload().replace("9999078900012345", "FN");
        assert!(
            !card_reader::contains_full_pan(&payload),
            "full PAN in {payload}"
        );
    }
}

#[test]
fn meter_reading_refused_once_then_accepted() {
    let mut k = Kiosk::start();
    k.tap_then(
        "Передать показания",
        "account entry",
        |s| matches!(s, Screen::AccountEntry { .. }),
    );
    k.type_digits("1000000001");
    k.tap_then("Далее", "the readings screen", |s| {
        matches!(s, Screen::Readings { .. })
    });
    let day = "Счётчик 011076123456789, День (Т1)";
    let night = "Счётчик 011076123456789, Ночь (Т2)";
    k.type_digits("12300");
    k.tap(night);
    k.type_digits("6851");
    k.tap_then(
        "Передать показания",
        "the refusal",
        |s| matches!(s, Screen::Readings { refusals, .. } if !refusals.is_empty()),
    );
    // The reading rules' own explanation (with the numbers and the date) is shown exactly.
    let message = match &k.view.borrow().screen {
        Screen::Readings { refusals, .. } => refusals[0].message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        message.contains("12300") && message.contains("12345"),
        "{message}"
    );
    assert!(
        k.ui.all_text().contains(&message),
        "the refusal is explained at once, exactly: {:?}",
        k.ui.all_text()
    );
    k.tap(day);
    k.tap("Очистить");
    k.type_digits("12480");
    k.tap_then(
        "Передать показания",
        "the registration",
        |s| matches!(s, Screen::ReadingsDone { .. }),
    );
    let number = match &k.view.borrow().screen {
        Screen::ReadingsDone { accepted, .. } => accepted[0].registration_no.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(k.ui.value("Регистрационный номер").unwrap(), number);
    assert!(k.ui.shows("UI01"), "the terminal's id on the confirmation");
    k.tap_then("Напечатать талон", "the slip", |s| {
        matches!(s, Screen::ReadingsDone { printed: true, .. })
    });
    assert!(k.ui.shows("Возьмите талон"));
    assert!(!k.ui.has("Напечатать талон"), "one slip");
    let slips = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    assert!(slips[0].text().contains(&number), "{}", slips[0].text());
    let events = k.finish();
    let refused = events
        .iter()
        .filter(|e| matches!(e, JournalEvent::MeterReadingRefused { .. }))
        .count();
    let accepted: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::MeterReadingAccepted { value, .. } => Some(*value),
            _ => None,
        })
        .collect();
    assert!(refused >= 1);
    assert_eq!(accepted, vec![12_480, 6_851]);
}

#[test]
fn paper_out_mid_receipt_keeps_the_payment_shows_the_qr_and_reprints_after_paper_in() {
    let mut k = Kiosk::start();
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    // The roll ends a few lines into the receipt.
    k.devices.printer.paper_out_after(5);
    k.tap_then(
        "Завершить оплату",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    let qr = match &k.view.borrow().screen {
        Screen::Done {
            printed: false,
            qr: Some(qr),
            ..
        } => qr.clone(),
        other => panic!("expected an unprinted receipt with its QR on screen, got {other:?}"),
    };
    assert!(qr.starts_with("t=") && qr.contains("&s=1000.00&"), "{qr}");
    assert!(
        k.ui.has("Получить чек по SMS или e-mail"),
        "an e-receipt is offered: {:?}",
        k.ui.controls()
    );

    let events = k.finish();
    let unprinted = events.iter().find_map(|e| match e {
        JournalEvent::ReceiptUnprinted { receipt_id, .. } => Some(receipt_id.clone()),
        _ => None,
    });
    let credited = credited_kopecks(&events);
    let receipt_id = unprinted.expect("the receipt is marked unprinted");

    // The technician puts paper in and reprints: the receipt kept on disk comes out whole.
    k.devices.printer.paper_in();
    let receipts = k.devices.links.receipts.clone();
    k.runtime
        .block_on(receipts.send(terminal::runtime::ReceiptJob::Print { receipt_id }))
        .unwrap();
    let printed = k
        .devices
        .printer
        .wait_for_receipts(2, Duration::from_secs(10));
    let reprint = printed.last().expect("a reprint");
    assert!(!reprint.interrupted, "{}", reprint.text());
    assert!(reprint.text().contains("1 000,00"), "{}", reprint.text());
    assert_eq!(credited, 100_000, "the payment stays credited");
}

#[test]
fn idle_timeout_counts_down_clears_the_account_and_keeps_inserted_cash() {
    let mut k = Kiosk::start_with(|config| {
        config.idle_timeout = chrono::Duration::seconds(5);
        config.cash_idle_timeout = chrono::Duration::seconds(5);
        config.idle_warning = chrono::Duration::seconds(4);
        config.done_timeout = chrono::Duration::seconds(2);
    });
    k.open_demo_account_for_payment();
    assert!(k.ui.shows("1000000001") && k.ui.shows("Ив***в И. И."));

    // The customer stops touching: the countdown appears, then the session ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !k.ui.has("Продолжить") {
        assert!(
            matches!(k.view.borrow().screen, Screen::Summary { .. }),
            "the session ended before the countdown was shown"
        );
        assert!(Instant::now() < deadline, "no countdown");
        std::thread::sleep(Duration::from_millis(50));
        k.refresh();
    }
    let left: u32 = k.ui.value("Осталось секунд").unwrap().parse().unwrap();
    assert!((1..=4).contains(&left), "{left} seconds left");
    assert!(k.ui.shows("введённые данные будут удалены"));
    k.wait_untouched("the welcome screen", |s| matches!(s, Screen::Welcome));
    assert!(k.ui.has("Оплатить"), "back on the welcome screen");
    assert!(!k.ui.has("Продолжить"), "the countdown is gone");
    for personal in ["1000000001", "Ив***в", "Ленина", "Электроэнергия"] {
        assert!(!k.ui.shows(personal), "{personal} still on screen");
        let state = k.view_state_text();
        assert!(!state.contains(personal), "{personal} still in {state}");
    }

    // Again, this time walking away from the bill acceptor with a bill inside.
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    k.wait_untouched("the welcome screen after the cash timeout", |s| {
        matches!(s, Screen::Welcome)
    });
    assert!(!k.ui.shows("1000000001"));
    let printed = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    assert!(
        printed[0].text().contains("1 000,00"),
        "{}",
        printed[0].text()
    );

    let events = k.finish();
    let cash_payment = events
        .iter()
        .find_map(|e| match e {
            JournalEvent::PaymentStarted { payment_id, .. } => Some(payment_id.clone()),
            _ => None,
        })
        .expect("the cash payment was journaled");
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::PaymentCompleted { payment_id, total_kopecks: 100_000, .. }
            if *payment_id == cash_payment
    )));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JournalEvent::PaymentCancelled { .. })),
        "the money was kept, not cancelled"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, JournalEvent::ReceiptFiscalised { payment_id: Some(p), .. } if *p == cash_payment)));
}

#[test]
fn refusals_and_limits_are_shown_in_the_core_s_exact_words() {
    let mut k = Kiosk::start();
    // A typo in the account number: the account rules' explanation.
    k.tap_then("Оплатить", "account entry", |s| {
        matches!(s, Screen::AccountEntry { .. })
    });
    k.type_digits("1000000002");
    k.tap_then("Далее", "the refusal", |s| {
        matches!(s, Screen::AccountEntry { error: Some(_), .. })
    });
    assert!(
        k.ui.all_text()
            .iter()
            .any(|t| t == "Неверная контрольная цифра — проверьте номер по квитанции"),
        "{:?}",
        k.ui.all_text()
    );

    // An amount over the per-payment limit: the summary says which limit, with the number.
    k.tap("Очистить");
    k.type_digits("1000000001");
    k.tap_then("Далее", "the summary", |s| {
        matches!(s, Screen::Summary { .. })
    });
    k.tap("Изменить сумму: Электроэнергия");
    k.type_digits("20000");
    k.tap_then("Готово", "the limit notice", |s| {
        matches!(
            s,
            Screen::Summary {
                notice: Some(_),
                ..
            }
        )
    });
    assert!(
        k.ui.all_text()
            .iter()
            // The core's words, the spaces inside the number no-break on screen.
            .any(|t| t == "Сумма одного платежа в терминале — не больше 15\u{a0}000,00\u{a0}₽"),
        "{:?}",
        k.ui.all_text()
    );

    // Over the limit a card cannot take the total; cash is taken up to the limit.
    k.tap("Перейти к оплате");
    assert!(!k.ui.is_enabled("Банковской картой").unwrap());
    assert!(
        k.ui.shows("Картой — не больше 15\u{a0}000,00\u{a0}₽ за платёж"),
        "{:?}",
        k.ui.all_text()
    );
    k.tap("Назад");

    // Back under the limit, cash: the validator's bills and what may still be inserted.
    k.tap("Изменить сумму: Электроэнергия");
    k.type_digits("1000");
    k.tap_then("Готово", "no notice", |s| {
        matches!(s, Screen::Summary { notice: None, .. })
    });
    k.tap("Перейти к оплате");
    k.tap_then(
        "Наличными",
        "the cash screen",
        |s| matches!(s, Screen::Cash { accepted, .. } if !accepted.is_empty()),
    );
    assert!(
        k.ui.shows("Принимаются купюры: ") && k.ui.shows("5\u{a0}000\u{a0}₽"),
        "{:?}",
        k.ui.all_text()
    );
    k.insert(5000, Money::from_rubles(5_000));
    assert!(k.ui.shows("Можно внести ещё"));
    assert!(
        k.ui.shows("10\u{a0}000,00\u{a0}₽"),
        "15 000 less 5 000 left: {:?}",
        k.ui.all_text()
    );
    assert_eq!(k.ui.value("Внесено").unwrap(), "5\u{a0}000,00\u{a0}₽");
    k.finish();
}

/// What the journal says was credited, in all.
fn credited_kopecks(events: &[JournalEvent]) -> i64 {
    events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::PaymentCompleted { total_kopecks, .. } => Some(*total_kopecks),
            _ => None,
        })
        .sum()
}

/// The health desk with recovery steps a test can wait for (fractions of a second apart).
fn quick_health(steps: Vec<RecoveryStep>) -> HealthSetup {
    let mut setup = HealthSetup::standard(chrono_tz::Europe::Moscow);
    setup.ladder = LadderConfig {
        steps,
        first_delay_seconds: 0,
        ..LadderConfig::default()
    };
    setup
}

fn device_went(events: &[JournalEvent], device: Device, state: &str) -> bool {
    events.iter().any(|e| {
        matches!(e, JournalEvent::DeviceStateChanged { device: d, state: s, .. }
            if d == device.name() && s == state)
    })
}

#[test]
fn paper_out_leaves_the_kiosk_in_service_with_e_receipts_only() {
    let mut k = Kiosk::start_with_health(quick_health(vec![]));
    k.devices.printer.paper_out();
    // The idle printer is asked for its status every few seconds.
    k.wait_availability("the printer down", |a| !a.paper);
    assert!(!k.view.borrow().availability.out_of_service);
    assert!(
        k.ui.shows("печать чеков (чек можно получить по SMS или e-mail)"),
        "the degraded notice says what does not work: {:?}",
        k.ui.all_text()
    );
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(500, Money::from_rubles(500));
    k.tap_then(
        "Завершить оплату",
        "the receipt choice without paper",
        |s| matches!(s, Screen::ReceiptChoice { paper: false, .. }),
    );
    k.tap("Чек по SMS");
    k.type_digits("9123456789");
    k.tap_then("Отправить чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    k.devices.printer.paper_in();
    k.wait_availability("the printer back", |a| a.paper);
    let events = k.finish();
    assert!(device_went(&events, Device::Printer, "down"));
    assert!(device_went(&events, Device::Printer, "up"));
    assert!(events.iter().any(|e| matches!(e,
        JournalEvent::ServiceStateChanged { state, detail } if state == "degraded" && detail.contains("e-receipt only"))));
    assert!(events
        .iter()
        .any(|e| matches!(e, JournalEvent::EReceiptRequested { .. })));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JournalEvent::OutageAlert { .. })),
        "degraded is not an outage"
    );
}

#[test]
fn a_full_cassette_leaves_card_payments_only() {
    let mut k = Kiosk::start_with_health(quick_health(vec![]));
    k.devices.bill.cassette_full();
    k.wait_availability("cash off", |a| !a.cash);
    assert!(k.view.borrow().availability.card);
    k.open_demo_account_for_payment();
    assert!(
        matches!(
            k.view.borrow().screen,
            Screen::Summary {
                cash: false,
                card: true,
                ..
            }
        ),
        "the summary offers the card only"
    );
    let metrics = k.metrics.as_ref().unwrap().borrow().render();
    assert!(
        metrics.contains("kiosk_device_up{device=\"bill_validator\"} 0")
            && metrics.contains("kiosk_service_state{state=\"degraded\"} 1"),
        "{metrics}"
    );
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(e,
        JournalEvent::ServiceStateChanged { state, detail } if state == "degraded" && detail.contains("card only"))));
    // Only a person empties a cassette: no recovery step was tried.
    assert!(!events
        .iter()
        .any(|e| matches!(e, JournalEvent::RecoveryStep { .. })));
}

#[test]
fn a_failed_validator_is_power_cycled_back_into_service_and_it_is_journaled() {
    let mut k = Kiosk::start_with_health(quick_health(vec![RecoveryStep::PowerCycle]));
    assert!(k.devices.wait_validator_started(Duration::from_secs(20)));
    k.devices.bill.fail(bill_acceptor::FailureCode {
        kind: bill_acceptor::FailureKind::StackMotor,
        code: 0x50,
    });
    k.wait_availability("cash off", |a| !a.cash);
    // The ladder cuts the validator's power through its relay; it boots and reports ready.
    k.wait_availability("cash back", |a| a.cash);
    let events = k.finish();
    assert!(device_went(&events, Device::BillValidator, "down"));
    assert!(events.iter().any(|e| matches!(e,
        JournalEvent::RecoveryStep { device, step, succeeded: true }
            if device == "bill_validator" && step == "power_cycle")));
}

#[test]
fn a_failed_validator_comes_back_on_the_first_rung_by_reopening_its_port() {
    let mut k = Kiosk::start_with_health(quick_health(vec![
        RecoveryStep::ReopenPort,
        RecoveryStep::PowerCycle,
    ]));
    assert!(k.devices.wait_validator_started(Duration::from_secs(20)));
    k.devices.bill.fail(bill_acceptor::FailureCode {
        kind: bill_acceptor::FailureKind::TransportMotor,
        code: 0x51,
    });
    k.wait_availability("cash off", |a| !a.cash);
    // A fresh driver on the same (exclusively opened) port resets the validator.
    k.wait_availability("cash back", |a| a.cash);
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(e,
        JournalEvent::RecoveryStep { device, step, succeeded: true }
            if device == "bill_validator" && step == "reopen_port")));
    assert!(!events.iter().any(|e| matches!(e,
        JournalEvent::RecoveryStep { step, .. } if step == "power_cycle")));
}

#[test]
fn service_mode_opens_with_the_pin_and_closes_to_the_welcome_screen() {
    let mut k = Kiosk::start();
    k.service_status();
    assert!(
        k.ui.shows("Сервисный режим · UI01"),
        "{:?}",
        k.ui.all_text()
    );
    // The journal goes to the export directory (the removable medium).
    k.tap("Выгрузить журнал");
    k.service_until(
        "the export screen",
        |s| matches!(s, ServiceView::Report { title, .. } if title == "Выгрузка журнала"),
    );
    k.tap("Выгрузить журнал");
    k.report_until("the export", |l, v| {
        l == "Журнал" && v.starts_with("выгружено записей")
    });
    let export_dir = k._dir.path().join("export");
    let exported: Vec<_> = std::fs::read_dir(&export_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(exported.len(), 1, "{exported:?}");
    let text = std::fs::read_to_string(&exported[0]).unwrap();
    assert!(text.contains("ServiceLogin"), "{text}");
    k.tap("Назад");
    k.service_until("the status screen", |s| {
        matches!(s, ServiceView::Status { .. })
    });
    k.tap_then("Выйти из сервисного режима", "the welcome screen", |_| true);
    k.pump_until_view("service mode to close", |v| v.service.is_none());
    k.refresh();
    assert!(k.ui.has("Оплатить"));
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::ServiceLogin {
            succeeded: true,
            ..
        }
    )));
    assert!(events.iter().any(
        |e| matches!(e, JournalEvent::ServiceOperation { operation, .. } if operation == "exit")
    ));
    assert!(events.iter().any(
        |e| matches!(e, JournalEvent::ServiceOperation { operation, .. } if operation == "journal_export")
    ));
}

#[test]
fn five_wrong_pins_lock_service_mode_and_every_attempt_is_journaled() {
    let mut k = Kiosk::start();
    k.service_login("0000");
    for attempt in 1..5u32 {
        let left = 5 - attempt;
        k.service_until("the refusal", |s| {
            matches!(s, ServiceView::Pin { error: Some(terminal::service::PinRefusal::Wrong { attempts_left }), .. } if *attempts_left == left)
        });
        k.type_digits("0000");
        k.service_until("the dots", |s| {
            matches!(
                s,
                ServiceView::Pin {
                    digits_entered: 4,
                    ..
                }
            )
        });
        k.ui.tap("Войти").unwrap_or_else(|e| panic!("{e}"));
    }
    k.service_until("the lockout", |s| {
        matches!(
            s,
            ServiceView::Pin {
                error: Some(terminal::service::PinRefusal::Locked { .. }),
                ..
            }
        )
    });
    k.refresh();
    assert!(
        k.ui.shows("Вход заблокирован на 15 мин."),
        "{:?}",
        k.ui.all_text()
    );
    // A restart does not reset the streak: the PIN entry opens locked.
    let (before, mut k) = k.restart();
    assert_eq!(
        before
            .iter()
            .filter(|e| matches!(e, JournalEvent::ServiceLogin { .. }))
            .count(),
        5
    );
    for _ in 0..5 {
        k.tap("Служебный вход");
    }
    k.service_until("the locked PIN entry", |s| {
        matches!(
            s,
            ServiceView::Pin {
                error: Some(terminal::service::PinRefusal::Locked { .. }),
                ..
            }
        )
    });
    // The right PIN is refused while locked.
    k.type_digits(DEMO_PIN);
    k.service_until("the dots", |s| {
        matches!(
            s,
            ServiceView::Pin {
                digits_entered: 4,
                ..
            }
        )
    });
    k.ui.tap("Войти").unwrap_or_else(|e| panic!("{e}"));
    k.pump_until_view("the refused right PIN", |v| {
        matches!(
            &v.service,
            Some(ServiceView::Pin {
                digits_entered: 0,
                ..
            })
        )
    });
    let events = k.finish();
    let logins: Vec<(bool, bool)> = events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::ServiceLogin {
                succeeded,
                locked_out,
                ..
            } => Some((*succeeded, *locked_out)),
            _ => None,
        })
        .collect();
    assert_eq!(
        logins,
        vec![
            (false, false),
            (false, false),
            (false, false),
            (false, false),
            (false, true),
            (false, true),
        ]
    );
    assert!(!events.iter().any(|e| matches!(
        e,
        JournalEvent::ServiceLogin {
            succeeded: true,
            ..
        }
    )));
}

#[test]
fn encashment_from_the_service_menu_resets_the_cassette_counters() {
    let mut k = Kiosk::start();
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    k.insert(500, Money::from_rubles(1_500));
    k.tap_then(
        "Завершить оплату",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap_then("Чек не нужен", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    k.tap_then("Готово", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });
    k.service_status();
    assert!(
        k.ui.shows("2 куп. · 1\u{a0}500,00\u{a0}₽"),
        "{:?}",
        k.ui.all_text()
    );
    k.tap("Инкассация");
    k.report_until("the expected counts", |_, v| {
        v == "ожидается 1 · пересчитано 1"
    });
    k.refresh();
    k.tap("Подтвердить инкассацию");
    k.report_until("the receipt", |l, v| l == "Квитанция" && v == "напечатана");
    let printed = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    let slip = printed.last().unwrap().text();
    assert!(
        slip.contains("ИНКАССАЦИЯ") && slip.contains("1 500,00"),
        "{slip}"
    );
    k.refresh();
    k.tap("Назад");
    k.service_until("the status screen", |s| {
        matches!(s, ServiceView::Status { cash_in_box, .. } if cash_in_box.starts_with("0 куп."))
    });
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::CassetteRemoved {
            expected_total_kopecks: 150_000,
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::EncashmentCounted {
            counted_total_kopecks: 150_000,
            expected_total_kopecks: 150_000,
            ..
        }
    )));
    let today = chrono::Utc::now().date_naive();
    let ledger = terminal::ledger::Ledger::replay(
        events
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, today, e)),
    );
    assert!(ledger.cassette.is_empty(), "{:?}", ledger.cassette);
}

#[test]
fn a_receipt_lost_to_paper_out_is_reprinted_from_the_service_menu() {
    let mut k = Kiosk::start();
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    k.devices.printer.paper_out_after(5);
    k.tap_then(
        "Завершить оплату",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { printed: false, .. })
    });
    k.tap_then("Готово", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });
    k.devices.printer.paper_in();
    k.service_status();
    k.tap("Бумага заменена");
    k.service_until(
        "the paper screen",
        |s| matches!(s, ServiceView::Report { title, .. } if title == "Замена бумаги"),
    );
    k.tap("Бумага заменена");
    k.report_until("the paper noted", |l, _| l == "Бумага");
    k.refresh();
    k.tap("Назад");
    k.service_until("the status screen", |s| {
        matches!(s, ServiceView::Status { .. })
    });
    k.refresh();
    k.tap("Повтор чека");
    k.service_until(
        "the unprinted receipt offered",
        |s| matches!(s, ServiceView::Report { choices, .. } if choices.first().is_some_and(|c| c.ends_with("не напечатан"))),
    );
    k.refresh();
    let label =
        k.ui.controls()
            .into_iter()
            .find(|c| c.ends_with("не напечатан"))
            .expect("the unprinted receipt's button");
    let receipt_id = label.trim_end_matches(" · не напечатан").to_owned();
    k.tap(&label);
    k.report_until("the reprint", |l, v| l == receipt_id && v == "напечатан");
    let printed = k
        .devices
        .printer
        .wait_for_receipts(2, Duration::from_secs(10));
    let reprint = printed.last().expect("a reprint");
    assert!(!reprint.interrupted, "{}", reprint.text());
    assert!(reprint.text().contains("1 000,00"), "{}", reprint.text());
    let events = k.finish();
    assert!(events.iter().any(
        |e| matches!(e, JournalEvent::ReceiptReprinted { receipt_id: r } if *r == receipt_id)
    ));
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::ServiceOperation { operation, .. } if operation == "paper_replaced"
    )));
}

#[test]
fn close_shift_from_the_service_menu_journals_the_z_report() {
    let mut k = Kiosk::start();
    // A card payment opens the fiscal shift.
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then(
        "Банковской картой",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    k.devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    k.tap_then("Готово", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });
    k.service_status();
    k.tap("Закрыть смену");
    k.service_until("the shift report", |s| {
        matches!(s, ServiceView::Report { .. })
    });
    k.refresh();
    k.tap("Закрыть смену");
    k.report_until("the Z report", |l, v| l == "Z-отчёт" && v == "напечатан");
    let printed = k
        .devices
        .printer
        .wait_for_receipts(2, Duration::from_secs(10));
    assert!(
        printed
            .last()
            .unwrap()
            .text()
            .contains("ОТЧЕТ О ЗАКРЫТИИ СМЕНЫ"),
        "{}",
        printed.last().unwrap().text()
    );
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::ShiftClosed {
            receipts: 1,
            card_kopecks: 150_000,
            ..
        }
    )));
}

#[test]
fn device_tests_return_the_test_bill_print_a_test_page_and_diagnose_the_card_reader() {
    let mut k = Kiosk::start();
    k.service_status();
    k.tap("Проверка устройств");
    k.service_until(
        "the tests",
        |s| matches!(s, ServiceView::Report { title, .. } if title == "Проверка устройств"),
    );
    k.refresh();
    k.tap("Печать тестовой страницы");
    k.report_until("the test page", |l, v| {
        l == "Принтер" && v == "тестовая страница напечатана"
    });
    let printed = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    assert!(printed[0].text().contains("ТЕСТОВАЯ СТРАНИЦА"));
    k.refresh();
    k.tap("Диагностика картридера");
    k.report_until("the diagnosis", |l, v| {
        l == "Картридер" && v == "диагностика пройдена"
    });
    k.refresh();
    k.tap("Проверка купюроприёмника");
    k.report_until("the validator waiting", |l, v| {
        l == "Купюроприёмник" && v.starts_with("вставьте")
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while k.devices.bill.insert(1000).is_err() {
        assert!(
            Instant::now() < deadline,
            "the validator never took the bill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    k.report_until("the bill returned", |l, v| {
        l == "Купюроприёмник" && v.contains("распознана и возвращена")
    });
    assert!(
        k.devices.bill.cassette().is_empty(),
        "the test bill is not in the cassette"
    );
    let events = k.finish();
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::BillReturned {
            payment_id: None,
            denomination_kopecks: 100_000,
            ..
        }
    )));
    assert!(!events.iter().any(|e| matches!(
        e,
        JournalEvent::BillStacked { .. } | JournalEvent::PaymentCompleted { .. }
    )));
    for operation in ["test_printer", "test_card_reader", "test_bill"] {
        assert!(
            events.iter().any(|e| matches!(
                e,
                JournalEvent::ServiceOperation { operation: o, detail } if o == operation && detail != "started"
            )),
            "{operation} journaled with its outcome"
        );
    }
}

#[test]
fn a_cassette_taken_out_before_the_count_is_encashed_with_what_it_held() {
    let mut k = Kiosk::start();
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    k.tap_then(
        "Завершить оплату",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    k.tap_then("Чек не нужен", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    k.tap_then("Готово", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });
    // The technician opens the cabinet and pulls the cassette: the validator reports it.
    let taken = k.devices.bill.remove_cassette().unwrap();
    assert_eq!(taken.get(&100_000), Some(&1));
    k.service_status();
    k.service_until("the cassette reported removed", |s| {
        matches!(s, ServiceView::Status { cash_in_box, .. } if cash_in_box.starts_with("0 куп."))
    });
    k.tap("Инкассация");
    k.report_until("the expected count of the removed cassette", |_, v| {
        v == "ожидается 1 · пересчитано 1"
    });
    k.tap("Подтвердить инкассацию");
    k.report_until("the receipt", |l, v| l == "Квитанция" && v == "напечатана");
    k.devices.bill.insert_cassette().unwrap();
    let events = k.finish();
    let removed = events
        .iter()
        .filter(|e| matches!(e, JournalEvent::CassetteRemoved { .. }))
        .count();
    assert_eq!(removed, 1, "the sensor's report only, no second removal");
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::EncashmentCounted {
            counted_total_kopecks: 100_000,
            expected_total_kopecks: 100_000,
            ..
        }
    )));
}

#[test]
fn an_encashment_cut_off_after_the_removal_is_finished_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The journal as a power cut left it: the cassette's removal is on record, the count is not.
        let mut journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        let now = chrono::Utc::now();
        journal
            .append(
                &JournalEvent::BillStacked {
                    payment_id: None,
                    denomination_kopecks: 100_000,
                },
                now,
            )
            .unwrap();
        journal
            .append(
                &JournalEvent::CassetteRemoved {
                    expected: [("100000".to_owned(), 1)].into_iter().collect(),
                    expected_total_kopecks: 100_000,
                },
                now,
            )
            .unwrap();
    }
    let mut k = Kiosk::start_full(dir, |_| {}, None);
    k.service_status();
    k.tap("Инкассация");
    k.report_until("the count still owed", |_, v| {
        v == "ожидается 1 · пересчитано 1"
    });
    k.tap("Подтвердить инкассацию");
    k.report_until("the receipt", |l, v| l == "Квитанция" && v == "напечатана");
    let events = k.finish();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, JournalEvent::CassetteRemoved { .. }))
            .count(),
        1
    );
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::EncashmentCounted {
            counted_total_kopecks: 100_000,
            expected_total_kopecks: 100_000,
            ..
        }
    )));
}

#[test]
fn a_failed_validator_and_a_dead_card_reader_put_the_kiosk_out_of_service() {
    // No recovery steps: the validator stays failed.
    let mut k = Kiosk::start_with_health(quick_health(vec![]));
    assert!(k.devices.wait_validator_started(Duration::from_secs(20)));
    k.devices.bill.fail(bill_acceptor::FailureCode {
        kind: bill_acceptor::FailureKind::StackMotor,
        code: 0x50,
    });
    k.wait_availability("cash off", |a| !a.cash);
    assert!(
        !k.view.borrow().availability.out_of_service,
        "card still works"
    );
    // The card terminal goes dead: its idle status enquiries go unanswered.
    let card = std::mem::replace(&mut k.devices.card, card_reader::Emulator::spawn().unwrap());
    drop(card);
    k.wait_availability("out of service", |a| a.out_of_service);
    assert!(
        k.ui.shows("Терминал временно не работает") && k.ui.shows("8-800-000-00-00"),
        "the welcome screen is the out-of-service notice: {:?}",
        k.ui.all_text()
    );
    assert!(!k.ui.has("Оплатить"), "no payment can be started");
    assert!(
        !k.ui.shows("оплата картой"),
        "no degraded banner repeats the page: {:?}",
        k.ui.all_text()
    );
    let metrics = k.metrics.as_ref().unwrap().borrow().render();
    assert!(
        metrics.contains("kiosk_service_state{state=\"out_of_service\"} 1"),
        "{metrics}"
    );
    let events = k.finish();
    assert!(device_went(&events, Device::CardReader, "down"));
    assert!(events.iter().any(|e| matches!(
        e,
        JournalEvent::OutageAlert {
            level: backend_sync::event::OutageLevel::Started,
            ..
        }
    )));
}

/// The scenario as a customer and a technician meet it: 1 000 ₽ stacked, a 5 000 ₽ note
/// jams while it is stacking. The payment ends with the 1 000 ₽ credited and receipted, the
/// stuck note on the receipt, the screen and in the journal, the validator reported down (a port
/// re-open does not clear a jam), and service mode open to the technician once the customer left.
#[test]
fn a_jam_while_a_note_is_stacking_ends_the_payment_with_a_stuck_note() {
    let mut k = Kiosk::start_with_health(quick_health(vec![RecoveryStep::ReopenPort]));
    assert!(k.devices.wait_validator_started(Duration::from_secs(20)));
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    k.insert(1000, Money::from_rubles(1_000));
    let deadline = Instant::now() + Duration::from_secs(20);
    while k.devices.bill.insert(5000).is_err() {
        assert!(
            Instant::now() < deadline,
            "the validator never took the note"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    while k.devices.bill.status() != bill_acceptor::DeviceStatus::Stacking {
        assert!(
            Instant::now() < deadline,
            "the note never went to the stacker"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    k.devices.bill.jam();
    k.pump_until(
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { total, .. } if *total == Money::from_rubles(1_000)),
    );
    k.wait_availability("cash off while jammed", |a| !a.cash);
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    let reference = match &k.view.borrow().screen {
        Screen::Done {
            stuck_notice: Some(notice),
            ..
        } => notice
            .split_whitespace()
            .find(|w| w.starts_with("SUI01"))
            .map(|w| w.trim_end_matches('.').to_string())
            .unwrap_or_else(|| panic!("no reference in {notice}")),
        other => panic!("{other:?}"),
    };
    // The customer reads it on the screen itself.
    k.refresh();
    assert!(k.ui.shows(&reference), "{:?}", k.ui.all_text());
    let printed = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    let text = printed[0].text();
    assert!(text.contains("1 000,00"), "{text}");
    assert!(
        text.contains(&reference),
        "the receipt names the stuck note: {text}"
    );
    k.tap_then("Готово", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });
    // Still jammed after the ladder re-opened the port: still down.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !k.view.borrow().availability.cash,
        "a re-open does not clear a jam"
    );
    k.service_status();
    let events = k.finish();
    let stuck: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::BillStuck {
                denomination_kopecks,
                reference,
                ..
            } => Some((*denomination_kopecks, reference.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(stuck, vec![(500_000, reference)]);
    let credited = credited_kopecks(&events);
    assert_eq!(credited, 100_000);
    assert!(device_went(&events, Device::BillValidator, "down"));
}

impl Kiosk {
    /// The emulated scanner reads `code` (its bytes and a CR on the USB-CDC line).
    fn scan(&mut self, code: &[u8], what: &str, pred: impl Fn(&Screen) -> bool) {
        self.devices.scanner.scan(code).unwrap();
        self.pump_until(what, pred);
    }
}

#[test]
fn a_scanned_win1251_bill_opens_its_sum_and_is_paid_in_cash_in_four_taps() {
    let mut k = Kiosk::start();
    // The bill's bytes as printed: Windows-1251, header digit 1, the sum in kopecks.
    let bill = sim_devices::sample_bill_code();
    assert!(bill.starts_with(b"ST00011|") && bill.iter().any(|b| *b >= 0xc0));
    k.scan(&bill, "the bill's summary", |s| {
        matches!(s, Screen::Summary { .. })
    });
    assert!(k.ui.shows("Ив***в И. И."), "the bill's account is opened");
    let total = match &k.view.borrow().screen {
        Screen::Summary { total, .. } => *total,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        total,
        Money::from_rubles(1_800),
        "the bill's sum, not the debt"
    );
    assert!(k.ui.shows("1\u{a0}800,00\u{a0}₽"));

    let mut taps = 0;
    k.tap("Перейти к оплате");
    taps += 1;
    k.tap_then("Наличными", "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    });
    taps += 1;
    k.insert(1000, Money::from_rubles(1_000));
    k.insert(500, Money::from_rubles(1_500));
    k.insert(200, Money::from_rubles(1_700));
    k.insert(100, Money::from_rubles(1_800));
    k.tap_then(
        "Завершить оплату",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    taps += 1;
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    taps += 1;
    assert_eq!(taps, 4, "a scanned bill costs four taps and no digits");

    // A scan while money is on the screen is not a new customer: ignored.
    k.devices.scanner.scan(&bill).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    k.refresh();
    assert!(matches!(k.view.borrow().screen, Screen::Done { .. }));
    let events = k.finish();
    let credited = credited_kopecks(&events);
    assert_eq!(credited, 180_000, "credited once, the bill's sum");
}

#[test]
fn malformed_foreign_and_damaged_codes_are_refused_in_plain_words_with_the_keypad_ready() {
    let mut k = Kiosk::start();
    k.scan(b"https://example.com/promo", "the refusal", |s| {
        matches!(s, Screen::AccountEntry { error: Some(_), .. })
    });
    assert!(
        k.ui.shows("Это не платёжный QR-код квитанции"),
        "{:?}",
        k.ui.all_text()
    );
    // The keypad is there: the customer types the number instead.
    k.type_digits("1000000001");
    k.tap_then("Далее", "the summary", |s| {
        matches!(s, Screen::Summary { .. })
    });
    k.tap_then("На главную", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });

    // Another organisation's bill (a water company's INN), otherwise well formed.
    let water_bill = encoding_rs::WINDOWS_1251
        .decode(&sim_devices::sample_bill_code())
        .0
        .replace("PayeeINN=7701234567", "PayeeINN=7709876543");
    let foreign = encoding_rs::WINDOWS_1251.encode(&water_bill).0.into_owned();
    k.scan(&foreign, "the foreign bill's refusal", |s| {
        matches!(s, Screen::AccountEntry { error: Some(_), .. })
    });
    assert!(
        k.ui.shows("Это квитанция другой организации"),
        "{:?}",
        k.ui.all_text()
    );
    k.tap_then("На главную", "the welcome screen", |s| {
        matches!(s, Screen::Welcome)
    });

    let damaged = sim_devices::scan_payload("ST00012|Name=АО|PersonalAcc=123|PersAcc=1000000001");
    k.scan(&damaged, "the second refusal", |s| {
        matches!(s, Screen::AccountEntry { error: Some(_), .. })
    });
    assert!(k.ui.shows("QR-код квитанции"), "{:?}", k.ui.all_text());
    k.finish();
}

/// A kiosk with a bank that acts on its QRs as `script` says, the demo account's summary paid by
/// «По QR-коду СБП»: the QR is on the screen.
fn at_the_qr(script: bank_emulator::Script) -> (Kiosk, Arc<bank_emulator::BankEmulator>) {
    let mut k = Kiosk::start_with_bank();
    let bank = k.sbp.as_ref().expect("a kiosk with a bank").1.clone();
    bank.set_default(script);
    // The heartbeats say the back office's bank answers: the method is offered.
    k.wait_availability("СБП offered", |a| a.sbp);
    k.open_demo_account_for_payment();
    k.tap("Перейти к оплате");
    k.tap_then("По QR-коду СБП", "the QR on the screen", |s| {
        matches!(
            s,
            Screen::Sbp(SbpScreen {
                payload: Some(_),
                ..
            })
        )
    });
    (k, bank)
}

#[test]
fn an_sbp_payment_is_paid_in_the_customer_s_bank_app_and_receipted_as_electronic_money() {
    let (mut k, bank) = at_the_qr(bank_emulator::Script::Manual);
    let payload = match &k.view.borrow().screen {
        Screen::Sbp(SbpScreen {
            payload: Some(p), ..
        }) => p.clone(),
        other => panic!("{other:?}"),
    };
    assert!(payload.starts_with("https://qr.nspk.ru/"), "{payload}");
    assert!(payload.contains("sum=150000"), "{payload}");
    assert!(k.ui.shows("Осталось"), "the countdown");
    // The customer's bank app pays it; the bank notifies the back office, the kiosk learns it.
    let order = bank
        .payments()
        .last()
        .expect("a payment at the bank")
        .order_id
        .clone();
    assert!(bank.pay(&order));
    k.pump_until("the receipt choice", |s| {
        matches!(s, Screen::ReceiptChoice { .. })
    });
    k.tap_then("Напечатать чек", "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    });
    let printed = k
        .devices
        .printer
        .wait_for_receipts(1, Duration::from_secs(10));
    let text = printed[0].text();
    assert!(text.contains("БЕЗНАЛИЧНЫМИ"), "{text}");
    assert!(text.contains("ОПЛАТА ПО QR-КОДУ СБП"), "{text}");
    let operation = bank.payments().last().unwrap().payment_id.clone();
    assert!(
        text.contains(&format!("Операция банка: {operation}")),
        "{text}"
    );
    assert!(text.contains("1 500,00"), "{text}");
    let events = k.finish();
    assert_eq!(credited_kopecks(&events), 150_000);
    let sbp_paid: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                JournalEvent::SbpPaid {
                    amount_kopecks: 150_000,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(sbp_paid.len(), 1, "credited once: {events:?}");
    // The kiosk's write-ahead order: intent, QR, the bank's word, the credit.
    let position = |kind: &str| events.iter().position(|e| e.kind() == kind).unwrap();
    assert!(position("SbpQrRequested") < position("SbpQrIssued"));
    assert!(position("SbpQrIssued") < position("SbpPaid"));
    assert!(position("SbpPaid") < position("PaymentCompleted"));
}

#[test]
fn an_sbp_payment_made_just_as_the_customer_cancels_is_credited_once() {
    let (mut k, _bank) = at_the_qr(bank_emulator::Script::PaidAfterRevoke);
    k.tap_then(
        "Отменить оплату по QR-коду",
        "the receipt choice",
        |s| matches!(s, Screen::ReceiptChoice { .. }),
    );
    let events = k.finish();
    assert!(events
        .iter()
        .any(|e| matches!(e, JournalEvent::SbpRevokeRequested { .. })));
    assert_eq!(credited_kopecks(&events), 150_000);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, JournalEvent::SbpPaid { .. }))
            .count(),
        1
    );
}

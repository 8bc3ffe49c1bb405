//! Complete customer flows driven through the real screens by accessible label, against a small
//! scripted stand-in for the terminal's session core (the terminal runs the same flows against
//! its real core). Run with `cargo test -p ui`.

use ui::testing::TestUi;
use ui::view::*;
use ui::{FormFactor, Intent, ViewState};

const ACCOUNT: &str = "7701234567";
const IDLE_LIMIT: u32 = 60;
const IDLE_WARNING: u32 = 15;

/// Just enough of a session core to answer the screens: it owns every typed character, as the
/// real core does, and produces a view state after each event.
struct FakeCore {
    screen: Screen,
    accessibility: Accessibility,
    idle_seconds: u32,
    input: String,
    meters: MeterReadings,
    due: i64,
    inserted: i64,
}

impl FakeCore {
    fn new() -> Self {
        FakeCore {
            screen: Screen::Welcome(Welcome::default()),
            accessibility: Accessibility::default(),
            idle_seconds: 0,
            input: String::new(),
            meters: MeterReadings::default(),
            due: 0,
            inserted: 0,
        }
    }

    fn view(&self) -> ViewState {
        let countdown = IDLE_LIMIT - self.idle_seconds;
        ViewState {
            screen: self.screen.clone(),
            accessibility: self.accessibility,
            idle_countdown: (!matches!(self.screen, Screen::Welcome(_))
                && countdown <= IDLE_WARNING)
                .then_some(countdown),
            notice: None,
        }
    }

    fn tick_second(&mut self) {
        if matches!(self.screen, Screen::Welcome(_)) {
            return;
        }
        self.idle_seconds += 1;
        if self.idle_seconds >= IDLE_LIMIT {
            *self = FakeCore {
                accessibility: self.accessibility,
                ..FakeCore::new()
            };
        }
    }

    fn summary(&self) -> Screen {
        let mut s = ui::samples::account_summary();
        s.account = self.input.clone();
        Screen::AccountSummary(s)
    }

    fn handle(&mut self, intent: Intent) {
        self.idle_seconds = 0;
        match intent {
            Intent::ToggleLargeText => self.accessibility.large_text ^= true,
            Intent::ToggleHighContrast => self.accessibility.high_contrast ^= true,
            Intent::StillHere | Intent::Touched => {}
            Intent::Digit(d) => {
                self.input.push(char::from(b'0' + d));
                self.refresh_input();
            }
            Intent::Clear => {
                self.input.clear();
                self.refresh_input();
            }
            Intent::Backspace => {
                self.input.pop();
                self.refresh_input();
            }
            other => self.transition(other),
        }
    }

    fn refresh_input(&mut self) {
        match &mut self.screen {
            Screen::AccountEntry(e) => e.input = self.input.clone(),
            Screen::ContactEntry(c) => c.input = self.input.clone(),
            Screen::MeterReadings(m) => {
                let (mi, zi) = m.selected;
                let zone = &mut m.meters[mi].zones[zi];
                zone.input = self.input.clone();
                zone.state = ZoneState::Entered;
            }
            _ => {}
        }
    }

    fn transition(&mut self, intent: Intent) {
        let purpose = |screen: &Screen| match screen {
            Screen::AccountEntry(e) => Some(e.purpose),
            _ => None,
        };
        self.screen = match (&self.screen, intent) {
            (Screen::Welcome(_), Intent::StartPayment) => {
                self.input.clear();
                Screen::AccountEntry(AccountEntry::default())
            }
            (Screen::Welcome(_), Intent::StartReadings) => {
                self.input.clear();
                Screen::AccountEntry(AccountEntry {
                    purpose: AccountPurpose::Readings,
                    ..AccountEntry::default()
                })
            }
            (s @ Screen::AccountEntry(_), Intent::Submit)
                if purpose(s) == Some(AccountPurpose::Readings) =>
            {
                let mut m = ui::samples::meter_readings(false);
                for zone in &mut m.meters[0].zones {
                    zone.input.clear();
                    zone.state = ZoneState::Empty;
                }
                m.account = std::mem::take(&mut self.input);
                self.meters = m.clone();
                Screen::MeterReadings(m)
            }
            (Screen::AccountEntry(_), Intent::Submit) => self.summary(),
            (Screen::AccountSummary(s), Intent::ProceedToPayment) => {
                self.due = s.total_kopecks;
                Screen::PaymentMethod(PaymentMethod {
                    total_kopecks: self.due,
                    cash_available: true,
                    card_available: true,
                    sbp_offered: true,
                    sbp_available: true,
                    over_limit_kopecks: None,
                })
            }
            (Screen::PaymentMethod(_), Intent::ChooseCash) => {
                self.inserted = 0;
                self.cash_screen()
            }
            (Screen::PaymentMethod(_), Intent::ChooseCard) => Screen::CardPayment(CardPayment {
                amount_kopecks: self.due,
                prompt: CardPrompt::PresentCard,
                can_cancel: true,
            }),
            (Screen::CardPayment(_), Intent::CancelPayment) => {
                Screen::PaymentMethod(PaymentMethod {
                    total_kopecks: self.due,
                    cash_available: true,
                    card_available: true,
                    sbp_offered: true,
                    sbp_available: true,
                    over_limit_kopecks: None,
                })
            }
            (Screen::CashInsertion(_), Intent::FinishCash) => receipt_choice(self.inserted),
            (Screen::ReceiptChoice(_), Intent::ReceiptPaper) => Screen::Done(Done {
                amount_kopecks: self.inserted,
                receipt: ReceiptOutcome::Printed,
                advance_kopecks: self.inserted - self.due,
                certificate_available: false,
                notice: None,
            }),
            (Screen::ReceiptChoice(_), Intent::ReceiptSms) => {
                self.input.clear();
                Screen::ContactEntry(ContactEntry::default())
            }
            (Screen::ContactEntry(_), Intent::Submit) => Screen::Done(Done {
                amount_kopecks: self.due,
                receipt: ReceiptOutcome::Sent {
                    to: format!("+7 *** ***-{}-{}", &self.input[6..8], &self.input[8..10]),
                },
                advance_kopecks: 0,
                certificate_available: false,
                notice: None,
            }),
            (Screen::MeterReadings(m), Intent::SelectZone { meter, zone }) => {
                let mut m = m.clone();
                m.selected = (meter, zone);
                self.input = m.meters[meter].zones[zone].input.clone();
                Screen::MeterReadings(m)
            }
            (Screen::MeterReadings(m), Intent::Submit) => self.check_readings(m.clone()),
            (Screen::Done(_) | Screen::ReadingsDone(_), Intent::Finish) | (_, Intent::Home) => {
                Screen::Welcome(Welcome::default())
            }
            (screen, other) => panic!("the scripted core does not expect {other:?} on {screen:?}"),
        };
    }

    fn cash_screen(&self) -> Screen {
        Screen::CashInsertion(CashInsertion {
            due_kopecks: self.due,
            inserted_kopecks: self.inserted,
            accepted_notes_kopecks: vec![10_000, 50_000, 100_000, 500_000],
            limit_kopecks: 1_500_000,
            left_kopecks: 1_500_000 - self.inserted,
            status: CashStatus::Waiting.into(),
            can_finish: self.inserted > 0,
            can_cancel: self.inserted == 0,
        })
    }

    /// The bill acceptor reported a stacked bill.
    fn bill_stacked(&mut self, kopecks: i64) {
        self.inserted += kopecks;
        self.screen = self.cash_screen();
    }

    /// The card reader moved on.
    fn card_prompt(&mut self, prompt: CardPrompt) {
        if let Screen::CardPayment(c) = &mut self.screen {
            c.prompt = prompt;
            c.can_cancel = false;
        }
    }

    fn card_approved(&mut self) {
        self.inserted = self.due;
        self.screen = receipt_choice(self.due);
    }

    fn check_readings(&mut self, mut m: MeterReadings) -> Screen {
        let mut refused = false;
        for zone in &mut m.meters[0].zones {
            let value: u64 = zone.input.parse().unwrap_or(0);
            let previous: u64 = zone.previous.parse().unwrap_or(0);
            zone.state = if zone.input.is_empty() {
                refused = true;
                ZoneState::Refused(ReadingRefusal::Missing.into())
            } else if value < previous {
                refused = true;
                ZoneState::Refused(
                    ReadingRefusal::BelowPrevious {
                        previous: ui::text::meter_value(&zone.previous),
                    }
                    .into(),
                )
            } else {
                ZoneState::Accepted
            };
        }
        if refused {
            return Screen::MeterReadings(m);
        }
        Screen::ReadingsDone(ReadingsDone {
            registration_number: "П-2611-004817".into(),
            registered_at: "27.11.2026 14:35".into(),
            terminal_id: "ТВР-017".into(),
            lines: m.meters[0]
                .zones
                .iter()
                .map(|z| (ui::text::zone_name(z.zone).to_owned(), z.input.clone()))
                .collect(),
            slip_printed: true,
            can_print_slip: false,
        })
    }
}

fn receipt_choice(amount: i64) -> Screen {
    Screen::ReceiptChoice(ReceiptChoice {
        amount_kopecks: amount,
        paper_available: true,
        sms_available: true,
        email_available: true,
    })
}

/// The screen and the core, wired like the terminal wires them.
struct Session {
    ui: TestUi,
    core: FakeCore,
    taps: usize,
}

impl Session {
    fn new() -> Self {
        let s = Session {
            ui: TestUi::new(),
            core: FakeCore::new(),
            taps: 0,
        };
        s.ui.show(&s.core.view());
        s
    }

    fn pump(&mut self) {
        for intent in self.ui.take_intents() {
            self.core.handle(intent);
        }
        self.ui.show(&self.core.view());
    }

    fn tap(&mut self, label: &str) {
        self.ui.tap(label).unwrap_or_else(|e| panic!("{e}"));
        self.taps += 1;
        self.pump();
    }

    fn type_keys(&mut self, keys: &str) {
        for key in keys.chars() {
            self.tap(&key.to_string());
        }
    }

    fn event(&mut self, f: impl FnOnce(&mut FakeCore)) {
        f(&mut self.core);
        self.ui.show(&self.core.view());
    }
}

fn identify(s: &mut Session) {
    s.tap("Оплатить");
    assert!(s.ui.shows("Введите номер лицевого счёта"));
    assert!(!s.ui.is_enabled("Далее").unwrap(), "nothing typed yet");
    s.type_keys("77012345670");
    s.tap("Стереть");
    assert_eq!(s.ui.value("Номер лицевого счёта").unwrap(), ACCOUNT);
    s.tap("Далее");
    assert!(s.ui.shows("Ив***в И. И."), "masked holder shown");
    assert!(s.ui.shows("Задолженность"));
}

#[test]
fn cash_payment_from_welcome_to_done() {
    let mut s = Session::new();
    identify(&mut s);
    s.tap("Перейти к оплате");
    s.tap("Наличными");
    assert!(!s.ui.is_enabled("Завершить оплату").unwrap());
    assert!(s.ui.shows("Принимаются купюры: 100\u{a0}₽, 500\u{a0}₽"));

    s.event(|core| core.bill_stacked(100_000));
    assert_eq!(s.ui.value("Внесено").unwrap(), "1\u{a0}000,00\u{a0}₽");
    assert!(!s.ui.has("Отменить"), "no cancel once money is stacked");
    s.event(|core| core.bill_stacked(100_000));
    assert_eq!(s.ui.value("Внесено").unwrap(), "2\u{a0}000,00\u{a0}₽");
    assert!(s.ui.shows("200,00\u{a0}₽ будет зачислено авансом"));

    s.tap("Завершить оплату");
    s.tap("Напечатать чек");
    assert!(s.ui.shows("Возьмите чек"));
    assert!(s.ui.shows("Аванс 200,00\u{a0}₽ зачислен"));
    s.tap("Готово");
    assert!(s.ui.has("Оплатить"), "back on the welcome screen");
    assert!(!s.ui.shows(ACCOUNT));
}

#[test]
fn card_payment_follows_the_reader_and_sends_an_sms_receipt() {
    let mut s = Session::new();
    identify(&mut s);
    s.tap("Перейти к оплате");
    s.tap("Банковской картой");
    assert!(s
        .ui
        .value("Подсказка терминала")
        .unwrap()
        .starts_with("Приложите"));

    // Cancel is offered before the card is read, and leads back to the method choice.
    s.tap("Отменить оплату картой");
    assert!(s.ui.has("Банковской картой"));
    s.tap("Банковской картой");

    s.event(|core| core.card_prompt(CardPrompt::EnterPin));
    assert!(s
        .ui
        .value("Подсказка терминала")
        .unwrap()
        .contains("ПИН-код"));
    assert!(!s.ui.has("Отменить оплату картой"));
    s.event(|core| core.card_prompt(CardPrompt::Reader("ОДОБРЕНО".into())));
    assert_eq!(s.ui.value("Подсказка терминала").unwrap(), "ОДОБРЕНО");
    s.event(FakeCore::card_approved);

    s.tap("Чек по SMS");
    s.type_keys("9123456789");
    assert_eq!(s.ui.value("Номер телефона").unwrap(), "+7 (912) 345-67-89");
    s.tap("Отправить чек");
    assert!(s.ui.shows("Чек отправлен: +7 *** ***-67-89"));
    s.tap("Готово");
    assert!(s.ui.has("Оплатить"));
}

#[test]
fn meter_reading_refused_once_then_accepted() {
    let mut s = Session::new();
    s.tap("Передать показания");
    s.type_keys(ACCOUNT);
    s.tap("Далее");
    let day = "Счётчик 01234567, День (Т1)";
    let night = "Счётчик 01234567, Ночь (Т2)";
    assert!(s.ui.shows("прежние: 12\u{a0}345"));

    s.type_keys("12300");
    assert_eq!(s.ui.value(day).unwrap(), "12300");
    s.tap(night);
    s.type_keys("6851");
    s.tap("Передать показания");
    assert!(
        s.ui.shows("Не принято: значение меньше прежних показаний (12\u{a0}345)"),
        "the refusal is explained on screen: {:?}",
        s.ui.all_text()
    );
    assert!(s.ui.shows("Показания верные."), "the night zone was fine");

    s.tap(day);
    s.tap("Очистить");
    s.type_keys("12480");
    s.tap("Передать показания");
    assert_eq!(
        s.ui.value("Регистрационный номер").unwrap(),
        "П-2611-004817"
    );
    assert!(s.ui.shows("Возьмите талон"));
    s.tap("Готово");
    assert!(s.ui.has("Передать показания"));
}

#[test]
fn idle_timeout_counts_down_and_clears_personal_data() {
    let mut s = Session::new();
    identify(&mut s);
    s.tap("Крупный шрифт");
    assert!(s.ui.is_checked("Крупный шрифт").unwrap());

    for _ in 0..IDLE_LIMIT - IDLE_WARNING - 1 {
        s.event(FakeCore::tick_second);
    }
    assert!(!s.ui.has("Продолжить"), "no countdown before the warning");
    s.event(FakeCore::tick_second);
    assert_eq!(
        s.ui.value("Осталось секунд").unwrap(),
        IDLE_WARNING.to_string()
    );
    s.event(FakeCore::tick_second);
    assert_eq!(
        s.ui.value("Осталось секунд").unwrap(),
        (IDLE_WARNING - 1).to_string()
    );

    s.tap("Продолжить");
    assert!(!s.ui.has("Продолжить"), "the countdown is dismissed");
    assert!(s.ui.shows("Ив***в И. И."), "the session goes on");

    for _ in 0..IDLE_LIMIT {
        s.event(FakeCore::tick_second);
    }
    assert!(s.ui.has("Оплатить"), "back on the welcome screen");
    assert!(!s.ui.has("Продолжить"));
    for personal in [ACCOUNT, "Ив***в", "Электроэнергия"] {
        assert!(!s.ui.shows(personal), "{personal} still on screen");
    }
    assert!(
        s.ui.is_checked("Крупный шрифт").unwrap(),
        "display mode is not personal data"
    );
}

#[test]
fn a_tap_on_a_control_under_the_idle_warning_does_not_get_through() {
    let mut s = Session::new();
    identify(&mut s);
    for _ in 0..IDLE_LIMIT - 5 {
        s.event(FakeCore::tick_second);
    }
    s.ui.tap("Изменить сумму: Электроэнергия").unwrap();
    assert_eq!(s.ui.take_intents(), Vec::<Intent>::new());
}

#[test]
fn landscape_keeps_every_control_reachable() {
    let mut s = Session::new();
    s.ui.set_form_factor(FormFactor::LandscapeSmall);
    identify(&mut s);
    s.tap("Перейти к оплате");
    s.tap("Наличными");
    s.event(|core| core.bill_stacked(500_000));
    s.tap("Завершить оплату");
    assert!(s.ui.has("Напечатать чек"));
    assert!(s.taps <= 18, "{} taps", s.taps);
}

#[test]
fn the_brand_names_the_kiosk_and_writes_its_how_to_use_page() {
    let ui = ui::testing::TestUi::new();
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/brand-example/brand.toml"
    );
    let brand = ui::Brand::from_file(std::path::Path::new(file)).unwrap();
    ui.ui().set_brand(&brand);
    ui.show(&ui::ViewState {
        screen: ui::view::Screen::HowToUse,
        ..ui::ViewState::default()
    });
    assert!(ui.shows("Северная энергия"));
    assert!(!ui.shows("Энергосбыт"));
    assert!(ui.shows("3. Оплатите наличными или банковской картой. Комиссия не взимается."));
    assert!(!ui.shows("Сдача не выдаётся"), "the default text is gone");
}

fn sample(name: &str) -> ViewState {
    ui::samples::all()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, state)| state)
        .unwrap()
}

fn method(sbp_offered: bool, over_limit_kopecks: Option<i64>) -> ViewState {
    ViewState {
        screen: Screen::PaymentMethod(PaymentMethod {
            total_kopecks: 150_000,
            cash_available: true,
            card_available: over_limit_kopecks.is_none(),
            sbp_offered,
            sbp_available: sbp_offered && over_limit_kopecks.is_none(),
            over_limit_kopecks,
        }),
        ..ViewState::default()
    }
}

#[test]
fn the_qr_method_is_chosen_only_when_the_bank_takes_it() {
    let t = TestUi::new();
    for form in [FormFactor::Portrait, FormFactor::LandscapeSmall] {
        t.set_form_factor(form);
        t.show(&method(true, None));
        t.tap("По QR-коду СБП").unwrap();
        assert_eq!(t.take_intents(), vec![Intent::ChooseSbp], "{form:?}");

        // The bank does not answer (or the kiosk has no СБП): the method is not there at all.
        t.show(&method(false, None));
        assert!(
            matches!(
                t.tap("По QR-коду СБП"),
                Err(ui::testing::TestUiError::NotFound { .. })
            ),
            "{form:?}"
        );
        assert_eq!(t.take_intents(), vec![]);

        // Like a card payment, a QR payment is one payment: the limit stops it too.
        t.show(&method(true, Some(100_000)));
        assert!(!t.is_enabled("По QR-коду СБП").unwrap());
        assert!(
            t.shows("По QR-коду — не больше 1\u{a0}000,00\u{a0}₽ за платёж"),
            "{form:?}"
        );
    }
}

#[test]
fn the_qr_payment_shows_the_code_the_countdown_and_a_way_to_cancel() {
    let t = TestUi::new();
    for form in [FormFactor::Portrait, FormFactor::LandscapeSmall] {
        t.set_form_factor(form);
        t.show(&sample("sbp-showing"));
        assert!(t.shows("QR-код для оплаты"), "{form:?}");
        assert_eq!(t.value("Время на оплату").unwrap(), "Осталось 2:45");
        assert!(t.shows("1\u{a0}500,00\u{a0}₽"));
        assert!(t.shows("Подтвердите оплату в приложении"));
        assert!(t.shows("Комиссия не взимается"));
        assert!(!t.has("На главную"), "the core owns cancelling a payment");
        t.tap("Отменить оплату по QR-коду").unwrap();
        assert_eq!(t.take_intents(), vec![Intent::CancelPayment]);
    }
}

#[test]
fn no_qr_code_while_it_is_made_or_the_payment_is_checked() {
    let t = TestUi::new();
    t.show(&sample("sbp-requesting"));
    assert!(t.shows("Готовим QR-код…"));
    assert!(!t.shows("QR-код для оплаты"));
    assert!(!t.shows("Осталось"));
    t.tap("Отменить оплату по QR-коду").unwrap();
    assert_eq!(t.take_intents(), vec![Intent::CancelPayment]);

    t.show(&sample("sbp-showing"));
    assert!(t.shows("QR-код для оплаты"));
    t.show(&sample("sbp-checking"));
    assert!(t.shows("Проверяем оплату в банке, не уходите…"));
    assert!(
        !t.shows("QR-код для оплаты"),
        "the code is gone once cancelled"
    );
    assert!(!t.shows("Осталось"));
    assert!(!t.has("Отменить оплату по QR-коду"));

    // A payload no QR code can hold: said so, nothing to scan, cancel still there.
    let mut broken = ui::samples::sbp_showing();
    broken.qr_payload = Some("9".repeat(8_000));
    t.show(&ViewState {
        screen: Screen::SbpPayment(broken),
        ..ViewState::default()
    });
    assert!(t.shows(ui::text::SBP_QR_FAILED));
    assert!(!t.shows("QR-код для оплаты"));
    assert!(t.has("Отменить оплату по QR-коду"));
}

#[test]
fn the_summary_says_how_a_qr_payment_ended() {
    let t = TestUi::new();
    t.show(&sample("account-summary-sbp-expired"));
    assert!(t.shows("Время на оплату по QR-коду истекло. Деньги не списаны."));
}

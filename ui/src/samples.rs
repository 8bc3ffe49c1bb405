//! Realistic view states of every screen, for screenshots, the benchmark and demos.
//! The data is invented (no real person's account or address).

use crate::view::*;
use ui_model::{mask_address, mask_full_name};

/// The invented account holder, masked by the one rule the live screens use.
fn holder() -> String {
    mask_full_name("Иванов Иван Иванович")
}

fn address() -> String {
    mask_address("г. Тверь, ул. Советская, д. 12, кв. 34")
}

fn screen(screen: Screen) -> ViewState {
    ViewState {
        screen,
        ..ViewState::default()
    }
}

pub fn account_summary() -> AccountSummary {
    AccountSummary {
        account: "7701234567".into(),
        holder_masked: holder(),
        address_masked: address(),
        services: vec![
            ServiceDebt {
                name: "Электроэнергия".into(),
                balance_kopecks: 148_730,
                to_pay_kopecks: 148_730,
                selected: true,
            },
            ServiceDebt {
                name: "Обращение с ТКО".into(),
                balance_kopecks: 31_270,
                to_pay_kopecks: 31_270,
                selected: true,
            },
            ServiceDebt {
                name: "Пени".into(),
                balance_kopecks: 1_215,
                to_pay_kopecks: 0,
                selected: false,
            },
            ServiceDebt {
                name: "Техобслуживание ВДГО".into(),
                balance_kopecks: -5_000,
                to_pay_kopecks: 0,
                selected: false,
            },
        ],
        total_kopecks: 180_000,
        certificate_available: false,
        notice: None,
    }
}

pub fn meter_readings(refused: bool) -> MeterReadings {
    MeterReadings {
        account: "7701234567".into(),
        meters: vec![MeterView {
            serial: "01234567".into(),
            zones: vec![
                ZoneView {
                    zone: TariffZone::Day,
                    previous: "12345".into(),
                    input: if refused { "12300" } else { "12480" }.into(),
                    state: if refused {
                        // The terminal's own explanation, shown exactly.
                        ZoneState::Refused(Reason::explained(
                            ReadingRefusal::BelowPrevious {
                                previous: "12 345".into(),
                            },
                            "Показание по зоне T1 (день) 12300 меньше предыдущего 12345 (от 24.10.2026)",
                        ))
                    } else {
                        ZoneState::Accepted
                    },
                },
                ZoneView {
                    zone: TariffZone::Night,
                    previous: "6789".into(),
                    input: "6851".into(),
                    state: ZoneState::Accepted,
                },
            ],
        }],
        selected: (0, 0),
        window_days: Some((15, 25)),
        error: None,
        can_submit: true,
    }
}

/// A QR payload as the bank's (НСПК) dynamic codes look, for 1 500,00 ₽.
pub const SBP_PAYLOAD: &str = "https://qr.nspk.ru/AD10006M8KH9JB3B8OQ9PQ0VBQ0C5RB2?type=02&bank=100000000004&sum=150000&cur=RUB&crc=1A2B";

/// The QR payment's code on screen, 2:45 left.
pub fn sbp_showing() -> SbpPayment {
    SbpPayment {
        amount_kopecks: 150_000,
        status: SbpStatus::Showing,
        qr_payload: Some(SBP_PAYLOAD.into()),
        seconds_left: Some(165),
        can_cancel: true,
    }
}

fn info() -> Info {
    let entry = |h: &str, t: &str| InfoEntry {
        heading: h.into(),
        text: t.into(),
    };
    Info {
        topics: vec![
            InfoTopic {
                title: "Тарифы".into(),
                entries: vec![
                    entry("Однотарифный учёт", "6,43 ₽ за 1 кВт·ч"),
                    entry("Двухтарифный учёт", "День (7:00–23:00): 7,39 ₽ · Ночь (23:00–7:00): 3,72 ₽"),
                    entry("Сельское население", "4,50 ₽ за 1 кВт·ч"),
                ],
            },
            InfoTopic {
                title: "Офисы".into(),
                entries: vec![
                    entry("Тверь, ул. Советская, 10", "Пн–Чт 8:00–17:00, Пт 8:00–16:00, без обеда"),
                    entry("Тверь, пр-т Победы, 42", "Пн–Пт 9:00–18:00, Сб 9:00–14:00"),
                ],
            },
            InfoTopic {
                title: "Вопросы".into(),
                entries: vec![
                    entry(
                        "Когда передавать показания?",
                        "С 15 по 25 число каждого месяца. Показания, переданные позже, учтём в следующем месяце.",
                    ),
                    entry(
                        "Берётся ли комиссия?",
                        "Нет. Оплата в терминале — без комиссии, наличными или картой.",
                    ),
                    entry(
                        "Что будет, если не платить?",
                        "Начисляются пени; при долге больше двух месяцев подачу электроэнергии могут ограничить после уведомления.",
                    ),
                ],
            },
        ],
        selected: 0,
    }
}

/// Every screen, named for file names (`welcome`, `cash`, ...), in flow order.
pub fn all() -> Vec<(&'static str, ViewState)> {
    all_for(&crate::Brand::default())
}

/// Every screen as [`all`], with `brand`'s hotline on the notices (for previewing a brand).
pub fn all_for(brand: &crate::Brand) -> Vec<(&'static str, ViewState)> {
    let hotline = brand.hotline().to_string();
    let summary = account_summary();
    vec![
        (
            "welcome",
            screen(Screen::Welcome(Welcome {
                scanner_available: true,
                ..Welcome::default()
            })),
        ),
        ("how-to-use", screen(Screen::HowToUse)),
        (
            "account-entry",
            screen(Screen::AccountEntry(AccountEntry {
                purpose: AccountPurpose::Payment,
                input: "770123456".into(),
                error: None,
                scanner_available: true,
            })),
        ),
        (
            "account-entry-error",
            screen(Screen::AccountEntry(AccountEntry {
                purpose: AccountPurpose::Payment,
                input: "7701234568".into(),
                error: Some(Reason::explained(
                    AccountError::Invalid,
                    "Неверная контрольная цифра — проверьте номер по квитанции",
                )),
                scanner_available: false,
            })),
        ),
        (
            "account-summary",
            screen(Screen::AccountSummary(summary.clone())),
        ),
        (
            "account-summary-limit",
            screen(Screen::AccountSummary(AccountSummary {
                notice: Some(Reason::explained(
                    SummaryNotice::DayLimit {
                        left_kopecks: 120_000,
                    },
                    "Сегодня через терминал можно внести ещё не больше 1\u{a0}200,00\u{a0}₽",
                )),
                ..summary.clone()
            })),
        ),
        (
            "account-summary-declined",
            screen(Screen::AccountSummary(AccountSummary {
                notice: Some(Reason::explained(
                    SummaryNotice::CardDeclined,
                    "Оплата не прошла: Отказ банка: недостаточно средств",
                )),
                ..summary.clone()
            })),
        ),
        (
            "amount-edit",
            screen(Screen::AmountEdit(AmountEdit {
                service_name: "Электроэнергия".into(),
                balance_kopecks: 148_730,
                input: "2000".into(),
                error: None,
            })),
        ),
        (
            "payment-method",
            screen(Screen::PaymentMethod(PaymentMethod {
                total_kopecks: 180_000,
                cash_available: true,
                card_available: true,
                sbp_offered: true,
                sbp_available: true,
                over_limit_kopecks: None,
            })),
        ),
        (
            "payment-method-limit",
            screen(Screen::PaymentMethod(PaymentMethod {
                total_kopecks: 2_015_000,
                cash_available: true,
                card_available: false,
                sbp_offered: true,
                sbp_available: false,
                over_limit_kopecks: Some(1_500_000),
            })),
        ),
        (
            "cash",
            screen(Screen::CashInsertion(CashInsertion {
                due_kopecks: 180_000,
                inserted_kopecks: 150_000,
                accepted_notes_kopecks: vec![
                    5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
                ],
                limit_kopecks: 1_500_000,
                left_kopecks: 1_350_000,
                status: CashStatus::Waiting.into(),
                can_finish: true,
                can_cancel: false,
            })),
        ),
        (
            "card",
            screen(Screen::CardPayment(CardPayment {
                amount_kopecks: 180_000,
                prompt: CardPrompt::PresentCard,
                can_cancel: true,
            })),
        ),
        (
            "sbp-requesting",
            screen(Screen::SbpPayment(SbpPayment {
                amount_kopecks: 150_000,
                status: SbpStatus::Requesting,
                qr_payload: None,
                seconds_left: None,
                can_cancel: true,
            })),
        ),
        (
            "sbp-showing",
            screen(Screen::SbpPayment(sbp_showing())),
        ),
        (
            "sbp-checking",
            screen(Screen::SbpPayment(SbpPayment {
                status: SbpStatus::Checking,
                qr_payload: None,
                seconds_left: None,
                can_cancel: false,
                ..sbp_showing()
            })),
        ),
        (
            "account-summary-sbp-expired",
            screen(Screen::AccountSummary(AccountSummary {
                notice: Some(SummaryNotice::SbpExpired.into()),
                ..summary.clone()
            })),
        ),
        (
            "processing",
            screen(Screen::Processing(Processing::Payment)),
        ),
        (
            "receipt-choice",
            screen(Screen::ReceiptChoice(ReceiptChoice {
                amount_kopecks: 180_000,
                paper_available: true,
                sms_available: true,
                email_available: true,
            })),
        ),
        (
            "contact-phone",
            screen(Screen::ContactEntry(ContactEntry {
                kind: ContactKind::Phone,
                input: "912345".into(),
                invalid: false,
            })),
        ),
        (
            "contact-email",
            screen(Screen::ContactEntry(ContactEntry {
                kind: ContactKind::Email,
                input: "ivanov@mail".into(),
                invalid: false,
            })),
        ),
        (
            "done",
            screen(Screen::Done(Done {
                amount_kopecks: 200_000,
                receipt: ReceiptOutcome::Printed,
                advance_kopecks: 20_000,
                certificate_available: false,
                notice: None,
            })),
        ),
        (
            "done-stuck-note",
            screen(Screen::Done(Done {
                amount_kopecks: 100_000,
                receipt: ReceiptOutcome::Printed,
                advance_kopecks: 0,
                certificate_available: false,
                notice: Some(
                    "Купюра 5\u{a0}000,00\u{a0}₽ застряла в купюроприёмнике и пока не зачислена. \
                     Номер обращения: STBP017-261202-000042. Сотрудник найдёт её и зачислит на ваш \
                     счёт или вернёт вам."
                        .into(),
                ),
            })),
        ),
        (
            "done-paper-out",
            screen(Screen::Done(Done {
                amount_kopecks: 180_000,
                receipt: ReceiptOutcome::PaperOut {
                    fiscal_qr:
                        "t=20261127T1435&s=1800.00&fn=7380440700000000&i=1234&fp=2838419470&n=1"
                            .into(),
                },
                advance_kopecks: 0,
                certificate_available: true,
                notice: None,
            })),
        ),
        (
            "readings",
            screen(Screen::MeterReadings(meter_readings(true))),
        ),
        (
            "readings-done",
            screen(Screen::ReadingsDone(ReadingsDone {
                registration_number: "П-2611-004817".into(),
                registered_at: "27.11.2026 14:35".into(),
                terminal_id: "ТВР-017".into(),
                lines: vec![
                    ("№ 01234567 · День".into(), "12 480".into()),
                    ("№ 01234567 · Ночь".into(), "6 851".into()),
                ],
                slip_printed: true,
                can_print_slip: false,
            })),
        ),
        (
            "readings-done-slip",
            screen(Screen::ReadingsDone(ReadingsDone {
                registration_number: "M-UI01-261127-000042".into(),
                registered_at: "27.11.2026 14:35".into(),
                terminal_id: "UI01".into(),
                lines: vec![
                    ("Меркурий 200 · T1".into(), "12 480".into()),
                    ("Меркурий 200 · T2".into(), "6 851".into()),
                ],
                slip_printed: false,
                can_print_slip: true,
            })),
        ),
        ("info", screen(Screen::Info(info()))),
        (
            "certificate",
            screen(Screen::NoDebtCertificate(NoDebtCertificate {
                account: "7701234567".into(),
                holder_masked: holder(),
                as_of: "27.11.2026".into(),
                outcome: CertificateOutcome::Printed,
            })),
        ),
        (
            "notice",
            screen(Screen::Notice(Notice {
                message: "На этом лицевом счёте нет приборов учёта, показания которых принимает терминал. Обратитесь в офис обслуживания.".into(),
                hotline: hotline.clone(),
            })),
        ),
        (
            "out-of-service",
            screen(Screen::OutOfService(OutOfService {
                nearest_office: "ул. Советская, 10 (300 м)".into(),
                office_hours: "Пн–Чт 8:00–17:00, Пт 8:00–16:00".into(),
                hotline: hotline.clone(),
            })),
        ),
        (
            "degraded-welcome",
            ViewState {
                screen: Screen::Welcome(Welcome::default()),
                notice: Some(DegradedNotice {
                    unavailable: vec![Feature::Card, Feature::PaperReceipt],
                    hotline: hotline.clone(),
                }),
                ..ViewState::default()
            },
        ),
        (
            "idle-countdown",
            ViewState {
                screen: Screen::AccountSummary(account_summary()),
                idle_countdown: Some(12),
                ..ViewState::default()
            },
        ),
        (
            "service-pin",
            screen(Screen::ServicePin(ServicePin {
                digits_entered: 4,
                error: Some(PinError::Wrong { attempts_left: 2 }),
            })),
        ),
        (
            "service-status",
            screen(Screen::ServiceStatus(ServiceStatus {
                terminal_id: "ТВР-017".into(),
                devices: vec![
                    DeviceLine {
                        name: "Купюроприёмник".into(),
                        state: "работает".into(),
                        ok: true,
                    },
                    DeviceLine {
                        name: "Картридер".into(),
                        state: "нет связи".into(),
                        ok: false,
                    },
                    DeviceLine {
                        name: "Принтер чеков".into(),
                        state: "бумага заканчивается".into(),
                        ok: true,
                    },
                    DeviceLine {
                        name: "Связь с офисом".into(),
                        state: "в сети".into(),
                        ok: true,
                    },
                ],
                cash_in_box: "143 купюры · 87 400 ₽".into(),
                paper: "заканчивается".into(),
                shift: "открыта с 08:00".into(),
                last_errors: vec![
                    ("14:02".into(), "Картридер: нет ответа (таймаут T3)".into()),
                    ("13:40".into(), "Купюроприёмник: замятие, устранено".into()),
                ],
            })),
        ),
        (
            "service-report",
            screen(Screen::ServiceReport(ServiceReport {
                title: "Инкассация".into(),
                lines: vec![
                    ("500,00 ₽".into(), "ожидается 38 · пересчитано 38".into()),
                    ("1 000,00 ₽".into(), "ожидается 52 · пересчитано 51".into()),
                    ("5 000,00 ₽".into(), "ожидается 3 · пересчитано 3".into()),
                    ("Ожидается".into(), "86 000,00 ₽".into()),
                    ("Пересчитано".into(), "85 000,00 ₽".into()),
                ],
                choices: vec![
                    "+1 × 500,00 ₽".into(),
                    "−1 × 500,00 ₽".into(),
                    "+1 × 1 000,00 ₽".into(),
                    "−1 × 1 000,00 ₽".into(),
                    "+1 × 5 000,00 ₽".into(),
                    "−1 × 5 000,00 ₽".into(),
                ],
                confirm: Some("Подтвердить инкассацию".into()),
                busy: false,
            })),
        ),
    ]
}

//! The bridge between the session core and the `ui` crate: keeps what the customer is typing
//! (keypad buffers, the zone being entered, the contact for an e-receipt: presentation state, not
//! business state), turns UI intents into session intents on submit, and maps the session's view
//! onto the screens' view state.

use std::collections::BTreeMap;

use backend_sync::event::ReceiptContact;
use chrono::{DateTime, Utc};
use ui::view as v;

use crate::money::Money;
use crate::service::{PinRefusal, ServiceIntent, ServiceView};
use crate::session::{self, Availability, Purpose, ReadingInput, ReceiptChoice, Screen, View};

/// Seconds before the idle timeout when the countdown appears.
const COUNTDOWN_FROM: i64 = 20;

#[derive(Debug, Default)]
pub struct ScreenBridge {
    a11y: v::Accessibility,
    /// Digits or characters typed on the current keypad.
    input: String,
    /// The service whose amount is being edited.
    editing: Option<usize>,
    /// The customer pressed "pay" on the summary: show the method choice.
    choosing_method: bool,
    /// An e-receipt contact is being typed.
    contact: Option<v::ContactKind>,
    contact_invalid: bool,
    info: Option<usize>,
    how_to: bool,
    zone: (usize, usize),
    readings: BTreeMap<(usize, usize), String>,
    /// Which session screen the transient state belongs to.
    last_screen: Option<std::mem::Discriminant<Screen>>,
    hotline: String,
}

fn purpose(p: Purpose) -> v::AccountPurpose {
    match p {
        Purpose::Pay => v::AccountPurpose::Payment,
        Purpose::Readings => v::AccountPurpose::Readings,
        Purpose::Certificate => v::AccountPurpose::Certificate,
    }
}

fn zone_kind(code: &str, name: &str, zones: usize) -> v::TariffZone {
    match (zones, code, name) {
        (1, _, _) => v::TariffZone::Single,
        (_, _, "ночь") => v::TariffZone::Night,
        (_, _, "пик") => v::TariffZone::Peak,
        (_, _, "полупик") => v::TariffZone::SemiPeak,
        (_, "T2", _) => v::TariffZone::Night,
        _ => v::TariffZone::Day,
    }
}

fn valid_phone(digits: &str) -> bool {
    digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit())
}

fn valid_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

impl ScreenBridge {
    /// A bridge whose notices name `hotline`.
    pub fn new(hotline: impl Into<String>) -> ScreenBridge {
        ScreenBridge {
            hotline: hotline.into(),
            ..ScreenBridge::default()
        }
    }

    /// Forgets transient state when the session moved to another screen.
    fn follow(&mut self, view: &View) {
        let now = std::mem::discriminant(&view.screen);
        if self.last_screen != Some(now) {
            let keep_contact = matches!(
                view.screen,
                Screen::ReceiptChoice { .. } | Screen::Done { .. }
            ) && self.last_screen.is_some_and(|s| s == now);
            self.input.clear();
            self.editing = None;
            self.choosing_method = false;
            if !keep_contact {
                self.contact = None;
                self.contact_invalid = false;
            }
            if !matches!(view.screen, Screen::Readings { .. }) {
                self.readings.clear();
                self.zone = (0, 0);
            }
            self.last_screen = Some(now);
        }
    }

    fn type_char(&mut self, c: char, view: &View) {
        match &view.screen {
            Screen::Readings { .. } => {
                let entry = self.readings.entry(self.zone).or_default();
                if c.is_ascii_digit() && entry.len() < 9 {
                    entry.push(c);
                }
            }
            _ => {
                let max = match (&view.screen, self.contact) {
                    (_, Some(v::ContactKind::Phone)) => 10,
                    (_, Some(v::ContactKind::Email)) => 64,
                    (Screen::AccountEntry { .. }, _) => 20,
                    _ => 12,
                };
                if self.input.chars().count() < max {
                    self.input.push(c);
                }
            }
        }
    }

    /// What a UI intent means to the session (often nothing: typing stays here).
    pub fn on_intent(&mut self, intent: ui::Intent, view: &View) -> Vec<session::Intent> {
        use session::Intent as S;
        use ui::Intent as U;
        self.follow(view);
        if view.service.is_some() {
            return vec![S::Service(service_intent(intent))];
        }
        let touch = vec![S::Touch];
        match intent {
            U::Touched | U::StillHere => touch,
            U::ToggleLargeText => {
                self.a11y.large_text = !self.a11y.large_text;
                touch
            }
            U::ToggleHighContrast => {
                self.a11y.high_contrast = !self.a11y.high_contrast;
                touch
            }
            U::Home | U::Finish => {
                self.info = None;
                self.how_to = false;
                vec![S::Home]
            }
            U::Back => {
                if self.info.is_some() || self.how_to {
                    self.info = None;
                    self.how_to = false;
                    touch
                } else if self.editing.is_some() || self.choosing_method || self.contact.is_some() {
                    self.editing = None;
                    self.choosing_method = false;
                    self.contact = None;
                    self.input.clear();
                    touch
                } else {
                    vec![S::Cancel]
                }
            }
            U::StartPayment => vec![S::Start(Purpose::Pay)],
            U::StartReadings => vec![S::Start(Purpose::Readings)],
            U::StartCertificate => vec![S::Start(Purpose::Certificate)],
            U::OpenInfo => {
                self.info = Some(0);
                touch
            }
            U::OpenHowToUse => {
                self.how_to = true;
                touch
            }
            U::SelectInfoTopic(i) => {
                self.info = Some(i);
                touch
            }
            U::Digit(d) => {
                self.type_char(char::from(b'0' + d.min(9)), view);
                touch
            }
            U::Char(c) => {
                self.type_char(c, view);
                touch
            }
            U::DecimalComma => {
                if !self.input.contains(',') {
                    self.type_char(',', view);
                }
                touch
            }
            U::Backspace => {
                match &view.screen {
                    Screen::Readings { .. } => {
                        self.readings.entry(self.zone).or_default().pop();
                    }
                    _ => {
                        self.input.pop();
                    }
                }
                touch
            }
            U::Clear => {
                match &view.screen {
                    Screen::Readings { .. } => {
                        self.readings.remove(&self.zone);
                    }
                    _ => self.input.clear(),
                }
                touch
            }
            U::Submit => self.submit(view),
            U::ToggleService(index) => match &view.screen {
                Screen::Summary {
                    account, amounts, ..
                } => {
                    let now_paying = amounts.get(index).copied().unwrap_or_default() > Money::ZERO;
                    let debt = account
                        .services
                        .get(index)
                        .map(|s| s.debt.max(Money::ZERO))
                        .unwrap_or_default();
                    let amount = if now_paying { Money::ZERO } else { debt };
                    vec![S::SetServiceAmount {
                        index,
                        text: amount.format_plain(),
                    }]
                }
                _ => touch,
            },
            U::EditAmount(index) => {
                self.editing = Some(index);
                self.input.clear();
                touch
            }
            U::ProceedToPayment => {
                self.choosing_method = true;
                touch
            }
            U::ChooseCash => vec![S::PayCash],
            U::ChooseCard => vec![S::PayCard],
            U::FinishCash => vec![S::FinishCash],
            U::CancelPayment => vec![S::Cancel],
            U::ReceiptPaper => vec![S::ChooseReceipt(ReceiptChoice::Paper)],
            U::ReceiptNone => vec![S::ChooseReceipt(ReceiptChoice::ScreenOnly)],
            U::ReceiptSms | U::RequestElectronicReceipt => {
                self.contact = Some(v::ContactKind::Phone);
                self.input.clear();
                touch
            }
            U::ReceiptEmail => {
                self.contact = Some(v::ContactKind::Email);
                self.input.clear();
                touch
            }
            U::SelectZone { meter, zone } => {
                self.zone = (meter, zone);
                touch
            }
            U::ServiceCornerTapped => vec![S::Service(ServiceIntent::CornerTapped)],
            // Service screens are not showing: nothing to operate.
            U::Service(_) | U::ServicePick(_) => touch,
        }
    }

    fn submit(&mut self, view: &View) -> Vec<session::Intent> {
        use session::Intent as S;
        if let Some(kind) = self.contact {
            let contact = match kind {
                v::ContactKind::Phone if valid_phone(&self.input) => {
                    Some(ReceiptContact::Sms(format!("+7{}", self.input)))
                }
                v::ContactKind::Email if valid_email(&self.input) => {
                    Some(ReceiptContact::Email(self.input.clone()))
                }
                _ => None,
            };
            return match contact {
                Some(c) => {
                    self.contact = None;
                    self.input.clear();
                    vec![S::ChooseReceipt(ReceiptChoice::Electronic(c))]
                }
                None => {
                    self.contact_invalid = true;
                    vec![S::Touch]
                }
            };
        }
        match &view.screen {
            Screen::AccountEntry { .. } => {
                let text = std::mem::take(&mut self.input);
                vec![S::SubmitAccount(text)]
            }
            Screen::Summary { .. } => match self.editing.take() {
                Some(index) => {
                    let text = std::mem::take(&mut self.input);
                    vec![S::SetServiceAmount {
                        index,
                        text: if text.is_empty() { "0".into() } else { text },
                    }]
                }
                None => vec![S::Touch],
            },
            Screen::Readings { account, .. } => {
                let inputs = self
                    .readings
                    .iter()
                    .filter(|(_, text)| !text.is_empty())
                    .filter_map(|((m, z), text)| {
                        let meter = account.meters.get(*m)?;
                        let zone = meter.zones.get(*z)?;
                        Some(ReadingInput {
                            meter_id: meter.id.clone(),
                            zone: zone.code.clone(),
                            text: text.clone(),
                        })
                    })
                    .collect();
                vec![S::SubmitReadings(inputs)]
            }
            _ => vec![S::Touch],
        }
    }

    /// The screens' view state for the session's view.
    pub fn view_state(&mut self, view: &View, now: DateTime<Utc>) -> v::ViewState {
        let availability = view.availability;
        self.follow(view);
        // Final screens go back to the start on their own; a countdown there would only cover
        // the receipt and the «Готово» button.
        let final_screen = matches!(
            view.screen,
            Screen::Done { .. }
                | Screen::ReadingsDone { .. }
                | Screen::CertificateDone { .. }
                | Screen::Notice { .. }
        );
        let idle_countdown = view.idle_deadline.filter(|_| !final_screen).and_then(|d| {
            let left = (d - now).num_seconds();
            (0..=COUNTDOWN_FROM).contains(&left).then_some(left as u32)
        });
        let mut unavailable = Vec::new();
        if !availability.cash {
            unavailable.push(v::Feature::Cash);
        }
        if !availability.card {
            unavailable.push(v::Feature::Card);
        }
        if !availability.paper {
            unavailable.push(v::Feature::PaperReceipt);
        }
        if !availability.online {
            unavailable.push(v::Feature::Online);
        }
        let notice =
            (!unavailable.is_empty() && view.service.is_none()).then(|| v::DegradedNotice {
                unavailable,
                hotline: self.hotline.clone(),
            });
        v::ViewState {
            screen: self.screen(view, availability),
            accessibility: self.a11y,
            idle_countdown,
            notice,
        }
    }

    fn contact_screen(&self) -> Option<v::Screen> {
        self.contact.map(|kind| {
            v::Screen::ContactEntry(v::ContactEntry {
                kind,
                input: self.input.clone(),
                invalid: self.contact_invalid,
            })
        })
    }

    fn screen(&self, view: &View, availability: Availability) -> v::Screen {
        if let Some(service) = &view.service {
            return service_screen(service);
        }
        match &view.screen {
            Screen::Welcome if self.how_to => v::Screen::HowToUse,
            Screen::Welcome if self.info.is_some() => v::Screen::Info(v::Info {
                topics: Vec::new(),
                selected: self.info.unwrap_or(0),
            }),
            Screen::Welcome => v::Screen::Welcome(v::Welcome {
                payment_available: availability.cash || availability.card,
                readings_available: true,
                certificate_available: availability.online,
                scanner_available: false,
            }),
            Screen::AccountEntry { purpose: p, error } => {
                v::Screen::AccountEntry(v::AccountEntry {
                    purpose: purpose(*p),
                    input: self.input.clone(),
                    error: error.as_ref().map(|e| {
                        if e.contains("не найден") {
                            v::AccountError::NotFound
                        } else if e.contains("связи") {
                            v::AccountError::Unreachable
                        } else if e.contains("QR") || e.contains("штрих") {
                            v::AccountError::UnknownBarcode
                        } else {
                            v::AccountError::Invalid
                        }
                    }),
                    scanner_available: false,
                })
            }
            Screen::LookingUp { .. } => v::Screen::Processing(v::Processing::Account),
            Screen::Summary {
                account,
                amounts,
                total,
                max_payment,
                error,
                cash,
                card,
            } => {
                if let Some(index) = self.editing {
                    let service = account.services.get(index);
                    return v::Screen::AmountEdit(v::AmountEdit {
                        service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
                        balance_kopecks: service.map(|s| s.debt.kopecks()).unwrap_or_default(),
                        input: self.input.clone(),
                        error: None,
                    });
                }
                if self.choosing_method && error.is_none() {
                    return v::Screen::PaymentMethod(v::PaymentMethod {
                        total_kopecks: total.kopecks(),
                        cash_available: *cash,
                        card_available: *card && *total > Money::ZERO && total <= max_payment,
                    });
                }
                v::Screen::AccountSummary(v::AccountSummary {
                    account: account.number.clone(),
                    holder_masked: account.holder_masked.clone(),
                    address_masked: account.address_masked.clone(),
                    services: account
                        .services
                        .iter()
                        .zip(amounts)
                        .map(|(s, a)| v::ServiceDebt {
                            name: s.name.clone(),
                            balance_kopecks: s.debt.kopecks(),
                            to_pay_kopecks: a.kopecks(),
                            selected: *a > Money::ZERO,
                        })
                        .collect(),
                    total_kopecks: total.kopecks(),
                    certificate_available: account.verified && account.total_debt() <= Money::ZERO,
                })
            }
            Screen::Cash {
                requested,
                inserted,
                max_left,
                accepted,
                notice,
                busy,
                ..
            } => v::Screen::CashInsertion(v::CashInsertion {
                due_kopecks: requested.kopecks(),
                inserted_kopecks: inserted.kopecks(),
                accepted_notes_kopecks: accepted.iter().map(|m| m.kopecks()).collect(),
                limit_kopecks: (*inserted + *max_left).kopecks(),
                status: if *busy {
                    v::CashStatus::Accepting
                } else if *max_left <= Money::ZERO {
                    v::CashStatus::LimitReached
                } else if notice.is_some() {
                    v::CashStatus::Rejected
                } else {
                    v::CashStatus::Waiting
                },
                can_finish: !*busy && *inserted > Money::ZERO,
                can_cancel: !*busy && *inserted == Money::ZERO,
            }),
            Screen::Card {
                amount,
                prompt,
                can_cancel,
                ..
            } => v::Screen::CardPayment(v::CardPayment {
                amount_kopecks: amount.kopecks(),
                prompt: v::CardPrompt::Reader(prompt.clone()),
                can_cancel: *can_cancel,
            }),
            Screen::Processing { .. } => v::Screen::Processing(v::Processing::Receipt),
            Screen::ReceiptChoice { total, paper } => {
                self.contact_screen()
                    .unwrap_or(v::Screen::ReceiptChoice(v::ReceiptChoice {
                        amount_kopecks: total.kopecks(),
                        paper_available: *paper,
                        sms_available: availability.online,
                        email_available: availability.online,
                    }))
            }
            Screen::Done {
                total,
                printed,
                qr,
                message,
                certificate_available,
            } => self.contact_screen().unwrap_or_else(|| {
                let receipt = if *printed {
                    v::ReceiptOutcome::Printed
                } else if message.contains("отправлен") {
                    v::ReceiptOutcome::Sent { to: String::new() }
                } else if let Some(qr) = qr {
                    v::ReceiptOutcome::PaperOut {
                        fiscal_qr: qr.clone(),
                    }
                } else {
                    v::ReceiptOutcome::Declined
                };
                v::Screen::Done(v::Done {
                    amount_kopecks: total.kopecks(),
                    receipt,
                    advance_kopecks: 0,
                    certificate_available: *certificate_available,
                })
            }),
            Screen::Readings {
                account,
                refusals,
                accepted,
            } => v::Screen::MeterReadings(v::MeterReadings {
                account: account.number.clone(),
                meters: account
                    .meters
                    .iter()
                    .enumerate()
                    .map(|(m, meter)| v::MeterView {
                        serial: meter
                            .meter
                            .as_ref()
                            .map_or_else(|| meter.name.clone(), |rm| rm.serial.clone()),
                        zones: meter
                            .zones
                            .iter()
                            .enumerate()
                            .map(|(z, zone)| {
                                let refused = refusals
                                    .iter()
                                    .find(|r| r.meter_id == meter.id && r.zone == zone.code);
                                let done = accepted
                                    .iter()
                                    .any(|a| a.meter_id == meter.id && a.zone == zone.code);
                                let input = self.readings.get(&(m, z)).cloned().unwrap_or_default();
                                v::ZoneView {
                                    zone: zone_kind(&zone.code, &zone.name, meter.zones.len()),
                                    previous: ui::format::group_thousands(zone.previous),
                                    state: match (refused, done, input.is_empty()) {
                                        (Some(r), _, _) => v::ZoneState::Refused(refusal(
                                            &r.message,
                                            zone.previous,
                                        )),
                                        (None, true, _) => v::ZoneState::Accepted,
                                        (None, false, false) => v::ZoneState::Entered,
                                        (None, false, true) => v::ZoneState::Empty,
                                    },
                                    input,
                                }
                            })
                            .collect(),
                    })
                    .collect(),
                selected: self.zone,
                window_days: None,
                error: None,
                can_submit: self.readings.values().any(|t| !t.is_empty()),
            }),
            Screen::ReadingsDone { accepted, printed } => {
                v::Screen::ReadingsDone(v::ReadingsDone {
                    registration_number: accepted
                        .first()
                        .map(|a| a.registration_no.clone())
                        .unwrap_or_default(),
                    registered_at: String::new(),
                    terminal_id: String::new(),
                    lines: accepted
                        .iter()
                        .map(|a| {
                            (
                                format!("{} · {}", a.meter_name, a.zone),
                                ui::format::group_thousands(a.value),
                            )
                        })
                        .collect(),
                    slip_printed: *printed,
                })
            }
            Screen::CertificateDone { printed, .. } => {
                v::Screen::NoDebtCertificate(v::NoDebtCertificate {
                    account: String::new(),
                    holder_masked: String::new(),
                    as_of: String::new(),
                    outcome: if *printed {
                        v::CertificateOutcome::Printed
                    } else {
                        v::CertificateOutcome::PrinterUnavailable
                    },
                })
            }
            Screen::Notice { .. } => v::Screen::OutOfService(v::OutOfService {
                nearest_office: String::new(),
                office_hours: String::new(),
                hotline: self.hotline.clone(),
            }),
        }
    }
}

/// The screens show typed refusals; the core's message decides which.
fn refusal(message: &str, previous: u64) -> v::ReadingRefusal {
    if message.contains("меньше предыдущего") {
        v::ReadingRefusal::BelowPrevious {
            previous: ui::format::group_thousands(previous),
        }
    } else if message.contains("принимаются") {
        v::ReadingRefusal::OutsideWindow {
            from_day: 15,
            to_day: 25,
        }
    } else {
        v::ReadingRefusal::Missing
    }
}

/// A UI intent while service mode is on the screen: everything goes to the service desk.
fn service_intent(intent: ui::Intent) -> ServiceIntent {
    use ui::Intent as U;
    match intent {
        U::Digit(d) => ServiceIntent::Digit(d),
        U::Backspace => ServiceIntent::Backspace,
        U::Clear => ServiceIntent::Clear,
        U::Submit => ServiceIntent::Submit,
        U::Service(op) => ServiceIntent::Op(op),
        U::ServicePick(i) => ServiceIntent::Pick(i),
        U::Back | U::Home => ServiceIntent::Back,
        _ => ServiceIntent::Touch,
    }
}

/// The service desk's view on the `ui` crate's service screens.
fn service_screen(view: &ServiceView) -> v::Screen {
    match view {
        ServiceView::Pin {
            digits_entered,
            error,
        } => v::Screen::ServicePin(v::ServicePin {
            digits_entered: *digits_entered,
            error: error.map(|e| match e {
                PinRefusal::Wrong { attempts_left } => v::PinError::Wrong { attempts_left },
                PinRefusal::Locked { minutes } => v::PinError::Locked { minutes },
            }),
        }),
        ServiceView::Status {
            terminal_id,
            devices,
            cash_in_box,
            paper,
            shift,
            last_errors,
        } => v::Screen::ServiceStatus(v::ServiceStatus {
            terminal_id: terminal_id.clone(),
            devices: devices
                .iter()
                .map(|d| v::DeviceLine {
                    name: d.name.clone(),
                    state: d.state.clone(),
                    ok: d.ok,
                })
                .collect(),
            cash_in_box: cash_in_box.clone(),
            paper: paper.clone(),
            shift: shift.clone(),
            last_errors: last_errors.clone(),
        }),
        ServiceView::Report {
            title,
            lines,
            choices,
            confirm,
            busy,
        } => v::Screen::ServiceReport(v::ServiceReport {
            title: title.clone(),
            lines: lines.clone(),
            choices: choices.clone(),
            confirm: confirm.clone(),
            busy: *busy,
        }),
    }
}

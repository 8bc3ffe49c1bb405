//! The bridge between the session core and the `ui` crate: keeps what the customer is typing
//! (keypad buffers, the zone being entered, the contact for an e-receipt: presentation state, not
//! business state), turns UI intents into session intents on submit, and maps the session's view
//! onto the screens' view state.
//!
//! Refusals arrive typed from the core ([`session::Refused`]) with the domain rules' exact Russian
//! explanation; the bridge maps the kind onto the screens' reason and passes the text through, so
//! the customer reads exactly what the rules said (the limit, the previous reading, the reader's
//! decline text). Nothing here looks inside a message.

use std::collections::BTreeMap;

use backend_sync::event::ReceiptContact;
use chrono::{DateTime, Utc};
use ui::view as v;

use crate::money::Money;
use crate::readings::ZoneCode;
use crate::service::{PinRefusal, ServiceIntent, ServiceView};
use crate::session::{
    self, AcceptedReading, AccountProblem, Availability, CashProblem, CustomerAccount, MeterInfo,
    Purpose, ReadingInput, ReadingProblem, ReadingRefusal, ReceiptChoice, ReceiptDelivery, Refused,
    SbpScreen, Screen, SummaryProblem, View, ZoneInfo,
};

#[derive(Debug, Default)]
pub struct ScreenBridge {
    a11y: v::Accessibility,
    /// Digits or characters typed on the current keypad.
    input: String,
    /// The service whose amount is being edited.
    editing: Option<usize>,
    /// The customer pressed "pay" on the summary: show the method choice (until the core refuses
    /// something: then its notice differs from the one seen when "pay" was pressed).
    choosing_method: bool,
    method_notice: Option<Refused<SummaryProblem>>,
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
    /// Where to go when the kiosk is out of service: (office, its opening hours).
    office: (String, String),
    /// The information pages (tariffs, offices, answers), see [`crate::content`].
    info_topics: Vec<v::InfoTopic>,
    /// The kiosk's time zone for dates on screen (config `terminal.timezone`).
    tz: Option<chrono_tz::Tz>,
}

/// Until [`ScreenBridge::with_timezone`] says otherwise.
const DEFAULT_TZ: chrono_tz::Tz = chrono_tz::Europe::Moscow;

fn purpose(p: Purpose) -> v::AccountPurpose {
    match p {
        Purpose::Pay => v::AccountPurpose::Payment,
        Purpose::Readings => v::AccountPurpose::Readings,
        Purpose::Certificate => v::AccountPurpose::Certificate,
    }
}

/// The zone by its code and the meter's zone count (the rule behind `ZoneCode::name_ru`).
fn zone_kind(code: &str, zones: usize) -> v::TariffZone {
    match (zones, ZoneCode::parse(code)) {
        (1, _) => v::TariffZone::Single,
        (_, Some(ZoneCode::T2)) => v::TariffZone::Night,
        (2, _) => v::TariffZone::Day,
        (_, Some(ZoneCode::T3)) => v::TariffZone::SemiPeak,
        _ => v::TariffZone::Peak,
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

    /// The information pages the «Информация» screen shows.
    pub fn set_info(&mut self, topics: Vec<v::InfoTopic>) {
        self.info_topics = topics;
    }

    /// The office (and its hours) the out-of-service notice sends customers to.
    pub fn with_office(mut self, office: impl Into<String>, hours: impl Into<String>) -> Self {
        self.office = (office.into(), hours.into());
        self
    }

    /// Dates on screen (registration time, certificate date) in the kiosk's time zone.
    pub fn with_timezone(mut self, tz: chrono_tz::Tz) -> ScreenBridge {
        self.tz = Some(tz);
        self
    }

    fn local(&self, time: DateTime<Utc>) -> String {
        time.with_timezone(&self.tz.unwrap_or(DEFAULT_TZ))
            .format("%d.%m.%Y %H:%M")
            .to_string()
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
            self.method_notice = None;
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
        match intent {
            U::Home | U::Finish => {
                self.info = None;
                self.how_to = false;
                vec![S::Home]
            }
            U::Back => self.back(),
            U::Digit(_) | U::Char(_) | U::DecimalComma | U::Backspace | U::Clear => {
                self.keypad(intent, view);
                vec![S::Touch]
            }
            U::Submit => self.submit(view),
            U::ToggleService(index) => toggle_service(index, view),
            U::ProceedToPayment => {
                self.choosing_method = true;
                self.method_notice = match &view.screen {
                    Screen::Summary { notice, .. } => notice.clone(),
                    _ => None,
                };
                vec![S::Touch]
            }
            other => self.plain_intent(other),
        }
    }

    /// «Назад»: closes what the bridge has open over the core's screen, or cancels.
    fn back(&mut self) -> Vec<session::Intent> {
        if self.info.is_some() || self.how_to {
            self.info = None;
            self.how_to = false;
        } else if self.editing.is_some() || self.choosing_method || self.contact.is_some() {
            self.editing = None;
            self.choosing_method = false;
            self.contact = None;
            self.input.clear();
        } else {
            return vec![session::Intent::Cancel];
        }
        vec![session::Intent::Touch]
    }

    /// Typing on the current keypad (an amount, an account number, a contact or a reading).
    fn keypad(&mut self, intent: ui::Intent, view: &View) {
        use ui::Intent as U;
        let readings = matches!(view.screen, Screen::Readings { .. });
        match intent {
            U::Digit(d) => self.type_char(char::from(b'0' + d.min(9)), view),
            U::Char(c) => self.type_char(c, view),
            U::DecimalComma if !self.input.contains(',') => self.type_char(',', view),
            U::Backspace if readings => {
                self.readings.entry(self.zone).or_default().pop();
            }
            U::Backspace => {
                self.input.pop();
            }
            U::Clear if readings => {
                self.readings.remove(&self.zone);
            }
            U::Clear => self.input.clear(),
            _ => {}
        }
    }

    /// The intents that need no screen state: a session intent as it is, or a switch of what the
    /// bridge shows.
    fn plain_intent(&mut self, intent: ui::Intent) -> Vec<session::Intent> {
        use session::Intent as S;
        use ui::Intent as U;
        let session = match intent {
            U::StartPayment => S::Start(Purpose::Pay),
            U::StartReadings => S::Start(Purpose::Readings),
            U::StartCertificate => S::Start(Purpose::Certificate),
            U::ChooseCash => S::PayCash,
            U::ChooseCard => S::PayCard,
            U::ChooseSbp => S::PaySbp,
            U::FinishCash => S::FinishCash,
            U::CancelPayment => S::Cancel,
            U::ReceiptPaper => S::ChooseReceipt(ReceiptChoice::Paper),
            U::ReceiptNone => S::ChooseReceipt(ReceiptChoice::ScreenOnly),
            U::PrintSlip => S::PrintReadingSlip,
            U::ServiceCornerTapped => S::Service(ServiceIntent::CornerTapped),
            U::ToggleLargeText => {
                self.a11y.large_text = !self.a11y.large_text;
                S::Touch
            }
            U::ToggleHighContrast => {
                self.a11y.high_contrast = !self.a11y.high_contrast;
                S::Touch
            }
            U::OpenInfo => {
                self.info = Some(0);
                S::Touch
            }
            U::OpenHowToUse => {
                self.how_to = true;
                S::Touch
            }
            U::SelectInfoTopic(i) => {
                self.info = Some(i);
                S::Touch
            }
            U::EditAmount(index) => {
                self.editing = Some(index);
                self.input.clear();
                S::Touch
            }
            U::ReceiptSms | U::RequestElectronicReceipt => {
                self.contact = Some(v::ContactKind::Phone);
                self.input.clear();
                S::Touch
            }
            U::ReceiptEmail => {
                self.contact = Some(v::ContactKind::Email);
                self.input.clear();
                S::Touch
            }
            U::SelectZone { meter, zone } => {
                self.zone = (meter, zone);
                S::Touch
            }
            // Touches, and service screens that are not showing: nothing to operate.
            U::Touched | U::StillHere | U::Service(_) | U::ServicePick(_) => S::Touch,
            // Read with the screen's state in `on_intent`.
            U::Home
            | U::Finish
            | U::Back
            | U::Digit(_)
            | U::Char(_)
            | U::DecimalComma
            | U::Backspace
            | U::Clear
            | U::Submit
            | U::ToggleService(_)
            | U::ProceedToPayment => S::Touch,
        };
        vec![session]
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
        let idle_countdown = match (view.countdown_from, view.idle_deadline) {
            (Some(from), Some(deadline)) if now >= from => seconds_left(deadline, now),
            _ => None,
        };
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
        let screen = self.screen(view, availability, now);
        // The out-of-service page says it all; a banner above it would only repeat it.
        let notice = notice.filter(|_| !matches!(screen, v::Screen::OutOfService(_)));
        v::ViewState {
            screen,
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

    fn screen(&self, view: &View, availability: Availability, now: DateTime<Utc>) -> v::Screen {
        if let Some(service) = &view.service {
            return service_screen(service);
        }
        if let Some(overlay) = self.overlay(&view.screen) {
            return overlay;
        }
        self.customer_screen(&view.screen, availability, now)
    }

    /// The customer screen the core's screen is, one to one.
    fn customer_screen(
        &self,
        screen: &Screen,
        availability: Availability,
        now: DateTime<Utc>,
    ) -> v::Screen {
        match screen {
            Screen::Welcome => self.welcome(availability),
            Screen::AccountEntry { purpose, error } => self.entry(*purpose, error, availability),
            Screen::LookingUp { .. } => v::Screen::Processing(v::Processing::Account),
            Screen::Summary {
                account,
                amounts,
                total,
                notice,
                ..
            } => account_summary(account, amounts, *total, notice.as_ref()),
            Screen::Cash {
                requested,
                inserted,
                limit,
                max_left,
                accepted,
                notice,
                busy,
                ..
            } => cash_insertion(
                *requested,
                *inserted,
                *limit,
                *max_left,
                accepted,
                notice.as_ref(),
                *busy,
            ),
            Screen::Card {
                amount,
                prompt,
                can_cancel,
                ..
            } => card_payment(*amount, prompt, *can_cancel),
            Screen::Sbp(sbp) => sbp_payment(sbp, now),
            Screen::Processing { .. } => v::Screen::Processing(v::Processing::Receipt),
            Screen::ReceiptChoice { total, paper } => receipt_choice(*total, *paper, availability),
            Screen::Done {
                total,
                qr,
                delivery,
                advance,
                certificate_available,
                stuck_notice,
                ..
            } => v::Screen::Done(v::Done {
                amount_kopecks: total.kopecks(),
                receipt: receipt_outcome(delivery, qr.as_deref()),
                advance_kopecks: advance.kopecks(),
                certificate_available: *certificate_available,
                notice: stuck_notice.clone(),
            }),
            Screen::Readings {
                account,
                refusals,
                accepted,
            } => self.meter_readings(account, refusals, accepted),
            Screen::ReadingsDone {
                accepted,
                printed,
                time,
                terminal_id,
            } => self.readings_done(accepted, *printed, *time, terminal_id, availability),
            Screen::CertificateDone {
                printed,
                account,
                holder_masked,
                time,
                ..
            } => self.certificate(account, holder_masked, *time, *printed),
            Screen::Notice { text } => self.notice(text),
        }
    }

    /// The start screen, or what covers it: out of service, how to use, information.
    fn welcome(&self, availability: Availability) -> v::Screen {
        if availability.out_of_service {
            // No payment method, no fiscal module or no screen: say so, and where to go instead.
            return v::Screen::OutOfService(v::OutOfService {
                nearest_office: self.office.0.clone(),
                office_hours: self.office.1.clone(),
                hotline: self.hotline.clone(),
            });
        }
        if self.how_to {
            return v::Screen::HowToUse;
        }
        if let Some(selected) = self.info {
            return v::Screen::Info(v::Info {
                topics: self.info_topics.clone(),
                selected,
            });
        }
        v::Screen::Welcome(v::Welcome {
            payment_available: availability.cash || availability.card,
            readings_available: true,
            certificate_available: availability.online,
            scanner_available: availability.scanner && (availability.cash || availability.card),
        })
    }

    /// What the bridge opened over the core's screen: a service's amount being edited, the
    /// choice of payment method, the keypad for an e-receipt's contact.
    fn overlay(&self, screen: &Screen) -> Option<v::Screen> {
        match screen {
            Screen::Summary {
                account,
                total,
                max_payment,
                notice,
                cash,
                card,
                sbp,
                ..
            } => {
                if let Some(index) = self.editing {
                    return Some(self.amount_edit(account, index));
                }
                let methods = Methods {
                    cash: *cash,
                    card: *card,
                    sbp: *sbp,
                };
                (self.choosing_method && *notice == self.method_notice)
                    .then(|| payment_method(*total, *max_payment, methods))
            }
            Screen::ReceiptChoice { .. } | Screen::Done { .. } => self.contact_screen(),
            _ => None,
        }
    }

    fn certificate(
        &self,
        account: &str,
        holder_masked: &str,
        time: DateTime<Utc>,
        printed: bool,
    ) -> v::Screen {
        v::Screen::NoDebtCertificate(v::NoDebtCertificate {
            account: account.to_owned(),
            holder_masked: holder_masked.to_owned(),
            as_of: self.local(time),
            outcome: if printed {
                v::CertificateOutcome::Printed
            } else {
                v::CertificateOutcome::PrinterUnavailable
            },
        })
    }

    fn notice(&self, text: &str) -> v::Screen {
        v::Screen::Notice(v::Notice {
            message: text.to_owned(),
            hotline: self.hotline.clone(),
        })
    }

    fn entry(
        &self,
        p: Purpose,
        error: &Option<Refused<AccountProblem>>,
        availability: Availability,
    ) -> v::Screen {
        v::Screen::AccountEntry(v::AccountEntry {
            purpose: purpose(p),
            input: self.input.clone(),
            error: error
                .as_ref()
                .map(|e| v::Reason::explained(account_error(e.kind), &e.message)),
            // Only payments take a bill's code.
            scanner_available: availability.scanner && p == Purpose::Pay,
        })
    }

    /// The keypad over one service's amount.
    fn amount_edit(&self, account: &CustomerAccount, index: usize) -> v::Screen {
        let service = account.services.get(index);
        v::Screen::AmountEdit(v::AmountEdit {
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            balance_kopecks: service.map(|s| s.debt.kopecks()).unwrap_or_default(),
            input: self.input.clone(),
            error: None,
        })
    }

    fn meter_readings(
        &self,
        account: &CustomerAccount,
        refusals: &[ReadingRefusal],
        accepted: &[AcceptedReading],
    ) -> v::Screen {
        // Outside the acceptance window refuses the whole submission: one message for the
        // screen, not one per zone.
        let whole = refusals
            .iter()
            .find(|r| matches!(r.kind, ReadingProblem::OutsideWindow { .. }));
        let window_days = whole.and_then(|r| match r.kind {
            ReadingProblem::OutsideWindow {
                first_day,
                last_day,
            } => Some((first_day, last_day)),
            _ => None,
        });
        v::Screen::MeterReadings(v::MeterReadings {
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
                        .map(|(z, zone)| self.zone_view(meter, (m, z), zone, refusals, accepted))
                        .collect(),
                })
                .collect(),
            selected: self.zone,
            window_days,
            error: whole.map(|r| v::Reason::explained(reading_refusal(r.kind), &r.message)),
            can_submit: self.readings.values().any(|t| !t.is_empty()),
        })
    }

    /// One zone of a meter: what was typed, and whether the core refused or took it.
    fn zone_view(
        &self,
        meter: &MeterInfo,
        at: (usize, usize),
        zone: &ZoneInfo,
        refusals: &[ReadingRefusal],
        accepted: &[AcceptedReading],
    ) -> v::ZoneView {
        let refused = refusals.iter().find(|r| {
            r.meter_id == meter.id
                && r.zone == zone.code
                && !matches!(r.kind, ReadingProblem::OutsideWindow { .. })
        });
        let done = accepted
            .iter()
            .any(|a| a.meter_id == meter.id && a.zone == zone.code);
        let input = self.readings.get(&at).cloned().unwrap_or_default();
        v::ZoneView {
            zone: zone_kind(&zone.code, meter.zones.len()),
            previous: ui::format::group_thousands(zone.previous),
            state: match (refused, done, input.is_empty()) {
                (Some(r), _, _) => {
                    v::ZoneState::Refused(v::Reason::explained(reading_refusal(r.kind), &r.message))
                }
                (None, true, _) => v::ZoneState::Accepted,
                (None, false, false) => v::ZoneState::Entered,
                (None, false, true) => v::ZoneState::Empty,
            },
            input,
        }
    }

    fn readings_done(
        &self,
        accepted: &[AcceptedReading],
        printed: bool,
        time: DateTime<Utc>,
        terminal_id: &str,
        availability: Availability,
    ) -> v::Screen {
        v::Screen::ReadingsDone(v::ReadingsDone {
            registration_number: accepted
                .first()
                .map(|a| a.registration_no.clone())
                .unwrap_or_default(),
            registered_at: self.local(time),
            terminal_id: terminal_id.to_owned(),
            lines: accepted
                .iter()
                .map(|a| {
                    (
                        format!("{} · {}", a.meter_name, a.zone),
                        ui::format::group_thousands(a.value),
                    )
                })
                .collect(),
            slip_printed: printed,
            can_print_slip: !printed && availability.paper,
        })
    }
}

fn receipt_choice(total: Money, paper: bool, availability: Availability) -> v::Screen {
    v::Screen::ReceiptChoice(v::ReceiptChoice {
        amount_kopecks: total.kopecks(),
        paper_available: paper,
        sms_available: availability.online,
        email_available: availability.online,
    })
}

fn card_payment(amount: Money, prompt: &str, can_cancel: bool) -> v::Screen {
    v::Screen::CardPayment(v::CardPayment {
        amount_kopecks: amount.kopecks(),
        prompt: v::CardPrompt::Reader(prompt.to_owned()),
        can_cancel,
    })
}

/// Whole seconds from `now` to `deadline` for a countdown, rounded up: the last second shows «1»,
/// not «0».
fn seconds_left(deadline: DateTime<Utc>, now: DateTime<Utc>) -> Option<u32> {
    let left_ms = (deadline - now).num_milliseconds().max(0);
    u32::try_from((left_ms + 999) / 1000).ok()
}

/// Which payment methods work now.
#[derive(Debug, Clone, Copy)]
struct Methods {
    cash: bool,
    card: bool,
    sbp: bool,
}

/// The choice between cash, card and СБП for `total`. Card and QR payments take the whole
/// total at once, so neither is offered over the limit (cash is taken up to it).
fn payment_method(total: Money, max_payment: Money, methods: Methods) -> v::Screen {
    let over_limit = total > max_payment;
    let whole = total > Money::ZERO && !over_limit;
    v::Screen::PaymentMethod(v::PaymentMethod {
        total_kopecks: total.kopecks(),
        cash_available: methods.cash && max_payment > Money::ZERO,
        card_available: methods.card && whole,
        sbp_offered: methods.sbp,
        sbp_available: methods.sbp && whole,
        over_limit_kopecks: over_limit.then(|| max_payment.kopecks()),
    })
}

/// The QR payment: made, shown with its countdown (rounded up, like the idle countdown), or
/// waiting for the bank's last word.
fn sbp_payment(sbp: &SbpScreen, now: DateTime<Utc>) -> v::Screen {
    let SbpScreen {
        amount,
        payload,
        pay_until,
        checking,
        ..
    } = sbp;
    let (amount, payload, pay_until, checking) =
        (*amount, payload.as_deref(), *pay_until, *checking);
    let status = match (checking, payload) {
        (true, _) => v::SbpStatus::Checking,
        (false, Some(_)) => v::SbpStatus::Showing,
        (false, None) => v::SbpStatus::Requesting,
    };
    let seconds_left = pay_until.and_then(|until| seconds_left(until, now));
    v::Screen::SbpPayment(v::SbpPayment {
        amount_kopecks: amount.kopecks(),
        status,
        qr_payload: payload.map(str::to_owned),
        seconds_left,
        can_cancel: !checking,
    })
}

fn account_summary(
    account: &CustomerAccount,
    amounts: &[Money],
    total: Money,
    notice: Option<&Refused<SummaryProblem>>,
) -> v::Screen {
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
        notice: notice.map(|n| v::Reason::explained(summary_notice(n.kind), &n.message)),
    })
}

fn cash_insertion(
    requested: Money,
    inserted: Money,
    limit: Money,
    max_left: Money,
    accepted: &[Money],
    notice: Option<&Refused<CashProblem>>,
    busy: bool,
) -> v::Screen {
    v::Screen::CashInsertion(v::CashInsertion {
        due_kopecks: requested.kopecks(),
        inserted_kopecks: inserted.kopecks(),
        accepted_notes_kopecks: accepted.iter().map(|m| m.kopecks()).collect(),
        limit_kopecks: limit.kopecks(),
        left_kopecks: max_left.kopecks(),
        status: match notice {
            _ if busy => v::CashStatus::Accepting.into(),
            // The bill that came back and why, in the core's words.
            Some(Refused {
                kind: CashProblem::OverLimit | CashProblem::Rejected,
                message,
            }) => v::Reason::explained(v::CashStatus::Rejected, message),
            None if max_left <= Money::ZERO => v::CashStatus::LimitReached.into(),
            None => v::CashStatus::Waiting.into(),
        },
        can_finish: !busy && inserted > Money::ZERO,
        can_cancel: !busy && inserted == Money::ZERO,
    })
}

/// How the receipt reached the customer, for the final screen.
fn receipt_outcome(delivery: &ReceiptDelivery, qr: Option<&str>) -> v::ReceiptOutcome {
    match (delivery, qr) {
        (ReceiptDelivery::Printed, _) => v::ReceiptOutcome::Printed,
        (ReceiptDelivery::Sent { to }, _) => v::ReceiptOutcome::Sent { to: to.clone() },
        (ReceiptDelivery::OnScreen, Some(qr)) => v::ReceiptOutcome::PaperOut {
            fiscal_qr: qr.to_owned(),
        },
        (ReceiptDelivery::OnScreen, None) => v::ReceiptOutcome::Declined,
        (ReceiptDelivery::Later, _) => v::ReceiptOutcome::Later,
    }
}

/// A service's line tapped on the summary: pay its whole debt, or nothing.
fn toggle_service(index: usize, view: &View) -> Vec<session::Intent> {
    let Screen::Summary {
        account, amounts, ..
    } = &view.screen
    else {
        return vec![session::Intent::Touch];
    };
    let now_paying = amounts.get(index).copied().unwrap_or_default() > Money::ZERO;
    let debt = account
        .services
        .get(index)
        .map(|s| s.debt.max(Money::ZERO))
        .unwrap_or_default();
    let amount = if now_paying { Money::ZERO } else { debt };
    vec![session::Intent::SetServiceAmount {
        index,
        text: amount.format_plain(),
    }]
}

fn account_error(problem: AccountProblem) -> v::AccountError {
    match problem {
        AccountProblem::Empty => v::AccountError::Empty,
        AccountProblem::Invalid => v::AccountError::Invalid,
        AccountProblem::NotFound => v::AccountError::NotFound,
        AccountProblem::Unreachable => v::AccountError::Unreachable,
        AccountProblem::UnknownCode => v::AccountError::UnknownBarcode,
    }
}

fn summary_notice(problem: SummaryProblem) -> v::SummaryNotice {
    match problem {
        SummaryProblem::BadAmount => v::SummaryNotice::AmountRejected,
        SummaryProblem::ZeroAmount => v::SummaryNotice::NothingToPay,
        SummaryProblem::PerPaymentLimit { limit } => v::SummaryNotice::PaymentLimit {
            limit_kopecks: limit.kopecks(),
        },
        SummaryProblem::DayLimit { left } => v::SummaryNotice::DayLimit {
            left_kopecks: left.kopecks(),
        },
        SummaryProblem::CashUnavailable => v::SummaryNotice::CashUnavailable,
        SummaryProblem::CardUnavailable => v::SummaryNotice::CardUnavailable,
        SummaryProblem::CardDeclined => v::SummaryNotice::CardDeclined,
        SummaryProblem::CardCancelled => v::SummaryNotice::CardCancelled,
        SummaryProblem::CardReversed => v::SummaryNotice::CardReversed,
        SummaryProblem::SbpUnavailable => v::SummaryNotice::SbpUnavailable,
        SummaryProblem::SbpDeclined => v::SummaryNotice::SbpDeclined,
        SummaryProblem::SbpExpired => v::SummaryNotice::SbpExpired,
        SummaryProblem::SbpCancelled => v::SummaryNotice::SbpCancelled,
        SummaryProblem::HasDebt { debt } => v::SummaryNotice::HasDebt {
            debt_kopecks: debt.kopecks(),
        },
    }
}

fn reading_refusal(problem: ReadingProblem) -> v::ReadingRefusal {
    match problem {
        ReadingProblem::OutsideWindow {
            first_day,
            last_day,
        } => v::ReadingRefusal::OutsideWindow {
            from_day: first_day,
            to_day: last_day,
        },
        ReadingProblem::BelowPrevious { previous } => v::ReadingRefusal::BelowPrevious {
            previous: ui::format::group_thousands(previous),
        },
        ReadingProblem::TooManyDigits { capacity } => {
            v::ReadingRefusal::TooManyDigits { digits: capacity }
        }
        ReadingProblem::Implausible { consumption, limit } => v::ReadingRefusal::TooHigh {
            consumption: ui::format::group_thousands(consumption),
            max: ui::format::group_thousands(limit),
        },
        ReadingProblem::Malformed => v::ReadingRefusal::Malformed,
        ReadingProblem::Missing => v::ReadingRefusal::Missing,
        ReadingProblem::AlreadyAccepted => v::ReadingRefusal::AlreadyAccepted,
        ReadingProblem::UnknownMeter => v::ReadingRefusal::UnknownMeter,
        ReadingProblem::Unreachable => v::ReadingRefusal::Unreachable,
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn view(screen: Screen) -> View {
        View {
            screen,
            idle_deadline: Some(at(60)),
            countdown_from: Some(at(40)),
            availability: Availability::default(),
            service: None,
        }
    }

    #[test]
    fn an_account_refusal_keeps_its_kind_and_exact_words() {
        let mut bridge = ScreenBridge::new("8-800");
        let message = "Номер лицевого счёта должен содержать 10 цифр, введено 9";
        let state = bridge.view_state(
            &view(Screen::AccountEntry {
                purpose: Purpose::Pay,
                error: Some(Refused::new(AccountProblem::Invalid, message)),
            }),
            at(0),
        );
        let v::Screen::AccountEntry(entry) = state.screen else {
            panic!("{:?}", state.screen)
        };
        assert_eq!(
            entry.error,
            Some(v::Reason::explained(v::AccountError::Invalid, message))
        );
    }

    #[test]
    fn the_cash_screen_gets_the_bills_the_limit_and_the_returned_bill_s_reason() {
        let mut bridge = ScreenBridge::new("8-800");
        let message =
            "Купюра 5 000,00 ₽ не принята: можно внести ещё не больше 3 000,00 ₽. Возьмите купюру.";
        let state = bridge.view_state(
            &view(Screen::Cash {
                account: "1000000001".into(),
                requested: Money::from_rubles(15_000),
                inserted: Money::from_rubles(12_000),
                limit: Money::from_rubles(15_000),
                max_left: Money::from_rubles(3_000),
                accepted: vec![Money::from_rubles(100), Money::from_rubles(1_000)],
                notice: Some(Refused::new(CashProblem::OverLimit, message)),
                busy: false,
            }),
            at(0),
        );
        let v::Screen::CashInsertion(cash) = state.screen else {
            panic!("{:?}", state.screen)
        };
        assert_eq!(cash.accepted_notes_kopecks, vec![10_000, 100_000]);
        assert_eq!(
            (cash.limit_kopecks, cash.left_kopecks),
            (1_500_000, 300_000)
        );
        assert_eq!(
            cash.status,
            v::Reason::explained(v::CashStatus::Rejected, message)
        );
    }

    #[test]
    fn the_countdown_runs_from_the_core_s_warning_time_rounded_up() {
        let mut bridge = ScreenBridge::new("8-800");
        let entry = view(Screen::AccountEntry {
            purpose: Purpose::Pay,
            error: None,
        });
        assert_eq!(bridge.view_state(&entry, at(39)).idle_countdown, None);
        assert_eq!(bridge.view_state(&entry, at(40)).idle_countdown, Some(20));
        let almost = at(59) + Duration::milliseconds(500);
        assert_eq!(bridge.view_state(&entry, almost).idle_countdown, Some(1));
        let final_screen = View {
            countdown_from: None,
            ..view(Screen::Notice {
                text: "Справку сейчас выдать нельзя".into(),
            })
        };
        let state = bridge.view_state(&final_screen, at(59));
        assert_eq!(state.idle_countdown, None);
        assert_eq!(
            state.screen,
            v::Screen::Notice(v::Notice {
                message: "Справку сейчас выдать нельзя".into(),
                hotline: "8-800".into(),
            })
        );
    }

    #[test]
    fn zones_follow_the_code_and_the_zone_count() {
        assert_eq!(zone_kind("T1", 1), v::TariffZone::Single);
        assert_eq!(zone_kind("T1", 2), v::TariffZone::Day);
        assert_eq!(zone_kind("T2", 2), v::TariffZone::Night);
        assert_eq!(zone_kind("T1", 3), v::TariffZone::Peak);
        assert_eq!(zone_kind("Т2", 3), v::TariffZone::Night);
        assert_eq!(zone_kind("T3", 3), v::TariffZone::SemiPeak);
    }
}

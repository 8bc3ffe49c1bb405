//! The glue: view state in, Slint properties out; Slint callbacks in, intents out.
//!
//! Stateless on purpose: everything lives in the window's properties, and Slint only marks a
//! property dirty when its value changes, so showing the same view state twice draws nothing.

mod chrome;
mod info;
mod intents;
mod lists;
mod payment;
mod readings;
mod service;

pub(crate) use chrome::set_brand;
pub(crate) use intents::connect;

use slint::ComponentHandle;

use crate::generated::{Kiosk, KioskWindow, Page};
use crate::view::{Screen, ViewState};

/// Writes one view state into the window. Data of screens not shown is reset to defaults, so
/// no personal data lingers in hidden properties after the screen changes.
pub(crate) fn apply(window: &KioskWindow, state: &ViewState) {
    chrome::apply(window, state);
    let kiosk = window.global::<Kiosk>();
    let page = page_of(&state.screen);
    if kiosk.get_page() != page {
        clear_screen_data(window);
    }
    match &state.screen {
        Screen::Welcome(s) => info::welcome(window, s),
        Screen::HowToUse => {}
        Screen::AccountEntry(s) => payment::account_entry(window, s),
        Screen::AccountSummary(s) => payment::account_summary(window, s),
        Screen::AmountEdit(s) => payment::amount_edit(window, s),
        Screen::PaymentMethod(s) => payment::payment_method(window, s),
        Screen::CashInsertion(s) => payment::cash(window, s),
        Screen::CardPayment(s) => payment::card(window, s),
        Screen::SbpPayment(s) => payment::sbp(window, s),
        Screen::Processing(s) => payment::processing(window, *s),
        Screen::ReceiptChoice(s) => payment::receipt_choice(window, s),
        Screen::ContactEntry(s) => payment::contact_entry(window, s),
        Screen::Done(s) => payment::done(window, s),
        Screen::MeterReadings(s) => readings::readings(window, s),
        Screen::ReadingsDone(s) => readings::readings_done(window, s),
        Screen::Info(s) => info::info(window, s),
        Screen::NoDebtCertificate(s) => info::certificate(window, s),
        Screen::OutOfService(s) => info::out_of_service(window, s),
        Screen::Notice(s) => info::notice(window, s),
        Screen::ServicePin(s) => service::pin(window, s),
        Screen::ServiceStatus(s) => service::status(window, s),
        Screen::ServiceReport(s) => service::report(window, s),
    }
    // The page switches last, so the new page is built with its data already in place.
    kiosk.set_page(page);
}

fn page_of(screen: &Screen) -> Page {
    match screen {
        Screen::Welcome(_) => Page::Welcome,
        Screen::HowToUse => Page::HowToUse,
        Screen::AccountEntry(_) => Page::AccountEntry,
        Screen::AccountSummary(_) => Page::AccountSummary,
        Screen::AmountEdit(_) => Page::AmountEdit,
        Screen::PaymentMethod(_) => Page::PaymentMethod,
        Screen::CashInsertion(_) => Page::Cash,
        Screen::CardPayment(_) => Page::Card,
        Screen::SbpPayment(_) => Page::SbpPayment,
        Screen::Processing(_) => Page::Processing,
        Screen::ReceiptChoice(_) => Page::ReceiptChoice,
        Screen::ContactEntry(_) => Page::ContactEntry,
        Screen::Done(_) => Page::Done,
        Screen::MeterReadings(_) => Page::Readings,
        Screen::ReadingsDone(_) => Page::ReadingsDone,
        Screen::Info(_) => Page::Info,
        Screen::NoDebtCertificate(_) => Page::Certificate,
        Screen::OutOfService(_) => Page::OutOfService,
        Screen::Notice(_) => Page::Notice,
        Screen::ServicePin(_) => Page::ServicePin,
        Screen::ServiceStatus(_) => Page::ServiceStatus,
        Screen::ServiceReport(_) => Page::ServiceReport,
    }
}

fn clear_screen_data(window: &KioskWindow) {
    let k = window.global::<Kiosk>();
    k.set_entry(Default::default());
    k.set_summary(Default::default());
    k.set_method(Default::default());
    k.set_cash(Default::default());
    k.set_card(Default::default());
    k.set_sbp(Default::default());
    k.set_processing(Default::default());
    k.set_receipt(Default::default());
    k.set_done(Default::default());
    k.set_readings(Default::default());
    k.set_readings_done(Default::default());
    k.set_certificate(Default::default());
    k.set_outage(Default::default());
    k.set_stop(Default::default());
    k.set_service(Default::default());
    k.set_report(Default::default());
    k.set_topic(0);
    lists::clear(window);
}

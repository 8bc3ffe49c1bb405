//! Welcome, information, no-debt certificate, out of service.

use slint::{ComponentHandle, SharedString};

use super::lists;
use crate::generated::{
    CertificateData, Kiosk, KioskWindow, OutageData, StopData, TextRow, WelcomeData,
};
use crate::text;
use crate::view::*;

pub(super) fn welcome(w: &KioskWindow, v: &Welcome) {
    w.global::<Kiosk>().set_welcome(WelcomeData {
        pay: v.payment_available,
        readings: v.readings_available,
        certificate: v.certificate_available,
        scanner: v.scanner_available,
    });
}

pub(super) fn info(w: &KioskWindow, v: &Info) {
    lists::topics(
        w,
        v.topics
            .iter()
            .map(|t| SharedString::from(t.title.as_str()))
            .collect(),
    );
    let entries = v
        .topics
        .get(v.selected)
        .map(|t| {
            t.entries
                .iter()
                .map(|e| TextRow {
                    title: e.heading.as_str().into(),
                    text: e.text.as_str().into(),
                })
                .collect()
        })
        .unwrap_or_default();
    lists::rows(w, entries);
    w.global::<Kiosk>()
        .set_topic(i32::try_from(v.selected).unwrap_or(-1));
}

pub(super) fn certificate(w: &KioskWindow, v: &NoDebtCertificate) {
    let (message, issued) = text::certificate(&v.outcome);
    w.global::<Kiosk>().set_certificate(CertificateData {
        account: v.account.as_str().into(),
        holder: v.holder_masked.as_str().into(),
        as_of: v.as_of.as_str().into(),
        issued,
        message: message.into(),
    });
}

pub(super) fn notice(w: &KioskWindow, v: &Notice) {
    w.global::<Kiosk>().set_stop(StopData {
        message: v.message.as_str().into(),
        hotline: v.hotline.as_str().into(),
    });
}

pub(super) fn out_of_service(w: &KioskWindow, v: &OutOfService) {
    w.global::<Kiosk>().set_outage(OutageData {
        title: text::OUT_OF_SERVICE_TITLE.into(),
        message: text::OUT_OF_SERVICE_MESSAGE.into(),
        office: v.nearest_office.as_str().into(),
        hours: v.office_hours.as_str().into(),
        hotline: v.hotline.as_str().into(),
    });
}

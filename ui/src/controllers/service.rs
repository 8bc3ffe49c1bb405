//! Service mode: PIN, status, and the reports of service operations.

use slint::{ComponentHandle, SharedString};

use super::lists;
use crate::generated::{
    EntryData, Kiosk, KioskWindow, ServiceReportData, ServiceStatusData, StatusRow,
};
use crate::text;
use crate::view::*;

pub(super) fn pin(w: &KioskWindow, v: &ServicePin) {
    w.global::<Kiosk>().set_entry(EntryData {
        title: "Сервисный вход".into(),
        hint: "Введите ПИН-код техника.".into(),
        field: "ПИН-код".into(),
        // Only dots: the digits never leave the core.
        value: "●".repeat(v.digits_entered.min(12)).into(),
        placeholder: "".into(),
        error: v.error.map(text::pin_error).unwrap_or_default().into(),
        decimal: false,
        letters: false,
        scanner: false,
        submit: "Войти".into(),
        can_submit: v.digits_entered > 0,
    });
}

pub(super) fn status(w: &KioskWindow, v: &ServiceStatus) {
    lists::devices(
        w,
        v.devices
            .iter()
            .map(|d| StatusRow {
                name: d.name.as_str().into(),
                state: d.state.as_str().into(),
                ok: d.ok,
            })
            .collect(),
    );
    lists::pairs(w, &v.last_errors);
    w.global::<Kiosk>().set_service(ServiceStatusData {
        terminal: v.terminal_id.as_str().into(),
        cash: v.cash_in_box.as_str().into(),
        shift: v.shift.as_str().into(),
        paper: v.paper.as_str().into(),
    });
}

pub(super) fn report(w: &KioskWindow, v: &ServiceReport) {
    lists::pairs(w, &v.lines);
    lists::report_actions(
        w,
        v.choices
            .iter()
            .map(|c| SharedString::from(c.as_str()))
            .collect(),
    );
    w.global::<Kiosk>().set_report(ServiceReportData {
        title: v.title.as_str().into(),
        busy: v.busy,
        confirm: v.confirm.clone().unwrap_or_default().into(),
        can_confirm: v.confirm.is_some(),
    });
}

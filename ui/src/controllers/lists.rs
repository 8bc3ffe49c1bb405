//! List properties, updated in place and only when their rows change (no redraw otherwise).

use std::rc::Rc;

use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use crate::generated::{Kiosk, KioskWindow, ServiceLine, StatusRow, TextRow, ZoneLine};

/// Makes `current` hold exactly `rows`, touching it only if something differs.
fn sync<T: Clone + PartialEq + 'static>(current: ModelRc<T>, rows: Vec<T>) -> Option<ModelRc<T>> {
    if current.row_count() == rows.len() && current.iter().zip(&rows).all(|(a, b)| &a == b) {
        return None;
    }
    if let Some(model) = current.as_any().downcast_ref::<VecModel<T>>() {
        model.set_vec(rows);
        return None;
    }
    Some(ModelRc::from(Rc::new(VecModel::from(rows))))
}

pub(super) fn services(w: &KioskWindow, rows: Vec<ServiceLine>) {
    let k = w.global::<Kiosk>();
    if let Some(m) = sync(k.get_services(), rows) {
        k.set_services(m);
    }
}

pub(super) fn zones(w: &KioskWindow, rows: Vec<ZoneLine>) {
    let k = w.global::<Kiosk>();
    if let Some(m) = sync(k.get_zones(), rows) {
        k.set_zones(m);
    }
}

pub(super) fn rows(w: &KioskWindow, rows: Vec<TextRow>) {
    let k = w.global::<Kiosk>();
    if let Some(m) = sync(k.get_rows(), rows) {
        k.set_rows(m);
    }
}

pub(super) fn pairs(w: &KioskWindow, pairs: &[(String, String)]) {
    rows(
        w,
        pairs
            .iter()
            .map(|(title, text)| TextRow {
                title: title.into(),
                text: text.into(),
            })
            .collect(),
    );
}

pub(super) fn topics(w: &KioskWindow, rows: Vec<SharedString>) {
    let k = w.global::<Kiosk>();
    if let Some(m) = sync(k.get_topics(), rows) {
        k.set_topics(m);
    }
}

pub(super) fn devices(w: &KioskWindow, rows: Vec<StatusRow>) {
    let k = w.global::<Kiosk>();
    if let Some(m) = sync(k.get_devices(), rows) {
        k.set_devices(m);
    }
}

pub(super) fn report_actions(w: &KioskWindow, rows: Vec<SharedString>) {
    let k = w.global::<Kiosk>();
    if let Some(m) = sync(k.get_report_actions(), rows) {
        k.set_report_actions(m);
    }
}

pub(super) fn clear(w: &KioskWindow) {
    services(w, Vec::new());
    zones(w, Vec::new());
    rows(w, Vec::new());
    topics(w, Vec::new());
    devices(w, Vec::new());
    report_actions(w, Vec::new());
}

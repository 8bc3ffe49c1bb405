//! Meter readings: zones with previous values, entry, refusals, the registration slip.

use slint::ComponentHandle;

use super::lists;
use crate::generated::{Kiosk, KioskWindow, ReadingsData, ReadingsDoneData, ZoneLine};
use crate::text;
use crate::view::*;

fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

pub(super) fn readings(w: &KioskWindow, v: &MeterReadings) {
    let mut zones = Vec::new();
    for (m, meter) in v.meters.iter().enumerate() {
        for (z, zone) in meter.zones.iter().enumerate() {
            let (state, message) = match &zone.state {
                ZoneState::Empty | ZoneState::Entered => ("", String::new()),
                ZoneState::Accepted => ("ok", "Показания верные.".to_owned()),
                ZoneState::Refused(refusal) => ("refused", text::reading_reason(refusal)),
            };
            zones.push(ZoneLine {
                meter_index: index(m),
                zone_index: index(z),
                meter: meter.serial.as_str().into(),
                zone: text::zone_name(zone.zone).into(),
                previous: text::meter_value(&zone.previous).into(),
                value: zone.input.as_str().into(),
                state: state.into(),
                message: message.into(),
                selected: v.selected == (m, z),
            });
        }
    }
    lists::zones(w, zones);
    w.global::<Kiosk>().set_readings(ReadingsData {
        account: v.account.as_str().into(),
        window: v
            .window_days
            .map(|(from, to)| text::readings_window(from, to))
            .unwrap_or_default()
            .into(),
        error: v
            .error
            .as_ref()
            .map(text::reading_reason)
            .unwrap_or_default()
            .into(),
        can_submit: v.can_submit,
    });
}

pub(super) fn readings_done(w: &KioskWindow, v: &ReadingsDone) {
    lists::pairs(w, &v.lines);
    w.global::<Kiosk>().set_readings_done(ReadingsDoneData {
        number: v.registration_number.as_str().into(),
        when: v.registered_at.as_str().into(),
        terminal: v.terminal_id.as_str().into(),
        printed: text::readings_slip(v.slip_printed, v.can_print_slip).into(),
        can_print: v.can_print_slip,
    });
}

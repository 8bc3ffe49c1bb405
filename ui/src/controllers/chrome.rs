//! What every screen shares: display modes, idle countdown, degraded notice.

use slint::ComponentHandle;

use crate::generated::{Kiosk, KioskWindow, NoticeData, Theme};
use crate::text;
use crate::view::ViewState;

pub(super) fn apply(w: &KioskWindow, state: &ViewState) {
    let theme = w.global::<Theme>();
    theme.set_large_text(state.accessibility.large_text);
    theme.set_high_contrast(state.accessibility.high_contrast);

    let k = w.global::<Kiosk>();
    let seconds = state
        .idle_countdown
        .map_or(-1, |s| i32::try_from(s).unwrap_or(i32::MAX));
    k.set_idle_seconds(seconds);
    k.set_notice(match &state.notice {
        Some(notice) if !notice.unavailable.is_empty() => NoticeData {
            visible: true,
            text: text::degraded_notice(notice).into(),
            hotline: notice.hotline.as_str().into(),
        },
        _ => NoticeData::default(),
    });
}

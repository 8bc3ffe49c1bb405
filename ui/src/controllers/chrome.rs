//! What every screen shares: display modes, idle countdown, degraded notice.

use slint::ComponentHandle;

use slint::{ModelRc, SharedString, VecModel};

use crate::brand::Brand;
use crate::generated::{BrandData, Kiosk, KioskWindow, NoticeData, Theme};
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

/// The retailer's name, logo, colours and how-to-use text.
pub(crate) fn set_brand(w: &KioskWindow, brand: &Brand) {
    let theme = w.global::<Theme>();
    theme.set_brand_primary(brand.primary().to_slint());
    theme.set_brand_text_on_primary(brand.text_on_primary().to_slint());
    theme.set_brand_accent(brand.accent().to_slint());
    let logo = brand.logo_image();
    let lines: Vec<SharedString> = brand.how_to_use().iter().map(|l| l.into()).collect();
    w.global::<Kiosk>().set_brand(BrandData {
        name: brand.name().into(),
        show_name: brand.show_name() || logo.is_none(),
        has_logo: logo.is_some(),
        logo: logo.unwrap_or_default(),
        how_to_use: ModelRc::new(VecModel::from(lines)),
    });
}

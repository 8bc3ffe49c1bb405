//! The software-rendered screens: real pixels, and nothing drawn while the screen is at rest.

use ui::view::{Accessibility, SbpPayment, SbpStatus, Screen, Welcome};
use ui::{FormFactor, Headless, ViewState};

#[test]
fn a_screen_at_rest_is_not_redrawn_and_a_change_is() {
    let headless = Headless::new().unwrap();
    let (w, h) = FormFactor::Portrait.size();
    let samples = ui::samples::all();
    let welcome = &samples[0].1;
    let image = headless.render(welcome, w, h);
    assert_eq!(image.dimensions(), (w, h));

    for _ in 0..10 {
        assert!(!headless.draw_if_needed(), "nothing changed, nothing drawn");
    }
    headless.ui().show(welcome);
    assert!(
        !headless.draw_if_needed(),
        "the same view state again draws nothing"
    );
    assert!(!headless.has_active_animations());

    let mut contrast = welcome.clone();
    contrast.accessibility = Accessibility {
        high_contrast: true,
        large_text: false,
    };
    headless.ui().show(&contrast);
    assert!(headless.draw_if_needed(), "a changed view state is drawn");

    // Every screen at rest, after its first frame.
    for (name, state) in &samples {
        headless.render(state, w, h);
        headless.ui().show(state);
        assert!(!headless.draw_if_needed(), "{name} redraws at rest");
    }
}

#[test]
fn screens_render_text_in_both_modes() {
    let headless = Headless::new().unwrap();
    let state = ViewState {
        screen: Screen::Welcome(Welcome::default()),
        ..ViewState::default()
    };
    let (w, h) = FormFactor::LandscapeSmall.size();
    let normal = headless.render(&state, w, h);
    // Light background, dark text: the title band holds both.
    let band = |img: &image::RgbImage| {
        let mut dark = 0;
        let mut light = 0;
        for y in 100..200 {
            for x in 0..w {
                let p = img.get_pixel(x, y);
                let luma = u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]);
                if luma < 150 {
                    dark += 1;
                } else if luma > 600 {
                    light += 1;
                }
            }
        }
        (dark, light)
    };
    let (dark, light) = band(&normal);
    assert!(
        dark > 500 && light > 500,
        "normal: {dark} dark, {light} light"
    );
    assert!(normal.get_pixel(w - 5, h / 2)[0] > 200, "light background");

    let contrast = headless.render(
        &ViewState {
            accessibility: Accessibility {
                high_contrast: true,
                large_text: false,
            },
            ..state
        },
        w,
        h,
    );
    assert_eq!(
        contrast.get_pixel(w - 5, h / 2).0,
        [0, 0, 0],
        "black background"
    );
}

#[test]
fn render_to_png_writes_a_png() {
    let dir = std::env::temp_dir().join(format!("ui-png-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("welcome.png");
    ui::render_to_png(&ViewState::default(), (1080, 1920), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let missing = dir.join("no/such/dir/x.png");
    assert!(matches!(
        ui::render_to_png(&ViewState::default(), (100, 100), &missing),
        Err(ui::UiError::Png { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_brand_from_configuration_repaints_the_screens_and_high_contrast_still_wins() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/brand-example/brand.toml"
    );
    let brand = ui::Brand::from_file(std::path::Path::new(file)).unwrap();
    let headless = Headless::new().unwrap();
    let (w, h) = FormFactor::Portrait.size();
    let welcome = ViewState::default();
    let count = |img: &image::RgbImage, rgb: [u8; 3]| img.pixels().filter(|p| p.0 == rgb).count();
    let default_blue = [0x0b, 0x5c, 0xad];
    let green = [0x1d, 0x6b, 0x45];

    let before = headless.render(&welcome, w, h);
    assert!(
        count(&before, default_blue) > 100_000,
        "header and buttons in the default blue"
    );
    assert_eq!(count(&before, green), 0);

    headless.ui().set_brand(&brand);
    let after = headless.render(&welcome, w, h);
    assert_eq!(
        count(&after, default_blue),
        0,
        "nothing of the old brand is left"
    );
    // The header bar (below its logo) and the two main buttons are the brand's green.
    assert!(count(&after, green) > 100_000);
    assert_eq!(after.get_pixel(w - 2, 2).0, green, "the header's corner");

    let mut contrast = welcome.clone();
    contrast.accessibility = Accessibility {
        high_contrast: true,
        large_text: false,
    };
    let black = headless.render(&contrast, w, h);
    assert_eq!(
        black.get_pixel(w - 2, 2).0,
        [0, 0, 0],
        "the header is black"
    );
    // Only the logo's own drawing keeps its green.
    assert!(
        count(&black, green) < 5_000,
        "high contrast ignores the brand's colours"
    );
}

/// What a phone's camera would read off the screen: every QR code, decoded by `rqrr` (an
/// ordinary reader, not our encoder), with its width in pixels (the code, not its quiet zone).
fn qr_codes_on(img: &image::RgbImage) -> Vec<(String, i32)> {
    let gray = image::DynamicImage::ImageRgb8(img.clone()).to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(gray);
    prepared
        .detect_grids()
        .iter()
        .map(|grid| {
            let content = match grid.decode() {
                Ok((_, content)) => content,
                Err(error) => format!("undecodable: {error:?}"),
            };
            (content, grid.bounds[1].x - grid.bounds[0].x)
        })
        .collect()
}

#[test]
fn the_sbp_code_on_screen_reads_back_as_the_bank_s_payload_in_every_mode() {
    let headless = Headless::new().unwrap();
    let payment = ui::samples::sbp_showing();
    for form in [
        FormFactor::Portrait,
        FormFactor::LandscapeSmall,
        FormFactor::Landscape,
    ] {
        for (high_contrast, large_text) in [(false, false), (true, false), (false, true)] {
            let state = ViewState {
                screen: Screen::SbpPayment(payment.clone()),
                accessibility: Accessibility {
                    high_contrast,
                    large_text,
                },
                ..ViewState::default()
            };
            let (w, h) = form.size();
            let codes = qr_codes_on(&headless.render(&state, w, h));
            let mode = format!("{form:?}, contrast {high_contrast}, large {large_text}");
            assert_eq!(codes.len(), 1, "{mode}: one code on screen");
            let (content, width) = &codes[0];
            assert_eq!(content, ui::samples::SBP_PAYLOAD, "{mode}");
            let sum = content
                .split(['?', '&'])
                .find_map(|pair| pair.strip_prefix("sum="))
                .and_then(|sum| sum.parse::<i64>().ok());
            assert_eq!(sum, Some(payment.amount_kopecks), "{mode}: the sum paid");
            // Portrait: over half the 1080-px width. An 800-px-high landscape panel with large
            // text gives the steps room: still about 90 mm at its 97 DPI.
            let least = if form == FormFactor::Portrait {
                560
            } else {
                340
            };
            assert!(*width >= least, "{mode}: the code is {width} px wide");
        }
    }
}

#[test]
fn no_code_is_on_screen_while_it_is_made_or_checked() {
    let headless = Headless::new().unwrap();
    let (w, h) = FormFactor::Portrait.size();
    for status in [SbpStatus::Requesting, SbpStatus::Checking] {
        // Even if the core still had the payload: only a code that can be paid is shown.
        let state = ViewState {
            screen: Screen::SbpPayment(SbpPayment {
                status,
                ..ui::samples::sbp_showing()
            }),
            ..ViewState::default()
        };
        assert!(
            qr_codes_on(&headless.render(&state, w, h)).is_empty(),
            "{status:?}"
        );
    }
}

#[test]
fn the_countdown_ticking_neither_redraws_the_code_nor_encodes_it_again() {
    use slint::ComponentHandle;
    use ui::generated::Kiosk;
    let headless = Headless::new().unwrap();
    let (w, h) = FormFactor::Portrait.size();
    let mut payment = ui::samples::sbp_showing();
    let view = |p: &SbpPayment| ViewState {
        screen: Screen::SbpPayment(p.clone()),
        ..ViewState::default()
    };
    headless.render(&view(&payment), w, h);
    let kiosk = headless.ui().component().global::<Kiosk>();
    let drawn = kiosk.get_sbp().qr;
    assert!(drawn.size().width > 0);
    headless.ui().show(&view(&payment));
    assert!(
        !headless.draw_if_needed(),
        "the same second again draws nothing"
    );
    payment.seconds_left = Some(164);
    headless.ui().show(&view(&payment));
    assert_eq!(kiosk.get_sbp().countdown, "Осталось 2:44");
    assert_eq!(kiosk.get_sbp().qr, drawn, "the very image drawn before");
    assert!(headless.draw_if_needed(), "the countdown is redrawn");
}

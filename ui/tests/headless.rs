//! The software-rendered screens: real pixels, and nothing drawn while the screen is at rest.

use ui::view::{Accessibility, Screen, Welcome};
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

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

//! Properties every screen must have, checked on the sample view states of every screen:
//! controls findable by label, touch targets of at least 15 mm, main actions within reach.

use ui::testing::TestUi;
use ui::FormFactor;

/// 15 mm on the densest supported panel (15.6" 1280×800 ≈ 97 DPI; 21.5" 1080×1920 ≈ 102 DPI).
const MIN_TARGET_PX: f32 = 15.0 / 25.4 * 102.0;

#[test]
fn every_control_is_labelled_and_large_enough() {
    let t = TestUi::new();
    for form in [
        FormFactor::Portrait,
        FormFactor::LandscapeSmall,
        FormFactor::Landscape,
    ] {
        t.set_form_factor(form);
        for (name, state) in ui::samples::all() {
            t.show(&state);
            let controls = t.controls();
            assert!(!controls.is_empty(), "{name}: no controls");
            for label in &controls {
                assert!(
                    !label.trim().is_empty(),
                    "{name}: a control without a label"
                );
            }
            for (label, width, height) in t.control_sizes() {
                assert!(
                    width >= MIN_TARGET_PX && height >= MIN_TARGET_PX,
                    "{name} ({form:?}): {label:?} is {width}×{height} px, under 15 mm"
                );
            }
        }
    }
}

#[test]
fn accessibility_switches_are_on_every_customer_screen() {
    let t = TestUi::new();
    for (name, state) in ui::samples::all() {
        if name.starts_with("service") {
            continue;
        }
        t.show(&state);
        assert!(t.has("Крупный шрифт"), "{name}");
        assert!(t.has("Контраст"), "{name}");
    }
}

#[test]
fn main_actions_are_in_the_lower_half_in_portrait() {
    let t = TestUi::new();
    let samples = ui::samples::all();
    let (_, height) = FormFactor::Portrait.size();
    for (screen, action) in [
        ("welcome", "Оплатить"),
        ("account-entry", "Далее"),
        ("account-summary", "Перейти к оплате"),
        ("payment-method", "Наличными"),
        ("cash", "Завершить оплату"),
        ("receipt-choice", "Напечатать чек"),
        ("readings", "Передать показания"),
        ("done", "Готово"),
    ] {
        let state = &samples.iter().find(|(n, _)| *n == screen).unwrap().1;
        t.show(state);
        let top = t.control_top(action).unwrap();
        assert!(
            top > height as f32 / 2.0,
            "{screen}: {action} starts at y={top}"
        );
    }
}

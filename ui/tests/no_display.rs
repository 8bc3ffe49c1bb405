//! Without a display the UI says so with a typed error instead of crashing.

#[test]
fn starting_without_a_display_is_a_clear_error() {
    // This test binary has a single test, so changing its environment races with nothing.
    std::env::remove_var("DISPLAY");
    std::env::remove_var("WAYLAND_DISPLAY");
    let error = ui::Ui::new().err().expect("no window without a display");
    assert!(matches!(error, ui::UiError::NoDisplay), "{error:?}");
    assert!(error.to_string().contains("terminal demo"));
}

//! The on-screen UI: a window on a real display (winit for development, DRM/KMS on the kiosk).

use std::rc::Rc;

use slint::ComponentHandle;

use crate::brand::Brand;
use crate::controllers;
use crate::error::UiError;
use crate::generated::KioskWindow;
use crate::intent::Intent;
use crate::view::ViewState;

/// The panel sizes the screens are laid out for (logical pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormFactor {
    /// The common kiosk panel, 1080×1920 portrait.
    Portrait,
    /// 1280×800 landscape (small panels).
    LandscapeSmall,
    /// 1920×1080 landscape.
    Landscape,
}

impl FormFactor {
    pub const ALL: [FormFactor; 3] = [
        FormFactor::Portrait,
        FormFactor::LandscapeSmall,
        FormFactor::Landscape,
    ];

    pub fn size(self) -> (u32, u32) {
        match self {
            FormFactor::Portrait => (1080, 1920),
            FormFactor::LandscapeSmall => (1280, 800),
            FormFactor::Landscape => (1920, 1080),
        }
    }

    /// A short name for file names: `portrait`, `landscape-1280x800`, `landscape-1920x1080`.
    pub fn name(self) -> &'static str {
        match self {
            FormFactor::Portrait => "portrait",
            FormFactor::LandscapeSmall => "landscape-1280x800",
            FormFactor::Landscape => "landscape-1920x1080",
        }
    }
}

/// The kiosk window. Lives on the UI thread (Slint is single-threaded); other threads talk to
/// it through a [`UiHandle`].
pub struct Ui {
    window: KioskWindow,
}

impl Ui {
    /// Opens the window on the platform's default backend (winit; with the `kiosk` feature,
    /// DRM/KMS when no windowing system runs). Fails with [`UiError::NoDisplay`] rather than
    /// crashing on a machine without a display.
    pub fn new() -> Result<Ui, UiError> {
        #[cfg(not(feature = "kiosk"))]
        if !has_display(|name| std::env::var_os(name)) {
            return Err(UiError::NoDisplay);
        }
        Ui::with_current_platform()
    }

    /// Creates the window on whatever Slint platform is installed on this thread (the testing
    /// backend, a headless platform) without checking for a display.
    pub fn with_current_platform() -> Result<Ui, UiError> {
        let window = KioskWindow::new().map_err(|error| {
            let text = error.to_string();
            if text.contains("display") || text.contains("Display") {
                UiError::NoDisplay
            } else {
                UiError::Platform(text)
            }
        })?;
        controllers::set_brand(&window, &Brand::default());
        Ok(Ui { window })
    }

    /// The retailer's look (name, logo, colours, how-to-use text); the default brand until set.
    pub fn set_brand(&self, brand: &Brand) {
        controllers::set_brand(&self.window, brand);
    }

    /// Shows a view state. Cheap when nothing changed: no property changes, no redraw.
    pub fn show(&self, state: &ViewState) {
        controllers::apply(&self.window, state);
    }

    /// Every user action goes to `sink`. Replaces an earlier sink.
    pub fn on_intent(&self, sink: impl Fn(Intent) + 'static) {
        controllers::connect(&self.window, Rc::new(sink));
    }

    /// A `Send` handle for showing view states from other threads (e.g. the tokio runtime).
    pub fn handle(&self) -> UiHandle {
        UiHandle {
            window: self.window.as_weak(),
        }
    }

    pub fn set_form_factor(&self, form: FormFactor) {
        let (w, h) = form.size();
        self.set_size(w, h);
    }

    pub fn set_size(&self, width: u32, height: u32) {
        // The window also tells the theme on resize, but only from its event loop: set it now so
        // the first frame (and a test's first tap) already has the right layout.
        self.window
            .global::<crate::generated::Theme>()
            .set_landscape(width > height);
        self.window
            .window()
            .set_size(slint::LogicalSize::new(width as f32, height as f32));
    }

    /// Shows the window and runs the event loop until it is closed or [`UiHandle::quit`].
    pub fn run(&self) -> Result<(), UiError> {
        self.window
            .run()
            .map_err(|error| UiError::Platform(error.to_string()))
    }

    /// The Slint component, for tests and tools that inspect it.
    pub fn component(&self) -> &KioskWindow {
        &self.window
    }
}

/// Sends view states to the UI thread. Clone it freely; it is `Send`.
#[derive(Clone)]
pub struct UiHandle {
    window: slint::Weak<KioskWindow>,
}

impl UiHandle {
    pub fn show(&self, state: ViewState) -> Result<(), UiError> {
        self.window
            .upgrade_in_event_loop(move |window| controllers::apply(&window, &state))
            .map_err(|_| UiError::EventLoopGone)
    }

    /// Runs `f` on the UI thread: a liveness probe (the watchdog's heartbeat beats only when the
    /// event loop turns).
    pub fn ping(&self, f: impl FnOnce() + Send + 'static) -> Result<(), UiError> {
        slint::invoke_from_event_loop(f).map_err(|_| UiError::EventLoopGone)
    }

    /// Ends the event loop (and so [`Ui::run`]).
    pub fn quit(&self) -> Result<(), UiError> {
        slint::quit_event_loop().map_err(|_| UiError::EventLoopGone)
    }
}

/// A graphical session exists if Wayland or X11 says so (the kiosk build does not ask: DRM/KMS
/// needs neither).
#[cfg(any(test, not(feature = "kiosk")))]
fn has_display(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    ["WAYLAND_DISPLAY", "DISPLAY"]
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_needs_a_non_empty_variable() {
        assert!(!has_display(|_| None));
        assert!(!has_display(|_| Some("".into())));
        assert!(has_display(|n| (n == "DISPLAY").then(|| ":0".into())));
        assert!(has_display(
            |n| (n == "WAYLAND_DISPLAY").then(|| "wayland-0".into())
        ));
    }
}

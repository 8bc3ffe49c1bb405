//! Rendering without a display: Slint's software renderer into a pixel buffer.
//! Used for the committed screenshots, the benchmark, and `terminal demo`-style runs.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PlatformError, Rgb8Pixel};

use crate::error::UiError;
use crate::view::ViewState;
use crate::window::Ui;

/// A Slint platform whose only window is a [`MinimalSoftwareWindow`].
struct HeadlessPlatform {
    window: Rc<MinimalSoftwareWindow>,
    started: std::time::Instant,
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The kiosk UI rendered off-screen. One per thread (it installs the thread's Slint platform).
pub struct Headless {
    window: Rc<MinimalSoftwareWindow>,
    ui: Ui,
    buffer: RefCell<Vec<Rgb8Pixel>>,
    size: RefCell<(u32, u32)>,
}

impl Headless {
    /// Installs the headless platform on this thread and creates the kiosk window in it.
    pub fn new() -> Result<Headless, UiError> {
        // A fresh buffer per frame: every render is a full frame (what the benchmark measures).
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        slint::platform::set_platform(Box::new(HeadlessPlatform {
            window: window.clone(),
            started: std::time::Instant::now(),
        }))
        .map_err(|_| UiError::PlatformAlreadySet)?;
        let ui = Ui::with_current_platform()?;
        ui.component()
            .show()
            .map_err(|error| UiError::Platform(error.to_string()))?;
        Ok(Headless {
            window,
            ui,
            buffer: RefCell::new(Vec::new()),
            size: RefCell::new((0, 0)),
        })
    }

    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    /// Shows `state` at `width`×`height` and returns the frame.
    pub fn render(&self, state: &ViewState, width: u32, height: u32) -> image::RgbImage {
        self.resize(width, height);
        self.ui.show(state);
        self.window.request_redraw();
        // `changed` handlers (the window telling the theme its orientation) may dirty the scene
        // once more after the first frame; settle before taking the picture.
        for _ in 0..4 {
            if !self.draw_if_needed() {
                break;
            }
        }
        self.snapshot()
    }

    /// Renders and writes a PNG.
    pub fn render_to_png(
        &self,
        state: &ViewState,
        width: u32,
        height: u32,
        path: &Path,
    ) -> Result<(), UiError> {
        self.render(state, width, height)
            .save_with_format(path, image::ImageFormat::Png)
            .map_err(|source| UiError::Png {
                path: path.to_owned(),
                source,
            })
    }

    /// Runs timers and animations, then draws if anything is dirty. Returns whether it drew:
    /// the idle loop of a kiosk, and the check that a screen at rest costs nothing.
    pub fn draw_if_needed(&self) -> bool {
        slint::platform::update_timers_and_animations();
        let width = self.size.borrow().0;
        let mut buffer = self.buffer.borrow_mut();
        self.window.draw_if_needed(|renderer| {
            renderer.render(buffer.as_mut_slice(), width as usize);
        })
    }

    /// Forces and renders one full frame (benchmark).
    pub fn redraw_full_frame(&self) {
        self.window.request_redraw();
        self.draw_if_needed();
    }

    /// Whether Slint has an animation running (which would redraw at rest).
    pub fn has_active_animations(&self) -> bool {
        self.window.has_active_animations()
    }

    fn resize(&self, width: u32, height: u32) {
        if *self.size.borrow() != (width, height) {
            *self.size.borrow_mut() = (width, height);
            *self.buffer.borrow_mut() =
                vec![Rgb8Pixel::default(); width as usize * height as usize];
            self.ui.set_size(width, height);
        }
    }

    fn snapshot(&self) -> image::RgbImage {
        let (width, height) = *self.size.borrow();
        let bytes = self
            .buffer
            .borrow()
            .iter()
            .flat_map(|p| [p.r, p.g, p.b])
            .collect();
        image::RgbImage::from_raw(width, height, bytes).unwrap_or_default()
    }
}

thread_local! {
    static HEADLESS: RefCell<Option<Rc<Headless>>> = const { RefCell::new(None) };
}

/// Renders one view state to a PNG file with the software renderer (no display needed).
/// The first call installs the headless platform on this thread.
pub fn render_to_png(state: &ViewState, size: (u32, u32), path: &Path) -> Result<(), UiError> {
    let headless = HEADLESS.with(|cell| -> Result<Rc<Headless>, UiError> {
        if let Some(h) = cell.borrow().as_ref() {
            return Ok(h.clone());
        }
        let h = Rc::new(Headless::new()?);
        *cell.borrow_mut() = Some(h.clone());
        Ok(h)
    })?;
    headless.render_to_png(state, size.0, size.1, path)
}

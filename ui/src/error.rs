use std::path::PathBuf;

/// Why the UI could not start or render.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No graphical session to open a window in (typical on a server or over SSH).
    #[error(
        "no display to open the kiosk window: neither WAYLAND_DISPLAY nor DISPLAY is set \
         (use `terminal demo` for a headless run, or build `ui` with the `kiosk` feature for a DRM/KMS panel)"
    )]
    NoDisplay,
    /// The windowing backend refused to start.
    #[error("the UI backend could not start: {0}")]
    Platform(String),
    /// A Slint platform was already installed on this thread (headless rendering needs its own).
    #[error("a UI platform is already installed on this thread")]
    PlatformAlreadySet,
    /// The window (and its event loop) is gone; nothing can be shown any more.
    #[error("the UI event loop is not running")]
    EventLoopGone,
    #[error("cannot write the screenshot {path}: {source}")]
    Png {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

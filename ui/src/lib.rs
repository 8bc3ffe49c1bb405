//! The kiosk's touchscreen: Slint screens (`slint/`), the view-state and intent types the
//! terminal's session core speaks, and the glue between them. No business rules live here.
//!
//! ```no_run
//! use ui::{Intent, Ui, ViewState};
//! let ui = Ui::new()?;                       // UiError::NoDisplay on a headless machine
//! ui.on_intent(|intent: Intent| println!("{intent:?}"));
//! ui.show(&ViewState::default());           // the welcome screen
//! ui.run()?;
//! # Ok::<(), ui::UiError>(())
//! ```

pub mod brand;
mod controllers;
mod error;
pub mod format;
mod headless;
mod intent;
mod qr;
pub mod samples;
pub mod text;
pub mod view;
mod window;

pub mod testing;

/// The Rust side of the `.slint` files (generated at build time).
pub mod generated {
    #![allow(clippy::all, clippy::pedantic, missing_docs, unused_qualifications)]
    slint::include_modules!();
}

pub use brand::{Brand, BrandFileError, BrandProblem, BrandSpec};
pub use error::UiError;
pub use headless::{render_to_png, Headless};
pub use intent::{Intent, ServiceOp};
pub use view::ViewState;
pub use window::{FormFactor, Ui, UiHandle};

//! Driving the real screens from tests, by accessible label, on Slint's testing backend.
//!
//! ```no_run
//! # use ui::{testing::TestUi, ViewState, Intent};
//! let t = TestUi::new();
//! t.show(&ViewState::default());
//! t.tap("Оплатить").unwrap();
//! assert_eq!(t.take_intents(), vec![Intent::StartPayment]);
//! ```
//! The terminal's tests put its session core between `take_intents` and `show`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery, ElementRoot};
use slint::platform::PointerEventButton;
use slint::ComponentHandle;

use crate::intent::Intent;
use crate::view::ViewState;
use crate::window::{FormFactor, Ui};

/// Why a test could not act on the screen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TestUiError {
    #[error("no control labelled {label:?} on screen; controls: {visible:?}")]
    NotFound { label: String, visible: Vec<String> },
    #[error("the control labelled {0:?} is disabled")]
    Disabled(String),
    #[error("{count} controls are labelled {label:?}")]
    Ambiguous { label: String, count: usize },
}

thread_local! {
    static BACKEND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The kiosk window on the testing backend, recording the intents it reports.
pub struct TestUi {
    ui: Ui,
    intents: Rc<RefCell<VecDeque<Intent>>>,
}

impl Default for TestUi {
    fn default() -> Self {
        TestUi::new()
    }
}

impl TestUi {
    /// Installs the testing backend on this thread (once) and opens the window, portrait.
    ///
    /// # Panics
    /// If another Slint platform is already installed on this thread — a test set-up error.
    pub fn new() -> TestUi {
        if !BACKEND.with(|b| b.replace(true)) {
            i_slint_backend_testing::init_no_event_loop();
        }
        #[allow(clippy::expect_used)] // test helper: a failure here is a broken test set-up
        let ui = Ui::with_current_platform().expect("the testing backend creates windows");
        #[allow(clippy::expect_used)]
        ui.component()
            .show()
            .expect("the testing backend shows windows");
        let intents = Rc::new(RefCell::new(VecDeque::new()));
        let sink = intents.clone();
        ui.on_intent(move |intent| sink.borrow_mut().push_back(intent));
        let t = TestUi { ui, intents };
        t.set_form_factor(FormFactor::Portrait);
        t
    }

    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    pub fn show(&self, state: &ViewState) {
        self.ui.show(state);
    }

    pub fn set_form_factor(&self, form: FormFactor) {
        self.ui.set_form_factor(form);
    }

    /// Intents reported since the last call, oldest first.
    pub fn take_intents(&self) -> Vec<Intent> {
        self.intents.borrow_mut().drain(..).collect()
    }

    /// Taps the centre of the one enabled control labelled `label`, like a finger would: the
    /// tap goes through hit-testing, so a control hidden under another one is not reached.
    pub fn tap(&self, label: &str) -> Result<(), TestUiError> {
        let control = self.control(label)?;
        if control.accessible_enabled() == Some(false) {
            return Err(TestUiError::Disabled(label.to_owned()));
        }
        control.mock_single_click(PointerEventButton::Left);
        Ok(())
    }

    /// Taps a sequence of keypad keys: `type_keys("123")` taps "1", "2", "3".
    pub fn type_keys(&self, keys: &str) -> Result<(), TestUiError> {
        for c in keys.chars() {
            self.tap(&c.to_string())?;
        }
        Ok(())
    }

    /// The control labelled `label` exists on screen (enabled or not).
    pub fn has(&self, label: &str) -> bool {
        self.control(label).is_ok()
    }

    /// Whether the control labelled `label` is enabled.
    pub fn is_enabled(&self, label: &str) -> Result<bool, TestUiError> {
        Ok(self.control(label)?.accessible_enabled() != Some(false))
    }

    /// The accessible value of the control labelled `label` (field contents, counters).
    pub fn value(&self, label: &str) -> Result<String, TestUiError> {
        let element = match self.control(label) {
            Ok(control) => control,
            // Read-only displays (amount inserted, reader prompt, countdown) are texts.
            Err(TestUiError::NotFound { .. }) => {
                ElementHandle::find_by_accessible_label(self.ui.component(), label)
                    .find(|e| e.accessible_value().is_some())
                    .ok_or_else(|| TestUiError::NotFound {
                        label: label.to_owned(),
                        visible: self.controls(),
                    })?
            }
            Err(other) => return Err(other),
        };
        Ok(element.accessible_value().unwrap_or_default().to_string())
    }

    /// Whether a switch (large text, contrast) is on.
    pub fn is_checked(&self, label: &str) -> Result<bool, TestUiError> {
        Ok(self.control(label)?.accessible_checked() == Some(true))
    }

    /// Every text on screen: labels, values, descriptions and plain texts. For asserting that
    /// something (personal data, an explanation) is or is not shown anywhere.
    pub fn all_text(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.ui
            .component()
            .root_element()
            .visit_descendants(|element| {
                for text in [
                    element.accessible_label(),
                    element.accessible_value(),
                    element.accessible_description(),
                ]
                .into_iter()
                .flatten()
                {
                    if !text.is_empty() {
                        out.push(text.to_string());
                    }
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        out
    }

    /// Whether `needle` appears in any text on screen.
    pub fn shows(&self, needle: &str) -> bool {
        self.all_text().iter().any(|t| t.contains(needle))
    }

    /// Labels of every actionable control on screen, in tree order.
    pub fn controls(&self) -> Vec<String> {
        self.actionable()
            .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
            .collect()
    }

    /// (label, width, height) in logical pixels of every actionable control.
    pub fn control_sizes(&self) -> Vec<(String, f32, f32)> {
        self.actionable()
            .map(|e| {
                let size = e.size();
                (
                    e.accessible_label().unwrap_or_default().to_string(),
                    size.width,
                    size.height,
                )
            })
            .collect()
    }

    /// The y coordinate of the top edge of the control labelled `label`, in window pixels.
    pub fn control_top(&self, label: &str) -> Result<f32, TestUiError> {
        Ok(self.control(label)?.absolute_position().y)
    }

    fn actionable(&self) -> impl Iterator<Item = ElementHandle> {
        ElementQuery::from_root(self.ui.component())
            .match_predicate(|e| {
                matches!(
                    e.accessible_role(),
                    Some(
                        AccessibleRole::Button
                            | AccessibleRole::Checkbox
                            | AccessibleRole::Switch
                            | AccessibleRole::ListItem
                            | AccessibleRole::TextInput
                    )
                )
            })
            .find_all()
            .into_iter()
    }

    fn control(&self, label: &str) -> Result<ElementHandle, TestUiError> {
        let found: Vec<ElementHandle> = self
            .actionable()
            .filter(|e| e.accessible_label().is_some_and(|l| l == label))
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one element")),
            0 => Err(TestUiError::NotFound {
                label: label.to_owned(),
                visible: self.controls(),
            }),
            count => Err(TestUiError::Ambiguous {
                label: label.to_owned(),
                count,
            }),
        }
    }
}

//! Slint callbacks → [`Intent`]s.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::generated::{Act, KioskWindow};
use crate::intent::Intent;

/// Routes every callback of the `Act` global to `sink`. Ids the glue does not know are logged and
/// dropped (a mismatch between a .slint file and `intent.rs`; a test guards against it).
pub(crate) fn connect(window: &KioskWindow, sink: Rc<dyn Fn(Intent)>) {
    let act = window.global::<Act>();
    let s = sink.clone();
    act.on_touched(move || s(Intent::Touched));
    let s = sink.clone();
    act.on_action(move |id| match Intent::from_action(&id) {
        Some(intent) => s(intent),
        None => tracing::warn!(action = %id, "unknown UI action"),
    });
    let s = sink.clone();
    act.on_key(move |key| match Intent::from_key(&key) {
        Some(intent) => s(intent),
        None => tracing::warn!(key = %key, "unknown UI key"),
    });
    act.on_pick(move |kind, a, b| match Intent::from_pick(&kind, a, b) {
        Some(intent) => sink(intent),
        None => tracing::warn!(kind = %kind, a, b, "unknown UI pick"),
    });
}

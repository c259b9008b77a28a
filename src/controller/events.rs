//! What a reconcile tells: the writes it made, noted as it goes, told in one Event at its end.

use kube::Resource;
use kube::runtime::events::{Event, EventType};

use super::context::Context;
use crate::exposed_api::ExposedAPI;

/// The writes of one reconcile, told in a single Event at its end (not one Event per write).
#[derive(Default)]
pub(super) struct Journal(std::sync::Mutex<Vec<String>>);

impl Journal {
    pub fn note(&self, note: String) {
        if let Ok(mut notes) = self.0.lock() {
            notes.push(note);
        }
    }

    pub fn take(&self) -> Vec<String> {
        self.0.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default()
    }
}

/// Queues an Event: Events inform, they must not slow convergence (see `recorder`).
pub(super) fn publish(ctx: &Context, api: &ExposedAPI, type_: EventType, reason: &str, note: &str) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.recorder.publish(event, api.object_ref(&()));
}

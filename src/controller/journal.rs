//! The writes of one reconcile, noted as it goes (told by `events` in one Event at its end).

/// The writes of one reconcile, told in a single Event at its end (not one Event per write).
#[derive(Default)]
pub struct Journal(parking_lot::Mutex<Vec<String>>);

impl Journal {
    pub fn note(&self, note: String) {
        self.0.lock().push(note);
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }
}

//! One named object is read by a LIST by name, not a GET: the operator's own identity, whose eyes
//! `diagnose` borrows in its pod, may list and watch, not get.

use kube::api::ListParams;

pub(super) fn by_name(name: &str) -> ListParams {
    ListParams::default().fields(&format!("metadata.name={name}"))
}

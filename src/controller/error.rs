//! What can fail in a reconcile, by pipeline step. Each kind names its step ([`FailedStep`]): the
//! `reason` label of `oda_api_operator_reconcile_errors_total`, pre-registered from that enum so
//! the labels cannot drift from the errors. Each keeps the error it comes from as its source.
//!
//! Some failures are not failures: a write to an ExposedAPI that is gone, or being deleted, is
//! the normal end of its life ([`ReconcileError::is_gone`]): logged at debug, never counted.

use crate::backend::BuildError;
use crate::telemetry::FailedStep;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Build: a desired object could not be encoded (a defect: please report it).
    #[error("{0}; this is a defect of the operator, please report it")]
    Build(#[from] BuildError),
    /// Apply: writing a route or ServiceMonitor failed.
    #[error("cannot write {kind} {namespace}/{name}: {source}{}", kind_hint(source))]
    Apply { kind: String, namespace: String, name: String, source: kube::Error },
    /// Apply: removing an object the API no longer needs (the former route kind, a stale
    /// ServiceMonitor) failed.
    #[error("cannot remove {kind} {namespace}/{name}: {source}{}", kind_hint(source))]
    Remove { kind: String, namespace: String, name: String, source: kube::Error },
    /// Apply: configuring the metrics annotations of pods failed.
    #[error("cannot annotate the pods of Service {service}: {source}{}", hint(source))]
    Annotate { service: String, source: kube::Error },
    /// Update status: writing the ExposedAPI status failed.
    #[error("cannot write the status: {0}{hint}", hint = hint(.0))]
    Status(#[source] kube::Error),
    /// Propagate: patching the parent Component failed.
    #[error("cannot update Component {name}: {source}{}", hint(source))]
    Propagate { name: String, source: kube::Error },
    /// Cleanup on deletion (pod annotations) failed; retried, then given up with a Warning.
    #[error("cannot clean up after the ExposedAPI: {0}{hint}", hint = hint(.0))]
    Cleanup(#[source] kube::Error),
    /// Adding or removing a finalizer of the ExposedAPI failed (a 422 here is a failed `test`:
    /// the finalizers moved, not the CRD).
    #[error("cannot update the finalizers: {0}{hint}", hint = permission_hint(.0))]
    Finalizer(#[source] kube::Error),
    /// Apply (APIM backend): a call to Azure failed in a way that is retried.
    #[error(transparent)]
    Azure(crate::azure::AzureError),
}

impl ReconcileError {
    /// The step that failed (its metric label and log category).
    pub fn step(&self) -> FailedStep {
        match self {
            Self::Build(_) => FailedStep::Build,
            Self::Apply { .. } => FailedStep::Apply,
            Self::Remove { .. } => FailedStep::Remove,
            Self::Annotate { .. } => FailedStep::Annotate,
            Self::Status(_) => FailedStep::Status,
            Self::Propagate { .. } => FailedStep::Propagate,
            Self::Cleanup(_) => FailedStep::Cleanup,
            Self::Finalizer(_) => FailedStep::Finalizer,
            Self::Azure(_) => FailedStep::Azure,
        }
    }

    /// The stable category of this failure: the step's label.
    pub fn category(&self) -> &'static str {
        self.step().label()
    }

    /// Whether a write to the ExposedAPI itself failed because it is gone or being deleted, or any
    /// write failed because the namespace is being deleted: the normal end of its life, not a
    /// failure (the deletion's own event, if any, comes next).
    pub fn is_gone(&self) -> bool {
        match self {
            Self::Status(e) | Self::Finalizer(e) => is_gone(e) || namespace_terminating(e),
            Self::Apply { source, .. }
            | Self::Remove { source, .. }
            | Self::Annotate { source, .. }
            | Self::Propagate { source, .. } => namespace_terminating(source),
            // A clean-up holds the finalizer: it is retried, and given up after its attempts with a
            // Warning, never dropped (the namespace's deletion waits on that finalizer).
            Self::Cleanup(_) | Self::Build(_) | Self::Azure(_) => false,
        }
    }
}

/// Whether a write was refused because its object is gone or on its way out: not found; the uid
/// it carried names no existing object (`Conflict`, server-side apply) or another one (`Invalid`
/// on `metadata.uid`: deleted and re-created under the same name); or a finalizer cannot be added
/// because deletion has begun. Writes carry the uid precisely so that they fail so.
pub fn is_gone(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else { return false };
    let causes = || status.details.iter().flat_map(|d| d.causes.iter());
    match status.code {
        404 => true,
        409 => status.message.contains("uid mismatch") || status.message.contains("Precondition failed: UID"),
        422 => causes().any(|c| {
            c.field == "metadata.uid" || (c.field == "metadata.finalizers" && c.message.contains("being deleted"))
        }),
        _ => false,
    }
}

/// Whether a write was refused because its namespace is being deleted (a 403 for the
/// `NamespaceTerminating` cause, not for the operator's identity): everything in it is on its way out.
pub fn namespace_terminating(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else { return false };
    let mut causes = status.details.iter().flat_map(|d| d.causes.iter());
    status.code == 403
        && (causes.any(|c| c.reason == "NamespaceTerminating")
            || status.message.contains("because it is being terminated"))
}

/// Whether the API server refused the operator's identity.
pub fn is_forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e) if e.code == 403)
}

/// Whether a watch failed because the API server refused the operator's identity.
pub fn watch_forbidden(error: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher::Error;
    match error {
        Error::InitialListFailed(e) | Error::WatchStartFailed(e) | Error::WatchFailed(e) => is_forbidden(e),
        Error::WatchError(status) => status.code == 403,
        Error::NoResourceVersion => false,
    }
}

/// What to do about a failed write of a kind the operator writes: a 404 there means the kind is
/// not served (for an object that is gone the write does not fail: it creates it).
fn kind_hint(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Api(e) if e.code == 404 => " (the kind is not served: install its CRD, or choose another backend)",
        _ => hint(error),
    }
}

/// What to do about the common API errors of any write.
fn hint(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Api(e) if e.code == 422 => " (the installed CRD rejects the object: check its version)",
        _ => permission_hint(error),
    }
}

fn permission_hint(error: &kube::Error) -> &'static str {
    match error {
        _ if namespace_terminating(error) => " (its namespace is being deleted)",
        kube::Error::Api(e) if e.code == 403 => {
            " (the operator's ServiceAccount lacks a permission: apply the ClusterRole of deploy/rbac.yaml or the chart)"
        }
        _ => "",
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;

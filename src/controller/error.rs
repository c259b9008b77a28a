//! What can fail in a reconcile, by pipeline step. Each kind has a stable category: the reason of
//! the Warning Event, the `reason` label of `oda_api_operator_reconcile_errors_total`, and (for
//! the apply step) the reason of the `Ready` condition.

use crate::backend::BuildError;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Build: a desired object could not be encoded (a defect: please report it).
    #[error("{0}; this is a defect of the operator, please report it")]
    Build(#[from] BuildError),
    /// Apply: writing a route or ServiceMonitor failed.
    #[error("cannot write {kind} {namespace}/{name}: {source}{}", hint(source))]
    Apply { kind: String, namespace: String, name: String, source: kube::Error },
    /// Apply: removing an object the API no longer needs (the former route kind, a stale
    /// ServiceMonitor) failed.
    #[error("cannot remove {kind} {namespace}/{name}: {source}{}", hint(source))]
    Remove { kind: String, namespace: String, name: String, source: kube::Error },
    /// Apply: configuring the metrics annotations of pods failed.
    #[error("cannot annotate the pods of Service {service}: {source}{}", hint(source))]
    Annotate { service: String, source: kube::Error },
    /// Update status: writing the ExposedAPI status failed.
    #[error("cannot write the status: {0}{hint}", hint = hint(.0))]
    Status(kube::Error),
    /// Propagate: patching the parent Component failed.
    #[error("cannot update Component {name}: {source}{}", hint(source))]
    Propagate { name: String, source: kube::Error },
    /// Cleanup on deletion (pod annotations) failed; retried, then given up with a Warning.
    #[error("cannot clean up after the ExposedAPI: {0}{hint}", hint = hint(.0))]
    Cleanup(kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("cannot update the finalizer: {0}")]
    Finalizer(String),
    /// Apply (APIM backend): a call to Azure failed in a way that is retried.
    #[error("{0}")]
    Azure(crate::azure::AzureError),
}

impl ReconcileError {
    /// The stable category of this failure.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Build(_) => "BuildFailed",
            Self::Apply { .. } => "ApplyFailed",
            Self::Remove { .. } => "RemoveFailed",
            Self::Annotate { .. } => "AnnotateFailed",
            Self::Status(_) => "StatusWriteFailed",
            Self::Propagate { .. } => "PropagationFailed",
            Self::Cleanup(_) => "CleanupFailed",
            Self::Finalizer(_) => "FinalizerFailed",
            Self::Azure(_) => "AzureFailed",
        }
    }
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

/// What to do about the common API errors.
fn hint(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Api(e) if e.code == 403 => {
            " (the operator's ServiceAccount lacks a permission: apply the ClusterRole of deploy/rbac.yaml or the chart)"
        }
        kube::Error::Api(e) if e.code == 404 => " (the kind is not served: install its CRD, or choose another backend)",
        kube::Error::Api(e) if e.code == 422 => " (the installed CRD rejects the object: check its version)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("denied", "Forbidden").with_code(code).boxed())
    }

    #[test]
    fn errors_name_the_object_and_say_what_to_do() {
        let e = ReconcileError::Apply {
            kind: "HTTPRoute".into(),
            namespace: "ns".into(),
            name: "a".into(),
            source: api_error(403),
        };
        assert_eq!(e.category(), "ApplyFailed");
        let text = e.to_string();
        assert!(text.contains("HTTPRoute ns/a") && text.contains("ClusterRole"), "{text}");
        assert!(is_forbidden(&api_error(403)) && !is_forbidden(&api_error(404)));
    }

    #[test]
    fn every_category_is_a_pre_registered_metric_label() {
        let kube = || api_error(500);
        let errors = [
            ReconcileError::Apply { kind: "k".into(), namespace: "n".into(), name: "a".into(), source: kube() },
            ReconcileError::Remove { kind: "k".into(), namespace: "n".into(), name: "a".into(), source: kube() },
            ReconcileError::Annotate { service: "s".into(), source: kube() },
            ReconcileError::Status(kube()),
            ReconcileError::Propagate { name: "c".into(), source: kube() },
            ReconcileError::Cleanup(kube()),
            ReconcileError::Finalizer("f".into()),
        ];
        for error in &errors {
            assert!(crate::telemetry::FAILED_STEPS.contains(&error.category()), "{}", error.category());
        }
        assert!(crate::telemetry::FAILED_STEPS.contains(&"BuildFailed"));
    }
}

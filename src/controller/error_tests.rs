use kube::core::Status;
use serde_json::json;

use super::*;

fn api_error(code: u16) -> kube::Error {
    kube::Error::Api(Status::failure("denied", "Forbidden").with_code(code).boxed())
}

/// An API error as the API server sends it, with the `(field, message)` causes of an `Invalid`.
fn refused(code: u16, message: &str, causes: &[(&str, &str)]) -> kube::Error {
    let causes: Vec<_> = causes.iter().map(|(field, message)| json!({"field": field, "message": message})).collect();
    let status = json!({"status": "Failure", "message": message, "code": code, "details": {"causes": causes}});
    kube::Error::Api(Box::new(serde_json::from_value(status).expect("a Status")))
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
    assert!(std::error::Error::source(&e).is_some(), "the API error is kept as the source");
}

#[test]
fn a_missing_kind_is_blamed_on_its_crd_and_a_missing_object_is_not() {
    let missing_kind =
        ReconcileError::Apply { kind: "k".into(), namespace: "n".into(), name: "a".into(), source: api_error(404) };
    assert!(missing_kind.to_string().contains("install its CRD"));
    assert!(!missing_kind.is_gone(), "a 404 on a child's write is its kind, not the API");
    let gone = ReconcileError::Status(api_error(404));
    assert!(!gone.to_string().contains("CRD"), "{gone}");
    assert!(gone.is_gone());
}

#[test]
fn writes_to_an_api_that_is_gone_or_being_deleted_are_its_end_not_a_failure() {
    let uid_mismatch = "Operation cannot be fulfilled on exposedapis.oda.tmforum.org \"a\": uid mismatch: the provided \
                        object specified uid 7d87, and no existing object was found";
    let gone = [
        // Deleted (status subresource, JSON patch of a finalizer, the Component's patch).
        refused(404, "exposedapis.oda.tmforum.org \"a\" not found", &[]),
        // Server-side apply through the main resource carrying the uid of an object that is gone.
        refused(409, uid_mismatch, &[]),
        // ... or of one deleted and re-created under the same name.
        refused(422, "is invalid", &[("metadata.uid", "Invalid value: \"7d87\": field is immutable")]),
        // A finalizer added after deletion began.
        refused(
            422,
            "is invalid",
            &[("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted")],
        ),
    ];
    for error in gone {
        assert!(is_gone(&error), "{error}");
        assert!(ReconcileError::Finalizer(error).is_gone());
    }
    let failures = [
        refused(409, "the object has been modified; please apply your changes to the latest version", &[]),
        // A failed JSON-patch `test` (the finalizers moved): retried.
        refused(422, "the server rejected our request due to an error in our request", &[]),
        refused(422, "is invalid", &[("spec.path", "Required value")]),
        api_error(403),
        api_error(500),
    ];
    for error in failures {
        assert!(!is_gone(&error), "{error}");
    }
    // The namespace is being deleted: the end of everything in it, not a permission missing.
    let terminating = || {
        let message = "virtualservices.networking.istio.io \"a\" is forbidden: unable to create new content in \
                       namespace c1 because it is being terminated";
        let cause = json!({"reason": "NamespaceTerminating", "message": "namespace c1 is being terminated", "field": "metadata.namespace"});
        let status = json!({"status": "Failure", "message": message, "reason": "Forbidden", "code": 403,
            "details": {"name": "a", "kind": "virtualservices", "causes": [cause]}});
        kube::Error::Api(Box::new(serde_json::from_value(status).expect("a Status")))
    };
    let apply = ReconcileError::Apply {
        kind: "VirtualService".into(),
        namespace: "c1".into(),
        name: "a".into(),
        source: terminating(),
    };
    assert!(apply.is_gone() && ReconcileError::Status(terminating()).is_gone());
    assert!(
        apply.to_string().contains("its namespace is being deleted") && !apply.to_string().contains("ClusterRole"),
        "{apply}"
    );
    assert!(
        !ReconcileError::Apply { kind: "k".into(), namespace: "n".into(), name: "a".into(), source: api_error(403) }
            .is_gone()
    );
    let propagate = ReconcileError::Propagate { name: "c".into(), source: api_error(404) };
    assert!(!propagate.is_gone(), "the Component's end is handled by the propagate step itself");
}

#[test]
fn every_step_is_a_pre_registered_metric_label() {
    let text = crate::telemetry::Metrics::default().encode();
    for step in FailedStep::ALL {
        assert!(text.contains(&format!("reason=\"{}\"", step.label())), "{} missing in\n{text}", step.label());
    }
    assert_eq!(ReconcileError::Cleanup(api_error(500)).category(), "CleanupFailed");
}

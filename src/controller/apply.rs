//! Writes: server-side apply of children and status, deletion of what a backend no longer wants,
//! and the Component's JSON patch; each under the field manager of its purpose.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::{ApiResource, DynamicObject};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::context::Context;
use super::error::{ReconcileError, is_gone};
use crate::core::status::ConditionSpec;
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

/// The field manager of the objects an ExposedAPI owns whole (its route, its ServiceMonitor) and
/// of its status. Each of these is written by this one purpose only; the name is the one every
/// release has used, because server-side apply keeps a renamed manager's fields forever.
pub const MANAGER: &str = "oda-api-operator";

/// The field manager of the Component status entries the operator patches.
pub const COMPONENT_MANAGER: &str = "oda-api-operator/component";

/// The field manager of one ExposedAPI's pod annotations: one per API, so that two APIs of one
/// Service never remove each other's keys.
pub fn annotations_manager(api_uid: &str) -> String {
    format!("{MANAGER}/metrics-{api_uid}")
}

/// Whether an existing child already is what the operator would apply: same spec, the desired
/// labels present, the desired ownerReference present. Extra labels or annotations added by others
/// are not drift. Skipping the apply then keeps a converged cluster free of writes (and takes over
/// objects left by the reference operator without touching them).
pub(super) fn matches_observed(observed: &DynamicObject, desired: &DynamicObject) -> bool {
    let labels_present = desired.metadata.labels.iter().flatten().all(|(k, v)| observed.labels().get(k) == Some(v));
    let owners = observed.metadata.owner_references.as_deref().unwrap_or_default();
    let owner_present = desired
        .metadata
        .owner_references
        .iter()
        .flatten()
        .all(|want| owners.iter().any(|have| have.uid == want.uid && have.controller == want.controller));
    observed.data.get("spec") == desired.data.get("spec") && labels_present && owner_present
}

/// Server-side apply parameters of every write: ownership of the fields set is forced, and a field
/// the installed CRD does not know is an error (`fieldValidation=Strict`), reported in the
/// condition, instead of being pruned without a word (an older Istio or Gateway API CRD).
fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force().validation_strict()
}

/// Server-side applies a child, forcing ownership of the fields it sets.
pub(super) async fn apply_child(
    client: &Client,
    resource: &ApiResource,
    desired: &DynamicObject,
) -> Result<DynamicObject, kube::Error> {
    let namespace = desired.namespace().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
    api.patch(&desired.name_any(), &apply_params(), &Patch::Apply(desired)).await
}

/// Writes the status with server-side apply, returning the new resourceVersion: through `/status`
/// when the CRD has that subresource, through the object itself when it has not (as on the Canvas
/// CRD). The write carries the API's uid: server-side apply through the object would otherwise
/// create an API that garbage collection has just deleted; with it, the write fails (see
/// [`is_gone`]).
pub(super) async fn write_status(
    client: &Client,
    api: &ExposedAPI,
    status: &ExposedApiStatus,
    subresource: bool,
) -> Result<Option<String>, kube::Error> {
    let namespace = api.namespace().unwrap_or_default();
    let apis: Api<ExposedAPI> = Api::namespaced(client.clone(), &namespace);
    let mut body = json!({
        "apiVersion": "oda.tmforum.org/v1",
        "kind": "ExposedAPI",
        "metadata": {"name": api.name_any(), "namespace": namespace},
        "status": status,
    });
    if let Some(uid) = api.uid() {
        body["metadata"]["uid"] = json!(uid);
    }
    let params = apply_params();
    let written = if subresource {
        apis.patch_status(&api.name_any(), &params, &Patch::Apply(body)).await?
    } else {
        apis.patch(&api.name_any(), &params, &Patch::Apply(body)).await?
    };
    Ok(written.metadata.resource_version)
}

/// Deletes a child this API controls, on the condition that it still is the object observed (its
/// uid), so that an object re-created by someone else in between is never touched.
pub(super) async fn delete_child(
    client: &Client,
    resource: &ApiResource,
    observed: &DynamicObject,
) -> Result<(), kube::Error> {
    let namespace = observed.namespace().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
    let preconditions = Preconditions { uid: observed.uid(), resource_version: None };
    let params = DeleteParams { preconditions: Some(preconditions), ..Default::default() };
    match api.delete(&observed.name_any(), &params).await {
        Ok(_) => Ok(()),
        // Gone already, or replaced by an object that is not ours (the uid precondition failed).
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Adds a finalizer to an ExposedAPI, on the condition that it is still the object read (its uid)
/// and its list is still the one read.
pub(super) async fn add_finalizer(ctx: &Context, api: &ExposedAPI, finalizer: &str) -> Result<(), ReconcileError> {
    match add_finalizer_to(ctx, api, finalizer).await {
        // The cache was behind (e.g. our own add of a moment ago): once more on the API as it is.
        Err(ReconcileError::Finalizer(e)) if failed_test(&e) => {
            let now = current(ctx, api).await.map_err(ReconcileError::Finalizer)?;
            add_finalizer_to(ctx, &now, finalizer).await
        }
        done => done,
    }
}

async fn add_finalizer_to(ctx: &Context, api: &ExposedAPI, finalizer: &str) -> Result<(), ReconcileError> {
    let ops = match api.metadata.finalizers.as_deref() {
        Some(current) if current.iter().any(|f| f == finalizer) => return Ok(()),
        None | Some([]) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ]),
        Some(current) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": current},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ]),
    };
    patch_finalizers(ctx, api, ops).await
}

/// Removes a finalizer from an ExposedAPI (when it has it), on the condition that it is still the
/// object read and the finalizer still where it was read. Gone, the API needs nothing.
pub(super) async fn remove_finalizer(ctx: &Context, api: &ExposedAPI, finalizer: &str) -> Result<(), ReconcileError> {
    match remove_finalizer_from(ctx, api, finalizer).await {
        // Another finalizer came or went meanwhile (garbage collection's `foregroundDeletion`):
        // once more on the API as it is.
        Err(ReconcileError::Finalizer(e)) if failed_test(&e) => match current(ctx, api).await {
            Ok(now) => remove_finalizer_from(ctx, &now, finalizer).await,
            Err(e) if is_gone(&e) => Ok(()),
            Err(e) => Err(ReconcileError::Finalizer(e)),
        },
        done => done,
    }
}

async fn remove_finalizer_from(ctx: &Context, api: &ExposedAPI, finalizer: &str) -> Result<(), ReconcileError> {
    let Some(index) = api.finalizers().iter().position(|f| f == finalizer) else { return Ok(()) };
    let path = format!("/metadata/finalizers/{index}");
    let ops = json!([{"op": "test", "path": path, "value": finalizer}, {"op": "remove", "path": path}]);
    patch_finalizers(ctx, api, ops).await
}

/// Whether a JSON patch failed one of its `test`s (the API server says no more than that).
fn failed_test(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e) if e.code == 422 && e.details.as_ref().is_none_or(|d| d.causes.is_empty()))
}

/// The ExposedAPI as it is now, read past the cache (listed by name: the operator may list and
/// watch them, not get them); `NotFound` when it is gone or was replaced by another of its name.
async fn current(ctx: &Context, api: &ExposedAPI) -> Result<ExposedAPI, kube::Error> {
    let apis: Api<ExposedAPI> = Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default());
    let by_name = ListParams::default().fields(&format!("metadata.name={}", api.name_any()));
    let found = apis.list(&by_name).await?.items.into_iter().find(|now| now.uid() == api.uid());
    found.ok_or_else(|| {
        let message = format!("ExposedAPI {} (uid {}) is gone", api.name_any(), api.uid().unwrap_or_default());
        kube::Error::Api(kube::core::Status::failure(&message, "NotFound").with_code(404).boxed())
    })
}

/// A JSON patch of the finalizers, which never creates an object; guarded by the uid, so that it
/// never changes another object of the same name either.
async fn patch_finalizers(ctx: &Context, api: &ExposedAPI, ops: Value) -> Result<(), ReconcileError> {
    let apis: Api<ExposedAPI> = Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default());
    let patch = json_patch(api.uid().as_deref(), ops).map_err(ReconcileError::Finalizer)?;
    let params = PatchParams { field_manager: Some(MANAGER.into()), ..Default::default() };
    apis.patch(&api.name_any(), &params, &Patch::<()>::Json(patch)).await.map_err(ReconcileError::Finalizer)?;
    ctx.telemetry.metrics.wrote("finalizer");
    Ok(())
}

/// A JSON patch of `ops` (an array), applied only to the object of `uid` when it is known.
fn json_patch(uid: Option<&str>, ops: Value) -> Result<json_patch::Patch, kube::Error> {
    let guard = uid.map(|uid| json!({"op": "test", "path": "/metadata/uid", "value": uid}));
    let ops: Vec<Value> = guard.into_iter().chain(ops.as_array().into_iter().flatten().cloned()).collect();
    serde_json::from_value(Value::Array(ops)).map_err(kube::Error::SerdeError)
}

/// Applies JSON-patch operations to a Component's status entries, on the condition that it is
/// still the Component of `uid` (the API's owner reference).
pub(super) async fn patch_component(
    client: &Client,
    resource: &ApiResource,
    (namespace, name, uid): (&str, &str, &str),
    ops: Vec<Value>,
    subresource: bool,
) -> Result<DynamicObject, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let patch = json_patch(Some(uid), Value::Array(ops))?;
    let params = PatchParams { field_manager: Some(COMPONENT_MANAGER.into()), ..Default::default() };
    if subresource {
        api.patch_status(name, &params, &Patch::<()>::Json(patch)).await
    } else {
        api.patch(name, &params, &Patch::<()>::Json(patch)).await
    }
}

/// Sets one condition on the status as it is, when it says something new (on deletion, when
/// nothing else is reconciled); a failed write is logged, the caller's own error is what retries.
pub(super) async fn write_condition(
    ctx: &Context,
    api: &ExposedAPI,
    status: Option<ExposedApiStatus>,
    condition: ConditionSpec,
) {
    let mut status = status.unwrap_or_default();
    let text = if condition.status { "True" } else { "False" };
    let kept = status.conditions.iter().find(|c| c.type_ == condition.type_);
    if kept.is_some_and(|c| c.status == text && c.reason == condition.reason && c.message == condition.message) {
        return;
    }
    let since = kept.filter(|c| c.status == text).map(|c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != condition.type_);
    status.conditions.push(Condition {
        type_: condition.type_.into(),
        status: text.into(),
        reason: condition.reason.into(),
        message: condition.message,
        observed_generation: status.observed_generation.and(api.meta().generation),
        last_transition_time: since.unwrap_or_else(|| Time(Timestamp::now())),
    });
    let written = write_status(&ctx.client, api, &status, ctx.discovered.exposed_api_status_subresource).await;
    match written {
        Ok(version) => {
            ctx.telemetry.metrics.wrote("status");
            ctx.state.recent().wrote_status(api, version, status);
        }
        Err(e) if is_gone(&e) => debug!(error = %e, condition = condition.type_, "the ExposedAPI is gone"),
        Err(e) => warn!(error = %e, condition = condition.type_, "cannot write the condition"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn desired() -> DynamicObject {
        obj(json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "a", "namespace": "ns", "labels": {"l": "1"},
                "ownerReferences": [{"apiVersion": "oda.tmforum.org/v1", "kind": "ExposedAPI", "name": "a", "uid": "u", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"hosts": ["*"]}
        }))
    }

    #[test]
    fn an_object_left_by_the_reference_matches() {
        let mut observed = desired();
        observed.metadata.uid = Some("vs-uid".into());
        observed.metadata.resource_version = Some("42".into());
        observed.metadata.labels.as_mut().unwrap().insert("app.kubernetes.io/managed-by".into(), "Helm".into());
        observed.metadata.annotations =
            Some([("kopf.zalando.org/last-handled-configuration".to_owned(), "{}".to_owned())].into());
        assert!(matches_observed(&observed, &desired()));
    }

    #[test]
    fn patches_are_guarded_by_the_uid_when_known() {
        let ops = json!([{"op": "remove", "path": "/metadata/finalizers/0"}]);
        let guarded = serde_json::to_value(json_patch(Some("u1"), ops.clone()).unwrap()).unwrap();
        assert_eq!(guarded[0], json!({"op": "test", "path": "/metadata/uid", "value": "u1"}));
        assert_eq!(guarded[1], ops[0]);
        assert_eq!(serde_json::to_value(json_patch(None, ops.clone()).unwrap()).unwrap(), ops);
    }

    #[test]
    fn a_failed_test_is_told_from_a_refusal_with_causes() {
        let status = |causes: Value| {
            let status = json!({"status": "Failure", "message": "m", "code": 422, "details": {"causes": causes}});
            kube::Error::Api(Box::new(serde_json::from_value(status).unwrap()))
        };
        assert!(failed_test(&status(json!([]))));
        assert!(!failed_test(&status(json!([{"field": "metadata.finalizers", "message": "being deleted"}]))));
        assert!(!failed_test(&kube::Error::Api(
            kube::core::Status::failure("gone", "NotFound").with_code(404).boxed()
        )));
    }

    #[test]
    fn spec_label_or_owner_drift_is_detected() {
        let mut spec = desired();
        spec.data["spec"]["hosts"] = json!(["other"]);
        assert!(!matches_observed(&spec, &desired()));
        let mut label = desired();
        label.metadata.labels = None;
        assert!(!matches_observed(&label, &desired()));
        let mut owner = desired();
        owner.metadata.owner_references.as_mut().unwrap()[0].uid = "x".into();
        assert!(!matches_observed(&owner, &desired()));
    }
}

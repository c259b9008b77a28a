//! Writes: server-side apply of children and status, deletion of what a backend no longer wants,
//! and the Component's JSON patch; each under the field manager of its purpose.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::core::{ApiResource, DynamicObject};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::warn;

use super::context::Context;
use super::error::ReconcileError;
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

/// Writes the status with server-side apply, returning the new resourceVersion: through `/status` when the CRD has that subresource,
/// through the object itself when it has not (as on the Canvas CRD).
pub(super) async fn write_status(
    client: &Client,
    api: &ExposedAPI,
    status: &ExposedApiStatus,
    subresource: bool,
) -> Result<Option<String>, kube::Error> {
    let namespace = api.namespace().unwrap_or_default();
    let apis: Api<ExposedAPI> = Api::namespaced(client.clone(), &namespace);
    let body = json!({
        "apiVersion": "oda.tmforum.org/v1",
        "kind": "ExposedAPI",
        "metadata": {"name": api.name_any(), "namespace": namespace},
        "status": status,
    });
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

/// Adds a finalizer to an ExposedAPI, on the condition that its list is still the one read.
pub(super) async fn add_finalizer(ctx: &Context, api: &ExposedAPI, finalizer: &str) -> Result<(), ReconcileError> {
    let ops = match api.metadata.finalizers.as_deref() {
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

/// Removes a finalizer from an ExposedAPI (when it has it), on the condition that it is still
/// where it was read.
pub(super) async fn remove_finalizer(ctx: &Context, api: &ExposedAPI, finalizer: &str) -> Result<(), ReconcileError> {
    let Some(index) = api.finalizers().iter().position(|f| f == finalizer) else { return Ok(()) };
    let path = format!("/metadata/finalizers/{index}");
    let ops = json!([{"op": "test", "path": path, "value": finalizer}, {"op": "remove", "path": path}]);
    patch_finalizers(ctx, api, ops).await
}

async fn patch_finalizers(ctx: &Context, api: &ExposedAPI, ops: Value) -> Result<(), ReconcileError> {
    let failed = |e: kube::Error| ReconcileError::Finalizer(e.to_string());
    let apis: Api<ExposedAPI> = Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default());
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    let params = PatchParams { field_manager: Some(MANAGER.into()), ..Default::default() };
    apis.patch(&api.name_any(), &params, &Patch::<()>::Json(patch)).await.map_err(failed)?;
    ctx.telemetry.metrics.wrote("finalizer");
    Ok(())
}

/// Applies JSON-patch operations to a Component's status entries.
pub(super) async fn patch_component(
    client: &Client,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
    ops: Vec<Value>,
    subresource: bool,
) -> Result<DynamicObject, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).map_err(kube::Error::SerdeError)?;
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
            if let Ok(mut recent) = ctx.state.recent.lock() {
                recent.wrote_status(api, version, status);
            }
        }
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

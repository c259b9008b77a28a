//! The propagate step: URL, developer UI and readiness copied into the owning Component's entry.
//! A Component being uninstalled gets nothing: it is on its way out, and so are its APIs.

use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{debug, info};

use super::apply::patch_component;
use super::context::Context;
use super::error::{ReconcileError, is_gone};
use crate::core::component::{Published, component_resource, propagation_patch};
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

/// Patches the Component's entry for this API when it differs from the status.
pub(super) async fn propagate(
    ctx: &Context,
    api: &ExposedAPI,
    status: &ExposedApiStatus,
) -> Result<(), ReconcileError> {
    let (Some(store), Some(subresource)) = (&ctx.components, ctx.discovered.component) else { return Ok(()) };
    let Some(owner) = api.owner_references().iter().find(|r| r.kind == "Component") else { return Ok(()) };
    let namespace = api.namespace().unwrap_or_default();
    let resource = component_resource();
    // Our last patch while its echo is on its way (two reconciles in a row must not patch twice).
    let recent = ctx.state.recent().object(&resource.plural, &namespace, &owner.name);
    let cached = || {
        let kind = std::sync::Arc::new(resource.clone());
        let component = store.get(&ObjectRef::new_with(&owner.name, kind).within(&namespace))?;
        Some(std::sync::Arc::new(component.to_dynamic(&resource)))
    };
    let Some(component) = recent.or_else(cached) else {
        // Not there yet: the Component watch reconciles this API when it appears.
        return Ok(());
    };
    if component.metadata.deletion_timestamp.is_some() || component.uid().is_some_and(|uid| uid != owner.uid) {
        debug!(component = %owner.name, "the Component is being deleted or was replaced: its entry is left as it is");
        return Ok(());
    }
    let api_status = status.api_status.clone().unwrap_or_default();
    let published = Published {
        api_uid: api.meta().uid.as_deref().unwrap_or_default(),
        url: api_status.url.as_deref(),
        developer_ui: api_status.developer_ui.as_deref(),
        ready: status.implementation.as_ref().is_some_and(|i| i.ready),
    };
    let ops = match serde_json::to_value(component.as_ref()) {
        Ok(value) => propagation_patch(&value, &published),
        Err(_) => return Ok(()),
    };
    if ops.is_empty() {
        return Ok(());
    }
    info!(component = %owner.name, "updating the Component's entry");
    let target = (namespace.as_str(), owner.name.as_str(), owner.uid.as_str());
    let patched = patch_component(&ctx.client, &resource, target, ops, subresource).await;
    ctx.telemetry.health.record("write components", &patched);
    match patched {
        Ok(written) => {
            ctx.telemetry.metrics.wrote("Component");
            let before = component.resource_version();
            ctx.state.recent().wrote_object(&resource.plural, before.as_deref(), written);
            Ok(())
        }
        // Uninstalled meanwhile: the normal end of its life, not a failure.
        Err(e) if is_gone(&e) => {
            debug!(component = %owner.name, error = %e, "the Component is gone: its entry is left as it is");
            Ok(())
        }
        // A failed `test` means the entries moved, or the Component was replaced, under us; the
        // Component watch brings us back.
        Err(kube::Error::Api(e)) if e.code == 422 => Ok(()),
        Err(source) => Err(ReconcileError::Propagate { name: owner.name.clone(), source }),
    }
}

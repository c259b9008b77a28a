//! The objects an ExposedAPI owns, of the kinds its backends declare: read from the watch caches
//! (or the operator's own write whose echo is still on its way), applied with server-side apply
//! only when they differ, and removed when a backend no longer wants them.

use std::sync::Arc;

use kube::ResourceExt;
use kube::core::{ApiResource, DynamicObject};
use tracing::info;

use super::apply::{apply_child, delete_child, matches_observed};
use super::context::Context;
use super::error::ReconcileError;
use super::events::Journal;
use crate::core::ownership::is_controlled_by;

/// The child of `resource` named `name`: our own last write while its echo is pending, else the
/// cache; `None` when the kind is not watched (its CRD is not installed).
pub(super) fn observed(
    ctx: &Context,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
) -> Option<Arc<DynamicObject>> {
    let recent = ctx.state.recent().object(&resource.plural, namespace, name);
    let cached = || ctx.children.object(resource, namespace, name);
    recent.or_else(|| cached().map(|obj| Arc::new(obj.to_dynamic(resource))))
}

/// Applies `desired` unless the observed object already is it; returns what was written.
pub(super) async fn apply_if_changed(
    ctx: &Context,
    resource: &ApiResource,
    desired: &DynamicObject,
    observed: Option<&DynamicObject>,
    journal: &Journal,
) -> Result<Option<DynamicObject>, ReconcileError> {
    if observed.is_some_and(|o| matches_observed(o, desired)) {
        return Ok(None);
    }
    let applied = apply_child(&ctx.client, resource, desired).await;
    ctx.telemetry.health.record(&format!("write {}", resource.plural), &applied);
    let applied = applied.map_err(|source| ReconcileError::Apply {
        kind: resource.kind.clone(),
        namespace: desired.namespace().unwrap_or_default(),
        name: desired.name_any(),
        source,
    })?;
    ctx.telemetry.metrics.wrote(&resource.kind);
    let before = observed.and_then(|o| o.metadata.resource_version.as_deref());
    ctx.state.recent().wrote_object(&resource.plural, before, applied.clone());
    let verb = if observed.is_some() { "Updated" } else { "Created" };
    let note = format!("{verb} {} {}", resource.kind, desired.name_any());
    info!("{note}");
    journal.note(note);
    Ok(Some(applied))
}

/// Removes the child of `resource` named `name` if the API with `uid` controls it; objects of
/// anyone else are never touched. `why` ends the note of the Event.
pub(super) async fn remove_controlled(
    ctx: &Context,
    resource: &ApiResource,
    uid: &str,
    (namespace, name): (&str, &str),
    journal: &Journal,
    why: &str,
) -> Result<(), ReconcileError> {
    let Some(stale) = observed(ctx, resource, namespace, name) else { return Ok(()) };
    if !is_controlled_by(&stale.metadata, uid) {
        return Ok(());
    }
    delete_observed(ctx, resource, &stale, journal, why).await
}

/// Deletes an observed object the caller found to be the API's (on the condition that it still
/// is that object), noting it in the API's Event.
pub(super) async fn delete_observed(
    ctx: &Context,
    resource: &ApiResource,
    stale: &DynamicObject,
    journal: &Journal,
    why: &str,
) -> Result<(), ReconcileError> {
    let deleted = delete_child(&ctx.client, resource, stale).await;
    ctx.telemetry.health.record(&format!("delete {}", resource.plural), &deleted);
    let (namespace, name) = (stale.namespace().unwrap_or_default(), stale.name_any());
    deleted.map_err(|source| ReconcileError::Remove {
        kind: resource.kind.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    })?;
    ctx.telemetry.metrics.wrote(&resource.kind);
    let note = format!("Deleted {} {name}: {why}", resource.kind);
    info!("{note}");
    journal.note(note);
    Ok(())
}

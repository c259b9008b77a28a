//! The one finalizer of an ExposedAPI. It is set once the API has something that garbage
//! collection cannot remove (an API in an external system, policy objects in a gateway namespace,
//! annotations on pods it does not own); on deletion each backend's release runs in order, then
//! the finalizer goes. The three names earlier releases used, one per clean-up, are recognised
//! the same way, so clusters running them upgrade in place.

use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::warn;

use super::apply::{add_finalizer, remove_finalizer};
use super::context::Context;
use super::error::ReconcileError;
use super::events::publish;
use super::{policies, scraping};
use crate::exposed_api::ExposedAPI;

pub const FINALIZER: &str = "oda.tmforum.org/exposedapi-cleanup";

/// The names of earlier releases: the APIM API, the gateway objects, the pod annotations.
pub const FORMER: [&str; 3] =
    ["oda.tmforum.org/azure-apim", "oda.tmforum.org/gateway-policies", "oda.tmforum.org/metrics-annotations"];

/// Whether the API carries the finalizer, under its name or a former one.
pub(super) fn held(api: &ExposedAPI) -> bool {
    api.finalizers().iter().any(|f| f == FINALIZER || FORMER.contains(&f.as_str()))
}

/// Sets the finalizer unless the API carries it already (under any of its names).
pub(super) async fn ensure(ctx: &Context, api: &ExposedAPI) -> Result<(), ReconcileError> {
    if held(api) { Ok(()) } else { add_finalizer(ctx, api, FINALIZER).await }
}

/// Removes the finalizer (every name of it) from a live API that no longer needs it: nothing of it
/// is left that garbage collection cannot remove.
pub(super) async fn settle(ctx: &Context, api: &ExposedAPI, needed: bool) -> Result<(), ReconcileError> {
    if needed || !held(api) {
        return Ok(());
    }
    for name in std::iter::once(FINALIZER).chain(FORMER) {
        remove_finalizer(ctx, api, name).await?;
    }
    Ok(())
}

/// Deletion: the external system's API, then the gateway objects, then the pod annotations; then
/// every name of the finalizer. A release that keeps failing stops only its own clean-up after
/// `pipeline::CLEANUP_ATTEMPTS` (with a Warning); the external system's is retried for as long
/// as it takes, since its API would otherwise be left serving.
pub(super) async fn release(ctx: &Context, api: &ExposedAPI, attempts: u32) -> Result<(), ReconcileError> {
    match &ctx.external {
        Some(system) => system.release(ctx, api).await?,
        None if api.status.as_ref().is_some_and(|s| s.apim.is_some()) => {
            let note = "ROUTE_BACKEND is not AzureAPIM: the API in APIM is left as it is";
            warn!(namespace = %api.namespace().unwrap_or_default(), name = %api.name_any(), "{note}");
            publish(ctx, api, EventType::Warning, "CleanupSkipped", note);
        }
        None => {}
    }
    policies::release(ctx, api, attempts).await?;
    scraping::release(ctx, api, attempts).await?;
    settle(ctx, api, false).await
}

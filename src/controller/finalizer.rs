//! The one finalizer of an ExposedAPI. It is set once the API has something that garbage
//! collection cannot remove (an API in an external system, policy objects in a gateway namespace,
//! annotations on pods it does not own); on deletion each backend's release runs in order, then
//! the finalizer goes. The three names earlier releases used, one per clean-up, are recognised
//! the same way, so clusters running them upgrade in place.

use super::apply::{add_finalizer, remove_finalizer};
use super::context::Context;
use super::error::ReconcileError;
use crate::exposed_api::ExposedAPI;
use kube::ResourceExt;

pub const FINALIZER: &str = "oda.tmforum.org/exposedapi-cleanup";

/// Failed clean-ups after which a clean-up that cannot succeed is given up (with a Warning), so
/// that deletion is never blocked for good; the external system's is not.
pub(super) const CLEANUP_ATTEMPTS: u32 = 5;

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

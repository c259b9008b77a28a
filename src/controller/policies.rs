//! The gateway policy step: the API's rate-limit EnvoyFilter and token-requiring
//! AuthorizationPolicy in the gateway's namespace, each with the shared object it needs, applied
//! before the route is (so a required token is in force before the API is reachable). They cannot
//! be owned across namespaces: a finalizer keeps the API until they are removed, and an object of
//! that name not written for this API is never touched.

use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::runtime::events::EventType;
use tracing::warn;

use super::children::{apply_if_changed, observed};
use super::context::Context;
use super::error::ReconcileError;
use super::events::{Journal, publish};
use crate::backend::PolicyObjects;
use crate::backend::gateway_policy::{PerApi, PolicyTarget, Shared, is_shared, is_written_for};
use crate::core::api_keys::Plan;
use crate::core::gateway_class::Enforcer;
use crate::core::policy::Enforcement;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

/// What became of the API's gateway objects.
pub(super) struct Enforced {
    pub rate_limit: Enforcement,
    pub api_keys: Enforcement,
    /// A failed write, returned after the status is written (so it is retried with backoff).
    pub failure: Option<ReconcileError>,
    /// The API wants objects in a gateway namespace (which need the finalizer).
    pub placed: bool,
}

impl Default for Enforced {
    fn default() -> Self {
        Self { rate_limit: Enforcement::Enforced, api_keys: Enforcement::Enforced, failure: None, placed: false }
    }
}

/// Applies the objects the API's policies want (of the plan: those of installed kinds), removes
/// those they no longer want (also those a
/// Gateway of another implementation than Istio's would ignore: `gateway`).
pub(super) async fn enforce(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    (objects, plan, gateway): (Option<&PolicyObjects>, Option<&Plan>, &Enforcer),
    journal: &Journal,
) -> Result<Enforced, ReconcileError> {
    let uid = api.uid().unwrap_or_default();
    let Some((target, wanted)) = objects else { return Ok(Enforced::default()) };
    if !wanted.is_empty() {
        super::finalizer::ensure(ctx, api).await?;
    }
    let mut enforced = Enforced { placed: !wanted.is_empty(), ..Enforced::default() };
    // Not Istio: nothing is asked of it (its own engine, if any, enforces the policies; else the
    // plan is unenforceable and the rate limit reported so).
    let ignored = matches!(gateway, Enforcer::Other(_));
    let requested = [
        (PerApi::RateLimit, valid.rate_limit.is_some() && !ignored),
        (PerApi::ApiKey, matches!(plan, Some(Plan::Jwt { .. })) && !ignored),
    ];
    for (kind, asked) in requested {
        let desired = wanted.iter().find(|(k, _)| *k == kind).map(|(_, o)| o);
        let state = match desired {
            None if asked => Enforcement::NotInstalled(format!("the {} CRD", kind.resource().kind)),
            // Not wanted: the prune removes it.
            None => Enforcement::Enforced,
            Some(desired) => match place(ctx, target, kind, desired, &uid, journal).await {
                Ok(state) => state,
                Err(e) => {
                    let state = Enforcement::Failed(e.to_string());
                    enforced.failure = Some(e);
                    state
                }
            },
        };
        match kind {
            PerApi::RateLimit => enforced.rate_limit = state,
            PerApi::ApiKey => enforced.api_keys = state,
        }
    }
    Ok(enforced)
}

/// The shared object the kind needs, then the API's own, each unless a foreign object holds the name.
async fn place(
    ctx: &Context,
    target: &PolicyTarget,
    kind: PerApi,
    desired: &DynamicObject,
    uid: &str,
    journal: &Journal,
) -> Result<Enforcement, ReconcileError> {
    let shared = kind.shared();
    if let Some(state) = ensure_shared(ctx, target, shared, journal).await? {
        return Ok(state);
    }
    let resource = kind.resource();
    let name = desired.name_any();
    let existing = observed(ctx, &resource, &target.namespace, &name);
    if let Some(existing) = &existing
        && !is_written_for(&existing.metadata, uid, kind)
    {
        return Ok(Enforcement::NotOwned(format!(
            "{} {}/{name} exists and was not written for this ExposedAPI; it is left untouched",
            resource.kind, target.namespace
        )));
    }
    apply_if_changed(ctx, &resource, desired, existing.as_deref(), journal).await?;
    Ok(Enforcement::Enforced)
}

/// Creates (or mends) a shared object of the gateway namespace; `Some` when it cannot be had.
pub(super) async fn ensure_shared(
    ctx: &Context,
    target: &PolicyTarget,
    shared: Shared,
    journal: &Journal,
) -> Result<Option<Enforcement>, ReconcileError> {
    let resource = shared.resource();
    let Some(desired) = ctx.backends.gateway.shared(shared, target)? else { return Ok(None) };
    let existing = observed(ctx, &resource, &target.namespace, shared.name());
    if let Some(existing) = &existing
        && !is_shared(&existing.metadata, shared)
    {
        return Ok(Some(Enforcement::NotOwned(format!(
            "{} {}/{} exists and was not written by this operator; it is left untouched",
            resource.kind,
            target.namespace,
            shared.name()
        ))));
    }
    apply_if_changed(ctx, &resource, &desired, existing.as_deref(), journal).await?;
    Ok(None)
}

/// Removes the API's object of `kind` named `name`, if it is there and was written for this API.
pub(super) async fn remove_named(
    ctx: &Context,
    namespace: &str,
    name: &str,
    kind: PerApi,
    uid: &str,
    journal: &Journal,
    why: &str,
) -> Result<(), ReconcileError> {
    let resource = kind.resource();
    let Some(stale) = observed(ctx, &resource, namespace, name) else { return Ok(()) };
    if !is_written_for(&stale.metadata, uid, kind) {
        return Ok(());
    }
    super::children::delete_observed(ctx, &resource, &stale, journal, why).await
}

/// Deletion: the API's gateway objects go. After repeated failures they are left to the orphan
/// sweep, with a Warning, so that the finalizer can go.
pub(super) async fn release(ctx: &Context, api: &ExposedAPI, attempts: u32) -> Result<(), ReconcileError> {
    let (namespace, name, uid) = (api.namespace().unwrap_or_default(), api.name_any(), api.uid().unwrap_or_default());
    let Some(target) = ctx.backends.policy_target(&namespace) else { return Ok(()) };
    let journal = Journal::default();
    for kind in PerApi::ALL.into_iter().filter(|k| ctx.backends.installed.has(*k)) {
        let object = kind.object_name(&namespace, &name);
        let removed = remove_named(ctx, &target.namespace, &object, kind, &uid, &journal, "the ExposedAPI is deleted");
        if let Err(e) = removed.await {
            if attempts < super::finalizer::CLEANUP_ATTEMPTS {
                return Err(e);
            }
            let note = format!("could not remove {object} after {attempts} attempts ({e}); the orphan sweep will");
            warn!("{note}");
            publish(ctx, api, EventType::Warning, "CleanupFailed", &note);
        }
    }
    Ok(())
}

//! The policy-engine step: apply the objects of the engine of the API's Gateway before the route
//! (so a required token is in force when the route goes live), each after the shared object it
//! needs, never over an object of the name that is not the API's; then ask the engine what became
//! of its policies. Objects placed in the gateway's namespace (Istio's) cannot be owned across
//! namespaces: the finalizer is set before the first is written, and [`release`] removes them on
//! deletion. [`remove_slot`] is the prune's and the release's way of removing one.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::events::EventType;
use tracing::warn;

use super::children::{apply_if_changed, delete_observed, observed};
use super::context::Context;
use super::error::ReconcileError;
use super::events::{Journal, publish};
use crate::backend::plan::policy_target;
use crate::backend::policy_engine::{Failure, Observed, Placement, PolicyEngine, Slot, Verdict, declared_kind};
use crate::core::gateway_class::ClassFeatures;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

/// What the engine step did: the engine's verdict, a failed write to retry with backoff, and
/// whether the API has objects in a gateway namespace (which need the finalizer).
pub(super) struct Engaged {
    pub verdict: Verdict,
    pub failure: Option<ReconcileError>,
    pub placed: bool,
}

/// What became of one desired object.
enum Fate {
    Written(Option<Arc<DynamicObject>>),
    NotOwned(Option<Arc<DynamicObject>>, String),
    Failed(Option<Arc<DynamicObject>>, String),
}

pub(super) async fn engage(
    ctx: &Context,
    api: &ExposedAPI,
    (valid, class): (&ValidApi, Option<&ClassFeatures>),
    (engine, desired): (&dyn PolicyEngine, &[DynamicObject]),
    journal: &Journal,
) -> Result<Engaged, ReconcileError> {
    let uid = api.uid().unwrap_or_default();
    let placed = engine.placement() == Placement::GatewayNamespace && !desired.is_empty();
    if placed {
        super::finalizer::ensure(ctx, api).await?;
    }
    let route = ctx.backends.route.as_ref();
    let (kind, name) = (route.resource().kind, route.object_name(&valid.name));
    let target = policy_target(&ctx.config, &valid.namespace, (&kind, &name), class);
    let kinds = engine.kinds();
    let mut failure = None;
    let mut fates = Vec::with_capacity(desired.len());
    for object in desired {
        let fate = match place(ctx, engine, &kinds, object, &uid, journal).await {
            Ok(fate) => fate,
            Err((existing, e)) => {
                let fate = Fate::Failed(existing, e.to_string());
                failure = Some(e);
                fate
            }
        };
        fates.push(fate);
    }
    let observed: Vec<Observed<'_>> = desired
        .iter()
        .zip(&fates)
        .map(|(desired, fate)| match fate {
            Fate::Written(current) => Observed { desired, current: current.as_deref(), failure: None },
            Fate::NotOwned(current, why) => {
                Observed { desired, current: current.as_deref(), failure: Some(Failure::NotOwned(why)) }
            }
            Fate::Failed(current, why) => {
                Observed { desired, current: current.as_deref(), failure: Some(Failure::Failed(why)) }
            }
        })
        .collect();
    let verdict = engine.verdict(&api.spec, valid, &target, &ctx.config.policy, &observed);
    Ok(Engaged { verdict, failure, placed })
}

type Placed = Result<Fate, (Option<Arc<DynamicObject>>, ReconcileError)>;

/// The shared object the desired one needs, then the desired one, each unless the name is taken.
async fn place(
    ctx: &Context,
    engine: &dyn PolicyEngine,
    kinds: &[ApiResource],
    object: &DynamicObject,
    uid: &str,
    journal: &Journal,
) -> Placed {
    let Some(resource) = declared_kind(kinds, object) else {
        // A defect of the engine: an object of a kind it does not declare is never written.
        let why = format!("the {} engine built an object of a kind it does not declare", engine.name());
        return Ok(Fate::Failed(None, why));
    };
    let shared = engine.shared(object).map_err(|e| (None, ReconcileError::from(e)))?;
    if let Some(shared) = shared {
        let Some(shared_kind) = declared_kind(kinds, &shared) else {
            return Ok(Fate::Failed(None, format!("the {} CRD is not installed", kind_name(&shared))));
        };
        let is_ours = |meta: &ObjectMeta| engine.is_shared(meta, &shared);
        match ensure_shared(ctx, shared_kind, &shared, is_ours, journal).await {
            Ok(None) => {}
            Ok(Some(why)) => return Ok(Fate::NotOwned(None, why)),
            Err(e) => return Err((None, e)),
        }
    }
    let namespace = object.namespace().unwrap_or_default();
    let existing = observed(ctx, resource, &namespace, &object.name_any());
    if let Some(existing) = &existing
        && !engine.is_ours(&existing.metadata, uid)
    {
        let why = format!(
            "{} {namespace}/{} exists and is not this ExposedAPI's; it is left untouched",
            resource.kind,
            object.name_any()
        );
        return Ok(Fate::NotOwned(Some(existing.clone()), why));
    }
    match apply_if_changed(ctx, resource, object, existing.as_deref(), journal).await {
        Ok(applied) => Ok(Fate::Written(applied.map(Arc::new).or(existing))),
        Err(e) => Err((existing, e)),
    }
}

/// Creates (or mends) a shared object; `Some` says why not when an object of its name is not the
/// operator's shared object (`is_ours`).
pub(super) async fn ensure_shared(
    ctx: &Context,
    resource: &ApiResource,
    desired: &DynamicObject,
    is_ours: impl Fn(&ObjectMeta) -> bool,
    journal: &Journal,
) -> Result<Option<String>, ReconcileError> {
    let (namespace, name) = (desired.namespace().unwrap_or_default(), desired.name_any());
    let existing = observed(ctx, resource, &namespace, &name);
    if let Some(existing) = &existing
        && !is_ours(&existing.metadata)
    {
        let why = format!(
            "{} {namespace}/{name} exists and was not written by this operator; it is left untouched",
            resource.kind
        );
        return Ok(Some(why));
    }
    apply_if_changed(ctx, resource, desired, existing.as_deref(), journal).await?;
    Ok(None)
}

/// Removes the object of a slot if it is there and is the API's (with `uid`).
pub(super) async fn remove_slot(
    ctx: &Context,
    engine: &dyn PolicyEngine,
    slot: &Slot,
    uid: &str,
    journal: &Journal,
    why: &str,
) -> Result<(), ReconcileError> {
    let Some(stale) = observed(ctx, &slot.resource, &slot.namespace, &slot.name) else { return Ok(()) };
    if !engine.is_ours(&stale.metadata, uid) {
        return Ok(());
    }
    delete_observed(ctx, &slot.resource, &stale, journal, why).await
}

/// Deletion: the API's objects in gateway namespaces go (those in its own namespace go with it).
/// After repeated failures they are left to the orphan sweep, with a Warning, so that the
/// finalizer can go.
pub(super) async fn release(ctx: &Context, api: &ExposedAPI, attempts: u32) -> Result<(), ReconcileError> {
    let (namespace, name, uid) = (api.namespace().unwrap_or_default(), api.name_any(), api.uid().unwrap_or_default());
    let route_name = ctx.backends.route.object_name(&name);
    let journal = Journal::default();
    let placed = ctx.backends.engines.iter().filter(|e| e.engine.placement() == Placement::GatewayNamespace);
    for engine in placed.map(|e| e.engine.as_ref()) {
        for slot in engine.slots(&namespace, &name, &route_name) {
            let removed = remove_slot(ctx, engine, &slot, &uid, &journal, "the ExposedAPI is deleted").await;
            if let Err(e) = removed {
                if attempts < super::finalizer::CLEANUP_ATTEMPTS {
                    return Err(e);
                }
                let note =
                    format!("could not remove {} after {attempts} attempts ({e}); the orphan sweep will", slot.name);
                warn!("{note}");
                publish(ctx, api, EventType::Warning, "CleanupFailed", &note);
            }
        }
    }
    Ok(())
}

fn kind_name(object: &DynamicObject) -> &str {
    object.types.as_ref().map_or("policy", |t| t.kind.as_str())
}

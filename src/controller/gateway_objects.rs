//! The operator's objects in gateway namespaces (rate-limit EnvoyFilters, the token rule and the
//! DENY AuthorizationPolicies): their watch, and the sweep that keeps each shared object exactly
//! while an API uses it and removes per-API objects whose ExposedAPI is gone (deleted while the
//! operator was stopped, or its finalizer removed by hand). Objects without the operator's labels
//! are cached (so a foreign object of one of our names is seen) and never touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::watcher::Event;
use tracing::{debug, info, warn};

use super::cached_api::CachedApi;
use super::children::delete_observed;
use super::context::Context;
use super::engine::ensure_shared;
use super::events::Journal;
use super::watch_task::Listing;
use super::watches::{Scope, SideWatches};
use crate::backend::gateway_policy::{PerApi, PolicyTarget, Shared, is_shared, written_for};

/// How often orphans are looked for besides start-up (they only arise while the operator is
/// stopped or a finalizer is removed by hand).
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Changes arriving together are handled together.
const SETTLE: Duration = Duration::from_millis(200);
const ANNOTATION: &str = "oda.tmforum.org/exposedapi";

impl SideWatches {
    /// A cached watch of one policy kind in the gateway namespace (or the watched namespaces): a
    /// change that is not our own echo re-reconciles the API the object was written for, and any
    /// change wakes the sweep.
    pub(super) fn gateway_objects(&self, resource: ApiResource, namespace: Option<String>) -> super::watches::Cached {
        let scope = namespace.map_or(Scope::Watched, Scope::Namespace);
        // Optional: without the RoleBinding in the gateway namespace the operator still runs,
        // and each policy write fails with Forbidden on its condition.
        self.cached(resource, (scope, Listing::Optional), |this, event, echo| {
            if let Event::Apply(obj) | Event::Delete(obj) = event {
                if !echo && let Some((ns, name)) = written_for_api(obj) {
                    this.send(&ns, &name);
                }
                let _ = this.gateway_objects.unbounded_send(());
            }
        })
    }
}

/// The `(namespace, name)` of the API an object of ours was written for.
fn written_for_api(obj: &DynamicObject) -> Option<(String, String)> {
    written_for(&obj.metadata)?;
    let (ns, name) = obj.annotations().get(ANNOTATION)?.split_once('/')?;
    Some((ns.to_owned(), name.to_owned()))
}

/// Runs the sweep: once the ExposedAPI cache is complete, then on every change of a gateway
/// object and every [`SWEEP_EVERY`].
pub(super) async fn sweep_forever(ctx: Arc<Context>, mut changes: UnboundedReceiver<()>) {
    if ctx.backends.policy_kinds().is_empty() {
        return;
    }
    // Not `Store::wait_until_ready`: awaited before the first list completes, it did not wake.
    ctx.state.apis_listed.notified().await;
    remove_orphans(&ctx).await;
    keep_shared_while_used(&ctx).await;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
    loop {
        let orphans = tokio::select! {
            _ = ticker.tick() => true,
            change = changes.next() => {
                if change.is_none() {
                    return;
                }
                tokio::time::sleep(SETTLE).await;
                while changes.try_recv().is_ok() {}
                false
            }
        };
        debug!(orphans, "sweeping the gateway objects");
        if orphans {
            remove_orphans(&ctx).await;
        }
        keep_shared_while_used(&ctx).await;
    }
}

/// Every cached object of the policy kinds.
fn cached_objects(ctx: &Context) -> Vec<(ApiResource, Arc<DynamicObject>)> {
    let kinds = ctx.backends.policy_kinds();
    kinds
        .into_iter()
        .filter_map(|r| Some((r.clone(), ctx.children.get(&r)?.state())))
        .flat_map(|(r, objects)| objects.into_iter().map(move |o| (r.clone(), Arc::new(o.to_dynamic(&r)))))
        .collect()
}

/// Creates a missing shared object where an API's object needs it; deletes one no API needs.
async fn keep_shared_while_used(ctx: &Context) {
    let objects = cached_objects(ctx);
    let mut used: BTreeSet<(String, Shared)> = BTreeSet::new();
    let mut present: BTreeMap<(String, Shared), Arc<DynamicObject>> = BTreeMap::new();
    for (_, obj) in &objects {
        let ns = obj.namespace().unwrap_or_default();
        if let Some((_, _, kind)) = written_for(&obj.metadata) {
            used.insert((ns.clone(), kind.shared()));
        }
        for shared in Shared::ALL.into_iter().filter(|s| obj.name_any() == s.name() && is_shared(&obj.metadata, *s)) {
            present.insert((ns.clone(), shared), obj.clone());
        }
    }
    let journal = Journal::default();
    for (ns, shared) in &used {
        let Some(target) = ctx.backends.policy_target(ns) else { continue };
        let target = PolicyTarget { namespace: ns.clone(), ..target };
        let restored = match ctx.backends.gateway.shared(*shared, &target) {
            Ok(Some(desired)) => {
                let is_ours = |meta: &ObjectMeta| is_shared(meta, *shared);
                ensure_shared(ctx, &shared.resource(), &desired, is_ours, &journal).await.map(|_| ())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = restored {
            warn!(namespace = %ns, error = %e, "could not restore a shared gateway object");
        }
    }
    for ((ns, shared), obj) in present.iter().filter(|(key, _)| !used.contains(key)) {
        let why = "no ExposedAPI on this gateway uses it any more";
        if let Err(e) = delete_observed(ctx, &shared.resource(), obj, &journal, why).await {
            warn!(namespace = %ns, error = %e, "could not remove an unused shared gateway object");
        }
    }
    for note in journal.take() {
        info!("{note}");
    }
}

/// Deletes per-API objects whose ExposedAPI (in a namespace this operator watches) no longer
/// exists, or which are no longer where that API's objects go.
async fn remove_orphans(ctx: &Context) {
    let apis: HashMap<String, Arc<CachedApi>> =
        ctx.apis.state().into_iter().filter_map(|api| Some((api.uid()?, api))).collect();
    let journal = Journal::default();
    for (resource, obj) in cached_objects(ctx) {
        let Some((api_namespace, uid, kind)) = written_for(&obj.metadata) else { continue };
        if !ctx.namespaces.matches(&api_namespace) || kind.resource().plural != resource.plural {
            continue;
        }
        let why = match apis.get(&uid) {
            None => "its ExposedAPI no longer exists",
            Some(api) if !in_place(ctx, api, &obj, kind) => "its ExposedAPI's objects go elsewhere now",
            Some(_) => continue,
        };
        if let Err(e) = delete_observed(ctx, &resource, &obj, &journal, why).await {
            warn!(object = %obj.name_any(), error = %e, "could not remove an orphaned gateway object");
        }
    }
}

/// Whether the object is where the API's object of its kind goes (namespace and name).
fn in_place(ctx: &Context, api: &CachedApi, obj: &DynamicObject, kind: PerApi) -> bool {
    let namespace = api.namespace().unwrap_or_default();
    let Some(target) = ctx.backends.policy_target(&namespace) else { return false };
    obj.namespace().as_deref() == Some(target.namespace.as_str())
        && obj.name_any() == kind.object_name(&namespace, &api.name_any())
}

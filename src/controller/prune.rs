//! The one prune: whatever the API owns (or, in a gateway namespace, has labelled as written for it)
//! in the kinds its backends declare, and the plan does not want, goes. Each object is found by the
//! name its backend gives it, never by listing; each delete carries the observed uid, so an object
//! re-created by someone else in between is never touched.

use kube::ResourceExt;

use super::children::remove_controlled;
use super::context::Context;
use super::engine::remove_slot;
use super::error::ReconcileError;
use super::journal::Journal;
use crate::backend::plan::Desired;
use crate::backend::scrape::service_monitor::service_monitor_resource;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

/// What became of the API's route in this reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Routes {
    /// Not written (a conflict, a foreign route, a failed write): a former backend's route keeps
    /// serving meanwhile.
    Unsettled,
    /// Applied: the routes of the other kinds go.
    Applied,
    /// Withheld (fail closed): the routes of every kind go.
    Withheld,
}

/// Removes the API's objects the plan does not want.
pub(super) async fn prune(
    ctx: &Context,
    api: &ExposedAPI,
    (valid, desired): (&ValidApi, &Desired),
    routes: Routes,
    journal: &Journal,
) -> Result<(), ReconcileError> {
    let uid = api.uid().unwrap_or_default();
    let backends = &ctx.backends;
    let at = |name: String| (valid.namespace.clone(), name);
    if routes != Routes::Unsettled {
        let active = backends.route.as_ref();
        let why = match routes {
            Routes::Withheld => "API keys are required and cannot be verified".to_owned(),
            _ => format!("ROUTE_BACKEND is {}", active.resource().kind),
        };
        let formers = backends.former_routes.iter().map(|r| r.as_ref());
        for route in formers.chain((routes == Routes::Withheld).then_some(active)) {
            let (ns, name) = at(route.object_name(&valid.name));
            remove_controlled(ctx, &route.resource(), &uid, (&ns, &name), journal, &why).await?;
        }
    }
    let monitors = service_monitor_resource();
    if desired.monitor.is_none() && backends.kinds.iter().any(|k| k.resource == monitors) {
        let why = "the API is no longer scraped through one";
        remove_controlled(ctx, &monitors, &uid, (&valid.namespace, &valid.name), journal, why).await?;
    }
    // Every engine's: the Gateway's class may have changed, and another engine wrote them.
    let route_name = backends.route.object_name(&valid.name);
    for engine in backends.engines.iter().map(|e| e.engine.as_ref()) {
        let why = format!("the policy is no longer requested of {}", engine.name());
        for slot in engine.slots(&valid.namespace, &valid.name, &route_name) {
            let wanted = desired.engine.iter().any(|o| {
                o.types.as_ref().is_some_and(|t| t.kind == slot.resource.kind)
                    && o.metadata.namespace.as_deref() == Some(slot.namespace.as_str())
                    && o.metadata.name.as_deref() == Some(slot.name.as_str())
            });
            if !wanted {
                remove_slot(ctx, engine, &slot, &uid, journal, &why).await?;
            }
        }
    }
    Ok(())
}

//! The route step: the same for every route backend. Take the planned route, refuse to touch a
//! route the API does not control, refuse a route another one already claims, apply what differs,
//! read the route's own status, and remove the route of the former backend once the new one is in
//! place.

use std::sync::Arc;

use kube::ResourceExt;
use kube::core::DynamicObject;

use super::children::{apply_if_changed, observed};
use super::context::Context;
use super::error::ReconcileError;
use super::events::Journal;
use crate::core::ownership::is_controlled_by;
use crate::core::status::{Outcome, ReadyReason, RouteState};
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

pub(super) async fn expose<'a>(
    ctx: &Context,
    api: &ExposedAPI,
    (valid, desired): (&'a ValidApi, &DynamicObject),
    journal: &Journal,
) -> Result<Outcome<'a>, ReconcileError> {
    let route = ctx.backends.route.as_ref();
    let resource = route.resource();
    let uid = api.uid().unwrap_or_default();
    let name = route.object_name(&valid.name);
    let key = (valid.namespace.clone(), name.clone());
    let existing = observed(ctx, &resource, &valid.namespace, &name);
    if let Some(existing) = &existing
        && !is_controlled_by(&existing.metadata, &uid)
    {
        let message = format!(
            "{} {}/{} exists and is not controlled by this ExposedAPI; it is left untouched",
            resource.kind, valid.namespace, name
        );
        return Ok(Outcome::Blocked { reason: ReadyReason::NotOwned, message });
    }

    let claim = route.route_key(valid);
    let others = ctx.state.routes.read().get().claimants_except(&claim, &key);
    if !others.is_empty() {
        ctx.state.waiters.lock().wait(claim.clone(), key);
        let message = format!(
            "conflicting {} '{}' already routes gateway {}, host {} and path prefix {}; nothing was written",
            resource.kind,
            others.join("', '"),
            claim.gateway,
            claim.host,
            claim.prefix
        );
        return Ok(Outcome::Blocked { reason: ReadyReason::RouteConflict, message });
    }

    let applied = apply_if_changed(ctx, &resource, desired, existing.as_deref(), journal).await?;
    let current = applied.map(Arc::new).or(existing);
    let state = current.as_deref().map_or(RouteState::Accepted, |r| route.state(r));
    Ok(Outcome::Applied { api: valid, route_uid: current.and_then(|r| r.uid()), route: state })
}

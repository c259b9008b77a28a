//! The policy-engine step, for a Gateway whose implementation has a policy engine of its own
//! (Envoy Gateway's SecurityPolicy and BackendTrafficPolicy): apply the engine's objects, each
//! controlled by the API in its namespace, before the route (so a required token is in force when
//! the route goes live); remove those of its kinds it no longer wants; and ask the engine what
//! their status means.

use std::sync::Arc;

use kube::ResourceExt;
use kube::core::{ApiResource, DynamicObject};

use super::children::{apply_if_changed, observed};
use super::context::Context;
use super::error::ReconcileError;
use super::events::Journal;
use crate::backend::policy_engine::{Observed, PolicyEngine, PolicyTarget, Verdict};
use crate::core::gateway_address::gateway_ref;
use crate::core::ownership::is_controlled_by;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

/// What the engine step did: the engine's verdict, and a failed write to retry with backoff.
pub(super) struct Engaged {
    pub verdict: Verdict,
    pub failure: Option<ReconcileError>,
}

pub(super) async fn engage(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    (engine, desired): (&dyn PolicyEngine, &[DynamicObject]),
    journal: &Journal,
) -> Result<Engaged, ReconcileError> {
    let uid = api.uid().unwrap_or_default();
    let route = ctx.backends.route.as_ref();
    let (kind, name) = (route.resource().kind, route.object_name(&valid.name));
    let (gateway_ns, gateway) = gateway_ref(&ctx.config.component_gateway);
    let target = PolicyTarget { kind: &kind, name: &name, gateway: (gateway_ns.unwrap_or(&valid.namespace), gateway) };
    let mut failure = None;
    let mut states: Vec<(Option<Arc<DynamicObject>>, Option<String>)> = Vec::new();
    let kinds = engine.kinds();
    for object in desired {
        let kind_of = |r: &&ApiResource| object.types.as_ref().is_some_and(|t| t.kind == r.kind);
        let Some(resource) = kinds.iter().find(kind_of) else {
            // A defect of the engine: an object of a kind it does not declare is never written.
            states.push((
                None,
                Some(format!("the {} engine built an object of a kind it does not declare", engine.name())),
            ));
            continue;
        };
        let existing = observed(ctx, resource, &valid.namespace, &object.name_any());
        if let Some(existing) = &existing
            && !is_controlled_by(&existing.metadata, &uid)
        {
            let why = format!(
                "{} {}/{} exists and is not controlled by this ExposedAPI; it is left untouched",
                resource.kind,
                valid.namespace,
                object.name_any()
            );
            states.push((Some(existing.clone()), Some(why)));
            continue;
        }
        match apply_if_changed(ctx, resource, object, existing.as_deref(), journal).await {
            Ok(applied) => states.push((applied.map(Arc::new).or(existing), None)),
            Err(e) => {
                states.push((existing, Some(e.to_string())));
                failure = Some(e);
            }
        }
    }
    let observed: Vec<Observed<'_>> = desired
        .iter()
        .zip(&states)
        .map(|(desired, (current, why))| Observed { desired, current: current.as_deref(), failure: why.as_deref() })
        .collect();
    let verdict = engine.verdict(&api.spec, valid, &target, &ctx.config.policy, &observed);
    Ok(Engaged { verdict, failure })
}

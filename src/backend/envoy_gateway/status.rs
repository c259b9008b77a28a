//! What Envoy Gateway says of one of the API's policy objects: its `status.ancestors` entry for the
//! route's Gateway (Envoy Gateway names the Gateway, with the route's `sectionName`, as the
//! ancestor of a policy targeting a route), or why the object is not there.

use kube::core::DynamicObject;
use serde::Deserialize;

use crate::backend::gateway_api::ParentReference;
use crate::backend::policy_engine::{Failure, Observed, PolicyTarget};
use crate::core::gateway_address::GatewayCondition;
use crate::core::policy::{APPLY_FAILED, NOT_ACCEPTED, NOT_OWNED, PENDING};

const ACCEPTED: &str = "Accepted";
const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";
const GATEWAY: &str = "Gateway";
/// The `Accepted=False` reasons of the Gateway API and of Envoy Gateway v1.9, quoted as they are;
/// any other is reported as [`NOT_ACCEPTED`] (a condition reason is a name the operator knows).
const REFUSALS: [&str; 6] = ["Invalid", "Conflicted", "TargetNotFound", "ResourceNotFound", "Disabled", "Overridden"];

/// `status` of a policy (Gateway API `PolicyStatus`), read leniently.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
struct PolicyStatus {
    #[serde(default)]
    ancestors: Vec<AncestorStatus>,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct AncestorStatus {
    ancestor_ref: ParentReference,
    #[serde(default)]
    controller_name: String,
    #[serde(default)]
    conditions: Vec<GatewayCondition>,
}

/// Whether an object is in force, and if not, the reason and words of its policies' conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// `Accepted=True` for the Gateway, for the object's current generation.
    InForce,
    /// Not decided yet: not written, or written and not reported on (`PENDING`), or a failed
    /// write being retried (`APPLY_FAILED`).
    Pending { reason: &'static str, message: String },
    /// Refused by Envoy Gateway (`Accepted=False`), or an object the API does not control.
    Refused { reason: &'static str, message: String },
}

impl State {
    fn rank(&self) -> u8 {
        match self {
            Self::InForce => 0,
            Self::Pending { .. } => 1,
            Self::Refused { .. } => 2,
        }
    }
}

/// The state of one desired object, as observed.
pub(super) fn state(observed: &Observed<'_>, target: &PolicyTarget<'_>) -> State {
    let desired = observed.desired;
    let kind = desired.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("policy");
    let what = format!(
        "{kind} {}/{}",
        desired.metadata.namespace.as_deref().unwrap_or_default(),
        desired.metadata.name.as_deref().unwrap_or_default()
    );
    let current = observed.current;
    match observed.failure {
        // The controller leaves an object alone that the API does not control, and says why.
        Some(Failure::NotOwned(why)) => return State::Refused { reason: NOT_OWNED, message: why.to_owned() },
        Some(Failure::Failed(why)) => {
            return State::Pending { reason: APPLY_FAILED, message: format!("writing {what} failed (retried): {why}") };
        }
        None => {}
    }
    match current {
        None => State::Pending { reason: PENDING, message: format!("{what} is not written yet") },
        Some(current) => ancestor_state(current, &what, target.gateway),
    }
}

/// The worst of the object's entries for the Gateway (its listeners may be several ancestors).
fn ancestor_state(object: &DynamicObject, what: &str, (namespace, name): (&str, &str)) -> State {
    let own_namespace = object.metadata.namespace.as_deref().unwrap_or_default();
    let status: PolicyStatus =
        object.data.get("status").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let gateway = format!("{namespace}/{name}");
    let ours = |r: &ParentReference| {
        r.group.as_deref().unwrap_or(GATEWAY_API_GROUP) == GATEWAY_API_GROUP
            && r.kind.as_deref().unwrap_or(GATEWAY) == GATEWAY
            && r.namespace.as_deref().unwrap_or(own_namespace) == namespace
            && r.name == name
    };
    let states = status
        .ancestors
        .iter()
        .filter(|a| ours(&a.ancestor_ref))
        .map(|entry| entry_state(entry, object.metadata.generation, what, &gateway));
    states.max_by_key(State::rank).unwrap_or_else(|| State::Pending {
        reason: PENDING,
        message: format!("{what} is written; Envoy Gateway has not reported on it for Gateway {gateway} yet"),
    })
}

fn entry_state(entry: &AncestorStatus, generation: Option<i64>, what: &str, gateway: &str) -> State {
    let controller = if entry.controller_name.is_empty() { "Envoy Gateway" } else { &entry.controller_name };
    // Only a verdict on what is written now counts: an older one may be about other values.
    let current = |c: &&GatewayCondition| match (c.observed_generation, generation) {
        (Some(seen), Some(now)) => seen == now,
        _ => true,
    };
    let pending = || State::Pending {
        reason: PENDING,
        message: format!(
            "{what} is written; {controller} has not accepted its current generation for Gateway {gateway} yet"
        ),
    };
    let Some(accepted) = entry.conditions.iter().filter(current).find(|c| c.type_ == ACCEPTED) else {
        return pending();
    };
    match accepted.status.as_str() {
        "True" => State::InForce,
        "False" => {
            let reason = REFUSALS.into_iter().find(|r| *r == accepted.reason).unwrap_or(NOT_ACCEPTED);
            let words = [accepted.reason.as_str(), accepted.message.as_str()]
                .into_iter()
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            State::Refused {
                reason,
                message: format!("{controller} did not accept {what} for Gateway {gateway} (Accepted=False: {words})"),
            }
        }
        _ => pending(),
    }
}

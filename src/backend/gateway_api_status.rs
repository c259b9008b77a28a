//! The reading of the implementation's verdicts that are part of an HTTPRoute API's readiness: the
//! route's `status.parents` entry for our parent (`Accepted`, `ResolvedRefs`), and the Gateway's
//! own `Programmed` condition (a route accepted by a Gateway whose data plane is not configured
//! serves nothing).

use kube::ResourceExt;
use kube::core::DynamicObject;
use serde::Deserialize;

use super::parent_ref::ParentReference;
use crate::core::gateway_address::Gateway;
use crate::core::status::{ReadyReason, RouteState};

/// The Gateway condition saying its configuration is in the data plane.
pub const PROGRAMMED: &str = "Programmed";
/// The `Programmed=False` reason of a Gateway still being provisioned (waiting, not broken).
const PENDING: &str = "Pending";

/// The part of `HTTPRoute` status the operator reads.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpRouteStatus {
    #[serde(default)]
    pub parents: Vec<RouteParentStatus>,
}

/// What one controller reports for one parent.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: ParentReference,
    #[serde(default)]
    pub controller_name: String,
    #[serde(default)]
    pub conditions: Vec<RouteCondition>,
}

/// A condition as a controller writes it (read leniently: no field is required); the same shape
/// as a Gateway's.
pub use crate::core::gateway_address::GatewayCondition as RouteCondition;

/// What the controllers report for our parent, for the current generation of the route: the
/// worst of their entries (rejected, then pending); pending when none has reported.
pub fn parent_state(route: &DynamicObject, parent: &ParentReference) -> RouteState {
    let namespace = route.metadata.namespace.as_deref().unwrap_or_default();
    let name = route.metadata.name.as_deref().unwrap_or_default();
    let generation = route.metadata.generation;
    let status: HttpRouteStatus =
        route.data.get("status").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let gateway = format!("{}/{}", parent.namespace.as_deref().unwrap_or(namespace), parent.name);
    let mut worst: Option<RouteState> = None;
    for entry in status.parents.iter().filter(|p| p.parent_ref.same_parent(parent, namespace)) {
        let state = entry_state(entry, generation, &gateway);
        let rank = |s: &RouteState| match s {
            RouteState::Accepted => 0,
            RouteState::Pending { .. } => 1,
            RouteState::Rejected { .. } => 2,
        };
        if worst.as_ref().is_none_or(|w| rank(&state) > rank(w)) {
            worst = Some(state);
        }
    }
    worst.unwrap_or_else(|| RouteState::Pending {
        message: format!(
            "HTTPRoute {namespace}/{name} applied; no gateway controller has reported on it for Gateway {gateway} yet"
        ),
    })
}

fn entry_state(entry: &RouteParentStatus, generation: Option<i64>, gateway: &str) -> RouteState {
    let controller = if entry.controller_name.is_empty() { "the gateway controller" } else { &entry.controller_name };
    let find = |type_: &str| entry.conditions.iter().find(|c| c.type_ == type_);
    let current = |c: &RouteCondition| match (c.observed_generation, generation) {
        (Some(seen), Some(now)) => seen >= now,
        _ => true,
    };
    let Some(accepted) = find("Accepted").filter(|c| current(c)) else {
        return RouteState::Pending {
            message: format!(
                "{controller} has not reported on the current generation of the route for Gateway {gateway}"
            ),
        };
    };
    let quote = |c: &RouteCondition| {
        let mut words = c.reason.clone();
        if !c.message.is_empty() {
            words = if words.is_empty() { c.message.clone() } else { format!("{words}: {}", c.message) };
        }
        words
    };
    match accepted.status.as_str() {
        "True" => {}
        "False" => {
            return RouteState::Rejected {
                reason: ReadyReason::RouteNotAccepted,
                message: format!("Gateway {gateway} did not accept the route ({controller}): {}", quote(accepted)),
            };
        }
        _ => {
            return RouteState::Pending {
                message: format!("{controller} has not decided on the route for Gateway {gateway} yet"),
            };
        }
    }
    if let Some(resolved) = find("ResolvedRefs").filter(|c| current(c) && c.status == "False") {
        return RouteState::Rejected {
            reason: ReadyReason::RouteRefsUnresolved,
            message: format!("{controller} cannot resolve the route's references: {}", quote(resolved)),
        };
    }
    RouteState::Accepted
}

/// What the Gateway's own `Programmed` condition says, for its current generation: programmed,
/// pending (no verdict yet, or `Pending`), or not programmed (`GatewayNotProgrammed`, quoted).
pub fn gateway_state(gateway: &Gateway) -> RouteState {
    let name = format!("{}/{}", gateway.namespace().unwrap_or_default(), gateway.name_any());
    let generation = gateway.metadata.generation;
    let conditions = gateway.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let programmed =
        conditions.iter().find(|c| c.type_ == PROGRAMMED).filter(|c| match (c.observed_generation, generation) {
            (Some(seen), Some(now)) => seen >= now,
            _ => true,
        });
    let Some(programmed) = programmed else {
        return RouteState::Pending {
            message: format!(
                "route accepted; Gateway {name} is not reported Programmed for its current generation yet"
            ),
        };
    };
    let words = [programmed.reason.as_str(), programmed.message.as_str()]
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    match programmed.status.as_str() {
        "True" => RouteState::Accepted,
        "False" if programmed.reason != PENDING => RouteState::Rejected {
            reason: ReadyReason::GatewayNotProgrammed,
            message: format!("route accepted, but Gateway {name} is not programmed (Programmed=False: {words})"),
        },
        _ => RouteState::Pending { message: format!("route accepted; Gateway {name} is not programmed yet ({words})") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::gateway_address::{GatewayCondition, GatewaySpec, GatewayStatus};

    fn gateway(programmed: Option<(&str, &str, i64)>) -> Gateway {
        let mut gw = Gateway::new("gw", GatewaySpec::default());
        gw.metadata.namespace = Some("canvas".into());
        gw.metadata.generation = Some(2);
        let conditions = programmed
            .map(|(status, reason, seen)| GatewayCondition {
                type_: PROGRAMMED.into(),
                status: status.into(),
                reason: reason.into(),
                message: "says so".into(),
                observed_generation: Some(seen),
            })
            .into_iter()
            .collect();
        gw.status = Some(GatewayStatus { addresses: vec![], conditions });
        gw
    }

    #[test]
    fn only_a_programmed_gateway_serves_its_routes() {
        assert_eq!(gateway_state(&gateway(Some(("True", "Programmed", 2)))), RouteState::Accepted);
        let RouteState::Rejected { reason, message } = gateway_state(&gateway(Some(("False", "Invalid", 2)))) else {
            panic!("not programmed")
        };
        assert_eq!(reason, ReadyReason::GatewayNotProgrammed);
        assert_eq!(
            message,
            "route accepted, but Gateway canvas/gw is not programmed (Programmed=False: Invalid: says so)"
        );
        for waiting in [None, Some(("True", "Programmed", 1)), Some(("False", "Pending", 2)), Some(("Unknown", "", 2))]
        {
            assert!(matches!(gateway_state(&gateway(waiting)), RouteState::Pending { .. }), "{waiting:?}");
        }
    }
}

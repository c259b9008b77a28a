//! The conditions of an API's policies on Envoy Gateway. A policy enforced as on Istio gets the
//! condition Istio's would (the same reasons and words, from [`crate::core::policy`]) once the
//! object carrying it is `Accepted`; until then its condition is `False` with that object's
//! state: `Pending`, `ApplyFailed`, `NotOwned`, or Envoy Gateway's own refusal.

use super::status::{State, state};
use super::{BACKEND_TRAFFIC_POLICY, SECURITY_POLICY, api_keys_plan};
use crate::backend::policy_engine::{Failure, NotInForce, Observed, PolicyTarget, Verdict};
use crate::config::{PolicyConfig, Unenforceable};
use crate::core::api_keys::Plan;
use crate::core::gateway_class::Enforcer;
use crate::core::policy::{
    API_KEY_VERIFICATION, APPLIED, CORS, Enforcement, PENDING, PolicyFacts, RATE_LIMIT, STREAMING_TIMEOUT, conditions,
    unsupported,
};
use crate::core::status::ConditionSpec;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;

/// The conditions of every requested policy (those no gateway enforces last), what keeps the API
/// from `Ready`, and whether the required token is in force.
pub(super) fn verdict(
    spec: &ExposedApiSpec,
    api: &ValidApi,
    target: &PolicyTarget<'_>,
    config: &PolicyConfig,
    observed: &[Observed<'_>],
) -> Verdict {
    let of_kind = |kind: &str| observed.iter().find(|o| o.desired.types.as_ref().is_some_and(|t| t.kind == kind));
    let security_policy = of_kind(SECURITY_POLICY);
    let security = security_policy.map(|o| state(o, target));
    let traffic = of_kind(BACKEND_TRAFFIC_POLICY).map(|o| state(o, target));
    let plan = api_keys_plan(spec, config);
    let facts = PolicyFacts {
        kind: SECURITY_POLICY,
        cors_supported: true,
        // Envoy Gateway lists no supportedFeatures, and its own kinds carry the policies.
        implementation: None,
        gateway: &Enforcer::Unknown,
        // Reported below, with its object's state.
        streaming: false,
        per_client: config.rate_limit_per_client,
        rate_limit: &Enforcement::Enforced,
        api_keys: plan.as_ref(),
        api_key_policy: &Enforcement::Enforced,
        fail_closed: config.api_key_unenforceable == Unenforceable::FailClosed,
    };
    let carrier = |type_: &str| match type_ {
        CORS | API_KEY_VERIFICATION => (SECURITY_POLICY, security.as_ref()),
        _ => (BACKEND_TRAFFIC_POLICY, traffic.as_ref()),
    };
    let mut carried: Vec<(&'static str, &'static str)> = Vec::new();
    let mut all: Vec<ConditionSpec> = conditions(spec, &facts)
        .into_iter()
        .filter(|c| [CORS, RATE_LIMIT, API_KEY_VERIFICATION].contains(&c.type_))
        .collect();
    if api.api_type.is_streaming() {
        let message = match config.streaming_timeout_seconds {
            0 => "no route timeout (STREAMING_TIMEOUT_SECONDS=0): the gateway never cuts a stream".to_owned(),
            seconds => format!("route timeout {seconds}s (STREAMING_TIMEOUT_SECONDS) for the streaming API"),
        };
        all.push(ConditionSpec { type_: STREAMING_TIMEOUT, status: true, reason: APPLIED, message });
    }
    let carried_conditions: Vec<ConditionSpec> = all
        .into_iter()
        .map(|condition| {
            // A `False` condition (invalid, not enforceable) needs no object.
            if !condition.status {
                return condition;
            }
            let (kind, state) = carrier(condition.type_);
            carried.push((condition.type_, kind));
            match state {
                Some(State::InForce) => condition,
                Some(State::Pending { reason, message } | State::Refused { reason, message }) => {
                    ConditionSpec { status: false, reason, message: message.clone(), ..condition }
                }
                None => ConditionSpec {
                    status: false,
                    reason: PENDING,
                    message: format!("no {kind} is written for it yet"),
                    ..condition
                },
            }
        })
        .collect();
    let conditions = carried_conditions.into_iter().chain(unsupported(spec)).collect();
    // The token is required by the SecurityPolicy: withheld (fail closed) while that is foreign
    // or failed to be written; one Envoy Gateway has not accepted yet keeps the API from `Ready`.
    let api_keys = match (&plan, security_policy) {
        (Some(Plan::Jwt { .. }), Some(o)) => o.failure.map(Failure::enforcement).unwrap_or_default(),
        (Some(Plan::Jwt { .. }), None) => Enforcement::Failed(format!("no {SECURITY_POLICY} is written for it")),
        _ => Enforcement::Enforced,
    };
    Verdict {
        conditions,
        not_in_force: not_in_force(&carried, [(SECURITY_POLICY, &security), (BACKEND_TRAFFIC_POLICY, &traffic)]),
        api_keys,
    }
}

/// What keeps the API from `Ready`: every object carrying a policy that is not in force, named
/// with its policies; refused when one is refused (a person must act), else pending.
fn not_in_force(carried: &[(&'static str, &'static str)], objects: [(&str, &Option<State>); 2]) -> Option<NotInForce> {
    let mut refused = false;
    let mut reasons = Vec::new();
    for (kind, state) in objects {
        let types: Vec<&str> = carried.iter().filter(|(_, k)| *k == kind).map(|(t, _)| *t).collect();
        if types.is_empty() {
            continue;
        }
        let message = match state {
            Some(State::InForce) => continue,
            Some(State::Refused { message, .. }) => {
                refused = true;
                message.clone()
            }
            Some(State::Pending { message, .. }) => message.clone(),
            None => format!("no {kind} is written yet"),
        };
        reasons.push(format!("{}: {message}", types.join(", ")));
    }
    let message = (!reasons.is_empty()).then(|| reasons.join("; "))?;
    Some(if refused { NotInForce::Refused(message) } else { NotInForce::Pending(message) })
}

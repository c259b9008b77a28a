//! The gateway policies an ExposedAPI asks for (`CORS`, `rateLimit`, `apiKeyVerification`, `quota`,
//! `OASValidation`, `template`, copied from its Component's `gatewayConfiguration`), and the
//! condition each requested one gets. A policy condition exists only while the policy is requested.
//!
//! `CORS` goes on the API's own route (both backends); `rateLimit` and `apiKeyVerification` become
//! Istio objects in the gateway's namespace (Envoy's local rate limit; a required JWT), which only
//! an Istio gateway enforces (on a Gateway of another implementation none is written). `quota`,
//! `OASValidation` and `template` have no mechanism on Istio or the Gateway API (design:
//! shared/reference istio-policies §2.4–2.6): each is reported `False` with reason `NotSupported`,
//! and the API is still published.

use crate::core::api_keys::{Location, Plan};
use crate::core::gateway_class::{
    ClassFeatures, Enforcer, HTTP_ROUTE_BACKEND_REQUEST_TIMEOUT, HTTP_ROUTE_CORS, HTTP_ROUTE_REQUEST_TIMEOUT,
    Unsupported, describe as describe_features, unsupported as feature_unsupported,
};
use crate::core::status::ConditionSpec;
use crate::exposed_api::ExposedApiSpec;

/// Condition types, one per policy.
pub const CORS: &str = "CORS";
pub const RATE_LIMIT: &str = "RateLimit";
pub const API_KEY_VERIFICATION: &str = "APIKeyVerification";
pub const QUOTA: &str = "Quota";
pub const OAS_VALIDATION: &str = "OASValidation";
pub const TEMPLATE: &str = "Template";
/// The route timeout of a streaming API (`apiType: mcp`); reported only when it cannot be written.
pub const STREAMING_TIMEOUT: &str = "StreamingTimeout";

/// Reason of a requested policy that the platform has no way to enforce.
pub const NOT_SUPPORTED: &str = "NotSupported";
/// Reasons of an enforced policy: as asked, or with a deviation the message names.
pub const APPLIED: &str = "Applied";
pub const APPLIED_WITH_DEVIATION: &str = "AppliedWithDeviation";
/// Reason of a requested policy with invalid values; the message names the fields.
pub const INVALID_SPEC: &str = "InvalidSpec";
/// A rate limit is counted by each gateway pod on its own (Envoy's local rate limit).
pub const APPLIED_PER_GATEWAY_REPLICA: &str = "AppliedPerGatewayReplica";
/// API-key verification is enforced as a required JWT.
pub const APPLIED_AS_JWT: &str = "AppliedAsJWT";
/// The policy's object in the gateway namespace exists and was not written for this API.
pub const NOT_OWNED: &str = "NotOwned";
/// Writing the policy's object failed (the message says why; it is retried).
pub const APPLY_FAILED: &str = "ApplyFailed";
/// The policy's object is written and its implementation has not reported on its current
/// generation (yet): the policy is not in force, and the API waits for it.
pub const PENDING: &str = "Pending";
/// The implementation refused the policy's object (`Accepted=False`) with a reason of its own that
/// the Gateway API does not name; the message quotes it.
pub const NOT_ACCEPTED: &str = "NotAccepted";

/// Whether the gateway object of a policy is in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Enforcement {
    #[default]
    Enforced,
    /// The kind's CRD is not installed (named in the message).
    NotInstalled(String),
    NotOwned(String),
    Failed(String),
}

/// What an API's policies go on, and what became of their gateway objects.
pub struct PolicyFacts<'a> {
    /// `VirtualService` or `HTTPRoute`.
    pub kind: &'a str,
    /// The installed CRD of that kind can carry a CORS policy.
    pub cors_supported: bool,
    /// The Gateway API implementation behind the route's Gateway, from its GatewayClass (`None`:
    /// a VirtualService, or not known).
    pub implementation: Option<&'a ClassFeatures>,
    /// Who serves the Gateway: one not Istio's ignores the rate-limit EnvoyFilter.
    pub gateway: &'a Enforcer,
    /// The API is streaming: its route gets a timeout.
    pub streaming: bool,
    /// The gateway keeps one rate-limit bucket per client.
    pub per_client: bool,
    pub rate_limit: &'a Enforcement,
    /// The plan for `apiKeyVerification` (`None` when not requested), and its object.
    pub api_keys: Option<&'a Plan>,
    pub api_key_policy: &'a Enforcement,
    /// `APIKEY_UNENFORCEABLE=FailClosed`: an API whose keys are not verified is withheld.
    pub fail_closed: bool,
}

impl<'a> PolicyFacts<'a> {
    /// Offline (`render`): every object is assumed in place.
    pub fn offline(kind: &'a str, per_client: bool, api_keys: Option<&'a Plan>) -> Self {
        Self {
            kind,
            cors_supported: true,
            implementation: None,
            // Offline no class is read: as with an unknown class, the objects are rendered.
            gateway: &Enforcer::Unknown,
            streaming: false,
            per_client,
            rate_limit: &Enforcement::Enforced,
            api_keys,
            api_key_policy: &Enforcement::Enforced,
            fail_closed: true,
        }
    }
}

/// The condition of every requested policy, in a stable order.
pub fn conditions(spec: &ExposedApiSpec, facts: &PolicyFacts<'_>) -> Vec<ConditionSpec> {
    let gateway = [rate_limit(spec, facts), api_keys(facts), streaming_timeout(facts)];
    cors(spec, facts).into_iter().chain(gateway.into_iter().flatten()).chain(unsupported(spec)).collect()
}

/// The timeouts of a streaming API's route that its implementation does not support (and are
/// therefore not written; the gateway's default timeout applies instead).
fn streaming_timeout(facts: &PolicyFacts<'_>) -> Option<ConditionSpec> {
    let missing: Vec<Unsupported> = [HTTP_ROUTE_REQUEST_TIMEOUT, HTTP_ROUTE_BACKEND_REQUEST_TIMEOUT]
        .into_iter()
        .filter(|_| facts.streaming)
        .filter_map(|feature| feature_unsupported(facts.implementation, feature))
        .collect();
    let controller = &missing.first()?.controller;
    let features: Vec<&str> = missing.iter().map(|m| m.feature).collect();
    let fallout = if missing.len() == 2 {
        "the route has no timeout of its own, and the gateway's default may cut long streams"
    } else {
        "the route carries only the other timeout"
    };
    let message = format!("{}: {fallout}", describe_features(controller, &features));
    Some(ConditionSpec { type_: STREAMING_TIMEOUT, status: false, reason: NOT_SUPPORTED, message })
}

fn rate_limit(spec: &ExposedApiSpec, facts: &PolicyFacts<'_>) -> Option<ConditionSpec> {
    let condition = |status, reason, message| ConditionSpec { type_: RATE_LIMIT, status, reason, message };
    let limit = match crate::core::rate_limit::requested(spec)? {
        Err(errors) => {
            let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Some(condition(false, INVALID_SPEC, format!("{}; no rate limit is applied", problems.join("; "))));
        }
        Ok(limit) => limit,
    };
    if let Some(why) = facts.gateway.ignores("EnvoyFilter") {
        let message = format!("{why}: none is written, and the API is published without a rate limit");
        return Some(condition(false, NOT_SUPPORTED, message));
    }
    if let Some((reason, why)) = not_enforced(facts.rate_limit) {
        return Some(condition(false, reason, format!("{why}: the API is published without a rate limit")));
    }
    let (n, unit) = (limit.limit, limit.interval.unit());
    let counted = if facts.per_client {
        format!("{n} requests/{unit} per {}", limit.client.describe())
    } else {
        format!(
            "{n} requests/{unit} shared by all clients (RATE_LIMIT_PER_CLIENT=false: the gateway cannot keep \
             per-client buckets)"
        )
    };
    let message =
        format!("{counted}, counted by each gateway pod on its own: N gateway replicas allow up to N × {n}/{unit}");
    Some(condition(true, APPLIED_PER_GATEWAY_REPLICA, message))
}

fn api_keys(facts: &PolicyFacts<'_>) -> Option<ConditionSpec> {
    let condition = |status, reason, message| ConditionSpec { type_: API_KEY_VERIFICATION, status, reason, message };
    let fallout = |closed: bool| {
        if closed {
            "the route is withheld until it can be (APIKEY_UNENFORCEABLE=FailClosed)"
        } else {
            "the API is published WITHOUT verification (APIKEY_UNENFORCEABLE=FailOpen)"
        }
    };
    Some(match facts.api_keys? {
        Plan::Unenforceable { why, closed } => {
            condition(false, NOT_SUPPORTED, format!("API keys cannot be verified: {why}; {}", fallout(*closed)))
        }
        Plan::Jwt { issuer, location } => match (not_enforced(facts.api_key_policy), location) {
            (Some((reason, why)), _) => condition(false, reason, format!("{why}; {}", fallout(facts.fail_closed))),
            (None, Location::Default) => condition(
                true,
                APPLIED_AS_JWT,
                format!(
                    "requests need a valid JWT from {issuer} (Authorization: Bearer, or the access_token query \
                     parameter); opaque API keys are not verified"
                ),
            ),
            (None, Location::Other(name)) => condition(
                true,
                APPLIED_WITH_DEVIATION,
                format!(
                    "requests need a valid JWT from {issuer} in Authorization: Bearer or the access_token query \
                     parameter; tokens in {name:?} are not read, and opaque API keys are not verified"
                ),
            ),
        },
    })
}

/// The reason and words of a policy object that is not in place.
fn not_enforced(enforcement: &Enforcement) -> Option<(&'static str, String)> {
    match enforcement {
        Enforcement::Enforced => None,
        Enforcement::NotInstalled(what) => Some((NOT_SUPPORTED, format!("{what} is not installed"))),
        Enforcement::NotOwned(what) => Some((NOT_OWNED, what.clone())),
        Enforcement::Failed(what) => Some((APPLY_FAILED, what.clone())),
    }
}

fn cors(spec: &ExposedApiSpec, route: &PolicyFacts<'_>) -> Option<ConditionSpec> {
    let condition = |status, reason, message| ConditionSpec { type_: CORS, status, reason, message };
    let implementation = feature_unsupported(route.implementation, HTTP_ROUTE_CORS);
    Some(match crate::core::cors::requested(spec)? {
        Err(errors) => {
            let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
            condition(false, INVALID_SPEC, format!("{}; the API is published without CORS", problems.join("; ")))
        }
        Ok(_) if !route.cors_supported => condition(
            false,
            NOT_SUPPORTED,
            format!(
                "the installed {} CRD has no CORS filter (Gateway API v1.5 or later): CORS is not applied",
                route.kind
            ),
        ),
        Ok(_) if implementation.is_some() => condition(
            false,
            NOT_SUPPORTED,
            format!(
                "{}: the {} is published without its CORS filter",
                implementation.map(|u| u.describe()).unwrap_or_default(),
                route.kind
            ),
        ),
        Ok(cors) if !cors.answer_preflights => condition(
            true,
            APPLIED_WITH_DEVIATION,
            format!(
                "CORS on the {}; handlePreflightRequests.enabled=false cannot be honoured: the gateway answers the \
                 preflights of allowed origins itself",
                route.kind
            ),
        ),
        Ok(cors) => {
            condition(true, APPLIED, format!("CORS on the {} for origins {}", route.kind, cors.origins.join(", ")))
        }
    })
}

/// The conditions of the requested policies that no backend can enforce, in a stable order
/// (every policy engine reports them the same way).
pub fn unsupported(spec: &ExposedApiSpec) -> Vec<ConditionSpec> {
    let not_supported =
        |type_: &'static str, message: String| ConditionSpec { type_, status: false, reason: NOT_SUPPORTED, message };
    let mut conditions = Vec::new();
    let non_empty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    // Canvas test packages send `identifier: ""` and `limit: ""` for "off".
    if let Some(quota) = &spec.quota
        && let (Some(identifier), Some(limit)) = (non_empty(&quota.identifier), non_empty(&quota.limit))
    {
        conditions.push(not_supported(
            QUOTA,
            format!(
                "quota requested (identifier {identifier:?}, limit {limit:?}), but neither Istio nor the Gateway API \
                 has a quota mechanism: it is not enforced"
            ),
        ));
    }
    if let Some(oas) = &spec.oas_validation {
        let directions: Vec<&str> = [(oas.request_enabled, "request"), (oas.response_enabled, "response")]
            .into_iter()
            .filter(|(on, _)| *on == Some(true))
            .map(|(_, direction)| direction)
            .collect();
        if !directions.is_empty() {
            conditions.push(not_supported(
                OAS_VALIDATION,
                format!(
                    "{} validation against the OpenAPI document requested; it needs an ext_proc or Wasm validator \
                     the gateway does not run: traffic is not validated",
                    directions.join(" and ")
                ),
            ));
        }
    }
    if let Some(template) = non_empty(&spec.template) {
        let why = if template.contains("://") {
            "templates given as URLs are never fetched (they could inject any gateway configuration)"
        } else {
            "no template catalogue is configured"
        };
        conditions
            .push(not_supported(TEMPLATE, format!("template {template:?} requested; {why}: nothing of it is applied")));
    }
    conditions
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

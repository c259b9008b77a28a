//! The desired ExposedAPI status, computed from what the reconcile observed and did.
//!
//! Pure and deterministic: the only clock reading is passed in, and it is used only when a
//! condition actually flips, so an unchanged world yields an identical status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::core::url::PublishedUrl;
use crate::core::validation::ValidApi;
use crate::exposed_api::{ApiStatus, ExposedApiStatus, ImplementationStatus};

/// Type of the summary condition.
pub const READY: &str = "Ready";

/// The closed set of reasons of the `Ready` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyReason {
    /// True: the route is applied, the URL is known and an endpoint of the implementation is ready.
    Exposed,
    /// The route is applied and the URL known, but no endpoint of the implementation is ready.
    ImplementationNotReady,
    /// The route is applied, but the ingress gateway has no address yet, so there is no URL.
    AddressPending,
    /// The spec is invalid; the message names the field. Nothing is written until it is fixed.
    InvalidSpec,
    /// Another route of the same kind claims the same gateway, host and path; the message names it.
    RouteConflict,
    /// An object with the child's name exists and is not controlled by this ExposedAPI.
    NotOwned,
    /// Writing a child failed (e.g. Forbidden, CRD not installed); the message has the API error.
    ApplyFailed,
    /// The route is applied, but no gateway controller has reported on its current generation.
    RoutePending,
    /// The gateway controller did not accept the route (`Accepted=False`); its message is quoted.
    RouteNotAccepted,
    /// The gateway controller could not resolve the route's references (`ResolvedRefs=False`).
    RouteRefsUnresolved,
    /// API keys are required and cannot be enforced: the route is withheld (fail closed).
    SecurityPolicyNotEnforceable,
    /// The HTTPRoute is accepted, but its Gateway reports `Programmed=False`; quoted.
    GatewayNotProgrammed,
    /// The route is in place, but a requested policy is not in force yet (its object is not yet
    /// accepted by the gateway implementation, or its write is retried); the message names it.
    PolicyPending,
    /// The gateway implementation refused a requested policy (`Accepted=False`), or its object
    /// is not the API's to write; quoted.
    PolicyNotAccepted,
}

impl ReadyReason {
    pub const ALL: [ReadyReason; 14] = [
        Self::Exposed,
        Self::ImplementationNotReady,
        Self::AddressPending,
        Self::InvalidSpec,
        Self::RouteConflict,
        Self::NotOwned,
        Self::ApplyFailed,
        Self::RoutePending,
        Self::RouteNotAccepted,
        Self::RouteRefsUnresolved,
        Self::SecurityPolicyNotEnforceable,
        Self::GatewayNotProgrammed,
        Self::PolicyPending,
        Self::PolicyNotAccepted,
    ];

    /// Whether someone must act (kstatus' `Stalled`); otherwise the API waits for something that
    /// comes by itself (`Reconciling`), or is ready.
    pub fn stalls(self) -> bool {
        match self {
            Self::Exposed
            | Self::ImplementationNotReady
            | Self::AddressPending
            | Self::RoutePending
            | Self::PolicyPending
            | Self::ApplyFailed => false,
            Self::InvalidSpec
            | Self::RouteConflict
            | Self::NotOwned
            | Self::RouteNotAccepted
            | Self::RouteRefsUnresolved
            | Self::GatewayNotProgrammed
            | Self::PolicyNotAccepted
            | Self::SecurityPolicyNotEnforceable => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exposed => "Exposed",
            Self::ImplementationNotReady => "ImplementationNotReady",
            Self::AddressPending => "AddressPending",
            Self::InvalidSpec => "InvalidSpec",
            Self::RouteConflict => "RouteConflict",
            Self::NotOwned => "NotOwned",
            Self::ApplyFailed => "ApplyFailed",
            Self::RoutePending => "RoutePending",
            Self::RouteNotAccepted => "RouteNotAccepted",
            Self::RouteRefsUnresolved => "RouteRefsUnresolved",
            Self::SecurityPolicyNotEnforceable => "SecurityPolicyNotEnforceable",
            Self::GatewayNotProgrammed => "GatewayNotProgrammed",
            Self::PolicyPending => "PolicyPending",
            Self::PolicyNotAccepted => "PolicyNotAccepted",
        }
    }
}

/// Type of the condition about metrics scraping (metrics APIs only).
pub const METRICS: &str = "MetricsConfigured";

/// The closed set of reasons of the `MetricsConfigured` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsReason {
    /// True: the ServiceMonitor is applied, or every selected pod carries the annotations.
    Configured,
    /// `OPENMETRICS_IMPLEMENTATION=ServiceMonitor` but the ServiceMonitor CRD is not installed.
    ServiceMonitorCRDMissing,
    /// A ServiceMonitor of the API's name exists and is not controlled by this ExposedAPI.
    NotOwned,
    /// The implementation Service does not exist (yet); annotations land when it does.
    ServiceNotFound,
    /// The implementation Service has no selector, so no pods can be annotated.
    NoSelector,
    /// No pod is selected yet; annotations land when pods appear.
    WaitingForPods,
    /// The ServiceMonitor is applied, but no pod behind the Service declares its `targetPort` as
    /// a container port (or no pod is selected): Prometheus finds no target to scrape.
    NoScrapeTarget,
    /// Writing the ServiceMonitor or an annotation failed; the message has the API error.
    Failed,
}

impl MetricsReason {
    pub const ALL: [MetricsReason; 8] = [
        Self::Configured,
        Self::ServiceMonitorCRDMissing,
        Self::NotOwned,
        Self::ServiceNotFound,
        Self::NoSelector,
        Self::WaitingForPods,
        Self::NoScrapeTarget,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "Configured",
            Self::ServiceMonitorCRDMissing => "ServiceMonitorCRDMissing",
            Self::NotOwned => "NotOwned",
            Self::ServiceNotFound => "ServiceNotFound",
            Self::NoSelector => "NoSelector",
            Self::WaitingForPods => "WaitingForPods",
            Self::NoScrapeTarget => "NoScrapeTarget",
            Self::Failed => "Failed",
        }
    }

    /// The condition with this reason.
    pub fn condition(self, message: impl Into<String>) -> ConditionSpec {
        ConditionSpec {
            type_: METRICS,
            status: self == Self::Configured,
            reason: self.as_str(),
            message: message.into(),
        }
    }
}

/// A requested policy that is not in force, and whether it comes by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotInForce {
    /// Written, not yet reported on by the implementation (or its write is being retried).
    Pending(String),
    /// Refused by the implementation (`Accepted=False`), or not the API's to write: a person acts.
    Refused(String),
}

/// What a route's status says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteState {
    /// Nothing left to wait for: accepted by its controller, or a kind without such status.
    Accepted,
    /// Not (yet) rejected and not accepted: no controller has reported on this generation.
    Pending { message: String },
    /// Rejected by its controller; the reason of the `Ready` condition and the controller's words.
    Rejected { reason: ReadyReason, message: String },
}

impl RouteState {
    /// The worse of two verdicts on the same route (the route's own first on a tie): rejected,
    /// then pending, then accepted.
    pub fn and(self, other: RouteState) -> RouteState {
        let rank = |s: &RouteState| match s {
            RouteState::Accepted => 0,
            RouteState::Pending { .. } => 1,
            RouteState::Rejected { .. } => 2,
        };
        if rank(&other) > rank(&self) { other } else { self }
    }
}

impl Outcome<'_> {
    /// The outcome with what the route's Gateway itself says (`None`: nothing to add).
    pub fn and_gateway(self, gateway: Option<RouteState>) -> Self {
        match (self, gateway) {
            (Outcome::Applied { api, route_uid, route }, Some(gateway)) => {
                Outcome::Applied { api, route_uid, route: route.and(gateway) }
            }
            (outcome, _) => outcome,
        }
    }

    /// The outcome with what the gateway implementation says of the API's policy objects: a route
    /// in place does not make the API ready while a policy it asks for is not in force.
    pub fn and_policies(self, not_in_force: Option<&NotInForce>) -> Self {
        let state = match not_in_force {
            None => return self,
            Some(NotInForce::Pending(message)) => {
                RouteState::Rejected { reason: ReadyReason::PolicyPending, message: message.clone() }
            }
            Some(NotInForce::Refused(message)) => {
                RouteState::Rejected { reason: ReadyReason::PolicyNotAccepted, message: message.clone() }
            }
        };
        match self {
            Outcome::Applied { api, route_uid, route } => Outcome::Applied { api, route_uid, route: route.and(state) },
            blocked => blocked,
        }
    }
}

/// What happened to the children in this reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<'a> {
    /// The route is applied; `route_uid` is its uid (reported as `apiStatus.uid`), `route` what
    /// its own status says.
    Applied { api: &'a ValidApi, route_uid: Option<String>, route: RouteState },
    /// Nothing written; the reason and a message for the condition.
    Blocked { reason: ReadyReason, message: String },
}

/// The `Ready` condition without its timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyCondition {
    pub status: bool,
    pub reason: ReadyReason,
    pub message: String,
}

/// Computes `apiStatus`, `implementation` and the `Ready` condition.
///
/// When nothing could be written (`Blocked`), the previous `apiStatus` is kept, so a typo in a
/// spec does not erase a working URL from the Component's view.
pub fn desired_status(
    outcome: &Outcome<'_>,
    url: Option<&PublishedUrl>,
    implementation_ready: bool,
    previous: Option<&ExposedApiStatus>,
) -> (Option<ApiStatus>, ImplementationStatus, ReadyCondition) {
    let implementation = ImplementationStatus { ready: implementation_ready };
    let (api, route_uid, route) = match outcome {
        Outcome::Applied { api, route_uid, route } => (*api, route_uid, route),
        Outcome::Blocked { reason, message } => {
            let kept = previous.and_then(|p| p.api_status.clone());
            let condition = ReadyCondition { status: false, reason: *reason, message: message.clone() };
            return (kept, implementation, condition);
        }
    };
    let api_status = ApiStatus {
        name: Some(api.name.clone()),
        uid: route_uid.clone(),
        path: Some(api.path.clone()),
        port: Some(i64::from(api.port)),
        implementation: Some(api.implementation.clone()),
        url: url.map(|u| u.url.clone()),
        developer_ui: url.and_then(|u| u.developer_ui.clone()),
        ip: url.and_then(|u| u.ip.clone()),
    };
    let condition = match (route, url, implementation_ready) {
        (RouteState::Pending { message }, _, _) => {
            ReadyCondition { status: false, reason: ReadyReason::RoutePending, message: message.clone() }
        }
        (RouteState::Rejected { reason, message }, _, _) => {
            ReadyCondition { status: false, reason: *reason, message: message.clone() }
        }
        (RouteState::Accepted, None, _) => ReadyCondition {
            status: false,
            reason: ReadyReason::AddressPending,
            message: "route applied; waiting for the ingress gateway to get an address".into(),
        },
        (RouteState::Accepted, Some(u), false) => ReadyCondition {
            status: false,
            reason: ReadyReason::ImplementationNotReady,
            message: format!("published at {}; no ready endpoint of Service {}", u.url, api.implementation),
        },
        (RouteState::Accepted, Some(u), true) => {
            ReadyCondition { status: true, reason: ReadyReason::Exposed, message: format!("published at {}", u.url) }
        }
    };
    (Some(api_status), implementation, condition)
}

/// A condition without its timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionSpec {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl From<&ReadyCondition> for ConditionSpec {
    fn from(ready: &ReadyCondition) -> Self {
        Self { type_: READY, status: ready.status, reason: ready.reason.as_str(), message: ready.message.clone() }
    }
}

/// Assembles the status; each condition keeps its previous transition time unless its status flips.
pub fn assemble(
    api_status: Option<ApiStatus>,
    implementation: ImplementationStatus,
    conditions: &[ConditionSpec],
    generation: Option<i64>,
    previous: Option<&ExposedApiStatus>,
    now: Time,
) -> ExposedApiStatus {
    let conditions = conditions
        .iter()
        .map(|spec| {
            let status_text = if spec.status { "True" } else { "False" };
            let previous = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == spec.type_));
            let last_transition_time = match previous {
                Some(c) if c.status == status_text => c.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: spec.type_.into(),
                status: status_text.into(),
                reason: spec.reason.into(),
                message: spec.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect();
    // The APIM record is carried over; the APIM step replaces it after a write.
    let apim = previous.and_then(|p| p.apim.clone());
    ExposedApiStatus {
        api_status,
        implementation: Some(implementation),
        conditions,
        observed_generation: generation,
        observed_spec_hash: None,
        apim,
    }
}

/// Whether `current` must be rewritten to become `desired`.
pub fn needs_write(current: Option<&ExposedApiStatus>, desired: &ExposedApiStatus) -> bool {
    current != Some(desired)
}

/// The kstatus conditions (abnormal-true, present only while true) that tools such as Flux, Argo
/// CD and cli-utils read: `Reconciling` while the API waits for something that comes by itself,
/// `Stalled` while it needs someone to act; neither once it is ready.
pub fn progress_condition(ready: &ReadyCondition) -> Option<ConditionSpec> {
    let type_ = match ready.reason {
        ReadyReason::Exposed => return None,
        reason if reason.stalls() => STALLED,
        _ => RECONCILING,
    };
    Some(ConditionSpec { type_, status: true, reason: ready.reason.as_str(), message: ready.message.clone() })
}

/// kstatus' condition types.
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// The sha256 of a spec as JSON (key order is the struct's, so equal specs hash equal).
pub fn spec_hash(spec: &crate::exposed_api::ExposedApiSpec) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(spec).unwrap_or_default();
    Sha256::digest(&json).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;

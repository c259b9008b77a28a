//! The `BackendTrafficPolicy` of an API: its rate limit (Envoy's local rate limit, counted by each
//! Envoy replica) and the route timeout of a streaming API. Field names are those of Envoy Gateway
//! v1.9's CRD; the fields it would default (`invert`) are written. The deprecated `rateLimit.type`
//! is left out: `local` alone selects the local rate limit, and v1.9 warns of the field.

use serde::{Deserialize, Serialize};

use super::TargetRef;
use crate::backend::policy_engine::PolicyTarget;
use crate::config::PolicyConfig;
use crate::core::rate_limit::{ClientKey, Interval, RateLimit};
use crate::core::validation::ValidApi;

/// A selector's value type: one bucket per distinct header value or client address.
const DISTINCT: &str = "Distinct";
/// Every client address, IPv4 and IPv6: with `Distinct`, one bucket per address.
const EVERY_ADDRESS: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// The subset of `BackendTrafficPolicy` spec the operator writes and reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackendTrafficPolicySpec {
    pub target_refs: Vec<TargetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RateLimitSpec {
    pub local: LocalRateLimit,
}

/// Rules of a local rate limit. A rule without selectors is the route's default bucket, which
/// only requests that match no other rule count against.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LocalRateLimit {
    pub rules: Vec<RateLimitRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_selectors: Vec<ClientSelector>,
    pub limit: Limit,
}

/// One selector; its conditions must all hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClientSelector {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
    #[serde(rename = "sourceCIDR", default, skip_serializing_if = "Option::is_none")]
    pub source_cidr: Option<SourceMatch>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HeaderMatch {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub invert: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SourceMatch {
    #[serde(rename = "type")]
    pub type_: String,
    pub value: String,
    pub invert: bool,
}

/// `requests` per `unit` (`Second`, `Minute`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Limit {
    pub requests: u32,
    pub unit: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Timeout {
    pub http: HttpTimeout,
}

/// The route's request timeout (a Gateway API duration; `0s` disables it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpTimeout {
    pub request_timeout: String,
}

/// The policy of an API: its valid rate limit, and its timeout when it is streaming; `None` when
/// it needs neither.
pub fn spec(api: &ValidApi, target: &PolicyTarget<'_>, config: &PolicyConfig) -> Option<BackendTrafficPolicySpec> {
    let rate_limit = api
        .rate_limit
        .as_ref()
        .map(|limit| RateLimitSpec { local: LocalRateLimit { rules: rules(limit, config.rate_limit_per_client) } });
    let timeout = api
        .api_type
        .is_streaming()
        .then(|| Timeout { http: HttpTimeout { request_timeout: config.streaming_timeout() } });
    (rate_limit.is_some() || timeout.is_some()).then(|| BackendTrafficPolicySpec {
        target_refs: TargetRef::route(target),
        rate_limit,
        timeout,
    })
}

/// Per client: a bucket per header value (requests without the header share the route's default
/// bucket, as on Istio) or per client address; otherwise the one default bucket.
fn rules(limit: &RateLimit, per_client: bool) -> Vec<RateLimitRule> {
    let rule = |selector: Option<ClientSelector>| RateLimitRule {
        client_selectors: selector.into_iter().collect(),
        limit: Limit { requests: limit.limit, unit: unit(limit.interval).into() },
    };
    if !per_client {
        return vec![rule(None)];
    }
    match &limit.client {
        ClientKey::Header(name) => {
            let header = HeaderMatch { name: name.clone(), type_: DISTINCT.into(), invert: false };
            vec![rule(Some(ClientSelector { headers: vec![header], source_cidr: None })), rule(None)]
        }
        ClientKey::RemoteAddress => EVERY_ADDRESS
            .iter()
            .map(|cidr| {
                let source = SourceMatch { type_: DISTINCT.into(), value: (*cidr).into(), invert: false };
                rule(Some(ClientSelector { headers: Vec::new(), source_cidr: Some(source) }))
            })
            .collect(),
    }
}

fn unit(interval: Interval) -> &'static str {
    match interval {
        Interval::Second => "Second",
        Interval::Minute => "Minute",
    }
}

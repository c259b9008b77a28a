//! The gateway-wide Istio objects that enforce an API's rate limit and token verification
//! (design: istio-policies §2.2, §2.3, §3.8). They live in the gateway's namespace, so they cannot
//! be owned by the ExposedAPI: each carries labels naming its API (namespace, name, uid) and the
//! controller removes it itself. Two of them are shared by every API on a gateway and exist while
//! one API needs them: the filter insertion of Envoy's local rate limit (inserted once, or every
//! copy would count each request) and the token rule of the configured issuer.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use super::BuildError;
use crate::config::PolicyConfig;
use crate::core::rate_limit::{ClientKey, RateLimit};
use crate::core::validation::ValidApi;

/// Labels of every object here: who wrote it, for which API, as what.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "oda-api-operator";
pub const API_NAMESPACE_LABEL: &str = "oda.tmforum.org/exposedapi-namespace";
/// Set only when the name fits a label value (63 characters); the uid is the key.
pub const API_NAME_LABEL: &str = "oda.tmforum.org/exposedapi-name";
pub const API_UID_LABEL: &str = "oda.tmforum.org/exposedapi-uid";
pub const POLICY_LABEL: &str = "oda.tmforum.org/gateway-policy";

/// Names of the shared objects, one per gateway namespace.
pub const RATE_LIMIT_FILTER: &str = "oda-local-ratelimit-filter";
pub const TOKEN_RULE: &str = "oda-canvas-jwt";
/// Envoy's filter name, under which routes carry their bucket.
const LOCAL_RATE_LIMIT: &str = "envoy.filters.http.local_ratelimit";
const LOCAL_RATE_LIMIT_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
/// Bound of Envoy's per-client bucket LRU (an evicted client starts with a full bucket).
const MAX_CLIENT_BUCKETS: u32 = 10_000;

/// One object of an API in the gateway namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PerApi {
    /// EnvoyFilter patching the API's route with its token bucket.
    RateLimit,
    /// DENY AuthorizationPolicy for requests to the API's path without a valid token.
    ApiKey,
}

impl PerApi {
    pub const ALL: [PerApi; 2] = [Self::RateLimit, Self::ApiKey];

    pub fn label(self) -> &'static str {
        match self {
            Self::RateLimit => "rate-limit",
            Self::ApiKey => "api-key",
        }
    }

    pub fn resource(self) -> ApiResource {
        match self {
            Self::RateLimit => envoy_filter_resource(),
            Self::ApiKey => authorization_policy_resource(),
        }
    }

    /// The shared object this one needs on its gateway.
    pub fn shared(self) -> Shared {
        match self {
            Self::RateLimit => Shared::RateLimitFilter,
            Self::ApiKey => Shared::TokenRule,
        }
    }

    /// `oda-rl.<namespace>.<name>`: namespaces have no dots, so no two APIs share a name.
    pub fn object_name(self, namespace: &str, name: &str) -> String {
        let prefix = match self {
            Self::RateLimit => "oda-rl",
            Self::ApiKey => "oda-authn",
        };
        let full = format!("{prefix}.{namespace}.{name}");
        if full.len() <= 253 { full } else { format!("{}.{:016x}", &full[..235], fnv1a(&full)) }
    }
}

/// A shared object of a gateway namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shared {
    RateLimitFilter,
    TokenRule,
}

impl Shared {
    pub const ALL: [Shared; 2] = [Self::RateLimitFilter, Self::TokenRule];

    pub fn label(self) -> &'static str {
        match self {
            Self::RateLimitFilter => "rate-limit-filter",
            Self::TokenRule => "token-rule",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::RateLimitFilter => RATE_LIMIT_FILTER,
            Self::TokenRule => TOKEN_RULE,
        }
    }

    pub fn resource(self) -> ApiResource {
        match self {
            Self::RateLimitFilter => envoy_filter_resource(),
            Self::TokenRule => request_authentication_resource(),
        }
    }
}

/// Where an API's gateway objects go and how they select the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyTarget {
    pub namespace: String,
    pub attach: Attach,
}

/// The gateway's workload by pod labels (classic Istio Gateway), or a Gateway API Gateway.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attach {
    Workload(BTreeMap<String, String>),
    Gateway(String),
}

impl Attach {
    /// The selector field of `kind`: EnvoyFilter says `workloadSelector.labels`, the security
    /// kinds `selector.matchLabels`; all take `targetRefs`.
    fn select(&self, envoy_filter: bool) -> (&'static str, Value) {
        match self {
            Self::Workload(labels) if envoy_filter => ("workloadSelector", json!({ "labels": labels })),
            Self::Workload(labels) => ("selector", json!({ "matchLabels": labels })),
            Self::Gateway(name) => {
                ("targetRefs", json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}]))
            }
        }
    }
}

/// What an API's route looks like to these objects.
pub struct RouteRef<'a> {
    /// The Envoy route name Istio gives the API's route (VirtualService `http[].name`, or
    /// `<namespace>.<name>.<rule>` for an HTTPRoute).
    pub envoy_route: &'a str,
    /// Path patterns of AuthorizationPolicy covering what the route matches.
    pub paths: Vec<String>,
}

/// The builder of these objects, from the policy settings.
#[derive(Clone, Debug)]
pub struct GatewayPolicies {
    pub per_client: bool,
    pub issuer: Option<String>,
    pub jwks_uri: Option<String>,
    pub audiences: Vec<String>,
}

impl GatewayPolicies {
    pub fn new(config: &PolicyConfig) -> Self {
        Self {
            per_client: config.rate_limit_per_client,
            issuer: config.jwt_issuer().map(String::from),
            jwks_uri: config.jwt_jwks_uri().map(String::from),
            audiences: config.jwt_audiences(),
        }
    }

    /// The EnvoyFilter giving the API's route its token bucket.
    pub fn rate_limit(
        &self,
        api: &ValidApi,
        target: &PolicyTarget,
        route: &RouteRef<'_>,
        limit: &RateLimit,
    ) -> Result<DynamicObject, BuildError> {
        let bucket = json!({
            "max_tokens": limit.limit, "tokens_per_fill": limit.limit, "fill_interval": limit.interval.fill_interval()
        });
        let percent =
            |key: &str| json!({"runtime_key": key, "default_value": {"numerator": 100, "denominator": "HUNDRED"}});
        let mut config = json!({
            "@type": LOCAL_RATE_LIMIT_TYPE,
            "stat_prefix": format!("oda_rl_{}", route.envoy_route.replace(['.', '-'], "_")),
            "token_bucket": bucket,
            // Both default to 0 %: without them nothing is limited, and nothing says so.
            "filter_enabled": percent("oda_rl_enabled"),
            "filter_enforced": percent("oda_rl_enforced"),
        });
        if self.per_client {
            let (action, key) = match &limit.client {
                ClientKey::RemoteAddress => (json!({"remote_address": {}}), "remote_address".to_owned()),
                ClientKey::Header(h) => {
                    (json!({"request_headers": {"header_name": h, "descriptor_key": h}}), h.clone())
                }
            };
            // A blank descriptor value keeps one bucket per distinct client (Envoy 1.34+); the
            // default bucket is then only for requests without the key.
            config["always_consume_default_token_bucket"] = json!(false);
            config["max_dynamic_descriptors"] = json!(MAX_CLIENT_BUCKETS);
            config["descriptors"] = json!([{"entries": [{"key": key, "value": ""}], "token_bucket": bucket}]);
            // The filter's own `rate_limits`, not the route's: Envoy 1.40 deprecates route-level
            // actions for the local rate limit ("will be ignored in the future").
            config["rate_limits"] = json!([{"actions": [action]}]);
        }
        let value = json!({ "typed_per_filter_config": { LOCAL_RATE_LIMIT: config } });
        let patch = json!({
            "applyTo": "HTTP_ROUTE",
            "match": {"context": "GATEWAY", "routeConfiguration": {"vhost": {"route": {"name": route.envoy_route}}}},
            "patch": {"operation": "MERGE", "value": value},
        });
        let (field, selector) = target.attach.select(true);
        let spec = json!({ field: selector, "configPatches": [patch] });
        let name = PerApi::RateLimit.object_name(&api.namespace, &api.name);
        build(&envoy_filter_resource(), per_api_metadata(api, target, PerApi::RateLimit, name), spec)
    }

    /// The AuthorizationPolicy denying requests to the API's path without a valid token of the
    /// issuer. DENY, never a per-API ALLOW (one ALLOW makes the gateway deny every other API);
    /// preflights pass, as the browser sends them without credentials.
    pub fn deny_without_token(
        &self,
        api: &ValidApi,
        target: &PolicyTarget,
        route: &RouteRef<'_>,
        issuer: &str,
    ) -> Result<DynamicObject, BuildError> {
        let (field, selector) = target.attach.select(false);
        let spec = json!({
            field: selector,
            "action": "DENY",
            "rules": [{
                "from": [{"source": {"notRequestPrincipals": [format!("{issuer}/*")]}}],
                "to": [{"operation": {"paths": route.paths, "notMethods": ["OPTIONS"]}}],
            }],
        });
        let name = PerApi::ApiKey.object_name(&api.namespace, &api.name);
        build(&authorization_policy_resource(), per_api_metadata(api, target, PerApi::ApiKey, name), spec)
    }

    /// A shared object of the gateway namespace of `target`; `None` for the token rule while no
    /// issuer is configured.
    pub fn shared(&self, shared: Shared, target: &PolicyTarget) -> Result<Option<DynamicObject>, BuildError> {
        let spec = match shared {
            Shared::RateLimitFilter => {
                let (field, selector) = target.attach.select(true);
                // No bucket here: the filter limits only routes that carry their own.
                let filter = json!({
                    "name": LOCAL_RATE_LIMIT,
                    "typed_config": {"@type": LOCAL_RATE_LIMIT_TYPE, "stat_prefix": "oda_local_ratelimit"},
                });
                let listener = json!({"filterChain": {"filter": {
                    "name": "envoy.filters.network.http_connection_manager",
                    "subFilter": {"name": "envoy.filters.http.router"},
                }}});
                json!({ field: selector, "configPatches": [{
                    "applyTo": "HTTP_FILTER",
                    "match": {"context": "GATEWAY", "listener": listener},
                    "patch": {"operation": "INSERT_BEFORE", "value": filter},
                }]})
            }
            Shared::TokenRule => {
                let Some(issuer) = &self.issuer else { return Ok(None) };
                let (field, selector) = target.attach.select(false);
                let mut rule = json!({"issuer": issuer, "forwardOriginalToken": true});
                if let Some(jwks) = &self.jwks_uri {
                    rule["jwksUri"] = json!(jwks);
                }
                if !self.audiences.is_empty() {
                    rule["audiences"] = json!(self.audiences);
                }
                json!({ field: selector, "jwtRules": [rule] })
            }
        };
        let labels = BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
            (POLICY_LABEL.to_owned(), shared.label().to_owned()),
        ]);
        let metadata = ObjectMeta {
            name: Some(shared.name().into()),
            namespace: Some(target.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        build(&shared.resource(), metadata, spec).map(Some)
    }
}

fn per_api_metadata(api: &ValidApi, target: &PolicyTarget, kind: PerApi, name: String) -> ObjectMeta {
    let mut labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (POLICY_LABEL.to_owned(), kind.label().to_owned()),
        (API_NAMESPACE_LABEL.to_owned(), api.namespace.clone()),
        (API_UID_LABEL.to_owned(), api.uid.clone().unwrap_or_default()),
    ]);
    if api.name.len() <= 63 && !api.name.contains('.') {
        labels.insert(API_NAME_LABEL.to_owned(), api.name.clone());
    }
    let annotations =
        BTreeMap::from([("oda.tmforum.org/exposedapi".to_owned(), format!("{}/{}", api.namespace, api.name))]);
    ObjectMeta {
        name: Some(name),
        namespace: Some(target.namespace.clone()),
        labels: Some(labels),
        annotations: Some(annotations),
        ..Default::default()
    }
}

/// The API an object of ours in a gateway namespace was written for: `(namespace, uid, kind)`;
/// `None` for objects the operator did not write per API (shared or foreign ones).
pub fn written_for(meta: &ObjectMeta) -> Option<(String, String, PerApi)> {
    let labels = meta.labels.as_ref()?;
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    let kind = policy_kind(meta)?;
    let uid = labels.get(API_UID_LABEL).filter(|u| !u.is_empty())?;
    Some((labels.get(API_NAMESPACE_LABEL)?.clone(), uid.clone(), kind))
}

/// The per-API kind an object of ours is (by its policy label), whoever it was written for.
pub fn policy_kind(meta: &ObjectMeta) -> Option<PerApi> {
    let label = meta.labels.as_ref()?.get(POLICY_LABEL)?;
    PerApi::ALL.into_iter().find(|k| k.label() == label)
}

/// The shared kind an object of ours is (by its policy label).
pub fn shared_kind(meta: &ObjectMeta) -> Option<Shared> {
    let label = meta.labels.as_ref()?.get(POLICY_LABEL)?;
    Shared::ALL.into_iter().find(|k| k.label() == label)
}

/// The namespace of the API a per-API object was written for.
pub fn api_namespace(meta: &ObjectMeta) -> Option<&str> {
    meta.labels.as_ref()?.get(API_NAMESPACE_LABEL).map(String::as_str)
}

/// Whether an object is the operator's shared object of that kind.
pub fn is_shared(meta: &ObjectMeta, shared: Shared) -> bool {
    let labels = meta.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    label(MANAGED_BY_LABEL) == Some(MANAGED_BY) && label(POLICY_LABEL) == Some(shared.label())
}

fn build(resource: &ApiResource, metadata: ObjectMeta, spec: Value) -> Result<DynamicObject, BuildError> {
    super::object_with_spec(resource, metadata, &spec)
}

/// A stable 64-bit FNV-1a, for names too long to keep whole.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

pub fn envoy_filter_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1alpha3", "EnvoyFilter");
    ApiResource::from_gvk_with_plural(&gvk, "envoyfilters")
}

pub fn authorization_policy_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy");
    ApiResource::from_gvk_with_plural(&gvk, "authorizationpolicies")
}

pub fn request_authentication_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("security.istio.io", "v1", "RequestAuthentication");
    ApiResource::from_gvk_with_plural(&gvk, "requestauthentications")
}

#[cfg(test)]
#[path = "gateway_policy_tests.rs"]
mod tests;

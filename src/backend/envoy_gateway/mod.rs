//! Envoy Gateway's own policy objects (`gateway.envoyproxy.io/v1alpha1`): with HTTPRoutes on a
//! Gateway whose GatewayClass is Envoy Gateway's (`ENVOY_GATEWAY_CONTROLLERS`), an API's CORS and
//! token verification become one `SecurityPolicy`, its rate limit and streaming timeout one
//! `BackendTrafficPolicy`, each targeting the API's HTTPRoute, named as it, in the API's namespace
//! and controlled by the ExposedAPI (the other children's metadata). Each policy is in force once
//! Envoy Gateway reports the object `Accepted` for the route's Gateway (`status.ancestors`).
//!
//! The semantics are the Istio backend's: CORS as asked; a required JWT of `JWT_ISSUER` for
//! `apiKeyVerification`, read from `Authorization: Bearer` or the `access_token` parameter; Envoy's
//! local rate limit (counted by each Envoy replica), per client where asked; the route timeout of
//! streaming APIs.

mod security_policy;
mod status;
mod traffic_policy;
mod verdict;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};

pub use security_policy::SecurityPolicySpec;
pub use traffic_policy::BackendTrafficPolicySpec;

use super::policy_engine::{Observed, PolicyEngine, PolicyTarget, Verdict};
use super::{BuildError, object_with_spec};
use crate::config::{PolicyConfig, Unenforceable};
use crate::core::api_keys::{self, Plan};
use crate::core::ownership::child_metadata;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;

const GROUP: &str = "gateway.envoyproxy.io";
const VERSION: &str = "v1alpha1";
pub const SECURITY_POLICY: &str = "SecurityPolicy";
pub const BACKEND_TRAFFIC_POLICY: &str = "BackendTrafficPolicy";
/// The group of the route a policy targets.
const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";

/// `gateway.envoyproxy.io/v1alpha1` `SecurityPolicy`.
pub fn security_policy_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(GROUP, VERSION, SECURITY_POLICY);
    ApiResource::from_gvk_with_plural(&gvk, "securitypolicies")
}

/// `gateway.envoyproxy.io/v1alpha1` `BackendTrafficPolicy`.
pub fn backend_traffic_policy_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(GROUP, VERSION, BACKEND_TRAFFIC_POLICY);
    ApiResource::from_gvk_with_plural(&gvk, "backendtrafficpolicies")
}

/// A policy's target (`LocalPolicyTargetReferenceWithSectionName`, without a section: the whole
/// route). The CRD requires all three fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl TargetRef {
    fn route(target: &PolicyTarget<'_>) -> Vec<Self> {
        vec![Self { group: GATEWAY_API_GROUP.into(), kind: target.kind.into(), name: target.name.into() }]
    }
}

/// The token settings a JWT provider of Envoy Gateway needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSettings<'a> {
    pub issuer: &'a str,
    pub jwks_uri: &'a str,
}

/// The most audiences a JWT provider of a SecurityPolicy takes (`maxItems` of its CRD, v1.9.1).
pub const MAX_AUDIENCES: usize = 8;

/// The issuer and its JWKS URL, or why `apiKeyVerification` cannot be enforced on Envoy Gateway.
pub fn token_settings(config: &PolicyConfig) -> Result<TokenSettings<'_>, String> {
    let issuer = config.jwt_issuer().ok_or("no token issuer is configured (JWT_ISSUER)")?;
    let audiences = config.jwt_audiences().len();
    // Written anyway, the SecurityPolicy would be refused by the API server on every reconcile.
    if audiences > MAX_AUDIENCES {
        return Err(format!(
            "JWT_AUDIENCES names {audiences} audiences and Envoy Gateway's SecurityPolicy takes at most \
             {MAX_AUDIENCES}"
        ));
    }
    // Envoy Gateway's JWT provider takes a JWKS (remote or inline); unlike Istio it does not read
    // the issuer's OpenID discovery document.
    let jwks_uri = config.jwt_jwks_uri().ok_or(
        "Envoy Gateway verifies tokens against the issuer's JWKS URL and none is configured (JWT_JWKS_URI); it \
         does not read OpenID discovery documents",
    )?;
    Ok(TokenSettings { issuer, jwks_uri })
}

/// Whether `apiKeyVerification` can be enforced on Envoy Gateway with these settings; `Err` says
/// why not (then `APIKEY_UNENFORCEABLE` decides, as on Istio).
pub fn api_keys_enforceable(config: &PolicyConfig) -> Result<(), String> {
    token_settings(config).map(|_| ())
}

/// What is done for an API's `apiKeyVerification` on Envoy Gateway; `None` unless requested.
pub fn api_keys_plan(spec: &ExposedApiSpec, config: &PolicyConfig) -> Option<Plan> {
    let location = api_keys::requested(spec)?;
    Some(match token_settings(config) {
        Ok(token) => Plan::Jwt { issuer: token.issuer.into(), location },
        Err(why) => Plan::Unenforceable { why, closed: config.api_key_unenforceable == Unenforceable::FailClosed },
    })
}

/// Envoy Gateway's policy engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvoyGatewayEngine;

impl PolicyEngine for EnvoyGatewayEngine {
    fn name(&self) -> &'static str {
        "Envoy Gateway"
    }

    fn kinds(&self) -> Vec<ApiResource> {
        vec![security_policy_resource(), backend_traffic_policy_resource()]
    }

    /// The SecurityPolicy carries CORS: Envoy Gateway would merge a route filter with it.
    fn route_carries_cors(&self) -> bool {
        false
    }

    fn api_keys(&self, spec: &ExposedApiSpec, config: &PolicyConfig) -> Option<Plan> {
        api_keys_plan(spec, config)
    }

    fn desired(
        &self,
        api: &ValidApi,
        target: &PolicyTarget<'_>,
        config: &PolicyConfig,
    ) -> Result<Vec<DynamicObject>, BuildError> {
        let metadata = || ObjectMeta { name: Some(target.name.to_owned()), ..child_metadata(api) };
        let mut objects = Vec::new();
        if let Some(spec) = security_policy::spec(api, target, config) {
            objects.push(object_with_spec(&security_policy_resource(), metadata(), &spec)?);
        }
        if let Some(spec) = traffic_policy::spec(api, target, config) {
            objects.push(object_with_spec(&backend_traffic_policy_resource(), metadata(), &spec)?);
        }
        Ok(objects)
    }

    fn verdict(
        &self,
        spec: &ExposedApiSpec,
        api: &ValidApi,
        target: &PolicyTarget<'_>,
        config: &PolicyConfig,
        observed: &[Observed<'_>],
    ) -> Verdict {
        verdict::verdict(spec, api, target, config, observed)
    }
}

#[cfg(test)]
mod tests;

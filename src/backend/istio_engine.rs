//! Istio's policy engine, for the routes Istio's gateway objects attach to (VirtualServices, and
//! HTTPRoutes on a Gateway that Istio serves or whose class is not known): an API's rate limit and
//! required token become Istio objects in the gateway's namespace ([`super::gateway_policy`]),
//! labelled for the API, each with the shared object it needs; CORS and a streaming API's timeout
//! ride on the route itself. Istio reports no status on these objects, so a policy is in force
//! once its object is written.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject};

use super::gateway_policy::{
    self, GatewayPolicies, PerApi, RouteRef, authorization_policy_resource, envoy_filter_resource,
    request_authentication_resource,
};
use super::policy_engine::{Observed, Placement, PolicyEngine, PolicyTarget, Slot, Verdict};
use super::route::{GatewayAttachment, Route};
use super::{BuildError, Installed};
use crate::config::{PolicyConfig, Unenforceable};
use crate::core::api_keys::{self, Plan};
use crate::core::gateway_class::Enforcer;
use crate::core::policy::{self, Enforcement, PolicyFacts};
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;

/// Istio's engine over the active route kind, with the Istio CRDs the cluster serves.
pub struct IstioEngine {
    route: Arc<dyn Route>,
    /// The builder, with the operator's token settings (the shared token rule carries them).
    builder: GatewayPolicies,
    installed: Installed,
}

impl IstioEngine {
    /// `None` for a route kind Istio's objects do not attach to (the Ingress of APIM).
    pub fn new(route: &Arc<dyn Route>, config: &PolicyConfig, installed: Installed) -> Option<Self> {
        route.gateway_policies()?;
        Some(Self { route: route.clone(), builder: GatewayPolicies::new(config), installed })
    }

    fn attachment(&self) -> Option<&dyn GatewayAttachment> {
        self.route.gateway_policies()
    }

    /// The plan for keys expected at `location`: this engine serves only Gateways Istio enforces on.
    fn plan_at(&self, location: api_keys::Location, config: &PolicyConfig) -> Plan {
        api_keys::plan_at(location, config, self.installed.istio_security, &Enforcer::Unknown)
    }
}

impl PolicyEngine for IstioEngine {
    fn name(&self) -> &'static str {
        "Istio"
    }

    fn kinds(&self) -> Vec<ApiResource> {
        let mut kinds = Vec::new();
        if self.installed.envoy_filter {
            kinds.push(envoy_filter_resource());
        }
        if self.installed.istio_security {
            kinds.extend([authorization_policy_resource(), request_authentication_resource()]);
        }
        kinds
    }

    fn placement(&self) -> Placement {
        Placement::GatewayNamespace
    }

    fn is_ours(&self, existing: &ObjectMeta, uid: &str) -> bool {
        gateway_policy::written_for(existing).is_some_and(|(_, written, _)| written == uid)
    }

    fn shared(&self, desired: &DynamicObject) -> Result<Option<DynamicObject>, BuildError> {
        let (Some(kind), Some(attachment)) = (gateway_policy::policy_kind(&desired.metadata), self.attachment()) else {
            return Ok(None);
        };
        let api_namespace = gateway_policy::api_namespace(&desired.metadata).unwrap_or_default();
        self.builder.shared(kind.shared(), &attachment.policy_target(api_namespace))
    }

    fn is_shared(&self, existing: &ObjectMeta, shared: &DynamicObject) -> bool {
        gateway_policy::shared_kind(&shared.metadata).is_some_and(|kind| gateway_policy::is_shared(existing, kind))
    }

    fn slots(&self, api_namespace: &str, api_name: &str, _: &str) -> Vec<Slot> {
        let Some(attachment) = self.attachment() else { return Vec::new() };
        let namespace = attachment.policy_target(api_namespace).namespace;
        let installed = PerApi::ALL.into_iter().filter(|k| self.installed.has(*k));
        let slot = |kind: PerApi| Slot {
            resource: kind.resource(),
            namespace: namespace.clone(),
            name: kind.object_name(api_namespace, api_name),
        };
        installed.map(slot).collect()
    }

    fn api_keys(&self, spec: &ExposedApiSpec, config: &PolicyConfig) -> Option<Plan> {
        Some(self.plan_at(api_keys::requested(spec)?, config))
    }

    fn desired(
        &self,
        api: &ValidApi,
        _: &PolicyTarget<'_>,
        config: &PolicyConfig,
    ) -> Result<Vec<DynamicObject>, BuildError> {
        let Some(attachment) = self.attachment() else { return Ok(Vec::new()) };
        let target = attachment.policy_target(&api.namespace);
        let envoy_route = attachment.envoy_route_name(api);
        let route = RouteRef { envoy_route: &envoy_route, paths: attachment.protected_paths(api) };
        let builder = &self.builder;
        let mut objects = Vec::new();
        if let Some(limit) = api.rate_limit.as_ref().filter(|_| self.installed.envoy_filter) {
            objects.push(builder.rate_limit(api, &target, &route, limit)?);
        }
        let plan = api.api_keys.clone().map(|location| self.plan_at(location, config));
        if let Some(Plan::Jwt { issuer, .. }) = plan {
            objects.push(builder.deny_without_token(api, &target, &route, &issuer)?);
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
        // A requested policy without its object: the object's kind is not installed.
        let state = |kind: PerApi, requested: bool| {
            let found = observed.iter().find(|o| gateway_policy::policy_kind(&o.desired.metadata) == Some(kind));
            match found {
                Some(o) => o.failure.map(|f| f.enforcement()).unwrap_or_default(),
                None if requested => Enforcement::NotInstalled(format!("the {} CRD", kind.resource().kind)),
                None => Enforcement::Enforced,
            }
        };
        let plan = self.api_keys(spec, config);
        let rate_limit = state(PerApi::RateLimit, api.rate_limit.is_some());
        let keys = state(PerApi::ApiKey, matches!(plan, Some(Plan::Jwt { .. })));
        let facts = PolicyFacts {
            kind: target.kind,
            cors_supported: self.route.cors_supported(),
            implementation: target.implementation,
            gateway: &Enforcer::Unknown,
            streaming: api.api_type.is_streaming(),
            per_client: config.rate_limit_per_client,
            rate_limit: &rate_limit,
            api_keys: plan.as_ref(),
            api_key_policy: &keys,
            fail_closed: config.api_key_unenforceable == Unenforceable::FailClosed,
        };
        Verdict { conditions: policy::conditions(spec, &facts), not_in_force: None, api_keys: keys }
    }
}

#[cfg(test)]
#[path = "istio_engine_tests.rs"]
mod tests;

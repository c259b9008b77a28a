//! Backends: the ways of exposing an API (a route on the gateway) and of scraping its metrics.
//!
//! Each backend is pure: from a validated API and the configuration it builds the objects it wants,
//! and from what it observes of them it reports what the ExposedAPI's conditions should say. The
//! controller does the I/O around them: it reads the observed objects from the watch caches of the
//! kinds a backend declares ([`ChildKind`]), checks ownership and conflicts, server-side applies
//! what differs and removes what a backend no longer wants.

pub mod apim;
pub mod envoy_gateway;
pub mod gateway_api;
pub mod gateway_api_status;
pub mod gateway_policy;
pub mod ingress;
pub mod istio;
mod parent_ref;
pub mod plan;
pub mod policy_engine;
pub mod route;
pub mod scrape;

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject};

use crate::config::{OperatorConfig, RouteBackend};
use crate::core::api_keys::Plan;
use crate::core::gateway_class::{ClassFeatures, Enforcer};
use crate::core::validation::ValidApi;
use gateway_api::HttpRouteBackend;
use gateway_policy::{GatewayPolicies, PerApi, PolicyTarget, RouteRef};
use ingress::IngressRoute;
use istio::VirtualServiceRoute;
use policy_engine::PolicyEngine;
use route::Route;
use scrape::Scraper;
use scrape::service_monitor::service_monitor_resource;

/// Which of the kinds the backends write have their CRD installed.
#[derive(Clone, Copy, Debug)]
pub struct Installed {
    pub virtual_service: bool,
    pub http_route: bool,
    /// The HTTPRoute CRD has the `CORS` filter (Gateway API v1.5 standard, v1.3 experimental).
    pub http_route_cors: bool,
    pub service_monitor: bool,
    /// Istio's EnvoyFilter, and its AuthorizationPolicy + RequestAuthentication (`v1`).
    pub envoy_filter: bool,
    pub istio_security: bool,
}

impl Installed {
    /// Everything, as `render` assumes.
    pub const ALL: Installed = Installed {
        virtual_service: true,
        http_route: true,
        http_route_cors: true,
        service_monitor: true,
        envoy_filter: true,
        istio_security: true,
    };

    /// Whether the kind of a per-API gateway object is installed.
    pub fn has(&self, kind: PerApi) -> bool {
        match kind {
            PerApi::RateLimit => self.envoy_filter,
            PerApi::ApiKey => self.istio_security,
        }
    }
}

/// The backends one configuration selects.
#[derive(Clone)]
pub struct Backends {
    /// The route backend of `ROUTE_BACKEND`.
    pub route: Arc<dyn Route>,
    /// The other route backends whose CRD is installed: their routes that an API controls are
    /// removed once the API's route of the active kind is applied (a switch leaves no orphan).
    pub former_routes: Vec<Arc<dyn Route>>,
    /// How metrics APIs are scraped.
    pub scraper: Scraper,
    /// The kinds to watch and cache: the route kinds and the ServiceMonitor, when their CRD is
    /// installed (a ServiceMonitor left by another mode is removed through the same cache).
    pub kinds: Vec<ChildKind>,
    /// The gateway-wide policy objects: their builder, and the installed kinds to cache.
    pub gateway: GatewayPolicies,
    pub installed: Installed,
    /// The policy engines of the Gateway API implementations that have their own policy kinds,
    /// whose CRDs are served (see [`Backends::with_engines`]).
    pub engines: Vec<Engine>,
}

/// A policy engine and the GatewayClass `controllerName`s whose Gateways it serves.
#[derive(Clone)]
pub struct Engine {
    pub controllers: Vec<String>,
    pub engine: Arc<dyn PolicyEngine>,
}

/// Every policy engine the configuration names; a new gateway family registers its engine here.
fn engines(config: &OperatorConfig) -> Vec<Engine> {
    let envoy_gateway = Engine {
        controllers: config.policy.envoy_gateway_controllers(),
        engine: Arc::new(envoy_gateway::EnvoyGatewayEngine),
    };
    vec![envoy_gateway]
}

impl Backends {
    pub fn new(config: &OperatorConfig, installed: Installed) -> Self {
        let istio: Arc<dyn Route> = Arc::new(VirtualServiceRoute::new(config));
        let gateway_api: Arc<dyn Route> = Arc::new(HttpRouteBackend::new(config, installed.http_route_cors));
        let istio = (istio, installed.virtual_service);
        let gateway_api = (gateway_api, installed.http_route);
        // The Ingress of the APIM backend is a built-in kind, always there; leaving APIM is not
        // cleaned up (its Ingress goes with its API), so other backends do not watch Ingresses.
        let ((route, route_installed), formers) = match config.route_backend {
            RouteBackend::VirtualService => (istio, vec![gateway_api]),
            RouteBackend::HttpRoute => (gateway_api, vec![istio]),
            RouteBackend::AzureApim => {
                let ingress: Arc<dyn Route> = Arc::new(IngressRoute::new(&config.apim));
                ((ingress, true), vec![istio, gateway_api])
            }
        };
        let former_routes: Vec<Arc<dyn Route>> =
            formers.into_iter().filter(|(_, installed)| *installed).map(|(r, _)| r).collect();
        let scraper = Scraper::new(config.openmetrics_implementation, installed.service_monitor);
        let mut kinds: Vec<ChildKind> = Vec::new();
        kinds.extend(route_installed.then(|| route.child_kind()));
        kinds.extend(former_routes.iter().map(|r| r.child_kind()));
        let monitors = ChildKind { resource: service_monitor_resource(), cluster_wide: false };
        kinds.extend(installed.service_monitor.then_some(monitors));
        let gateway = GatewayPolicies::new(&config.policy);
        let engines = if config.route_backend == RouteBackend::HttpRoute { engines(config) } else { Vec::new() };
        Self { route, former_routes, scraper, kinds, gateway, installed, engines }
    }

    /// The kinds every configured policy engine writes (for discovery to check).
    pub fn engine_kinds(&self) -> Vec<ApiResource> {
        self.engines.iter().flat_map(|e| e.engine.kinds()).collect()
    }

    /// Keeps the engines whose kinds are all `served`, and watches their kinds.
    pub fn with_engines(mut self, served: impl Fn(&ApiResource) -> bool) -> Self {
        self.engines.retain(|e| e.engine.kinds().iter().all(&served));
        let kinds = self.engine_kinds();
        self.kinds.extend(kinds.into_iter().map(|resource| ChildKind { resource, cluster_wide: false }));
        self
    }

    /// The engine of the implementation behind the route's Gateway, when it has one.
    pub fn engine_for(&self, implementation: Option<&ClassFeatures>) -> Option<&Arc<dyn PolicyEngine>> {
        let controller = &implementation?.controller;
        self.engines.iter().find(|e| e.controllers.iter().any(|c| c == controller)).map(|e| &e.engine)
    }

    /// The API's own objects in the gateway namespace, for its valid rate limit and enforceable
    /// token requirement, and where they go. None for a rate limit on a Gateway whose
    /// implementation is known not to be Istio (`gateway`): it would ignore them.
    pub fn policy_objects(
        &self,
        api: &ValidApi,
        api_keys: Option<&Plan>,
        gateway: &Enforcer,
    ) -> Result<Option<PolicyObjects>, BuildError> {
        let Some(attachment) = self.route.gateway_policies() else { return Ok(None) };
        let target = attachment.policy_target(&api.namespace);
        let envoy_route = attachment.envoy_route_name(api);
        let route = RouteRef { envoy_route: &envoy_route, paths: attachment.protected_paths(api) };
        let mut objects = Vec::new();
        if let Some(limit) = api.rate_limit.as_ref().filter(|_| !matches!(gateway, Enforcer::Other(_))) {
            objects.push((PerApi::RateLimit, self.gateway.rate_limit(api, &target, &route, limit)?));
        }
        // A token another implementation's engine requires is not Istio's to enforce.
        if let Some(Plan::Jwt { issuer, .. }) = api_keys.filter(|_| !matches!(gateway, Enforcer::Other(_))) {
            objects.push((PerApi::ApiKey, self.gateway.deny_without_token(api, &target, &route, issuer)?));
        }
        Ok(Some((target, objects)))
    }

    /// Where the gateway policy objects of an API in `api_namespace` go, if the route takes any.
    pub fn policy_target(&self, api_namespace: &str) -> Option<PolicyTarget> {
        Some(self.route.gateway_policies()?.policy_target(api_namespace))
    }

    /// The one namespace all gateway policy objects go to; `None` when each API's own (an
    /// HTTPRoute backend with a bare Gateway name).
    pub fn policy_namespace(&self) -> Option<String> {
        self.policy_target("").map(|t| t.namespace).filter(|ns| !ns.is_empty())
    }

    /// The policy kinds to cache in the gateway namespace(s): those of the installed CRDs.
    pub fn policy_kinds(&self) -> Vec<ApiResource> {
        let mut kinds = Vec::new();
        if self.route.gateway_policies().is_none() {
            return kinds;
        }
        if self.installed.envoy_filter {
            kinds.push(gateway_policy::envoy_filter_resource());
        }
        if self.installed.istio_security {
            kinds.push(gateway_policy::authorization_policy_resource());
            kinds.push(gateway_policy::request_authentication_resource());
        }
        kinds
    }
}

/// Where an API's gateway policy objects go, and the objects.
pub type PolicyObjects = (PolicyTarget, Vec<(PerApi, DynamicObject)>);

/// A kind of object a backend writes, which the controller watches and caches for it.
#[derive(Clone, Debug)]
pub struct ChildKind {
    pub resource: ApiResource,
    /// Route kinds are watched cluster-wide (a conflicting route may live in any namespace);
    /// other kinds only in the watched namespaces.
    pub cluster_wide: bool,
}

/// A desired object could not be encoded: a defect of the operator, not of the ExposedAPI.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the desired {kind}: {source}")]
pub struct BuildError {
    pub kind: String,
    #[source]
    pub source: serde_json::Error,
}

/// Builds a namespaced object of `resource` with the given metadata and a typed `spec`.
pub(crate) fn object_with_spec(
    resource: &ApiResource,
    metadata: ObjectMeta,
    spec: &impl serde::Serialize,
) -> Result<DynamicObject, BuildError> {
    let spec = serde_json::to_value(spec).map_err(|source| BuildError { kind: resource.kind.clone(), source })?;
    let mut obj = DynamicObject::new("", resource).data(serde_json::json!({ "spec": spec }));
    obj.metadata = metadata;
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpenMetricsImplementation;
    use crate::exposed_api::ApiType;

    fn kinds(backends: &Backends) -> Vec<String> {
        backends.kinds.iter().map(|k| k.resource.kind.clone()).collect()
    }

    #[test]
    fn the_setting_picks_the_route_and_the_other_kind_is_watched_for_orphans() {
        let istio = Backends::new(&OperatorConfig::default(), Installed::ALL);
        assert_eq!(istio.route.resource().kind, "VirtualService");
        let formers: Vec<String> = istio.former_routes.iter().map(|r| r.resource().kind).collect();
        assert_eq!(formers, ["HTTPRoute"]);
        assert_eq!(kinds(&istio), ["VirtualService", "HTTPRoute", "ServiceMonitor"]);

        let config = OperatorConfig { route_backend: RouteBackend::HttpRoute, ..Default::default() };
        let without_istio = Installed { virtual_service: false, ..Installed::ALL };
        let gateway_api = Backends::new(&config, without_istio);
        assert_eq!(gateway_api.route.resource().kind, "HTTPRoute");
        assert!(gateway_api.former_routes.is_empty(), "no Istio CRD: nothing to clean up");
        assert_eq!(kinds(&gateway_api), ["HTTPRoute", "ServiceMonitor"]);
    }

    #[test]
    fn istio_policy_objects_only_for_a_gateway_not_known_to_ignore_them() {
        use crate::core::rate_limit::{ClientKey, Interval, RateLimit};
        let config = OperatorConfig { route_backend: RouteBackend::HttpRoute, ..Default::default() };
        let backends = Backends::new(&config, Installed::ALL);
        let limit = RateLimit { limit: 3, interval: Interval::Minute, client: ClientKey::RemoteAddress };
        let api = ValidApi { rate_limit: Some(limit), ..crate::core::fixtures::short_api() };
        let jwt = Plan::Jwt { issuer: "https://idp".into(), location: crate::core::api_keys::Location::Default };
        let kinds = |gateway: &Enforcer, plan: &Plan| {
            let (_, objects) = backends.policy_objects(&api, Some(plan), gateway).unwrap().unwrap();
            objects.into_iter().map(|(kind, _)| kind).collect::<Vec<_>>()
        };
        assert_eq!(kinds(&Enforcer::Istio, &jwt), [PerApi::RateLimit, PerApi::ApiKey]);
        assert_eq!(kinds(&Enforcer::Unknown, &jwt), [PerApi::RateLimit, PerApi::ApiKey], "as before");
        // On another implementation the plan is unenforceable, and no rate limit is written.
        let traefik = Enforcer::Other("traefik.io/gateway-controller".into());
        let unenforceable = Plan::Unenforceable { why: "not Istio".into(), closed: true };
        assert_eq!(kinds(&traefik, &unenforceable), []);
    }

    #[test]
    fn only_annotated_metrics_apis_need_cleanup() {
        let annotations = OperatorConfig {
            openmetrics_implementation: OpenMetricsImplementation::PrometheusAnnotation,
            ..Default::default()
        };
        let scraper = Backends::new(&annotations, Installed::ALL).scraper;
        assert!(scraper.needs_cleanup(Some(ApiType::Prometheus)) && scraper.watches_pods());
        assert!(!scraper.needs_cleanup(Some(ApiType::Openapi)) && !scraper.needs_cleanup(None));
        let monitors = Backends::new(&OperatorConfig::default(), Installed::ALL).scraper;
        assert!(!monitors.needs_cleanup(Some(ApiType::Prometheus)) && monitors.watches_pods());
        assert!(monitors.reads_pod_ports() && !scraper.reads_pod_ports(), "ports only for the ServiceMonitor");
        let missing = Installed { service_monitor: false, ..Installed::ALL };
        assert_eq!(Backends::new(&OperatorConfig::default(), missing).scraper, scrape::Scraper::ServiceMonitorMissing);
    }
}

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
pub mod istio_engine;
mod parent_ref;
pub mod plan;
pub mod policy_engine;
pub mod route;
pub mod scrape;

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject};

use crate::config::{OperatorConfig, RouteBackend};
use crate::core::gateway_class::ClassFeatures;
use gateway_api::HttpRouteBackend;
use gateway_policy::{GatewayPolicies, PerApi, PolicyTarget};
use ingress::IngressRoute;
use istio::VirtualServiceRoute;
use istio_engine::IstioEngine;
use policy_engine::{Placement, PolicyEngine};
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
    /// The builder of Istio's shared gateway objects (for the sweep that keeps them while used).
    pub gateway: GatewayPolicies,
    pub installed: Installed,
    /// The policy engines: Istio's for the routes its objects attach to, and those of the Gateway
    /// API implementations with policy kinds of their own, whose CRDs are served (see
    /// [`Backends::with_engines`]).
    pub engines: Vec<Engine>,
}

/// A policy engine and the Gateways it serves.
#[derive(Clone)]
pub struct Engine {
    /// The GatewayClass `controllerName`s whose Gateways it serves.
    pub controllers: Vec<String>,
    /// It also serves routes whose Gateway's class is not known (VirtualServices, a class not
    /// read yet, `render`).
    pub by_default: bool,
    pub engine: Arc<dyn PolicyEngine>,
}

/// Every policy engine the configuration names; a new gateway family registers its engine here.
fn engines(config: &OperatorConfig, route: &Arc<dyn Route>, installed: Installed) -> Vec<Engine> {
    let istio = IstioEngine::new(route, &config.policy, installed).map(|engine| Engine {
        controllers: config.policy.istio_gateway_controllers(),
        by_default: true,
        engine: Arc::new(engine),
    });
    // Implementations with policy kinds of their own: their policies target HTTPRoutes.
    let http_route = config.route_backend == RouteBackend::HttpRoute;
    let envoy_gateway = http_route.then(|| Engine {
        controllers: config.policy.envoy_gateway_controllers(),
        by_default: false,
        engine: Arc::new(envoy_gateway::EnvoyGatewayEngine),
    });
    istio.into_iter().chain(envoy_gateway).collect()
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
        let engines = engines(config, &route, installed);
        Self { route, former_routes, scraper, kinds, gateway, installed, engines }
    }

    /// The kinds the configured engines write in the API namespaces, as the API's children (for
    /// discovery to check, and to watch).
    pub fn engine_kinds(&self) -> Vec<ApiResource> {
        let owned = self.engines.iter().filter(|e| e.engine.placement() == Placement::Owned);
        owned.flat_map(|e| e.engine.kinds()).collect()
    }

    /// Keeps the engines placed in the API namespaces whose kinds are all `served` (discovered
    /// for [`Backends::engine_kinds`]), and watches their kinds. Istio's engine stays: it writes
    /// only the kinds [`Installed`] found, watched in the gateway namespace ([`Backends::policy_kinds`]),
    /// and says what is missing on the policies' conditions.
    pub fn with_engines(mut self, served: impl Fn(&ApiResource) -> bool) -> Self {
        let owned = |e: &Engine| e.engine.placement() == Placement::Owned;
        self.engines.retain(|e| !owned(e) || e.engine.kinds().iter().all(&served));
        let kinds = self.engine_kinds();
        self.kinds.extend(kinds.into_iter().map(|resource| ChildKind { resource, cluster_wide: false }));
        self
    }

    /// The engine of the implementation behind the route's Gateway, when it has one.
    pub fn engine_for(&self, implementation: Option<&ClassFeatures>) -> Option<&Arc<dyn PolicyEngine>> {
        let serves = |e: &&Engine| match implementation {
            Some(class) => e.controllers.contains(&class.controller),
            None => e.by_default,
        };
        self.engines.iter().find(serves).map(|e| &e.engine)
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

    /// The policy kinds to cache in the gateway namespace(s): those of the engines placed there.
    pub fn policy_kinds(&self) -> Vec<ApiResource> {
        let placed = self.engines.iter().filter(|e| e.engine.placement() == Placement::GatewayNamespace);
        placed.flat_map(|e| e.engine.kinds()).collect()
    }
}

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
    fn the_engine_is_istio_s_unless_the_class_names_another_implementation() {
        use crate::core::gateway_class::ClassFeatures;
        let config = OperatorConfig { route_backend: RouteBackend::HttpRoute, ..Default::default() };
        // Discovery checks the kinds of the engines placed in the API namespaces only.
        let discovered: Vec<ApiResource> = Backends::new(&config, Installed::ALL).engine_kinds();
        assert_eq!(
            discovered.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>(),
            ["SecurityPolicy", "BackendTrafficPolicy"]
        );
        let backends = Backends::new(&config, Installed::ALL).with_engines(|k| discovered.contains(k));
        let class = |controller: &str| ClassFeatures { controller: controller.into(), supported: None };
        let name = |class: Option<&ClassFeatures>| backends.engine_for(class).map(|e| e.name());
        assert_eq!(name(None), Some("Istio"), "a class not read yet: Istio's objects, as before");
        assert_eq!(name(Some(&class("istio.io/gateway-controller"))), Some("Istio"));
        assert_eq!(name(Some(&class("gateway.envoyproxy.io/gatewayclass-controller"))), Some("Envoy Gateway"));
        assert_eq!(name(Some(&crate::core::fixtures::traefik_class())), None, "Traefik enforces neither");
        // Istio's kinds are watched in the gateway namespace, Envoy Gateway's as the API's children.
        let watched: Vec<String> = backends.kinds.iter().map(|k| k.resource.kind.clone()).collect();
        assert!(watched.contains(&"SecurityPolicy".into()) && !watched.contains(&"EnvoyFilter".into()));
        let gateway = backends.policy_kinds().into_iter().map(|k| k.kind).collect::<Vec<_>>();
        assert_eq!(gateway, ["EnvoyFilter", "AuthorizationPolicy", "RequestAuthentication"]);
        let without_eg = Backends::new(&config, Installed::ALL).with_engines(|_| false);
        assert_eq!(without_eg.engines.iter().map(|e| e.engine.name()).collect::<Vec<_>>(), ["Istio"]);
        let apim = OperatorConfig { route_backend: RouteBackend::AzureApim, ..Default::default() };
        assert!(Backends::new(&apim, Installed::ALL).engines.is_empty(), "APIM verifies keys itself");
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

//! Backends: the ways of exposing an API (a route on the gateway) and of scraping its metrics.
//!
//! Each backend is pure: from a validated API and the configuration it builds the objects it wants,
//! and from what it observes of them it reports what the ExposedAPI's conditions should say. The
//! controller does the I/O around them: it reads the observed objects from the watch caches of the
//! kinds a backend declares ([`ChildKind`]), checks ownership and conflicts, server-side applies
//! what differs and removes what a backend no longer wants.

pub mod gateway_api;
pub mod istio;
pub mod route;
pub mod scrape;

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject};

use crate::config::{OpenMetricsImplementation, OperatorConfig, RouteBackend};
use gateway_api::HttpRouteBackend;
use istio::VirtualServiceRoute;
use route::Route;
use scrape::service_monitor::ServiceMonitorBackend;

/// Which of the kinds the backends write have their CRD installed.
#[derive(Clone, Copy, Debug)]
pub struct Installed {
    pub virtual_service: bool,
    pub http_route: bool,
    pub service_monitor: bool,
}

impl Installed {
    /// Everything, as `render` assumes.
    pub const ALL: Installed = Installed { virtual_service: true, http_route: true, service_monitor: true };
}

/// The backends one configuration selects.
#[derive(Clone)]
pub struct Backends {
    /// The route backend of `ROUTE_BACKEND`.
    pub route: Arc<dyn Route>,
    /// The other route backend, when its CRD is installed: its routes that an API controls are
    /// removed once the API's route of the active kind is applied (a switch leaves no orphan).
    pub former_route: Option<Arc<dyn Route>>,
    /// Present when metrics APIs get ServiceMonitors (the mode is chosen and the CRD installed).
    pub service_monitor: Option<ServiceMonitorBackend>,
    /// The kinds to watch and cache: the route kinds whose CRD is installed, the ServiceMonitor.
    pub kinds: Vec<ChildKind>,
    /// The annotation scrapers need Services (their selectors) and Pods (metadata) watched.
    pub watches_pods: bool,
}

impl Backends {
    pub fn new(config: &OperatorConfig, installed: Installed) -> Self {
        let istio: Arc<dyn Route> = Arc::new(VirtualServiceRoute::new(config));
        let gateway_api: Arc<dyn Route> = Arc::new(HttpRouteBackend::new(config));
        let ((route, route_installed), (former, former_installed)) = match config.route_backend {
            RouteBackend::VirtualService => ((istio, installed.virtual_service), (gateway_api, installed.http_route)),
            RouteBackend::HttpRoute => ((gateway_api, installed.http_route), (istio, installed.virtual_service)),
        };
        let monitors = config.openmetrics_implementation == OpenMetricsImplementation::ServiceMonitor;
        let service_monitor = (monitors && installed.service_monitor).then_some(ServiceMonitorBackend);
        let mut kinds: Vec<ChildKind> = Vec::new();
        kinds.extend(route_installed.then(|| route.child_kind()));
        kinds.extend(former_installed.then(|| former.child_kind()));
        kinds.extend(service_monitor.map(|sm| ChildKind { resource: sm.resource(), cluster_wide: false }));
        Self {
            route,
            former_route: former_installed.then_some(former),
            service_monitor,
            kinds,
            watches_pods: !monitors,
        }
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

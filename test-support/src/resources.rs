//! The custom resources the tests and the benchmark read and write, as `ApiResource`s for
//! `DynamicObject`s (independent of the operator's own types).

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

pub fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// `oda.tmforum.org/v1` ExposedAPI (CRD from deploy/crds).
pub fn exposed_api_resource() -> ApiResource {
    api_resource("oda.tmforum.org", "v1", "ExposedAPI", "exposedapis")
}

/// `oda.tmforum.org/v1` Component (stand-in CRD, no status subresource).
pub fn component_resource() -> ApiResource {
    api_resource("oda.tmforum.org", "v1", "Component", "components")
}

/// `networking.istio.io/v1alpha3` VirtualService (Istio's CRD; v1beta1 and v1 also served), the
/// version the operator writes by default.
pub fn virtual_service_resource() -> ApiResource {
    api_resource("networking.istio.io", "v1alpha3", "VirtualService", "virtualservices")
}

/// `networking.istio.io/v1` Gateway (Istio's CRD): the servers VirtualServices bind to.
pub fn istio_gateway_resource() -> ApiResource {
    api_resource("networking.istio.io", "v1", "Gateway", "gateways")
}

/// `monitoring.coreos.com/v1` ServiceMonitor (the Prometheus operator's CRD).
pub fn service_monitor_resource() -> ApiResource {
    api_resource("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors")
}

/// `gateway.networking.k8s.io/v1` Gateway (Gateway API's CRD).
pub fn gateway_api_gateway_resource() -> ApiResource {
    api_resource("gateway.networking.k8s.io", "v1", "Gateway", "gateways")
}

/// `gateway.networking.k8s.io/v1` HTTPRoute (Gateway API's CRD).
pub fn http_route_resource() -> ApiResource {
    api_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
}

/// Namespaced dynamic API for `ar`.
pub fn dynamic_api(client: Client, ns: &str, ar: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client, ns, ar)
}

//! The Istio `VirtualService` that publishes an API on the Canvas gateway (reference §2.4), and the
//! route keys used to detect two VirtualServices claiming the same gateway, host and path.

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};

use crate::config::{OperatorConfig, VirtualServiceVersion};
use crate::output::{Output, object};
use crate::ownership::child_metadata;
use crate::validation::ValidApi;

/// The subset of `networking.istio.io` VirtualService spec the operator writes and reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct VirtualServiceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
}

/// One HTTP route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpRoute {
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
}

/// A request match; only URI prefixes matter to the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpMatchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
}

/// A string match (Istio's `StringMatch` is a one-of; unknown variants are ignored).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct StringMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A weighted destination.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpRouteDestination {
    pub destination: Destination,
}

/// A Service and port.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Destination {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

/// A port by number.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PortSelector {
    pub number: u32,
}

/// The Istio output backend.
#[derive(Clone, Debug)]
pub struct VirtualServiceOutput {
    pub gateway: String,
    pub host: String,
    pub version: VirtualServiceVersion,
}

impl VirtualServiceOutput {
    pub fn new(config: &OperatorConfig) -> Self {
        Self {
            gateway: config.component_gateway.clone(),
            host: config.route_host().to_owned(),
            version: config.virtual_service_version,
        }
    }

    /// The spec of §2.4: one prefix route from the API path to `<implementation>:<port>`.
    pub fn spec(&self, api: &ValidApi) -> VirtualServiceSpec {
        VirtualServiceSpec {
            hosts: vec![self.host.clone()],
            gateways: vec![self.gateway.clone()],
            http: vec![HttpRoute {
                matches: vec![HttpMatchRequest { uri: Some(StringMatch { prefix: Some(api.path.clone()) }) }],
                route: vec![HttpRouteDestination {
                    destination: Destination {
                        host: api.implementation.clone(),
                        port: Some(PortSelector { number: u32::from(api.port) }),
                    },
                }],
            }],
        }
    }

    /// The route key of the VirtualService this backend writes for `api`.
    pub fn route_key(&self, api: &ValidApi) -> RouteKey {
        RouteKey::new(&api.namespace, &self.gateway, &self.host, &api.path)
    }
}

impl Output for VirtualServiceOutput {
    fn api_resource(&self) -> ApiResource {
        virtual_service_resource(self.version)
    }

    fn desired(&self, api: &ValidApi) -> Option<DynamicObject> {
        let spec = serde_json::to_value(self.spec(api)).ok()?;
        Some(object(&self.api_resource(), child_metadata(api), serde_json::json!({ "spec": spec })))
    }
}

/// `networking.istio.io/<version>` `VirtualService`.
pub fn virtual_service_resource(version: VirtualServiceVersion) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", version.as_str(), "VirtualService"),
        "virtualservices",
    )
}

/// What two VirtualServices must not share: gateway, host and URI prefix.
///
/// Gateways are normalised to `<namespace>/<name>` (a bare name means the VirtualService's own
/// namespace, as Istio resolves it), so `component-gateway` in namespace `canvas` and
/// `canvas/component-gateway` are recognised as the same gateway, and bare names in two different
/// namespaces are not mistaken for one. The reference compared the raw strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub gateway: String,
    pub host: String,
    pub prefix: String,
}

impl RouteKey {
    pub fn new(namespace: &str, gateway: &str, host: &str, prefix: &str) -> Self {
        let gateway = if gateway.contains('/') { gateway.to_owned() } else { format!("{namespace}/{gateway}") };
        Self { gateway, host: host.to_owned(), prefix: prefix.to_owned() }
    }

    /// Every (gateway, host, prefix) a VirtualService claims. Unlike the reference, which read only
    /// the first of each list, all gateways, hosts and prefix matches are considered.
    pub fn all_of(obj: &DynamicObject) -> Vec<RouteKey> {
        let namespace = obj.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) =
            obj.data.get("spec").and_then(|s| serde_json::from_value::<VirtualServiceSpec>(s.clone()).ok())
        else {
            return Vec::new();
        };
        let prefixes: Vec<&str> =
            spec.http.iter().flat_map(|r| r.matches.iter()).filter_map(|m| m.uri.as_ref()?.prefix.as_deref()).collect();
        let mut keys = Vec::new();
        for gateway in spec.gateways.iter().filter(|g| g.as_str() != "mesh") {
            for host in &spec.hosts {
                for prefix in &prefixes {
                    keys.push(RouteKey::new(namespace, gateway, host, prefix));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::core_api as api;
    use serde_json::json;

    #[test]
    fn golden_g1_shape() {
        let vs = VirtualServiceOutput::new(&OperatorConfig::default()).desired(&api()).unwrap();
        let value = serde_json::to_value(&vs).unwrap();
        assert_eq!(
            value,
            json!({
                "apiVersion": "networking.istio.io/v1alpha3",
                "kind": "VirtualService",
                "metadata": {
                    "name": "prdcat3-productcatalogmanagement-productcatalogmanagement",
                    "namespace": "components",
                    "labels": {"oda.tmforum.org/componentName": "prdcat3-productcatalogmanagement"},
                    "ownerReferences": [{
                        "apiVersion": "oda.tmforum.org/v1",
                        "kind": "ExposedAPI",
                        "name": "prdcat3-productcatalogmanagement-productcatalogmanagement",
                        "uid": "e715b931-4413-4cee-9f84-f747471063c4",
                        "controller": true,
                        "blockOwnerDeletion": true
                    }]
                },
                "spec": {
                    "hosts": ["*"],
                    "gateways": ["component-gateway"],
                    "http": [{
                        "match": [{"uri": {"prefix": "/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4"}}],
                        "route": [{"destination": {"host": "prdcat3-prodcatapi", "port": {"number": 8080}}}]
                    }]
                }
            })
        );
    }

    #[test]
    fn golden_g2_public_hostname_and_gateway() {
        let config = OperatorConfig {
            public_hostname: Some("components.ihc-dt.cluster-2.de".into()),
            component_gateway: "canvas/component-gateway".into(),
            virtual_service_version: VirtualServiceVersion::V1,
            ..Default::default()
        };
        let vs = VirtualServiceOutput::new(&config).desired(&api()).unwrap();
        assert_eq!(vs.types.as_ref().unwrap().api_version, "networking.istio.io/v1");
        assert_eq!(vs.data["spec"]["hosts"], json!(["components.ihc-dt.cluster-2.de"]));
        assert_eq!(vs.data["spec"]["gateways"], json!(["canvas/component-gateway"]));
    }

    #[test]
    fn route_keys_normalise_gateways_and_cover_every_match() {
        let vs: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "other", "namespace": "canvas"},
            "spec": {
                "hosts": ["*"], "gateways": ["component-gateway", "mesh"],
                "http": [{"match": [{"uri": {"prefix": "/a"}}, {"uri": {"exact": "/x"}}]}, {"match": [{"uri": {"prefix": "/b"}}]}]
            }
        }))
        .unwrap();
        let keys = RouteKey::all_of(&vs);
        assert_eq!(
            keys,
            vec![
                RouteKey::new("x", "canvas/component-gateway", "*", "/a"),
                RouteKey::new("x", "canvas/component-gateway", "*", "/b"),
            ]
        );
        assert_ne!(RouteKey::new("a", "gw", "*", "/p"), RouteKey::new("b", "gw", "*", "/p"));
    }
}

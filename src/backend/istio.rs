//! The Istio route backend: the `VirtualService` that publishes an API on the Canvas gateway
//! (reference §2.4).

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};

use super::gateway_policy::{Attach, PolicyTarget};
use super::route::{AddressSource, GatewayAttachment, Route, RouteKey, RouteState};
use super::{BuildError, object_with_spec};
use crate::config::{OperatorConfig, VirtualServiceVersion};
use crate::core::cors::Cors;
use crate::core::ownership::child_metadata;
use crate::core::validation::ValidApi;

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
    /// `<namespace>.<name>`, set while a rate limit patches the route by its Envoy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    #[serde(rename = "corsPolicy", default, skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// Set for streaming APIs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Istio's `CorsPolicy`; origins as exact matches, or anchored regexes for `*.` hosts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<OriginMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// A duration string (`"1800s"`): the CRD rejects a bare number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
}

/// One origin match (Istio's `StringMatch`, exact or RE2 regex).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OriginMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl From<&Cors> for CorsPolicy {
    fn from(cors: &Cors) -> Self {
        let origin = |o: &String| match o.split_once("://*.") {
            // Envoy treats an exact `*` as allow-all; `https://*.x` needs a pattern.
            Some((scheme, domain)) => OriginMatch {
                regex: Some(format!("^{scheme}://[a-zA-Z0-9-]+\\.{}$", domain.replace('.', "\\."))),
                ..Default::default()
            },
            None => OriginMatch { exact: Some(o.clone()), ..Default::default() },
        };
        Self {
            allow_origins: cors.origins.iter().map(origin).collect(),
            allow_methods: cors.methods.clone(),
            allow_headers: cors.headers.clone(),
            max_age: cors.max_age.map(|s| format!("{s}s")),
            allow_credentials: Some(cors.allow_credentials),
        }
    }
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

/// The Istio route backend.
#[derive(Clone, Debug)]
pub struct VirtualServiceRoute {
    pub gateway: String,
    pub host: String,
    pub version: VirtualServiceVersion,
    /// The gateway workload's namespace and pod labels, for the gateway-wide policy objects.
    pub policy_target: PolicyTarget,
    pub streaming_timeout: String,
}

impl VirtualServiceRoute {
    pub fn new(config: &OperatorConfig) -> Self {
        Self {
            gateway: config.component_gateway.clone(),
            host: config.route_host().to_owned(),
            version: config.virtual_service_version,
            policy_target: PolicyTarget {
                namespace: config.policy.gateway_namespace.clone(),
                attach: Attach::Workload(config.policy.workload_labels()),
            },
            streaming_timeout: config.policy.streaming_timeout(),
        }
    }

    /// The spec of §2.4: one prefix route from the API path to `<implementation>:<port>`.
    pub fn spec(&self, api: &ValidApi) -> VirtualServiceSpec {
        VirtualServiceSpec {
            hosts: vec![self.host.clone()],
            gateways: vec![self.gateway.clone()],
            http: vec![HttpRoute {
                name: api.rate_limit.is_some().then(|| self.envoy_route_name(api)),
                matches: vec![HttpMatchRequest { uri: Some(StringMatch { prefix: Some(api.path.clone()) }) }],
                route: vec![HttpRouteDestination {
                    destination: Destination {
                        host: api.implementation.clone(),
                        port: Some(PortSelector { number: u32::from(api.port) }),
                    },
                }],
                cors_policy: api.cors.as_ref().map(CorsPolicy::from),
                timeout: api.api_type.is_streaming().then(|| self.streaming_timeout.clone()),
            }],
        }
    }
}

impl Route for VirtualServiceRoute {
    fn address_source(&self) -> AddressSource {
        AddressSource::IstioIngress
    }

    fn resource(&self) -> ApiResource {
        virtual_service_resource(self.version)
    }

    fn desired(&self, api: &ValidApi) -> Result<DynamicObject, BuildError> {
        object_with_spec(&self.resource(), child_metadata(api), &self.spec(api))
    }

    fn route_key(&self, api: &ValidApi) -> RouteKey {
        RouteKey::new(&api.namespace, &self.gateway, &self.host, &api.path)
    }

    /// Every gateway × host × URI prefix of the VirtualService, except the `mesh` pseudo-gateway
    /// (sidecar routing, not the ingress). The reference compared raw gateway strings.
    fn claims(&self, vs: &DynamicObject) -> Vec<RouteKey> {
        let namespace = vs.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) = vs.data.get("spec").and_then(|s| serde_json::from_value::<VirtualServiceSpec>(s.clone()).ok())
        else {
            return Vec::new();
        };
        let prefixes: Vec<&str> =
            spec.http.iter().flat_map(|r| r.matches.iter()).filter_map(|m| m.uri.as_ref()?.prefix.as_deref()).collect();
        let gateways: Vec<&str> = spec.gateways.iter().map(String::as_str).filter(|g| *g != "mesh").collect();
        let hosts: Vec<&str> = spec.hosts.iter().map(String::as_str).collect();
        RouteKey::product(namespace, &gateways, &hosts, &prefixes)
    }

    fn gateway_policies(&self) -> Option<&dyn GatewayAttachment> {
        Some(self)
    }

    /// A VirtualService has no status a controller reports acceptance in: applied is accepted.
    fn state(&self, _: &DynamicObject) -> RouteState {
        RouteState::Accepted
    }
}

impl GatewayAttachment for VirtualServiceRoute {
    fn policy_target(&self, _: &str) -> PolicyTarget {
        self.policy_target.clone()
    }

    /// Istio names the Envoy route after `http[].name` (no match names are set).
    fn envoy_route_name(&self, api: &ValidApi) -> String {
        format!("{}.{}", api.namespace, api.name)
    }

    /// A VirtualService `uri.prefix` is a raw string prefix (`/v4` also matches `/v4x`): the
    /// policy covers the same.
    fn protected_paths(&self, api: &ValidApi) -> Vec<String> {
        vec![format!("{}*", api.path)]
    }
}

/// `networking.istio.io/<version>` `VirtualService`.
pub fn virtual_service_resource(version: VirtualServiceVersion) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", version.as_str(), "VirtualService"),
        "virtualservices",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::core_api as api;
    use serde_json::json;

    #[test]
    fn golden_g1_shape() {
        let vs = VirtualServiceRoute::new(&OperatorConfig::default()).desired(&api()).unwrap();
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
        let vs = VirtualServiceRoute::new(&config).desired(&api()).unwrap();
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
        let keys = VirtualServiceRoute::new(&OperatorConfig::default()).claims(&vs);
        assert_eq!(
            keys,
            vec![
                RouteKey::new("x", "canvas/component-gateway", "*", "/a"),
                RouteKey::new("x", "canvas/component-gateway", "*", "/b"),
            ]
        );
    }
}

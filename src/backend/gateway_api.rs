//! The Gateway API route backend: one `HTTPRoute` per API, attached to the component Gateway,
//! and the reading of its `status.parents` (the gateway controller's acceptance).

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};

use super::gateway_api_status::parent_state;
use super::gateway_policy::{Attach, PolicyTarget};
use super::route::{AddressSource, GatewayAttachment, Route, RouteKey, RouteState};
use super::{BuildError, object_with_spec};
use crate::config::OperatorConfig;
use crate::core::cors::Cors;
use crate::core::gateway_address::gateway_ref;
use crate::core::gateway_class::{
    ClassFeatures, HTTP_ROUTE_BACKEND_REQUEST_TIMEOUT, HTTP_ROUTE_CORS, HTTP_ROUTE_REQUEST_TIMEOUT, unsupported,
};
use crate::core::ownership::child_metadata;
use crate::core::validation::ValidApi;

pub use super::parent_ref::ParentReference;
use super::parent_ref::{GATEWAY, GROUP};
const PATH_PREFIX: &str = "PathPrefix";

/// The subset of `HTTPRoute` spec the operator writes and reads. Every field the CRD would
/// default is written explicitly, so that the stored spec equals the desired one and a converged
/// route is recognised without a write.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpRouteRule>,
}

/// One rule: path matches and the backends they go to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HttpRouteMatch>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<HttpRouteFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<HttpBackendRef>,
    /// Set for streaming APIs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<HttpRouteTimeouts>,
}

/// Route timeouts; both are written (the CRD requires `backendRequest <= request`), each where the
/// implementation supports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteTimeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_request: Option<String>,
}

/// A rule filter; the operator writes only `CORS` (standard since Gateway API v1.5).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpRouteFilter {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<HttpCorsFilter>,
}

/// The `CORS` filter; `maxAge` is always written (the CRD would default it to 5 seconds).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpCorsFilter {
    #[serde(flatten)]
    pub lists: CorsLists,
    pub allow_credentials: bool,
    pub max_age: u32,
}

/// The lists of a CORS policy, named alike by the Gateway API's filter and by Envoy Gateway's
/// SecurityPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CorsLists {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
}

impl From<&Cors> for CorsLists {
    fn from(cors: &Cors) -> Self {
        Self {
            allow_origins: cors.origins.clone(),
            allow_methods: cors.methods.clone(),
            allow_headers: cors.headers.clone(),
        }
    }
}

impl From<&Cors> for HttpRouteFilter {
    fn from(cors: &Cors) -> Self {
        let filter = HttpCorsFilter {
            lists: CorsLists::from(cors),
            allow_credentials: cors.allow_credentials,
            // The CRD's minimum is 1: "not cached" is the shortest it allows.
            max_age: cors.max_age.unwrap_or(1),
        };
        Self { type_: "CORS".into(), cors: Some(filter) }
    }
}

/// A request match; only the path matters to the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpRouteMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HttpPathMatch>,
}

/// A path match (`PathPrefix` unless said otherwise).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpPathMatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A Service and port the traffic goes to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpBackendRef {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub port: u16,
    pub weight: i32,
}

/// The Gateway API route backend.
#[derive(Clone, Debug)]
pub struct HttpRouteBackend {
    /// The Gateway: `namespace/name`, or a bare name for a Gateway in each API's namespace.
    pub gateway: String,
    pub section_name: Option<String>,
    pub hostname: Option<String>,
    /// The installed HTTPRoute CRD has the `CORS` filter.
    pub cors_filter: bool,
    pub streaming_timeout: String,
}

impl HttpRouteBackend {
    pub fn new(config: &OperatorConfig, cors_filter: bool) -> Self {
        Self {
            gateway: config.component_gateway.clone(),
            section_name: config.gateway_section_name().map(String::from),
            hostname: config.public_hostname().map(String::from),
            cors_filter,
            streaming_timeout: config.policy.streaming_timeout(),
        }
    }

    /// The parent reference every route carries.
    pub fn parent(&self) -> ParentReference {
        let (namespace, name) = gateway_ref(&self.gateway);
        ParentReference {
            group: Some(GROUP.into()),
            kind: Some(GATEWAY.into()),
            namespace: namespace.map(String::from),
            name: name.into(),
            section_name: self.section_name.clone(),
        }
    }

    /// One rule: requests under the API path go to `<implementation>:<port>` in the namespace.
    /// What the Gateway's implementation is known not to support is left out (`None`: nothing is
    /// known, the installed CRD decides).
    pub fn spec(&self, api: &ValidApi, implementation: Option<&ClassFeatures>) -> HttpRouteSpec {
        let allows = |feature| unsupported(implementation, feature).is_none();
        let timeout = |feature| allows(feature).then(|| self.streaming_timeout.clone());
        let timeouts = HttpRouteTimeouts {
            request: timeout(HTTP_ROUTE_REQUEST_TIMEOUT),
            backend_request: timeout(HTTP_ROUTE_BACKEND_REQUEST_TIMEOUT),
        };
        HttpRouteSpec {
            parent_refs: vec![self.parent()],
            hostnames: self.hostname.iter().cloned().collect(),
            rules: vec![HttpRouteRule {
                matches: Some(vec![HttpRouteMatch {
                    path: Some(HttpPathMatch { type_: Some(PATH_PREFIX.into()), value: Some(api.path.clone()) }),
                }]),
                filters: api
                    .cors
                    .as_ref()
                    .filter(|_| self.cors_filter && allows(HTTP_ROUTE_CORS))
                    .map(HttpRouteFilter::from)
                    .into_iter()
                    .collect(),
                backend_refs: vec![HttpBackendRef {
                    group: String::new(),
                    kind: "Service".into(),
                    name: api.implementation.clone(),
                    port: api.port,
                    weight: 1,
                }],
                timeouts: api
                    .api_type
                    .is_streaming()
                    .then_some(timeouts)
                    .filter(|t| t.request.is_some() || t.backend_request.is_some()),
            }],
        }
    }
}

impl Route for HttpRouteBackend {
    fn address_source(&self) -> AddressSource {
        AddressSource::Gateway
    }

    fn resource(&self) -> ApiResource {
        http_route_resource()
    }

    fn desired(&self, api: &ValidApi) -> Result<DynamicObject, BuildError> {
        self.desired_on(api, None)
    }

    fn desired_on(&self, api: &ValidApi, implementation: Option<&ClassFeatures>) -> Result<DynamicObject, BuildError> {
        object_with_spec(&self.resource(), child_metadata(api), &self.spec(api, implementation))
    }

    fn route_key(&self, api: &ValidApi) -> RouteKey {
        RouteKey::new(&api.namespace, &self.gateway, self.hostname.as_deref().unwrap_or("*"), &api.path)
    }

    /// Every Gateway parent × host name (`*` without any) × path prefix. A rule without matches
    /// matches `/`, as the CRD defaults it.
    fn claims(&self, route: &DynamicObject) -> Vec<RouteKey> {
        let namespace = route.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) = route.data.get("spec").and_then(|s| serde_json::from_value::<HttpRouteSpec>(s.clone()).ok())
        else {
            return Vec::new();
        };
        let gateways: Vec<String> = spec
            .parent_refs
            .iter()
            .filter(|p| p.is_gateway())
            .map(|p| format!("{}/{}", p.namespace.as_deref().unwrap_or(namespace), p.name))
            .collect();
        let hosts: Vec<&str> =
            if spec.hostnames.is_empty() { vec!["*"] } else { spec.hostnames.iter().map(String::as_str).collect() };
        let prefixes: Vec<&str> = spec
            .rules
            .iter()
            .flat_map(|rule| match &rule.matches {
                Some(matches) if !matches.is_empty() => matches.iter().map(path_prefix).collect(),
                _ => vec![Some("/")],
            })
            .flatten()
            .collect();
        let gateways: Vec<&str> = gateways.iter().map(String::as_str).collect();
        RouteKey::product(namespace, &gateways, &hosts, &prefixes)
    }

    fn state(&self, route: &DynamicObject) -> RouteState {
        parent_state(route, &self.parent())
    }

    fn cors_supported(&self) -> bool {
        self.cors_filter
    }

    fn gateway_policies(&self) -> Option<&dyn GatewayAttachment> {
        Some(self)
    }
}

impl GatewayAttachment for HttpRouteBackend {
    /// The Gateway's namespace (a bare Gateway name is in the API's own), attached by `targetRefs`.
    fn policy_target(&self, api_namespace: &str) -> PolicyTarget {
        let (namespace, name) = gateway_ref(&self.gateway);
        PolicyTarget {
            namespace: namespace.unwrap_or(api_namespace).to_owned(),
            attach: Attach::Gateway(name.to_owned()),
        }
    }

    /// Istio's name for rule 0 of the route (no rule name is set).
    fn envoy_route_name(&self, api: &ValidApi) -> String {
        format!("{}.{}.0", api.namespace, api.name)
    }

    /// `PathPrefix` matches whole segments: the path itself and everything below it.
    fn protected_paths(&self, api: &ValidApi) -> Vec<String> {
        let base = api.path.trim_end_matches('/');
        if base.is_empty() { vec!["/*".into()] } else { vec![base.to_owned(), format!("{base}/*")] }
    }
}

/// The prefix a match claims: its value for `PathPrefix` (the default), none for other types.
fn path_prefix(m: &HttpRouteMatch) -> Option<&str> {
    match &m.path {
        None => Some("/"),
        Some(path) if path.type_.as_deref().unwrap_or(PATH_PREFIX) == PATH_PREFIX => {
            Some(path.value.as_deref().unwrap_or("/"))
        }
        Some(_) => None,
    }
}

/// `gateway.networking.k8s.io/v1` `HTTPRoute`.
pub fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "HTTPRoute"), "httproutes")
}

#[cfg(test)]
#[path = "gateway_api_tests.rs"]
mod tests;

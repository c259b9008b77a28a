//! The `ExposedAPI` custom resource (`oda.tmforum.org/v1`), field for field as in the ODA Canvas CRD.
//!
//! Spec fields are `Option`s on purpose: objects written under older or laxer CRDs must still
//! decode, so that a bad object gets an `InvalidSpec` condition instead of poisoning the watch.
//! The schema (see [`crate::crd`]) still marks the Canvas' required fields as required.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API group of ODA resources.
pub const GROUP: &str = "oda.tmforum.org";
/// Label the Component operator puts on every ExposedAPI it creates.
pub const COMPONENT_LABEL: &str = "oda.tmforum.org/componentName";

/// What an ODA Component exposes: the API's type, its implementation Service and port, its path,
/// and policies. Unknown fields are preserved.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "oda.tmforum.org",
    version = "v1",
    kind = "ExposedAPI",
    plural = "exposedapis",
    singular = "exposedapi",
    namespaced,
    status = "ExposedApiStatus",
    printcolumn = r#"{"name": "URL", "type": "string", "jsonPath": ".status.apiStatus.url", "description": "External URL of the API"}"#,
    printcolumn = r#"{"name": "READY", "type": "boolean", "jsonPath": ".status.implementation.ready", "description": "Any endpoint of the implementation Service is ready"}"#,
    printcolumn = r#"{"name": "REASON", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason", "description": "Reason of the Ready condition"}"#,
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ExposedApiSpec {
    /// Name of the API within its Component, e.g. `productcatalogmanagement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The API specification this API implements. In `v1` a single object; objects written before
    /// the CRD change may still hold an array, which is accepted when reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Specification>")]
    pub specification: Option<Value>,
    /// Kind of API: `openapi` and `mcp` are routed; `prometheus` and `openmetrics` are also scraped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ApiType>")]
    pub api_type: Option<String>,
    /// API key verification policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_verification: Option<ApiKeyVerification>,
    /// Rate limiting policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Quota policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Validation of requests and responses against the OpenAPI specification.
    #[serde(rename = "OASValidation", default, skip_serializing_if = "Option::is_none")]
    pub oas_validation: Option<OasValidation>,
    /// Cross-origin resource sharing policy.
    #[serde(rename = "CORS", default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Name of a pre-configured policy template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Name of the Kubernetes Service implementing the API, in the ExposedAPI's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// Root path of the API, e.g. `/r1-productcatalogmanagement/tmf-api/productCatalogManagement/v4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Path of the developer UI, e.g. `/r1-productcatalogmanagement/tmf-api/productCatalogManagement/v4/docs`.
    #[serde(rename = "developerUI", default, skip_serializing_if = "Option::is_none")]
    pub developer_ui: Option<String>,
    /// Port of the implementation Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Resources of the API (free form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<FreeForm>>")]
    pub resources: Option<Vec<Value>>,
    /// Whether the API is required by the Component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Component segment of the API; the Component operator defaults it to `coreFunction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Segment>")]
    pub segment: Option<String>,
    /// Public host name to advertise in the URL instead of the ingress gateway address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Basic authentication for metrics scraping, copied verbatim into the ServiceMonitor endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<FreeForm>")]
    pub basic_auth: Option<Value>,
}

/// The specification document of an API.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Specification {
    /// URL of the specification document.
    pub url: Option<String>,
    /// Version of the specification.
    pub version: Option<String>,
}

/// Kinds of API.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiType {
    Openapi,
    Prometheus,
    Openmetrics,
    Mcp,
}

impl ApiType {
    pub const ALL: [ApiType; 4] = [Self::Openapi, Self::Prometheus, Self::Openmetrics, Self::Mcp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openapi => "openapi",
            Self::Prometheus => "prometheus",
            Self::Openmetrics => "openmetrics",
            Self::Mcp => "mcp",
        }
    }

    /// Long-lived connections (MCP streams): routes get the streaming timeout.
    pub fn is_streaming(self) -> bool {
        self == Self::Mcp
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// Metrics APIs get scraping configured in addition to their route.
    pub fn is_metrics(self) -> bool {
        matches!(self, Self::Prometheus | Self::Openmetrics)
    }
}

/// Component segments.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Segment {
    #[serde(rename = "coreFunction")]
    CoreFunction,
    #[serde(rename = "managementFunction")]
    ManagementFunction,
    #[serde(rename = "securityFunction")]
    SecurityFunction,
}

/// An object whose fields are not validated.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct FreeForm {}

/// API key verification policy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ApiKeyVerification {
    /// Verify API keys (default false).
    pub enabled: Option<bool>,
    /// Where the key is carried, e.g. a header name.
    pub location: Option<String>,
}

/// Rate limiting policy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RateLimit {
    /// Apply rate limiting (default false).
    pub enabled: Option<bool>,
    /// What identifies a client, e.g. a header or the client IP.
    pub identifier: Option<String>,
    /// Number of requests allowed per interval (a string in the Canvas CRD).
    pub limit: Option<String>,
    /// `ps` (per second, default) or `pm` (per minute).
    pub interval: Option<String>,
}

/// Quota policy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Quota {
    /// What identifies a client.
    pub identifier: Option<String>,
    /// Number of requests allowed.
    pub limit: Option<String>,
}

/// OpenAPI validation policy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OasValidation {
    pub request_enabled: Option<bool>,
    pub response_enabled: Option<bool>,
    pub allow_unspecified_headers: Option<bool>,
    pub allow_unspecified_query_params: Option<bool>,
    pub allow_unspecified_cookies: Option<bool>,
}

/// Cross-origin resource sharing policy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    /// Apply CORS (default false).
    pub enabled: Option<bool>,
    /// Allow credentials (default false).
    pub allow_credentials: Option<bool>,
    /// Comma-separated allowed origins (default `*`).
    pub allow_origins: Option<String>,
    /// Preflight request handling.
    pub handle_preflight_requests: Option<PreflightRequests>,
}

/// CORS preflight handling.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightRequests {
    /// Answer preflight requests (default true).
    pub enabled: Option<bool>,
    /// Comma-separated allowed headers.
    pub allow_headers: Option<String>,
    /// Comma-separated allowed methods.
    pub allow_methods: Option<String>,
    /// How long a preflight answer may be cached, in seconds (default 1800).
    pub max_age: Option<i64>,
}

/// Status of an ExposedAPI. `apiStatus` and `implementation` keep the shape other Canvas parts read.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ExposedApiStatus {
    /// Where the API is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_status: Option<ApiStatus>,
    /// Readiness of the implementation Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<ImplementationStatus>,
    /// Conditions; `Ready` summarises the API with a reason from a closed set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// On a CRD without a status subresource (the Canvas's), where every status write bumps
    /// `metadata.generation`: the sha256 of the spec this status describes, in place of an
    /// `observedGeneration` that could never catch up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_spec_hash: Option<String>,
    /// What was last sent to Azure API Management (`ROUTE_BACKEND=AzureAPIM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apim: Option<ApimStatus>,
}

/// The APIM API an ExposedAPI created, as last written: deletion uses this id, never a recomputed
/// one. No secret and no document goes here.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApimStatus {
    /// The API id in the APIM instance.
    pub api_id: String,
    /// The API's ETag after the last write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// sha256 of the API body sent (and the api-version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// sha256 of the policy sent (and the api-version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_fingerprint: Option<String>,
    /// The policy's ETag after the last write: a policy edited in the portal changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_etag: Option<String>,
    /// sha256 of the properties the operator owns as APIM shows them after the last write: the
    /// drift sweep compares each page of APIM's list of APIs with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<String>,
    /// The backend URL APIM forwards to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
}

/// Where an API is published.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiStatus {
    /// Name of the ExposedAPI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// uid of the route object (VirtualService or HTTPRoute) publishing the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `spec.path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `spec.port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// `spec.implementation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// External URL of the API; set once the ingress gateway has an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// External URL of the developer UI.
    #[serde(rename = "developerUI", default, skip_serializing_if = "Option::is_none")]
    pub developer_ui: Option<String>,
    /// Address of the ingress gateway (an IP, or a host name when the load balancer has only that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Readiness of the implementation.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImplementationStatus {
    /// True while any endpoint of the implementation Service is ready.
    pub ready: bool,
}

impl ExposedAPI {
    /// The Component this API belongs to, from the label the Component operator sets.
    pub fn component_name(&self) -> Option<&str> {
        self.metadata.labels.as_ref()?.get(COMPONENT_LABEL).map(String::as_str)
    }
}

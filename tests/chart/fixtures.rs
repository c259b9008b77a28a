//! The chart's files and values, and what the tests expect of the env of its Deployment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use oda_api_operator::config::RunConfig;
use serde_json::{Value, json};

pub const RELEASE: &str = "oda-api-operator";
pub const NAMESPACE: &str = "oda-api-operator";

/// `RunConfig` variables the chart deliberately does not set, and why.
pub const NOT_IN_CHART: &[(&str, &str)] = &[
    ("COMPONENT_NAMESPACES_CLI", "the reference chart's `-n a -n b` form; config.componentNamespace takes lists"),
    ("INGRESS_CLASS", "accepted and ignored, as in the reference"),
    ("CICD_BUILD_TIME", "build metadata: a build argument of the Dockerfile, baked into the image"),
    ("GIT_COMMIT_SHA", "build metadata: a build argument of the Dockerfile, baked into the image"),
    // Injected by the Azure workload identity webhook (with AZURE_CLIENT_ID and AZURE_TENANT_ID).
    ("AZURE_FEDERATED_TOKEN_FILE", "injected by the Azure workload identity webhook"),
    ("AZURE_AUTHORITY_HOST", "injected by the Azure workload identity webhook; the binary's default is Entra ID's"),
    ("AZURE_IMDS_ENDPOINT", "a test seam: the instance metadata service has one address"),
    ("AZURE_ALLOW_INSECURE_ENDPOINTS", "tests and the local stand-in only"),
];

/// Variables the chart sets that are not flags: read by the operator from its environment.
pub const EXTRA_ENV: &[&str] = &["POD_NAMESPACE", "AZURE_CLIENT_SECRET"];

/// Variables rendered only when their value is set: `run` would take an empty
/// APIOPERATORISTIO_INGRESS_NAMESPACE for the namespace `""`. GATEWAY_SECTION_NAME likewise.
pub const OPTIONAL_ENV: &[&str] = &[
    "APIOPERATORISTIO_PUBLICHOSTNAME",
    "APIOPERATORISTIO_INGRESS_NAMESPACE",
    "GATEWAY_SECTION_NAME",
    "JWT_ISSUER",
    "JWT_JWKS_URI",
    "JWT_AUDIENCES",
    // Only with routeBackend AzureAPIM.
    "APIM_CONFIG_SOURCE",
    "APIM_SUBSCRIPTION_ID",
    "APIM_RESOURCE_GROUP",
    "APIM_SERVICE_NAME",
    "KEY_VAULT_URL",
    "KEY_VAULT_API_VERSION",
    "APIM_API_VERSION",
    "APIM_GATEWAY_URL",
    "APIM_BACKEND_BASE_URL",
    "APIM_INGRESS_CLASS",
    "APIM_API_ID_PREFIX",
    "APIM_JWT_MODE",
    "APIM_IMPORT_MODE",
    "APIM_JWT_OPENID_CONFIG_URL",
    "APIM_JWT_AUDIENCES",
    "APIM_JWT_ISSUERS",
    "APIM_OIDC_PROVIDER_ID",
    "APIM_OIDC_METADATA_URL",
    "APIM_OIDC_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "ARM_ENDPOINT",
    "ARM_SCOPE",
    "APIM_LRO_TIMEOUT_SECS",
    "APIM_LRO_POLL_SECS",
    "APIM_RESYNC_SECS",
    "APIM_POLICY_RESYNC_SECS",
];

/// Chart defaults that differ from the binary's, on purpose.
pub const CHART_DEFAULTS: &[(&str, &str)] = &[
    // The gateway the Canvas chart installs (the binary keeps the reference's bare name).
    ("APIOPERATORISTIO_COMPONENTGATEWAY", "canvas/component-gateway"),
    // Two replicas, one leader.
    ("LEADER_ELECTION", "true"),
];

/// `oda-api-operator run`'s configuration, as its binary parses it.
#[derive(Parser, Debug)]
pub struct Run {
    #[command(flatten)]
    pub config: RunConfig,
}

// --- files -----------------------------------------------------------------------------------

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(path: impl AsRef<Path>) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

pub fn default_values() -> Value {
    let docs = yaml_documents(&read("charts/oda-api-operator/values.yaml"), "values.yaml");
    assert_eq!(docs.len(), 1, "values.yaml is one document");
    docs.into_iter().next().unwrap()
}

pub fn schema() -> Value {
    serde_json::from_str(&read("charts/oda-api-operator/values.schema.json")).expect("values.schema.json is JSON")
}

/// `helm --set`-like overlay: maps merge, anything else replaces.
pub fn merged(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged_v = match b.get(k) {
                    Some(bv) => merged(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged_v);
            }
            Value::Object(out)
        }
        _ => overlay.clone(),
    }
}

// --- values and env --------------------------------------------------------------------------

/// Every environment variable `oda-api-operator run` reads through its flags.
pub fn run_config_env() -> BTreeSet<String> {
    Run::command().get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect()
}

pub fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

/// The env variables the chart renders when every optional value is set.
pub fn all_set_values() -> Value {
    merged(
        &default_values(),
        &json!({ "config": {
            "publicHostname": "apis.example.com", "ingressNamespace": "istio-ingress", "gatewaySectionName": "http",
            "jwtIssuer": "https://idp.example.com/realms/odari", "jwtJwksUri": "https://idp.example.com/certs",
            "jwtAudiences": "a,b", "routeBackend": "AzureAPIM", "apimSubscriptionId": "sub",
            "apimResourceGroup": "rg", "apimServiceName": "apim", "keyVaultUrl": "https://v.vault.azure.net",
            "apimGatewayUrl": "https://apim.azure-api.net", "apimBackendBaseUrl": "https://mesh.internal",
            "apimJwtOpenidConfigUrl": "https://idp.example.com/.well-known/openid-configuration",
            "apimJwtAudiences": "a", "apimJwtIssuers": "i", "apimOidcProviderId": "entra",
            "apimOidcMetadataUrl": "https://idp.example.com/meta", "apimOidcClientId": "portal",
            "azureTenantId": "t", "azureClientId": "c"
        }, "azureClientSecret": { "name": "operator-azure" } }),
    )
}

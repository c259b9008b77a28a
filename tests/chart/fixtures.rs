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
    // The APIM backend is `render` only until its Azure side exists (`run` refuses it).
    ("APIM_SUBSCRIPTION_ID", APIM),
    ("APIM_RESOURCE_GROUP", APIM),
    ("APIM_SERVICE_NAME", APIM),
    ("APIM_API_VERSION", APIM),
    ("APIM_GATEWAY_URL", APIM),
    ("APIM_BACKEND_BASE_URL", APIM),
    ("APIM_INGRESS_CLASS", APIM),
    ("APIM_API_ID_PREFIX", APIM),
    ("APIM_JWT_MODE", APIM),
    ("APIM_JWT_OPENID_CONFIG_URL", APIM),
    ("APIM_JWT_AUDIENCES", APIM),
    ("APIM_JWT_ISSUERS", APIM),
];

const APIM: &str = "the Azure APIM backend is render-only so far; the chart gains its settings with its Azure side";

/// Variables the chart sets that are not flags: read by the operator from its environment.
pub const EXTRA_ENV: &[&str] = &["POD_NAMESPACE"];

/// Variables rendered only when their value is set: `run` would take an empty
/// APIOPERATORISTIO_INGRESS_NAMESPACE for the namespace `""`. GATEWAY_SECTION_NAME likewise.
pub const OPTIONAL_ENV: &[&str] = &[
    "APIOPERATORISTIO_PUBLICHOSTNAME",
    "APIOPERATORISTIO_INGRESS_NAMESPACE",
    "GATEWAY_SECTION_NAME",
    "JWT_ISSUER",
    "JWT_JWKS_URI",
    "JWT_AUDIENCES",
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
            "jwtAudiences": "a,b"
        } }),
    )
}

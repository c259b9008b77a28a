//! The ExposedAPI CustomResourceDefinition, generated from the Rust types.
//!
//! `v1` is the storage version and comes straight from [`ExposedAPI`]. `v1beta3` and `v1beta4`
//! stay served with their own, older schemas, as in the Canvas CRD; they are derived from the `v1`
//! schema here instead of duplicating the types, because the operator only ever reads `v1`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::{Value, json};

use crate::exposed_api::{ApiType, ExposedAPI};

/// Spec fields the Canvas CRD requires in every version.
const REQUIRED_SPEC_FIELDS: [&str; 5] = ["name", "apiType", "implementation", "path", "port"];

const DESCRIPTION: &str = "An API exposed by an ODA Component. The API operator publishes it \
through the service mesh, configures metrics scraping for metrics APIs and reports its URL and \
readiness in the status.";

/// Errors building the CRD; they mean the Rust types and this module disagree (a bug).
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("generated CRD has no {0}: the ExposedAPI types and crd.rs disagree")]
    Shape(&'static str),
    #[error("generated CRD does not round-trip: {0}")]
    Serde(#[from] serde_json::Error),
    #[error("cannot encode the CRD as YAML: {0}")]
    Yaml(String),
}

/// The complete multi-version ExposedAPI CRD.
pub fn exposed_api_crd() -> Result<CustomResourceDefinition, CrdError> {
    let mut crd = serde_json::to_value(ExposedAPI::crd())?;
    let versions =
        crd.pointer_mut("/spec/versions").and_then(Value::as_array_mut).ok_or(CrdError::Shape("spec.versions"))?;
    let mut v1 = versions.pop().ok_or(CrdError::Shape("v1 version"))?;
    *v1.pointer_mut("/schema/openAPIV3Schema/description").ok_or(CrdError::Shape("root schema"))? = json!(DESCRIPTION);
    spec_schema(&mut v1)?["required"] = json!(REQUIRED_SPEC_FIELDS);
    // Optional enums derive with a `null` member; the Canvas CRD lists only the values.
    let properties = spec_properties(&mut v1)?;
    properties["apiType"]["enum"] = json!(ApiType::ALL.map(ApiType::as_str));
    properties["segment"]["enum"] = json!(["coreFunction", "managementFunction", "securityFunction"]);

    let mut v1beta4 = older_version(&v1, "v1beta4")?;
    spec_properties(&mut v1beta4)?["specification"] = json!({
        "description": "The API specifications this API implements.",
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "URL of the specification document."},
                "version": {"type": "string", "description": "Version of the specification."}
            }
        }
    });
    let mut v1beta3 = older_version(&v1beta4, "v1beta3")?;
    spec_properties(&mut v1beta3)?["specification"] = json!({
        "description": "URLs of the API specifications this API implements.",
        "type": "array",
        "minItems": 1,
        "items": {"type": "string"}
    });

    *versions = vec![v1beta3, v1beta4, v1];
    Ok(serde_json::from_value(crd)?)
}

/// The CRD as YAML, as `oda-api-operator crd` prints it and `deploy/crds/` holds it.
pub fn exposed_api_crd_yaml() -> Result<String, CrdError> {
    let crd = exposed_api_crd()?;
    serde_saphyr::to_string(&crd).map_err(|e| CrdError::Yaml(e.to_string()))
}

/// A served, non-storage copy of `v1` with the v1beta `apiType` enum and without `segment`.
fn older_version(from: &Value, name: &str) -> Result<Value, CrdError> {
    let mut version = from.clone();
    version["name"] = json!(name);
    version["storage"] = json!(false);
    let properties = spec_properties(&mut version)?;
    properties["apiType"]["enum"] = json!(["openapi", "prometheus"]);
    if let Some(map) = properties.as_object_mut() {
        map.remove("segment");
    }
    Ok(version)
}

fn spec_schema(version: &mut Value) -> Result<&mut Value, CrdError> {
    version.pointer_mut("/schema/openAPIV3Schema/properties/spec").ok_or(CrdError::Shape("spec schema"))
}

fn spec_properties(version: &mut Value) -> Result<&mut Value, CrdError> {
    spec_schema(version)?.get_mut("properties").ok_or(CrdError::Shape("spec properties"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(crd: &CustomResourceDefinition, name: &str) -> Value {
        let v = crd.spec.versions.iter().find(|v| v.name == name).unwrap();
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn serves_three_versions_with_v1_as_storage() {
        let crd = exposed_api_crd().unwrap();
        let names: Vec<_> = crd.spec.versions.iter().map(|v| (v.name.as_str(), v.storage)).collect();
        assert_eq!(names, [("v1beta3", false), ("v1beta4", false), ("v1", true)]);
        assert!(crd.spec.versions.iter().all(|v| v.served));
        assert_eq!(crd.metadata.name.as_deref(), Some("exposedapis.oda.tmforum.org"));
    }

    #[test]
    fn versions_keep_their_own_specification_and_api_types() {
        let crd = exposed_api_crd().unwrap();
        let spec = "/schema/openAPIV3Schema/properties/spec/properties";
        let v1 = version(&crd, "v1");
        assert_eq!(v1.pointer(&format!("{spec}/specification/type")), Some(&json!("object")));
        assert_eq!(
            v1.pointer(&format!("{spec}/apiType/enum")),
            Some(&json!(["openapi", "prometheus", "openmetrics", "mcp"]))
        );
        assert!(v1.pointer(&format!("{spec}/segment")).is_some());
        let v4 = version(&crd, "v1beta4");
        assert_eq!(v4.pointer(&format!("{spec}/specification/items/type")), Some(&json!("object")));
        assert!(v4.pointer(&format!("{spec}/segment")).is_none());
        let v3 = version(&crd, "v1beta3");
        assert_eq!(v3.pointer(&format!("{spec}/specification/items/type")), Some(&json!("string")));
        assert_eq!(v3.pointer(&format!("{spec}/apiType/enum")), Some(&json!(["openapi", "prometheus"])));
    }

    #[test]
    fn spec_keeps_unknown_fields_and_requires_the_canvas_fields() {
        let crd = exposed_api_crd().unwrap();
        let v1 = version(&crd, "v1");
        let spec = v1.pointer("/schema/openAPIV3Schema/properties/spec").unwrap();
        assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], json!(true));
        assert_eq!(spec["required"], json!(REQUIRED_SPEC_FIELDS));
        let columns: Vec<_> = v1["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(columns, ["URL", "READY", "REASON", "AGE"]);
    }

    #[test]
    fn committed_crd_matches_the_types() {
        let committed = include_str!("../deploy/crds/exposedapis.oda.tmforum.org.yaml");
        let generated = exposed_api_crd_yaml().unwrap();
        assert!(
            committed == generated,
            "deploy/crds/exposedapis.oda.tmforum.org.yaml is stale: run \
             `cargo run -- crd > deploy/crds/exposedapis.oda.tmforum.org.yaml`"
        );
        let parsed: CustomResourceDefinition = serde_saphyr::from_str(committed).unwrap();
        assert_eq!(parsed, exposed_api_crd().unwrap());
    }
}

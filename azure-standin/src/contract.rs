//! Microsoft's published REST contract, enforced on every ARM request: the operation is found by
//! the spec's path templates, then its path, query and header parameters and its body are
//! validated by a JSON-schema validator over the spec's own definitions (`spec/`, copied verbatim
//! with provenance in spec/SOURCES.md), `$ref`s resolved between the files as upstream. What a
//! schema cannot say (ids unique, ETags current) stays with the handlers in `arm.rs`.
//!
//! Two readings turn Swagger 2.0 into what a request must satisfy, as ARM applies them: a
//! `readOnly` property is the service's to set, so a request carrying one is refused; and an
//! object lists all it accepts, so an unknown property is refused (`unevaluatedProperties`, so that
//! `allOf` compositions still see each other's properties). `format` (e.g. uuid) is not checked.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jsonschema::{Registry, Validator};
use serde_json::{Value, json};

#[path = "contract_schema.rs"]
mod schema;
use schema::{allof_targets, for_requests, rebase, resolve};

/// The spec files, under the upstream paths their `$ref`s are relative to.
const FILES: &[(&str, &str)] = &[
    (
        APIS,
        include_str!(
            "../spec/specification/apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimapis.json"
        ),
    ),
    (
        "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimanagement.json",
        include_str!(
            "../spec/specification/apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimanagement.json"
        ),
    ),
    (
        "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimdeployment.json",
        include_str!(
            "../spec/specification/apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimdeployment.json"
        ),
    ),
    (
        "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimopenidconnectproviders.json",
        include_str!(
            "../spec/specification/apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimopenidconnectproviders.json"
        ),
    ),
    (
        "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/definitions.json",
        include_str!(
            "../spec/specification/apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/definitions.json"
        ),
    ),
    (
        "common-types/resource-management/v5/types.json",
        include_str!("../spec/specification/common-types/resource-management/v5/types.json"),
    ),
    (
        "common-types/resource-management/v2/types.json",
        include_str!("../spec/specification/common-types/resource-management/v2/types.json"),
    ),
];
const APIS: &str = "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimapis.json";
/// The files whose `paths` are operations the stand-in serves.
const OPERATION_FILES: &[&str] = &[
    APIS,
    "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimdeployment.json",
    "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimopenidconnectproviders.json",
];
const BASE: &str = "file:///spec/";

/// A request the contract refuses: ARM's status, error code, the element at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub status: u16,
    pub code: &'static str,
    pub target: String,
    pub message: String,
}

impl Violation {
    fn invalid(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status: 400, code: "ValidationError", target: target.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
    Header,
}

struct Param {
    name: String,
    location: Location,
    required: bool,
    /// The declared `type`: query and path values arrive as text and are read as this.
    kind: String,
    schema: Validator,
}

struct Operation {
    method: String,
    template: Vec<String>,
    api_version: String,
    params: Vec<Param>,
    /// The body's validator and whether a body is required.
    body: Option<(Validator, bool)>,
}

/// The operations of the spec extracts, ready to validate requests.
pub struct Contract {
    operations: Vec<Operation>,
}

/// The contract, built once (the spec files are compiled in; a failure is a bug in `spec/`).
pub fn contract() -> Result<&'static Contract, String> {
    static CONTRACT: OnceLock<Result<Contract, String>> = OnceLock::new();
    CONTRACT.get_or_init(Contract::load).as_ref().map_err(Clone::clone)
}

impl Contract {
    fn load() -> Result<Self, String> {
        let mut documents = BTreeMap::new();
        for (path, text) in FILES {
            let value: Value = serde_json::from_str(text).map_err(|e| format!("spec/{path}: {e}"))?;
            documents.insert((*path).to_owned(), value);
        }
        let composed = allof_targets(&documents);
        let registry = Registry::new()
            .extend(documents.iter().map(|(path, doc)| (format!("{BASE}{path}"), for_requests(doc.clone(), &composed))))
            .and_then(|r| r.prepare())
            .map_err(|e| format!("spec registry: {e}"))?;
        let registry: &'static Registry<'static> = Box::leak(Box::new(registry));
        let mut operations = Vec::new();
        for file in OPERATION_FILES {
            let doc = &documents[*file];
            let api_version = doc["info"]["version"].as_str().unwrap_or_default().to_owned();
            let Some(paths) = doc["paths"].as_object() else { continue };
            for (template, item) in paths {
                let Some(item) = item.as_object() else { continue };
                let shared = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                for (method, op) in item.iter().filter(|(m, _)| *m != "parameters") {
                    let mut all = shared.clone();
                    all.extend(op["parameters"].as_array().cloned().unwrap_or_default());
                    let mut params = Vec::new();
                    let mut body = None;
                    for raw in all {
                        let (param, origin) = resolve(&documents, file, &raw)?;
                        let required = param["required"].as_bool().unwrap_or(false);
                        let name = param["name"].as_str().unwrap_or_default().to_owned();
                        let location = match param["in"].as_str() {
                            Some("path") => Location::Path,
                            Some("query") => Location::Query,
                            Some("header") => Location::Header,
                            Some("body") => {
                                let schema = rebase(&param["schema"], &origin);
                                body = Some((build(registry, &schema)?, required));
                                continue;
                            }
                            other => return Err(format!("{file} {template}: parameter location {other:?}")),
                        };
                        let schema = build(registry, &parameter_schema(&param))?;
                        let kind = param["type"].as_str().unwrap_or("string").to_owned();
                        params.push(Param { name, location, required, kind, schema });
                    }
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.trim_start_matches('/').split('/').map(String::from).collect(),
                        api_version: api_version.clone(),
                        params,
                        body,
                    });
                }
            }
        }
        Ok(Self { operations })
    }

    /// `Ok` when the request conforms to the operation its method and path name; `Ok(false)`
    /// when no operation of the extracts has this path (the caller answers it or says 404).
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: &BTreeMap<String, String>,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Result<bool, Violation> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let matching: Vec<(&Operation, BTreeMap<&str, &str>)> =
            self.operations.iter().filter_map(|op| op.bind(&segments).map(|b| (op, b))).collect();
        if matching.is_empty() {
            return Ok(false);
        }
        let Some((op, bound)) = matching.iter().find(|(op, _)| op.method == method) else {
            return Err(Violation {
                status: 405,
                code: "MethodNotAllowed",
                target: path.into(),
                message: format!("The requested resource does not support http method '{method}'."),
            });
        };
        match query.get("api-version") {
            None => {
                return Err(Violation {
                    status: 400,
                    code: "MissingApiVersionParameter",
                    target: "api-version".into(),
                    message: "The api-version query parameter (?api-version=) is required for all requests.".into(),
                });
            }
            Some(v) if *v != op.api_version => {
                return Err(Violation {
                    status: 400,
                    code: "InvalidApiVersionParameter",
                    target: "api-version".into(),
                    message: format!(
                        "The api-version '{v}' is invalid. The supported versions are '{}'.",
                        op.api_version
                    ),
                });
            }
            Some(_) => {}
        }
        for param in &op.params {
            let value = match param.location {
                Location::Path => bound.get(param.name.as_str()).map(|v| (*v).to_owned()),
                Location::Query => query.get(&param.name).cloned(),
                Location::Header => header(&param.name),
            };
            let Some(value) = value else {
                if param.required {
                    return Err(Violation::invalid(&param.name, format!("The {} parameter is required.", param.name)));
                }
                continue;
            };
            let instance = typed(&value, &param.kind);
            if let Some(error) = param.schema.iter_errors(&instance).next() {
                return Err(Violation::invalid(&param.name, format!("'{value}': {error}")));
            }
        }
        if let Some((schema, required)) = &op.body {
            if body.iter().all(u8::is_ascii_whitespace) {
                return match required {
                    true => Err(Violation::invalid("parameters", "The request body is required.")),
                    false => Ok(true),
                };
            }
            let instance: Value = serde_json::from_slice(body)
                .map_err(|e| Violation::invalid("parameters", format!("The request body is not valid JSON: {e}")))?;
            let errors: Vec<String> =
                schema.iter_errors(&instance).map(|e| format!("{}: {e}", target(e.instance_path().as_str()))).collect();
            if let Some(first) = errors.first() {
                let at = first.split(':').next().unwrap_or_default().to_owned();
                return Err(Violation::invalid(at, errors.join("; ")));
            }
        }
        Ok(true)
    }
}

impl Operation {
    /// The path parameters when `segments` fit the template (literals exact, `{name}` one segment).
    fn bind<'a>(&'a self, segments: &[&'a str]) -> Option<BTreeMap<&'a str, &'a str>> {
        (segments.len() == self.template.len()).then_some(())?;
        let mut bound = BTreeMap::new();
        for (t, s) in self.template.iter().zip(segments) {
            match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(name) if !s.is_empty() => {
                    bound.insert(name, *s);
                }
                Some(_) => return None,
                None if t == s => {}
                None => return None,
            }
        }
        Some(bound)
    }
}

fn target(pointer: &str) -> String {
    let path = pointer.trim_start_matches('/').replace('/', ".");
    if path.is_empty() { "parameters".into() } else { path }
}

/// A parameter's value as the type its schema declares (query and path values arrive as text); a
/// text that is not of that type stays text, for the schema to refuse.
fn typed(value: &str, kind: &str) -> Value {
    match (kind, value) {
        ("boolean", "true") => json!(true),
        ("boolean", "false") => json!(false),
        ("integer", _) => value.parse::<i64>().map_or_else(|_| json!(value), |n| json!(n)),
        _ => json!(value),
    }
}

/// The schema keywords of a non-body parameter (Swagger puts them on the parameter itself).
fn parameter_schema(param: &Value) -> Value {
    let mut schema = serde_json::Map::new();
    for key in ["type", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum"] {
        if let Some(v) = param.get(key) {
            schema.insert(key.into(), v.clone());
        }
    }
    // Query and path values are text; a boolean parameter arrives as "true"/"false".
    if schema.get("type") == Some(&json!("boolean")) {
        schema.insert("type".into(), json!(["boolean"]));
    }
    Value::Object(schema)
}

fn build(registry: &'static Registry<'static>, schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_registry(registry)
        .with_base_uri(format!("{BASE}{APIS}"))
        .build(schema)
        .map_err(|e| format!("spec schema {schema}: {e}"))
}

#[cfg(test)]
#[path = "contract_tests.rs"]
mod tests;

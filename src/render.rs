//! `oda-api-operator render`: the offline preview of what the operator would create for a set of
//! ExposedAPIs, for GitOps review. It uses the same pure core as the controller.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::backend::apim::{ApimBackend, import, specification_url};
use crate::backend::plan::{Desired, GatewayFacts, plan, policy_target};
use crate::backend::policy_engine::{Observed, PolicyEngine};
use crate::backend::route::RouteState;
use crate::backend::scrape::Scraper;
use crate::backend::scrape::annotations::desired_annotations;
use crate::backend::{Backends, Installed};
use crate::config::{OperatorConfig, RouteBackend};
use crate::core::gateway_address::{GatewayAddress, IngressPort, Scheme};
use crate::core::gateway_class::Enforcer;
use crate::core::policy;
use crate::core::status::{Outcome, desired_status};
use crate::core::url::published_url;
use crate::core::validation::{ValidApi, validate};
use crate::exposed_api::ExposedAPI;

/// Why input could not be rendered. Each names the document and, for spec problems, the field.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("input is not valid YAML: {0}")]
    Yaml(String),
    #[error("{document}: {problem}")]
    Document { document: String, problem: String },
}

/// What stands in for the cluster when rendering offline.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Address of the ingress gateway (an IP or a host name); no URL is computed without one,
    /// unless a public host name is configured.
    pub ingress_address: Option<String>,
    /// Port of the gateway's `http2` listener.
    pub ingress_port: u16,
    /// Namespace of documents that carry none.
    pub namespace: String,
    /// Also print the status the operator would write.
    pub with_status: bool,
}

/// Renders every ExposedAPI of a multi-document YAML stream. Fails on the first invalid document,
/// reporting all of its problems.
pub fn render(input: &str, config: &OperatorConfig, options: &RenderOptions) -> Result<String, RenderError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(input).map_err(|e| RenderError::Yaml(e.to_string()))?;
    let backends = Backends::new(config, Installed::ALL);
    let gateway = offline_gateway(config, options);
    let mut out = String::new();
    for (index, document) in documents.iter().enumerate() {
        if document.is_null() {
            continue;
        }
        let api = parse_document(index, document)?;
        let valid = validate(&api, &options.namespace)
            .map_err(|e| RenderError::Document { document: describe(index, document), problem: e.to_string() })?;
        let apim = (config.route_backend == RouteBackend::AzureApim).then(|| ApimBackend::new(&config.apim));
        // The operator's own plan. Offline no GatewayClass is read: objects and conditions as for
        // an unknown class (Istio's engine); APIM verifies API keys itself (subscription keys).
        let engine = backends.engine_for(None).map(|e| e.as_ref()).filter(|_| apim.is_none());
        let facts = GatewayFacts { class: None, enforcer: &Enforcer::Unknown, engine, external: apim.is_some() };
        let desired = plan(&valid, &api.spec, (config, &backends), facts).map_err(defect)?;
        let api_keys = desired.api_keys.as_ref();
        for object in children(&valid, &backends, engine, &desired)? {
            push_document(&mut out, &object)?;
        }
        if let Some(apim) = &apim {
            for request in apim_requests(apim, &valid, &api, options)? {
                push_document(&mut out, &request)?;
            }
        }
        if options.with_status {
            // Offline there is no route status and no endpoint to see: `apiStatus` is shown, with the
            // conditions of requested policies no backend enforces.
            let url = published_url(&valid, gateway.as_ref());
            let applied = Outcome::Applied { api: &valid, route_uid: None, route: RouteState::Accepted };
            let (api_status, _, _) = desired_status(&applied, url.as_ref(), false, None);
            let mut status = json!({
                "apiVersion": "oda.tmforum.org/v1",
                "kind": "ExposedAPI",
                "metadata": {"name": valid.name, "namespace": valid.namespace},
                "status": {"apiStatus": api_status},
            });
            // Behind APIM the public URL is the APIM gateway's (`APIM_GATEWAY_URL`), not the mesh's.
            if let Some(apim) = &apim {
                status["status"]["apiStatus"]["url"] = json!(apim.public_url(&valid));
            }
            // The policy conditions depend on the spec alone, so they are known offline, as once
            // every object is in place (the APIM backend's come with its Azure side).
            let kind = backends.route.resource().kind;
            let conditions = match engine {
                Some(engine) => {
                    let route_name = backends.route.object_name(&valid.name);
                    let target = policy_target(config, &valid.namespace, (&kind, &route_name), None);
                    let observed: Vec<Observed<'_>> = desired
                        .engine
                        .iter()
                        .map(|o| Observed { desired: o, current: Some(o), failure: None })
                        .collect();
                    engine.verdict(&api.spec, &valid, &target, &config.policy, &observed).conditions
                }
                None => {
                    let facts = policy::PolicyFacts::offline(&kind, config.policy.rate_limit_per_client, api_keys);
                    policy::conditions(&api.spec, &facts)
                }
            };
            let policies: Vec<Value> = conditions
                .iter()
                .map(|c| {
                    let status = if c.status { "True" } else { "False" };
                    json!({"type": c.type_, "status": status, "reason": c.reason, "message": c.message})
                })
                .collect();
            if !policies.is_empty() && apim.is_none() {
                status["status"]["conditions"] = Value::Array(policies);
            }
            push_document(&mut out, &status)?;
        }
    }
    Ok(out)
}

/// The objects the operator writes for one API, in the order it writes them: scraping, the
/// gateway policies (each shared object with the first API needing it), the route; no route when
/// API keys are asked for and cannot be enforced with `FailClosed`.
fn children(
    api: &ValidApi,
    backends: &Backends,
    engine: Option<&dyn PolicyEngine>,
    desired: &Desired,
) -> Result<Vec<Value>, RenderError> {
    let mut objects = Vec::new();
    objects.extend(desired.monitor.as_ref().map(encode).transpose()?);
    // Pods are only known in a cluster: show the annotations every selected pod gets.
    if let (true, Scraper::Annotations(mode)) = (api.api_type.is_metrics(), backends.scraper) {
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("<each pod selected by Service {}>", api.implementation),
                "namespace": api.namespace,
                "annotations": desired_annotations(mode, api, "<first-container>"),
            }
        }));
    }
    for object in &desired.engine {
        let shared = engine.map(|e| e.shared(object)).transpose().map_err(defect)?.flatten();
        objects.extend(shared.as_ref().map(encode).transpose()?);
        objects.push(encode(object)?);
    }
    if desired.withheld.is_none() {
        objects.push(encode(&desired.route)?);
    }
    Ok(objects)
}

/// The APIM management requests of an API: the API and its policy, as `PUT`s with their bodies.
fn apim_requests(
    apim: &ApimBackend,
    valid: &ValidApi,
    api: &ExposedAPI,
    options: &RenderOptions,
) -> Result<Vec<Value>, RenderError> {
    // As in the cluster: the base URL setting wins, else the Ingress's address (here the flag's).
    let ingress = options.ingress_address.as_deref().map(|address| ApimBackend::ingress_url(address, &valid.path));
    let service_url = if apim.backend_url(&valid.path).is_some() { None } else { ingress };
    // Offline the document is not read: the format by its name, which the operator replaces
    // with what the document's content says.
    let import = specification_url(&api.spec)
        .map(|url| import::guess(&url))
        .unwrap_or(import::Import { format: "openapi+json-link", value: String::new() });
    let desired = apim.desired(valid, &api.spec, service_url, &import).map_err(|e| RenderError::Document {
        document: format!("ExposedAPI {}", valid.name),
        problem: e.to_string(),
    })?;
    let service =
        apim.config.service_path().unwrap_or_else(|| "<APIM_SUBSCRIPTION_ID/RESOURCE_GROUP/SERVICE_NAME>".into());
    let version = &apim.config.apim_api_version;
    let url = |suffix: &str| format!("{service}/apis/{}{suffix}?api-version={version}", desired.api_id);
    Ok(vec![
        json!({"kind": "APIMRequest", "method": "PUT", "url": url(""), "body": desired.api}),
        json!({"kind": "APIMRequest", "method": "PUT", "url": url("/policies/policy"), "body": desired.policy}),
    ])
}

fn encode(object: &kube::core::DynamicObject) -> Result<Value, RenderError> {
    serde_json::to_value(object).map_err(|e| RenderError::Yaml(e.to_string()))
}

fn defect(e: crate::backend::BuildError) -> RenderError {
    RenderError::Yaml(e.to_string())
}

/// The gateway as the flags describe it; a configured public host name wins, as in the cluster.
fn offline_gateway(config: &OperatorConfig, options: &RenderOptions) -> Option<GatewayAddress> {
    let address = config.public_hostname().or(options.ingress_address.as_deref())?;
    let ports = vec![IngressPort { name: Some("http2".into()), port: i32::from(options.ingress_port) }];
    // No Istio Gateway or listener is known offline: the controller's default then, the reference's.
    Some(GatewayAddress { target: None, ports, scheme: Scheme::Reference }.with_public_hostname(address))
}

fn parse_document(index: usize, document: &Value) -> Result<ExposedAPI, RenderError> {
    let problem = |problem: String| RenderError::Document { document: describe(index, document), problem };
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "ExposedAPI" {
        return Err(problem(format!("kind is {kind:?}, expected \"ExposedAPI\"")));
    }
    let api_version = document.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != "oda.tmforum.org/v1" {
        return Err(problem(format!("apiVersion is {api_version:?}, expected \"oda.tmforum.org/v1\"")));
    }
    serde_path_to_error::deserialize(document).map_err(|e| problem(format!("{}: {}", e.path(), e.inner())))
}

fn describe(index: usize, document: &Value) -> String {
    let name = document.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>");
    format!("document {} (ExposedAPI {name})", index + 1)
}

fn push_document(out: &mut String, value: &impl serde::Serialize) -> Result<(), RenderError> {
    let yaml = serde_saphyr::to_string(value).map_err(|e| RenderError::Yaml(e.to_string()))?;
    let _ = write!(out, "---\n{yaml}");
    Ok(())
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;

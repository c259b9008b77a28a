//! `oda-api-operator render`: the offline preview of what the operator would create for a set of
//! ExposedAPIs, for GitOps review. It uses the same pure core as the controller.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::api_url::published_url;
use crate::config::{OpenMetricsImplementation, OperatorConfig};
use crate::exposed_api::ExposedAPI;
use crate::gateway_address::{GatewayAddress, IngressPort};
use crate::output::Output;
use crate::pod_annotations::desired_annotations;
use crate::service_monitor::ServiceMonitorOutput;
use crate::validation::{ValidApi, validate};
use crate::virtual_service::VirtualServiceOutput;

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
    let gateway = offline_gateway(config, options);
    let mut out = String::new();
    for (index, document) in documents.iter().enumerate() {
        if document.is_null() {
            continue;
        }
        let api = parse_document(index, document)?;
        let valid = validate(&api, &options.namespace)
            .map_err(|e| RenderError::Document { document: describe(index, document), problem: e.to_string() })?;
        for object in children(&valid, config) {
            push_document(&mut out, &object)?;
        }
        if options.with_status {
            let url = published_url(&valid, gateway.as_ref());
            let status = json!({
                "apiVersion": "oda.tmforum.org/v1",
                "kind": "ExposedAPI",
                "metadata": {"name": valid.name, "namespace": valid.namespace},
                "status": {"apiStatus": {
                    "name": valid.name,
                    "path": valid.path,
                    "port": valid.port,
                    "implementation": valid.implementation,
                    "url": url.as_ref().map(|u| &u.url),
                    "developerUI": url.as_ref().and_then(|u| u.developer_ui.as_ref()),
                    "ip": url.as_ref().and_then(|u| u.ip.as_ref()),
                }}
            });
            push_document(&mut out, &strip_nulls(status))?;
        }
    }
    Ok(out)
}

/// The objects the operator writes for one API, in the order it writes them.
fn children(api: &ValidApi, config: &OperatorConfig) -> Vec<Value> {
    let mut objects = Vec::new();
    if api.api_type.is_metrics() {
        match config.openmetrics_implementation {
            OpenMetricsImplementation::ServiceMonitor => {
                objects.extend(ServiceMonitorOutput.desired(api).and_then(|o| serde_json::to_value(o).ok()));
            }
            mode => {
                // Pods are only known in a cluster: show the annotations every selected pod gets.
                let annotations = desired_annotations(mode, api, "<first-container>");
                objects.push(json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": format!("<each pod selected by Service {}>", api.implementation),
                        "namespace": api.namespace,
                        "annotations": annotations,
                    }
                }));
            }
        }
    }
    let vs = VirtualServiceOutput::new(config).desired(api);
    objects.extend(vs.and_then(|o| serde_json::to_value(o).ok()));
    objects
}

/// The gateway as the flags describe it; a configured public host name wins, as in the cluster.
fn offline_gateway(config: &OperatorConfig, options: &RenderOptions) -> Option<GatewayAddress> {
    let address = config.public_hostname().or(options.ingress_address.as_deref())?;
    let ports = vec![IngressPort { name: Some("http2".into()), port: i32::from(options.ingress_port) }];
    Some(GatewayAddress { target: None, ports }.with_public_hostname(address))
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

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;

//! What Gateway API implementations report, read the same way for each of the test plane's
//! (istiod, Traefik, Envoy Gateway).

use kube::api::DynamicObject;
use kube::core::ApiResource;
use serde_json::Value;

use super::api_resource;

/// `gateway.networking.k8s.io/v1` GatewayClass (cluster-scoped).
pub fn gateway_class_resource() -> ApiResource {
    api_resource("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses")
}

/// `Programmed=True` (for the current generation) and `addr` among `status.addresses`.
pub fn programmed_at(gateway: &DynamicObject, addr: &str) -> bool {
    let generation = gateway.metadata.generation;
    let programmed =
        gateway.data.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
            c["type"] == "Programmed"
                && c["status"] == "True"
                && (generation.is_none() || c["observedGeneration"].as_i64() == generation)
        });
    let addressed = gateway
        .data
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|a| a["value"] == addr);
    programmed && addressed
}

/// The names in a GatewayClass' `status.supportedFeatures` (objects `{name}` since v1.2).
pub fn supported_features(class: &DynamicObject) -> Vec<String> {
    class
        .data
        .pointer("/status/supportedFeatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("name").and_then(Value::as_str).or_else(|| f.as_str()))
        .map(String::from)
        .collect()
}

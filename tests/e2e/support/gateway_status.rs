//! What Gateway API implementations report, read the same way for each of the test plane's
//! (istiod, Traefik, Envoy Gateway).

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::{TestNamespace, api_resource, create_strict, labels};

/// `gateway.networking.k8s.io/v1` GatewayClass (cluster-scoped).
pub fn gateway_class_resource() -> ApiResource {
    api_resource("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses")
}

/// The GatewayClass `name` as its implementation left it (with its `status`).
pub async fn read_gateway_class(client: kube::Client, name: &str) -> DynamicObject {
    Api::<DynamicObject>::all_with(client, &gateway_class_resource())
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("reading GatewayClass {name}: {e}"))
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

/// Creates the cluster-scoped GatewayClass `class` with `spec`, owned by the test's namespace so
/// that garbage collection removes it with the namespace.
pub async fn create_test_gateway_class(ns: &TestNamespace, class: &str, spec: Value, labels_: &[(&str, &str)]) {
    let namespace = Api::<Namespace>::all(ns.client())
        .get(ns.name())
        .await
        .unwrap_or_else(|e| panic!("reading namespace {}: {e}", ns.name()));
    let mut gateway_class = DynamicObject::new(class, &gateway_class_resource()).data(json!({ "spec": spec }));
    if !labels_.is_empty() {
        gateway_class.metadata.labels = Some(labels(labels_));
    }
    gateway_class.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        name: ns.name().to_owned(),
        uid: namespace.metadata.uid.clone().expect("the namespace's uid"),
        ..Default::default()
    }]);
    create_strict(&Api::<DynamicObject>::all_with(ns.client(), &gateway_class_resource()), &gateway_class).await;
}

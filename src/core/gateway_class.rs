//! What a Gateway API implementation says it supports: the `status.supportedFeatures` of the
//! GatewayClass of the Gateway a route attaches to (Gateway API v1.2+). An implementation accepts
//! a route with a filter it does not implement and then fails every request to it (Traefik v3.7
//! answers 500 to a route with a `CORS` filter), so a feature the class does not list is never
//! written, and the policy's condition says so. Likewise the Istio objects that enforce
//! `rateLimit` and `apiKeyVerification` are attached to the Gateway: an implementation other than
//! Istio accepts them (the API server does) and enforces nothing ([`Enforcer`]).

use std::collections::BTreeSet;

use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

pub use crate::config::{ENVOY_GATEWAY_CONTROLLER, ISTIO_GATEWAY_CONTROLLER};

/// Feature names of `supportedFeatures` for what a route may carry.
pub const HTTP_ROUTE_CORS: &str = "HTTPRouteCORS";
pub const HTTP_ROUTE_REQUEST_TIMEOUT: &str = "HTTPRouteRequestTimeout";
pub const HTTP_ROUTE_BACKEND_REQUEST_TIMEOUT: &str = "HTTPRouteBackendRequestTimeout";

/// The Gateway API `GatewayClass` kind (cluster-scoped).
pub fn gateway_class_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "GatewayClass");
    ApiResource::from_gvk_with_plural(&gvk, "gatewayclasses")
}

/// A GatewayClass as far as route features go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassFeatures {
    /// `spec.controllerName`: the implementation.
    pub controller: String,
    /// `status.supportedFeatures`; `None` when the class lists none (implementations before
    /// Gateway API v1.2, or a class not reconciled yet).
    pub supported: Option<BTreeSet<String>>,
}

impl ClassFeatures {
    /// Reads a GatewayClass. Features are objects `{name: …}` (v1.2+); plain strings are
    /// tolerated (as some implementations wrote them before the field settled).
    pub fn of(class: &Value) -> Self {
        let controller = class.pointer("/spec/controllerName").and_then(Value::as_str).unwrap_or_default().to_owned();
        let supported: BTreeSet<String> = class
            .pointer("/status/supportedFeatures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().or_else(|| f.get("name").and_then(Value::as_str)))
            .map(String::from)
            .collect();
        Self { controller, supported: (!supported.is_empty()).then_some(supported) }
    }
}

/// A feature the implementation does not support, and who the implementation is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub feature: &'static str,
    pub controller: String,
}

impl Unsupported {
    /// "<controller> does not list <feature> in its GatewayClass' supportedFeatures".
    pub fn describe(&self) -> String {
        describe(&self.controller, &[self.feature])
    }
}

/// "<controller> does not list <a> and <b> in its GatewayClass' supportedFeatures".
pub fn describe(controller: &str, features: &[&str]) -> String {
    let controller = if controller.is_empty() { "the gateway implementation" } else { controller };
    format!("{controller} does not list {} in its GatewayClass' supportedFeatures", features.join(" and "))
}

/// `Some` when the implementation is known not to support `feature`. Without a class, or with a
/// class that lists no features at all, nothing is known: the caller keeps its CRD-schema-based
/// behaviour.
pub fn unsupported(implementation: Option<&ClassFeatures>, feature: &'static str) -> Option<Unsupported> {
    let class = implementation?;
    let supported = class.supported.as_ref()?;
    (!supported.contains(feature)).then(|| Unsupported { feature, controller: class.controller.clone() })
}

/// Who serves a route's Gateway, as far as Istio's policy objects (EnvoyFilter,
/// RequestAuthentication, AuthorizationPolicy attached by `targetRefs`) go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enforcer {
    /// Istio: a GatewayClass whose `controllerName` is one of `ISTIO_GATEWAY_CONTROLLERS`.
    Istio,
    /// Not known: VirtualServices (always Istio's), or a Gateway or class not read (yet).
    Unknown,
    /// Another implementation (its `controllerName`): Istio's objects would not be enforced.
    Other(String),
}

impl Enforcer {
    /// From the class of the route's Gateway (`None`: not known) and the controllers that enforce
    /// Istio's objects.
    pub fn of(implementation: Option<&ClassFeatures>, istio_controllers: &[String]) -> Self {
        match implementation.map(|class| class.controller.as_str()) {
            // Unknown keeps writing the objects, as before classes were read: withholding on a class
            // that is merely not seen yet (watch not synced, no RBAC to read classes) would take
            // down every API with verification, almost always on Istio, where they are enforced.
            None | Some("") => Self::Unknown,
            Some(controller) if istio_controllers.iter().any(|c| c == controller) => Self::Istio,
            Some(controller) => Self::Other(controller.to_owned()),
        }
    }

    /// Why Istio's `kinds` would not be enforced; `None` unless another implementation is known.
    pub fn ignores(&self, kinds: &str) -> Option<String> {
        let Self::Other(controller) = self else { return None };
        Some(format!(
            "the Gateway's GatewayClass is implemented by {controller}, not by Istio (ISTIO_GATEWAY_CONTROLLERS): \
             Istio's {kinds} would not be enforced"
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::fixtures::traefik_class;

    #[test]
    fn listed_features_are_supported_and_the_rest_are_not() {
        let class = traefik_class();
        assert_eq!(class.controller, "traefik.io/gateway-controller");
        assert_eq!(unsupported(Some(&class), HTTP_ROUTE_BACKEND_REQUEST_TIMEOUT), None);
        let cors = unsupported(Some(&class), HTTP_ROUTE_CORS).unwrap();
        assert_eq!(
            cors.describe(),
            "traefik.io/gateway-controller does not list HTTPRouteCORS in its GatewayClass' supportedFeatures"
        );
        let strings = ClassFeatures::of(&json!({"status": {"supportedFeatures": ["HTTPRouteCORS"]}}));
        assert_eq!(unsupported(Some(&strings), HTTP_ROUTE_CORS), None, "plain strings are read too");
    }

    #[test]
    fn without_supported_features_nothing_is_known() {
        let silent = ClassFeatures::of(&json!({"spec": {"controllerName": "example.com/old"}, "status": {}}));
        assert_eq!(silent.supported, None);
        assert_eq!(unsupported(Some(&silent), HTTP_ROUTE_CORS), None);
        let empty = ClassFeatures::of(&json!({"status": {"supportedFeatures": []}}));
        assert_eq!(unsupported(Some(&empty), HTTP_ROUTE_CORS), None, "an empty list: not reconciled yet");
        assert_eq!(unsupported(None, HTTP_ROUTE_CORS), None, "no class known");
    }

    #[test]
    fn only_a_known_foreign_class_ignores_istio_objects() {
        let istio = [ISTIO_GATEWAY_CONTROLLER.to_owned()];
        let class = |controller: &str| ClassFeatures { controller: controller.into(), supported: None };
        assert_eq!(Enforcer::of(Some(&class(ISTIO_GATEWAY_CONTROLLER)), &istio), Enforcer::Istio);
        assert_eq!(Enforcer::of(None, &istio), Enforcer::Unknown);
        assert_eq!(Enforcer::of(Some(&class("")), &istio), Enforcer::Unknown, "no controllerName read");
        let traefik = Enforcer::of(Some(&traefik_class()), &istio);
        assert_eq!(traefik, Enforcer::Other("traefik.io/gateway-controller".into()));
        let why = traefik.ignores("EnvoyFilter").unwrap();
        assert!(why.contains("traefik.io/gateway-controller") && why.contains("would not be enforced"), "{why}");
        assert_eq!(Enforcer::Istio.ignores("EnvoyFilter"), None);
        assert_eq!(Enforcer::Unknown.ignores("EnvoyFilter"), None);
        let listed = ["traefik.io/gateway-controller".to_owned()];
        assert_eq!(Enforcer::of(Some(&traefik_class()), &listed), Enforcer::Istio, "the setting decides");
    }
}

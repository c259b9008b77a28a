use super::*;
use crate::core::fixtures::core_api as api;
use crate::core::status::ReadyReason;
use serde_json::{Value, json};

fn backend(gateway: &str, section: Option<&str>, hostname: Option<&str>) -> HttpRouteBackend {
    let config = OperatorConfig {
        component_gateway: gateway.into(),
        gateway_section_name: section.map(Into::into),
        public_hostname: hostname.map(Into::into),
        ..Default::default()
    };
    HttpRouteBackend::new(&config, true)
}

fn route(generation: i64, parents: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "components", "generation": generation},
        "spec": {},
        "status": {"parents": parents}
    }))
    .unwrap()
}

fn parent_entry(conditions: Value) -> Value {
    json!({
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "canvas", "name": "gw"},
        "controllerName": "example.org/gateway",
        "conditions": conditions
    })
}

fn condition(type_: &str, status: &str, reason: &str, generation: i64) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": format!("{type_} says {reason}"),
        "observedGeneration": generation, "lastTransitionTime": "2026-12-01T00:00:00Z"})
}

#[test]
fn golden_shape_with_every_defaulted_field_written() {
    let route = backend("canvas/gw", Some("http"), Some("api.example.org")).desired(&api()).unwrap();
    assert_eq!(route.types.as_ref().unwrap().api_version, "gateway.networking.k8s.io/v1");
    assert_eq!(route.types.as_ref().unwrap().kind, "HTTPRoute");
    assert_eq!(route.metadata.name.as_deref(), Some("prdcat3-productcatalogmanagement-productcatalogmanagement"));
    assert_eq!(route.metadata.owner_references.as_ref().unwrap()[0].kind, "ExposedAPI");
    assert_eq!(
        route.data["spec"],
        json!({
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "canvas", "name": "gw", "sectionName": "http"}],
            "hostnames": ["api.example.org"],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4"}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": "prdcat3-prodcatapi", "port": 8080, "weight": 1}]
            }]
        })
    );
    let bare = backend("gw", None, None).desired(&api()).unwrap();
    assert_eq!(
        bare.data["spec"]["parentRefs"],
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}])
    );
    assert!(bare.data["spec"].get("hostnames").is_none());
}

#[test]
fn claims_follow_parents_hosts_and_prefixes() {
    let b = backend("canvas/gw", None, None);
    let desired = b.desired(&api()).unwrap();
    assert_eq!(b.claims(&desired), vec![b.route_key(&api())]);
    let other: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "other", "namespace": "canvas"},
        "spec": {
            "parentRefs": [{"name": "gw"}, {"kind": "Service", "name": "mesh-svc"}],
            "hostnames": ["a.example.org"],
            "rules": [{"matches": [{"path": {"value": "/a"}}, {"path": {"type": "Exact", "value": "/x"}}]}, {}]
        }
    }))
    .unwrap();
    assert_eq!(
        b.claims(&other),
        vec![RouteKey::new("canvas", "gw", "a.example.org", "/"), RouteKey::new("canvas", "gw", "a.example.org", "/a")]
    );
}

#[test]
fn a_route_nobody_reported_on_is_pending() {
    let b = backend("canvas/gw", None, None);
    assert!(matches!(b.state(&route(1, json!([]))), RouteState::Pending { .. }));
    let elsewhere = json!([{"parentRef": {"name": "gw", "namespace": "other"}, "conditions": [condition("Accepted", "True", "Accepted", 1)]}]);
    assert!(matches!(b.state(&route(1, elsewhere)), RouteState::Pending { .. }));
}

#[test]
fn acceptance_and_resolved_refs_decide() {
    let b = backend("canvas/gw", None, None);
    let accepted = [condition("Accepted", "True", "Accepted", 2), condition("ResolvedRefs", "True", "ResolvedRefs", 2)];
    assert_eq!(b.state(&route(2, json!([parent_entry(json!(accepted))]))), RouteState::Accepted);

    let rejected = json!([parent_entry(json!([condition("Accepted", "False", "NotAllowedByListeners", 2)]))]);
    match b.state(&route(2, rejected)) {
        RouteState::Rejected { reason, message } => {
            assert_eq!(reason, ReadyReason::RouteNotAccepted);
            assert!(message.contains("NotAllowedByListeners: Accepted says NotAllowedByListeners"), "{message}");
            assert!(message.contains("canvas/gw"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let unresolved =
        [condition("Accepted", "True", "Accepted", 2), condition("ResolvedRefs", "False", "BackendNotFound", 2)];
    match b.state(&route(2, json!([parent_entry(json!(unresolved))]))) {
        RouteState::Rejected { reason, message } => {
            assert_eq!(reason, ReadyReason::RouteRefsUnresolved);
            assert!(message.contains("BackendNotFound"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_report_on_an_older_generation_is_pending() {
    let b = backend("canvas/gw", None, None);
    let old = json!([parent_entry(json!([condition("Accepted", "False", "NoMatchingParent", 1)]))]);
    assert!(matches!(b.state(&route(2, old)), RouteState::Pending { .. }));
    let unknown = json!([parent_entry(json!([condition("Accepted", "Unknown", "Pending", 2)]))]);
    assert!(matches!(b.state(&route(2, unknown)), RouteState::Pending { .. }));
}

#[test]
fn the_section_name_is_part_of_the_parent() {
    let b = backend("canvas/gw", Some("https"), None);
    let other_listener = json!([parent_entry(json!([condition("Accepted", "True", "Accepted", 1)]))]);
    assert!(matches!(b.state(&route(1, other_listener)), RouteState::Pending { .. }));
}

fn streaming_api_with_cors() -> ValidApi {
    let cors = crate::core::cors::requested(&crate::exposed_api::ExposedApiSpec {
        cors: Some(crate::exposed_api::Cors { enabled: Some(true), ..Default::default() }),
        ..Default::default()
    });
    ValidApi { api_type: crate::exposed_api::ApiType::Mcp, cors: cors.and_then(Result::ok), ..api() }
}

#[test]
fn features_the_gateway_class_does_not_list_are_left_out() {
    let b = backend("canvas/gw", None, None);
    let api = streaming_api_with_cors();
    let rule = |implementation| b.desired_on(&api, implementation).unwrap().data["spec"]["rules"][0].clone();
    // Nothing known (no class, or a class without supportedFeatures): as the CRD allows.
    let unknown = rule(None);
    assert_eq!(unknown["filters"][0]["type"], "CORS");
    assert_eq!(unknown["timeouts"], json!({"request": "3600s", "backendRequest": "3600s"}));
    let silent = crate::core::gateway_class::ClassFeatures { controller: "x".into(), supported: None };
    assert_eq!(rule(Some(&silent)), unknown);
    // Traefik v3.7 lists neither HTTPRouteCORS nor HTTPRouteRequestTimeout.
    let traefik = crate::core::fixtures::traefik_class();
    let on_traefik = rule(Some(&traefik));
    assert!(on_traefik.get("filters").is_none(), "{on_traefik}");
    assert_eq!(on_traefik["timeouts"], json!({"backendRequest": "3600s"}));
    let everything = crate::core::gateway_class::ClassFeatures {
        controller: "istio.io/gateway-controller".into(),
        supported: Some(
            ["HTTPRouteCORS", "HTTPRouteRequestTimeout", "HTTPRouteBackendRequestTimeout"].map(String::from).into(),
        ),
    };
    assert_eq!(rule(Some(&everything)), unknown);
    let nothing = crate::core::gateway_class::ClassFeatures {
        controller: "y".into(),
        supported: Some(["HTTPRoute".to_owned()].into()),
    };
    assert!(rule(Some(&nothing)).get("timeouts").is_none(), "neither timeout: none at all");
}

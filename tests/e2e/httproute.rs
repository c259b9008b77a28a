//! The Gateway API backend end to end (`ROUTE_BACKEND=HTTPRoute`) on the real Gateway API CRDs.
//! No gateway controller runs here: the tests write the HTTPRoute and Gateway status as one would.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::operator::{Operator, exposed_apis, ready_condition, wait_for_field, wait_for_reason};
use crate::support::*;

pub(crate) const PATH: &str = "/c1/tmf-api/productCatalogManagement/v4";
const GATEWAY_CONTROLLER: &str = "gateway.e2e.oda-testenv/controller";

pub(crate) fn flags(ns: &TestNamespace) -> Vec<String> {
    vec!["--route-backend=HTTPRoute".into(), format!("--component-gateway={}/gw", ns.name())]
}

pub(crate) async fn start(ns: &TestNamespace) -> Operator {
    let flags = flags(ns);
    Operator::start(ns.name(), &flags.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// The Gateway `gw` (listener `http` on 80), `Programmed`, with `address` in its status when given.
pub(crate) async fn gateway(ns: &TestNamespace, address: Option<&str>) {
    let gw = dynamic_object(
        &gateway_api_gateway_resource(),
        ns.name(),
        "gw",
        &[],
        json!({"spec": {"gatewayClassName": "e2e", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource()), &gw).await;
    set_gateway_status(ns, address).await;
}

async fn set_gateway_address(ns: &TestNamespace, address: &str) {
    set_gateway_status(ns, Some(address)).await;
}

/// Writes the Gateway's address (when given) and `Programmed=True` for its generation, as its
/// controller would.
async fn set_gateway_status(ns: &TestNamespace, address: Option<&str>) {
    let gateways = dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource());
    let generation = gateways.get("gw").await.expect("the Gateway").metadata.generation.unwrap_or(1);
    let status = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "status": {
            "addresses": address.map(|a| json!([{"type": "IPAddress", "value": a}])).unwrap_or(json!([])),
            "conditions": [{
                "type": "Programmed", "status": "True", "reason": "Programmed", "message": "e2e",
                "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z",
            }],
        }
    });
    let params = PatchParams::apply(GATEWAY_CONTROLLER).force();
    dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource())
        .patch_status("gw", &params, &Patch::Apply(status))
        .await
        .expect("Gateway status written");
}

/// A Gateway, the implementation `c1-impl` with a ready Pod, and the ExposedAPI `c1-api`.
async fn fixture(ns: &TestNamespace, address: Option<&str>) {
    gateway(ns, address).await;
    implementation(ns, "c1-impl", &[], true).await;
    create_exposed_api(ns.client(), ns.name(), "c1-api", &[], exposed_api_spec("c1-impl", PATH, 8080)).await;
}

pub(crate) fn routes(ns: &TestNamespace) -> kube::Api<DynamicObject> {
    dynamic_api(ns.client(), ns.name(), &http_route_resource())
}

pub(crate) async fn wait_for_route(
    ns: &TestNamespace,
    name: &str,
    check: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let api = routes(ns);
    wait_for(Duration::from_secs(60), || async {
        match api.get_opt(name).await.map_err(|e| e.to_string())? {
            Some(route) if check(&route) => Ok(route),
            other => Err(format!("HTTPRoute {name} is {other:?}")),
        }
    })
    .await
}

/// Writes the route's parent status as a gateway controller would, for its current generation.
pub(crate) async fn report(ns: &TestNamespace, name: &str, accepted: (&str, &str), resolved: (&str, &str)) {
    report_for(ns, name, None, accepted, resolved).await;
}

/// [`report`] for the parent `gw` restricted to listener `section`.
async fn report_for(
    ns: &TestNamespace,
    name: &str,
    section: Option<&str>,
    accepted: (&str, &str),
    resolved: (&str, &str),
) {
    let route = routes(ns).get(name).await.expect("route exists");
    let generation = route.metadata.generation.unwrap_or(1);
    let condition = |type_: &str, (status, reason): (&str, &str)| {
        json!({"type": type_, "status": status, "reason": reason, "message": format!("{type_}: {reason} (e2e)"),
            "observedGeneration": generation, "lastTransitionTime": "2026-12-01T00:00:00Z"})
    };
    let mut parent =
        json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns.name(), "name": "gw"});
    if let Some(section) = section {
        parent["sectionName"] = json!(section);
    }
    let status = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "status": {"parents": [{
            "parentRef": parent,
            "controllerName": GATEWAY_CONTROLLER,
            "conditions": [condition("Accepted", accepted), condition("ResolvedRefs", resolved)]
        }]}
    });
    let params = PatchParams::apply(GATEWAY_CONTROLLER).force();
    routes(ns).patch_status(name, &params, &Patch::Apply(status)).await.expect("route status written");
}

pub(crate) async fn accept(ns: &TestNamespace, name: &str) {
    report(ns, name, ("True", "Accepted"), ("True", "ResolvedRefs")).await;
}

#[tokio::test]
async fn an_api_gets_an_http_route_and_is_exposed_once_accepted() {
    let ns = TestNamespace::new("httproute-create").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = start(&ns).await;

    let route = wait_for_route(&ns, "c1-api", |_| true).await;
    assert_eq!(
        route.data["spec"],
        json!({
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns.name(), "name": "gw"}],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": PATH}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": "c1-impl", "port": 8080, "weight": 1}]
            }]
        })
    );
    let owner = &route.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("ExposedAPI", "c1-api", Some(true)));

    let api = wait_for_reason(ns.name(), "c1-api", "RoutePending").await;
    assert!(ready_condition(&api).unwrap().2.contains("no gateway controller has reported"), "{api:?}");

    accept(&ns, "c1-api").await;
    let api = wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    assert_eq!(api.data["status"]["apiStatus"]["url"], json!(format!("http://20.1.2.3{PATH}")));
    assert_eq!(api.data["status"]["apiStatus"]["uid"], json!(route.uid()));
}

#[tokio::test]
async fn a_bare_gateway_name_and_a_listener_are_honoured() {
    let ns = TestNamespace::new("httproute-listener").await;
    let gw = dynamic_object(
        &gateway_api_gateway_resource(),
        ns.name(),
        "gw",
        &[],
        json!({"spec": {"gatewayClassName": "e2e", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "alt", "port": 8080, "protocol": "HTTP"}
        ]}}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource()), &gw).await;
    set_gateway_address(&ns, "20.1.2.3").await;
    implementation(&ns, "c1-impl", &[], true).await;
    create_exposed_api(ns.client(), ns.name(), "c1-api", &[], exposed_api_spec("c1-impl", PATH, 8080)).await;
    // A bare name: the Gateway of the API's own namespace.
    let flags = ["--route-backend=HTTPRoute", "--component-gateway=gw", "--gateway-section-name=alt"];
    let _operator = Operator::start(ns.name(), &flags).await;

    let route = wait_for_route(&ns, "c1-api", |_| true).await;
    assert_eq!(
        route.data["spec"]["parentRefs"],
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "sectionName": "alt"}])
    );
    // A report for the whole Gateway is not one for our listener.
    accept(&ns, "c1-api").await;
    wait_for_reason(ns.name(), "c1-api", "RoutePending").await;
    report_for(&ns, "c1-api", Some("alt"), ("True", "Accepted"), ("True", "ResolvedRefs")).await;
    let api = wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    assert_eq!(api.data["status"]["apiStatus"]["url"], json!(format!("http://20.1.2.3:8080{PATH}")));
}

#[tokio::test]
async fn path_and_port_changes_are_followed_and_wait_for_a_fresh_report() {
    let ns = TestNamespace::new("httproute-change").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = start(&ns).await;
    wait_for_route(&ns, "c1-api", |_| true).await;
    accept(&ns, "c1-api").await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;

    let patch = json!({"spec": {"path": "/c1/v5", "port": 9090}});
    exposed_apis(ns.name()).await.patch("c1-api", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    let route =
        wait_for_route(&ns, "c1-api", |r| r.data.pointer("/spec/rules/0/backendRefs/0/port") == Some(&json!(9090)))
            .await;
    assert_eq!(route.data["spec"]["rules"][0]["matches"][0]["path"]["value"], "/c1/v5");
    // The controller's report is about the previous generation: not ready until it reports again.
    wait_for_reason(ns.name(), "c1-api", "RoutePending").await;
    accept(&ns, "c1-api").await;
    wait_for_field(ns.name(), "c1-api", "/status/apiStatus/url", json!("http://20.1.2.3/c1/v5")).await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

#[tokio::test]
async fn the_gateway_controllers_verdict_and_readiness_decide_ready() {
    let ns = TestNamespace::new("httproute-verdict").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = start(&ns).await;
    wait_for_route(&ns, "c1-api", |_| true).await;

    report(&ns, "c1-api", ("False", "NotAllowedByListeners"), ("True", "ResolvedRefs")).await;
    let api = wait_for_reason(ns.name(), "c1-api", "RouteNotAccepted").await;
    let (status, _, message) = ready_condition(&api).unwrap();
    assert_eq!(status, "False");
    assert!(message.contains("NotAllowedByListeners") && message.contains(GATEWAY_CONTROLLER), "{message}");

    report(&ns, "c1-api", ("True", "Accepted"), ("False", "BackendNotFound")).await;
    let api = wait_for_reason(ns.name(), "c1-api", "RouteRefsUnresolved").await;
    assert!(ready_condition(&api).unwrap().2.contains("BackendNotFound"));

    accept(&ns, "c1-api").await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    set_pod_ready(ns.client(), ns.name(), "c1-impl-0", false).await;
    wait_for_reason(ns.name(), "c1-api", "ImplementationNotReady").await;
    set_pod_ready(ns.client(), ns.name(), "c1-impl-0", true).await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

#[tokio::test]
async fn urls_follow_a_gateway_address_set_late_and_changed() {
    let ns = TestNamespace::new("httproute-address").await;
    fixture(&ns, None).await;
    let _operator = start(&ns).await;
    wait_for_route(&ns, "c1-api", |_| true).await;
    accept(&ns, "c1-api").await;
    let api = wait_for_reason(ns.name(), "c1-api", "AddressPending").await;
    assert!(api.data["status"]["apiStatus"].get("url").is_none());

    set_gateway_address(&ns, "20.9.9.9").await;
    wait_for_field(ns.name(), "c1-api", "/status/apiStatus/url", json!(format!("http://20.9.9.9{PATH}"))).await;
    set_gateway_address(&ns, "20.8.8.8").await;
    wait_for_field(ns.name(), "c1-api", "/status/apiStatus/url", json!(format!("http://20.8.8.8{PATH}"))).await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

/// A route the operator must not touch: the same spec and metadata, and no field of the operator's.
/// (Its resourceVersion may change: a gateway controller, such as istiod where it runs, writes route
/// status, even an empty one, for routes that are not its own.)
fn untouched(now: &DynamicObject, before: &DynamicObject) {
    assert_eq!(now.data["spec"], before.data["spec"]);
    assert_eq!((now.labels(), now.annotations()), (before.labels(), before.annotations()));
    let managers: Vec<_> = now.metadata.managed_fields.iter().flatten().filter_map(|f| f.manager.as_deref()).collect();
    assert!(!managers.iter().any(|m| m.starts_with("oda-api-operator")), "{managers:?}");
}

#[tokio::test]
async fn a_conflicting_or_foreign_route_is_never_touched() {
    let ns = TestNamespace::new("httproute-conflict").await;
    let foreign_spec = |path: &str| {
        json!({"spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"matches": [{"path": {"value": path}}], "backendRefs": [{"name": "someone-else", "port": 80}]}]
        }})
    };
    let other = create_strict(
        &routes(&ns),
        &dynamic_object(&http_route_resource(), ns.name(), "other", &[], foreign_spec(PATH)),
    )
    .await;
    let namesake = create_strict(
        &routes(&ns),
        &dynamic_object(&http_route_resource(), ns.name(), "c2-api", &[], foreign_spec("/c2")),
    )
    .await;
    fixture(&ns, Some("20.1.2.3")).await;
    create_exposed_api(ns.client(), ns.name(), "c2-api", &[], exposed_api_spec("c1-impl", "/c2/x", 8080)).await;
    let _operator = start(&ns).await;

    let api = wait_for_reason(ns.name(), "c1-api", "RouteConflict").await;
    let message = ready_condition(&api).unwrap().2;
    assert!(message.contains(&format!("other.{}", ns.name())) && message.contains("HTTPRoute"), "{message}");
    assert!(routes(&ns).get_opt("c1-api").await.unwrap().is_none(), "nothing written");
    untouched(&routes(&ns).get("other").await.unwrap(), &other);

    let api = wait_for_reason(ns.name(), "c2-api", "NotOwned").await;
    assert!(ready_condition(&api).unwrap().2.contains("HTTPRoute"));
    let after = routes(&ns).get("c2-api").await.unwrap();
    untouched(&after, &namesake);
    assert!(after.owner_references().is_empty());

    routes(&ns).delete("other", &DeleteParams::default()).await.unwrap();
    wait_for_route(&ns, "c1-api", |_| true).await;
    accept(&ns, "c1-api").await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

#[tokio::test]
async fn deleting_the_api_garbage_collects_its_route() {
    let ns = TestNamespace::new("httproute-delete").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = start(&ns).await;
    wait_for_route(&ns, "c1-api", |_| true).await;
    exposed_apis(ns.name()).await.delete("c1-api", &DeleteParams::foreground()).await.unwrap();
    wait_until_gone(&routes(&ns), "c1-api", GC_TIMEOUT).await;
}

async fn wait_until_gone(api: &kube::Api<DynamicObject>, name: &str, timeout: Duration) {
    wait_for(timeout, || async { matches!(api.get_opt(name).await, Ok(None)) }).await;
}

#[tokio::test]
async fn switching_the_backend_leaves_no_orphan_and_spares_foreign_routes() {
    let ns = TestNamespace::new("backend-switch").await;
    fixture(&ns, Some("20.1.2.3")).await;
    // A VirtualService nobody controls, named like a second API, must survive both switches.
    create_exposed_api(ns.client(), ns.name(), "c2-api", &[], exposed_api_spec("c1-impl", "/c2/x", 8080)).await;
    let vs_api = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    let foreign_vs = dynamic_object(
        &virtual_service_resource(),
        ns.name(),
        "c2-api",
        &[],
        json!({"spec": {"hosts": ["x"], "http": [{"route": [{"destination": {"host": "x"}}]}]}}),
    );
    let foreign_vs = create_strict(&vs_api, &foreign_vs).await;

    let istio = Operator::start(ns.name(), &[&format!("--component-gateway={}/gw", ns.name())]).await;
    wait_for(Duration::from_secs(60), || async { vs_api.get_opt("c1-api").await.ok().flatten() }).await;
    istio.stop().await;

    let gateway_api = start(&ns).await;
    wait_for_route(&ns, "c1-api", |_| true).await;
    wait_until_gone(&vs_api, "c1-api", Duration::from_secs(60)).await;
    assert_eq!(vs_api.get("c2-api").await.unwrap().resource_version(), foreign_vs.resource_version());
    gateway_api.stop().await;

    let _istio = Operator::start(ns.name(), &[&format!("--component-gateway={}/gw", ns.name())]).await;
    wait_for(Duration::from_secs(60), || async {
        let vs = vs_api.get_opt("c1-api").await.map_err(|e| e.to_string())?;
        let route = routes(&ns).get_opt("c1-api").await.map_err(|e| e.to_string())?;
        match (vs, route) {
            (Some(_), None) => Ok(()),
            other => Err(format!("VirtualService / HTTPRoute: {other:?}")),
        }
    })
    .await;
    assert_eq!(vs_api.get("c2-api").await.unwrap().resource_version(), foreign_vs.resource_version());
}

async fn resource_versions(ns: &TestNamespace) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for (kind, api) in [("ExposedAPI", exposed_apis(ns.name()).await), ("HTTPRoute", routes(ns))] {
        for obj in api.list(&ListParams::default()).await.unwrap() {
            versions.insert(format!("{kind}/{}", obj.name_any()), obj.resource_version().unwrap_or_default());
        }
    }
    versions
}

#[tokio::test]
async fn a_restart_over_converged_routes_writes_nothing() {
    let ns = TestNamespace::new("httproute-restart").await;
    fixture(&ns, Some("20.1.2.3")).await;
    for i in 0..10 {
        let spec = exposed_api_spec("c1-impl", &format!("/c/{i}"), 8080);
        create_exposed_api(ns.client(), ns.name(), &format!("api-{i}"), &[], spec).await;
    }
    let names: Vec<String> = std::iter::once("c1-api".to_owned()).chain((0..10).map(|i| format!("api-{i}"))).collect();
    let operator = start(&ns).await;
    for name in &names {
        wait_for_route(&ns, name, |_| true).await;
        accept(&ns, name).await;
        wait_for_reason(ns.name(), name, "Exposed").await;
    }
    operator.stop().await;
    let before = resource_versions(&ns).await;
    assert_eq!(before.len(), 22);

    let operator = start(&ns).await;
    create_exposed_api(ns.client(), ns.name(), "sentinel", &[], exposed_api_spec("c1-impl", "/c/sentinel", 8080)).await;
    wait_for_reason(ns.name(), "sentinel", "RoutePending").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut after = resource_versions(&ns).await;
    after.retain(|k, _| !k.ends_with("/sentinel"));
    assert_eq!(before, after, "a restart over converged HTTPRoutes must not write");
    let writes: Value = json!(operator.telemetry.metrics.total_writes());
    assert!(writes.as_u64().unwrap_or(0) <= 2, "only the sentinel's route and status were written: {writes}");
    operator.stop().await;
}

//! The controller end to end: ExposedAPI → VirtualService + status, on a real control plane.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::operator::{Operator, exposed_apis, ready_condition, wait_for_field, wait_for_reason};
use crate::support::*;

const PATH: &str = "/c1/tmf-api/productCatalogManagement/v4";

/// An ingress gateway Service (reference port layout), an implementation Service `c1-impl` with a
/// ready endpoint, and the ExposedAPI `c1-api`.
async fn fixture(ns: &TestNamespace, gateway_ip: Option<&str>) {
    let client = ns.client();
    create_load_balancer_service(
        client.clone(),
        ns.name(),
        "istio-ingress",
        &[("istio", "ingressgateway")],
        &[("status-port", 15021), ("http2", 80), ("https", 443)],
    )
    .await;
    if let Some(ip) = gateway_ip {
        set_load_balancer_ip(client.clone(), ns.name(), "istio-ingress", ip).await;
    }
    implementation(ns, "c1-impl", &[("name", "c1-impl")], true).await;
    let mut spec = exposed_api_spec("c1-impl", PATH, 8080);
    spec["developerUI"] = json!(format!("{PATH}/docs"));
    create_exposed_api(client, ns.name(), "c1-api", &[("oda.tmforum.org/componentName", "c1")], spec).await;
}

async fn virtual_service(ns: &TestNamespace, name: &str) -> Option<kube::core::DynamicObject> {
    dynamic_api(ns.client(), ns.name(), &virtual_service_resource()).get_opt(name).await.ok().flatten()
}

#[tokio::test]
async fn exposes_an_api_with_the_reference_shape() {
    let ns = TestNamespace::new("exposes").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let operator = Operator::start(ns.name(), &[]).await;

    let api = wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    let vs = virtual_service(&ns, "c1-api").await.expect("VirtualService exists");
    assert_eq!(
        vs.data["spec"],
        json!({
            "hosts": ["*"],
            "gateways": ["component-gateway"],
            "http": [{
                "match": [{"uri": {"prefix": PATH}}],
                "route": [{"destination": {"host": "c1-impl", "port": {"number": 8080}}}]
            }]
        })
    );
    assert_eq!(vs.labels().get("oda.tmforum.org/componentName").map(String::as_str), Some("c1"));
    let owner = &vs.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("ExposedAPI", "c1-api"));
    assert_eq!(Some(owner.uid.clone()), api.metadata.uid);
    assert_eq!((owner.controller, owner.block_owner_deletion), (Some(true), Some(true)));

    let status = &api.data["status"];
    assert_eq!(
        status["apiStatus"],
        json!({
            "name": "c1-api",
            "uid": vs.metadata.uid,
            "path": PATH,
            "port": 8080,
            "implementation": "c1-impl",
            "url": format!("https://20.1.2.3{PATH}"),
            "developerUI": format!("https://20.1.2.3{PATH}/docs"),
            "ip": "20.1.2.3"
        })
    );
    assert_eq!(status["implementation"], json!({"ready": true}));
    if exposed_api_has_status_subresource().await {
        assert_eq!(status["observedGeneration"], json!(api.metadata.generation));
    } else {
        assert!(status.get("observedGeneration").is_none() && status["observedSpecHash"].is_string(), "{status}");
    }
    operator.stop().await;
}

#[tokio::test]
async fn spec_changes_are_followed() {
    let ns = TestNamespace::new("spec-changes").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let other = create_service(ns.client(), ns.name(), "c1-impl-v2", &[], &[("http", 9090)]).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;

    let patch = json!({"spec": {"path": "/c1/v5", "port": 9090, "implementation": other.name_any()}});
    exposed_apis(ns.name()).await.patch("c1-api", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();

    let api = wait_for_field(ns.name(), "c1-api", "/status/apiStatus/url", json!("https://20.1.2.3/c1/v5")).await;
    assert_eq!(api.data["status"]["apiStatus"]["port"], json!(9090));
    assert_eq!(api.data["status"]["implementation"]["ready"], json!(false), "the new Service has no endpoint");
    assert_eq!(ready_condition(&api).unwrap().1, "ImplementationNotReady");
    let vs = virtual_service(&ns, "c1-api").await.unwrap();
    assert_eq!(vs.data["spec"]["http"][0]["match"][0]["uri"]["prefix"], "/c1/v5");
    assert_eq!(
        vs.data["spec"]["http"][0]["route"][0]["destination"],
        json!({"host": "c1-impl-v2", "port": {"number": 9090}})
    );

    // A change that leaves the status as it was is acknowledged too: with a status subresource
    // observedGeneration, at the top and in every condition, reaches metadata.generation; without
    // one (every status write bumps the generation) there is no observedGeneration at all, and
    // observedSpecHash names the spec the status describes.
    let subresource = exposed_api_has_status_subresource().await;
    let apis = exposed_apis(ns.name()).await;
    let before = apis.get("c1-api").await.unwrap().data["status"]["observedSpecHash"].clone();
    let patch = json!({"spec": {"segment": "managementFunction"}});
    let changed = apis.patch("c1-api", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for(Duration::from_secs(60), || async {
        let api = apis.get("c1-api").await.map_err(|e| e.to_string())?;
        let generation = json!(api.metadata.generation);
        let status = &api.data["status"];
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        let current = if subresource {
            status["observedGeneration"] == generation
                && conditions.iter().all(|c| c["observedGeneration"] == generation)
                && api.metadata.generation >= changed.metadata.generation
        } else {
            status.get("observedGeneration").is_none()
                && conditions.iter().all(|c| c.get("observedGeneration").is_none())
                && status["observedSpecHash"].is_string()
                && status["observedSpecHash"] != before
        };
        if current { Ok(()) } else { Err(format!("generation {generation}, status {status}")) }
    })
    .await;
}

#[tokio::test]
async fn deleting_the_api_garbage_collects_its_children() {
    let ns = TestNamespace::new("gc").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;

    exposed_apis(ns.name()).await.delete("c1-api", &DeleteParams::foreground()).await.unwrap();
    wait_for(GC_TIMEOUT, || async { virtual_service(&ns, "c1-api").await.is_none() }).await;
}

#[tokio::test]
async fn readiness_follows_endpoints_both_ways() {
    let ns = TestNamespace::new("readiness").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_field(ns.name(), "c1-api", "/status/implementation/ready", json!(true)).await;

    // The slice that drives readiness is the endpointslice controller's, made from the Pod.
    let slices = ns.api::<k8s_openapi::api::discovery::v1::EndpointSlice>();
    let slice = slices.list(&Default::default()).await.unwrap().items.remove(0);
    assert_eq!(
        slice.labels().get("endpointslice.kubernetes.io/managed-by").map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );

    set_pod_ready(ns.client(), ns.name(), "c1-impl-0", false).await;
    let api = wait_for_field(ns.name(), "c1-api", "/status/implementation/ready", json!(false)).await;
    assert_eq!(ready_condition(&api).unwrap().1, "ImplementationNotReady");
    set_pod_ready(ns.client(), ns.name(), "c1-impl-0", true).await;
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

#[tokio::test]
async fn urls_follow_a_gateway_address_set_late_and_changed() {
    let ns = TestNamespace::new("late-address").await;
    fixture(&ns, None).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    let api = wait_for_reason(ns.name(), "c1-api", "AddressPending").await;
    assert!(api.data["status"]["apiStatus"].get("url").is_none());

    set_load_balancer_ip(ns.client(), ns.name(), "istio-ingress", "20.9.9.9").await;
    wait_for_field(ns.name(), "c1-api", "/status/apiStatus/url", json!(format!("https://20.9.9.9{PATH}"))).await;

    let hostname = k8s_openapi::api::core::v1::LoadBalancerIngress {
        hostname: Some("lb.example.com".into()),
        ..Default::default()
    };
    set_load_balancer_ingress(ns.client(), ns.name(), "istio-ingress", &[hostname]).await;
    let api =
        wait_for_field(ns.name(), "c1-api", "/status/apiStatus/url", json!(format!("https://lb.example.com{PATH}")))
            .await;
    assert_eq!(api.data["status"]["apiStatus"]["ip"], "lb.example.com");
    assert_eq!(api.data["status"]["apiStatus"]["developerUI"], json!(format!("https://lb.example.com{PATH}/docs")));
}

#[tokio::test]
async fn a_route_conflict_writes_nothing_and_names_the_other_object() {
    let ns = TestNamespace::new("conflict").await;
    let vs_api = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    let spec = json!({"spec": {
        "hosts": ["*"], "gateways": ["component-gateway"],
        "http": [{"match": [{"uri": {"prefix": PATH}}], "route": [{"destination": {"host": "someone-else"}}]}]
    }});
    let other = dynamic_object(&virtual_service_resource(), ns.name(), "other", &[], spec);
    let other = create_strict(&vs_api, &other).await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = Operator::start(ns.name(), &[]).await;

    let api = wait_for_reason(ns.name(), "c1-api", "RouteConflict").await;
    let (status, _, message) = ready_condition(&api).unwrap();
    assert_eq!(status, "False");
    assert!(message.contains(&format!("other.{}", ns.name())), "{message}");
    assert!(virtual_service(&ns, "c1-api").await.is_none(), "nothing written");
    let untouched = vs_api.get("other").await.unwrap();
    assert_eq!(untouched.resource_version(), other.resource_version());

    vs_api.delete("other", &DeleteParams::default()).await.unwrap();
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

#[tokio::test]
async fn a_child_not_owned_is_left_alone() {
    let ns = TestNamespace::new("not-owned").await;
    let vs_api = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    let foreign = dynamic_object(
        &virtual_service_resource(),
        ns.name(),
        "c1-api",
        &[],
        json!({"spec": {"hosts": ["x"], "http": [{"route": [{"destination": {"host": "x"}}]}]}}),
    );
    let foreign = create_strict(&vs_api, &foreign).await;
    fixture(&ns, Some("20.1.2.3")).await;
    let _operator = Operator::start(ns.name(), &[]).await;

    let api = wait_for_reason(ns.name(), "c1-api", "NotOwned").await;
    assert!(ready_condition(&api).unwrap().2.contains("VirtualService"));
    let after = vs_api.get("c1-api").await.unwrap();
    assert_eq!(after.resource_version(), foreign.resource_version());
    assert!(after.owner_references().is_empty());
}

#[tokio::test]
async fn invalid_specs_report_their_field_and_spare_the_others() {
    let ns = TestNamespace::new("invalid").await;
    fixture(&ns, Some("20.1.2.3")).await;
    let cases = [
        ("no-slash", exposed_api_spec("c1-impl", "c1/x", 8080), "spec.path"),
        ("bad-port", exposed_api_spec("c1-impl", "/c1/p", 70000), "spec.port"),
        ("bad-impl", exposed_api_spec("Not_A_Service", "/c1/i", 8080), "spec.implementation"),
        ("empty-path", exposed_api_spec("c1-impl", "", 8080), "spec.path"),
        // Not the base path of an HTTP API, though the Canvas CRD takes them.
        ("query", exposed_api_spec("c1-impl", "/c1/q?x=1", 8080), "spec.path"),
        ("fragment", exposed_api_spec("c1-impl", "/c1/f#top", 8080), "spec.path"),
        ("dots", exposed_api_spec("c1-impl", "/c1/../admin", 8080), "spec.path"),
        ("backslash", exposed_api_spec("c1-impl", "/c1\\b", 8080), "spec.path"),
        ("empty-impl", exposed_api_spec("", "/c1/e", 8080), "spec.implementation"),
    ];
    for (name, spec, _) in &cases {
        create_exposed_api(ns.client(), ns.name(), name, &[], spec.clone()).await;
    }
    let _operator = Operator::start(ns.name(), &[]).await;
    for (name, _, field) in &cases {
        let api = wait_for_reason(ns.name(), name, "InvalidSpec").await;
        let message = ready_condition(&api).unwrap().2;
        assert!(message.starts_with(&format!("{field}:")), "{name}: {message}");
        assert!(virtual_service(&ns, name).await.is_none(), "{name}: no child written");
    }
    wait_for_reason(ns.name(), "c1-api", "Exposed").await;
}

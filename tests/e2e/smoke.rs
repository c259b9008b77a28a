//! Smoke tests of the plumbing: the CRDs are served, watches work, the garbage collector
//! deletes owned objects, the fixtures are accepted, and RBAC really restricts the operator.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn exposed_api_round_trip() {
    let ns = TestNamespace::new("exposed_api_round_trip").await;
    let created = create_exposed_api(
        ns.client(),
        ns.name(),
        "productcatalog",
        &[("oda.tmforum.org/componentName", "demo-productcatalog")],
        exposed_api_spec("demo-productcatalog-svc", "/demo/tmf-api/productCatalogManagement/v4", 8080),
    )
    .await;
    assert!(created.uid().is_some());

    let api = dynamic_api(ns.client(), ns.name(), &exposed_api_resource());
    let read = api.get("productcatalog").await.expect("read ExposedAPI back");
    assert_eq!(read.types.as_ref().map(|t| t.api_version.as_str()), Some("oda.tmforum.org/v1"));
    assert_eq!(read.types.as_ref().map(|t| t.kind.as_str()), Some("ExposedAPI"));
    assert_eq!(read.data["spec"]["path"], "/demo/tmf-api/productCatalogManagement/v4");
    assert_eq!(read.data["spec"]["port"], 8080);
    assert_eq!(read.labels().get("oda.tmforum.org/componentName").map(String::as_str), Some("demo-productcatalog"));
}

#[tokio::test]
async fn the_crds_of_every_kind_used_are_served() {
    let ns = TestNamespace::new("crds-are-served").await;
    for ar in [
        exposed_api_resource(),
        component_resource(),
        virtual_service_resource(),
        api_resource("networking.istio.io", "v1beta1", "VirtualService", "virtualservices"),
        api_resource("networking.istio.io", "v1", "VirtualService", "virtualservices"),
        api_resource("networking.istio.io", "v1alpha3", "Gateway", "gateways"),
        service_monitor_resource(),
        gateway_api_gateway_resource(),
        http_route_resource(),
    ] {
        dynamic_api(ns.client(), ns.name(), &ar)
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("listing {}/{}: {e}", ar.api_version, ar.plural));
    }

    // A VirtualService written as v1alpha3 is readable as v1 (no conversion webhook needed).
    let vs_ar = virtual_service_resource();
    let vs = dynamic_object(
        &vs_ar,
        ns.name(),
        "demo",
        &[],
        json!({ "spec": {
            "hosts": ["*"], "gateways": ["istio-ingress/gw"],
            "http": [{ "route": [{ "destination": { "host": "demo" } }] }],
        } }),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &vs_ar), &vs).await;
    let v1 = api_resource("networking.istio.io", "v1", "VirtualService", "virtualservices");
    let read = dynamic_api(ns.client(), ns.name(), &v1).get("demo").await.expect("read as v1");
    assert_eq!(read.data["spec"]["hosts"], json!(["*"]));
}

#[tokio::test]
async fn watcher_sees_endpoint_slice() {
    let ns = TestNamespace::new("watcher_sees_endpoint_slice").await;
    let client = ns.client();
    let api = Api::<EndpointSlice>::namespaced(client.clone(), ns.name());
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();

    // Wait for the initial list to complete so that the slice shows up as a live event.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.next().await {
                Some(Ok(Event::InitDone)) => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("watcher error during init: {e}"),
                None => panic!("watch stream ended during init"),
            }
        }
    })
    .await
    .expect("watcher initialised within 20 s");

    let svc =
        create_service(client.clone(), ns.name(), "demo", &[("app.kubernetes.io/name", "demo")], &[("http", 8080)])
            .await;
    let slice = create_endpoint_slice(client.clone(), &svc, &[("10.1.0.5", true), ("10.1.0.6", false)]).await;
    let slice_name = slice.name_any();
    assert!(slice_name.starts_with("demo-"), "generated name {slice_name}");

    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.next().await {
                Some(Ok(Event::Apply(s) | Event::InitApply(s))) if s.name_any() == slice_name => {
                    break s;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("watcher error: {e}"),
                None => panic!("watch stream ended"),
            }
        }
    })
    .await
    .expect("EndpointSlice event within 20 s");

    // The hand-written slice is stored and watched as written.
    let labels = seen.labels();
    assert_eq!(labels.get("kubernetes.io/service-name").map(String::as_str), Some("demo"));
    assert_eq!(labels.get("app.kubernetes.io/name").map(String::as_str), Some("demo"));
    let owner = &seen.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("Service", Some(true)));
    assert_eq!(Some(&owner.uid), svc.meta().uid.as_ref());
    let endpoints = seen.endpoints.clone().unwrap_or_default();
    let ready: Vec<_> =
        endpoints.iter().map(|e| (e.addresses[0].as_str(), e.conditions.as_ref().and_then(|c| c.ready))).collect();
    assert_eq!(ready, vec![("10.1.0.5", Some(true)), ("10.1.0.6", Some(false))]);
    let ports = seen.ports.clone().unwrap_or_default();
    assert_eq!((ports[0].port, ports[0].protocol.as_deref()), (Some(8080), Some("TCP")));

    // Flipping readiness is seen as well.
    set_endpoint_slice_ready(client.clone(), &seen, true).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.next().await {
                Some(Ok(Event::Apply(s))) if s.name_any() == slice_name => {
                    let all_ready = s
                        .endpoints
                        .unwrap_or_default()
                        .iter()
                        .all(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true));
                    if all_ready {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("watcher error: {e}"),
                None => panic!("watch stream ended"),
            }
        }
    })
    .await
    .expect("readiness change seen within 20 s");
}

#[tokio::test]
async fn garbage_collector_deletes_objects_owned_by_an_exposed_api() {
    let ns = TestNamespace::new("gc_owned_by_exposed_api").await;
    let client = ns.client();
    let owner =
        create_exposed_api(client.clone(), ns.name(), "gc-owner", &[], exposed_api_spec("gc-owner-svc", "/gc", 8080))
            .await;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("owned".to_string()),
            owner_references: Some(vec![controller_owner_ref("oda.tmforum.org/v1", "ExposedAPI", &owner.metadata)]),
            ..Default::default()
        },
        data: Some(labels(&[("k", "v")])),
        ..Default::default()
    };
    let cms = Api::<ConfigMap>::namespaced(client.clone(), ns.name());
    cms.create(&PostParams::default(), &cm).await.expect("create owned ConfigMap");

    let exposed = dynamic_api(client.clone(), ns.name(), &exposed_api_resource());
    exposed.delete("gc-owner", &DeleteParams::background()).await.expect("delete ExposedAPI");
    wait_for(Duration::from_secs(30), || async { matches!(exposed.get_opt("gc-owner").await, Ok(None)) }).await;
    wait_for(GC_TIMEOUT, || async {
        match cms.get_opt("owned").await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => {
                Err("ConfigMap still present (is kube-controller-manager's garbage collector running?)".to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}

#[tokio::test]
async fn service_and_pod_fixtures() {
    let ns = TestNamespace::new("service_and_pod_fixtures").await;
    let client = ns.client();
    create_load_balancer_service(
        client.clone(),
        ns.name(),
        "ingressgateway",
        &[("istio", "ingressgateway")],
        &[("http2", 80), ("https", 443)],
    )
    .await;
    let svc = set_load_balancer_ip(client.clone(), ns.name(), "ingressgateway", "192.0.2.10").await;
    let ingress = svc.status.and_then(|s| s.load_balancer).and_then(|lb| lb.ingress).unwrap_or_default();
    assert_eq!(ingress[0].ip.as_deref(), Some("192.0.2.10"));
    let svc = Api::<Service>::namespaced(client.clone(), ns.name()).get("ingressgateway").await.unwrap();
    assert_eq!(svc.spec.and_then(|s| s.type_).as_deref(), Some("LoadBalancer"));

    let pod = create_pod(client.clone(), ns.name(), "demo-0", &[("app", "demo")]).await;
    assert_eq!(pod.labels().get("app").map(String::as_str), Some("demo"));
}

#[tokio::test]
async fn operator_identity_is_restricted_by_rbac() {
    let ns = TestNamespace::new("operator_rbac").await;
    create_exposed_api(ns.client(), ns.name(), "visible", &[], exposed_api_spec("svc", "/v", 80)).await;

    let op = operator_client().await;
    let all: Api<DynamicObject> = Api::all_with(op.clone(), &exposed_api_resource());
    let list = all.list(&ListParams::default()).await.expect("operator can list exposedapis");
    assert!(list.items.iter().any(|o| o.name_any() == "visible" && o.namespace().as_deref() == Some(ns.name())));
    Api::<EndpointSlice>::all(op.clone())
        .list(&ListParams::default().limit(1))
        .await
        .expect("operator can list endpointslices");

    if !operator_identity_is_separate() {
        eprintln!("ODA_OPERATOR_KUBECONFIG is unset or equals KUBECONFIG: not checking what RBAC denies");
        return;
    }
    match Api::<Secret>::namespaced(op.clone(), ns.name()).list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("operator must not be able to list secrets, got {other:?}"),
    }
    let cms = Api::<ConfigMap>::namespaced(op, ns.name());
    match cms
        .create(
            &PostParams::default(),
            &ConfigMap { metadata: ObjectMeta { name: Some("x".into()), ..Default::default() }, ..Default::default() },
        )
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("operator must not be able to create configmaps, got {other:?}"),
    }
}

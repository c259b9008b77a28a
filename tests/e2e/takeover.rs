//! Restarts and take-over: converged objects stay untouched, whether the operator itself or the
//! reference (Python/kopf) operator left them; and Component propagation.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

use crate::operator::{Operator, exposed_apis, wait_for_field, wait_for_reason};
use crate::support::*;

/// resourceVersion of every ExposedAPI and VirtualService in the namespace.
async fn resource_versions(ns: &TestNamespace) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for (kind, resource) in [("ExposedAPI", exposed_api_resource()), ("VirtualService", virtual_service_resource())] {
        let list = dynamic_api(ns.client(), ns.name(), &resource).list(&ListParams::default()).await.unwrap();
        for obj in list.items {
            versions.insert(format!("{kind}/{}", obj.name_any()), obj.resource_version().unwrap_or_default());
        }
    }
    versions
}

#[tokio::test]
async fn a_restart_over_converged_apis_writes_nothing() {
    let ns = TestNamespace::new("restart").await;
    gateway_and_service(&ns).await;
    for i in 0..50 {
        create_exposed_api(
            ns.client(),
            ns.name(),
            &format!("api-{i}"),
            &[],
            exposed_api_spec("impl", &format!("/c/{i}"), 8080),
        )
        .await;
    }
    let operator = Operator::start(ns.name(), &[]).await;
    for i in 0..50 {
        wait_for_reason(ns.name(), &format!("api-{i}"), "Exposed").await;
    }
    operator.stop().await;
    let before = resource_versions(&ns).await;
    assert_eq!(before.len(), 100);

    let operator = Operator::start(ns.name(), &[]).await;
    // A sentinel created after the restart proves the new operator is reconciling; the others
    // were queued before it at start-up.
    create_exposed_api(ns.client(), ns.name(), "sentinel", &[], exposed_api_spec("impl", "/c/sentinel", 8080)).await;
    wait_for_reason(ns.name(), "sentinel", "Exposed").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut after = resource_versions(&ns).await;
    after.retain(|k, _| !k.ends_with("/sentinel"));
    assert_eq!(before, after, "a restart over converged ExposedAPIs must not write");
    operator.stop().await;
}

#[tokio::test]
async fn objects_left_by_the_reference_operator_are_taken_over_in_place() {
    let ns = TestNamespace::new("takeover").await;
    gateway_and_service(&ns).await;
    let labels = [("oda.tmforum.org/componentName", "c1"), ("app.kubernetes.io/managed-by", "Helm")];
    let path = "/c1/tmf-api/x/v4";
    let mut spec = exposed_api_spec("impl", path, 8080);
    spec["developerUI"] = json!(format!("{path}/docs"));
    let api = create_exposed_api(ns.client(), ns.name(), "c1-x", &labels, spec.clone()).await;

    // The VirtualService exactly as the reference leaves it (kopf adoption: labels, owner).
    let mut vs = dynamic_object(
        &virtual_service_resource(),
        ns.name(),
        "c1-x",
        &labels,
        json!({"spec": {
            "hosts": ["*"], "gateways": ["component-gateway"],
            "http": [{"match": [{"uri": {"prefix": path}}], "route": [{"destination": {"host": "impl", "port": {"number": 8080}}}]}]
        }}),
    );
    vs.metadata.owner_references = Some(vec![controller_owner_ref("oda.tmforum.org/v1", "ExposedAPI", &api.metadata)]);
    let vs_api = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    let vs = create_strict(&vs_api, &vs).await;

    // The ExposedAPI's status and kopf bookkeeping as the reference leaves them.
    let api_status = json!({
        "name": "c1-x", "uid": vs.metadata.uid, "path": path, "port": 8080, "implementation": "impl",
        "url": format!("https://20.1.2.3{path}"), "developerUI": format!("https://20.1.2.3{path}/docs"), "ip": "20.1.2.3"
    });
    let apis = exposed_apis(ns.name()).await;
    let essence = json!({"spec": spec, "metadata": {"labels": {"oda.tmforum.org/componentName": "c1"}}});
    let annotation = json!({"metadata": {"annotations": {
        "kopf.zalando.org/last-handled-configuration": format!("{essence}\n")
    }}});
    apis.patch("c1-x", &PatchParams::default(), &Patch::Merge(&annotation)).await.unwrap();
    let status =
        json!({"status": {"apiStatus": api_status, "implementation": {"ready": true}, "kopf": {"progress": {}}}});
    // Through /status where the CRD has that subresource, else through the object (as on the
    // Canvas CRD, where the reference wrote it so).
    if exposed_api_has_status_subresource().await {
        apis.patch_status("c1-x", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    } else {
        apis.patch("c1-x", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    }

    let _operator = Operator::start(ns.name(), &[]).await;
    let api = wait_for_reason(ns.name(), "c1-x", "Exposed").await;
    let after = vs_api.get("c1-x").await.unwrap();
    assert_eq!(after.metadata.uid, vs.metadata.uid, "not recreated");
    assert_eq!(after.resource_version(), vs.resource_version(), "not rewritten");
    assert_eq!(api.data["status"]["apiStatus"], api_status, "no URL or readiness flapping");
    assert_eq!(api.data["status"]["implementation"], json!({"ready": true}));
}

#[tokio::test]
async fn the_component_receives_url_and_readiness() {
    let ns = TestNamespace::new("component").await;
    gateway_and_service(&ns).await;
    let components = dynamic_api(ns.client(), ns.name(), &component_resource());
    let component = dynamic_object(&component_resource(), ns.name(), "c1", &[], json!({"spec": {}}));
    let component = create_strict(&components, &component).await;

    let mut api = dynamic_object(
        &exposed_api_resource(),
        ns.name(),
        "c1-x",
        &[],
        json!({"spec": exposed_api_spec("impl", "/c1/x", 8080)}),
    );
    api.metadata.owner_references =
        Some(vec![controller_owner_ref("oda.tmforum.org/v1", "Component", &component.metadata)]);
    let api = create_strict(&exposed_apis(ns.name()).await, &api).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_reason(ns.name(), "c1-x", "Exposed").await;

    // The Component operator records its entry later; propagation must still happen.
    let entries = json!({"status": {
        "coreAPIs": [{"name": "c1-x", "uid": api.metadata.uid, "ready": false}],
        "securityAPIs": [{"name": "c1-other", "uid": "someone-else", "ready": false}]
    }});
    components.patch("c1", &PatchParams::default(), &Patch::Merge(&entries)).await.unwrap();
    let component = wait_for(Duration::from_secs(60), || async {
        let c = components.get("c1").await.map_err(|e| e.to_string())?;
        match c.data.pointer("/status/coreAPIs/0/ready") {
            Some(v) if *v == json!(true) => Ok(c),
            other => Err(format!("coreAPIs[0].ready is {other:?}")),
        }
    })
    .await;
    assert_eq!(component.data["status"]["coreAPIs"][0]["url"], "https://20.1.2.3/c1/x");
    assert_eq!(
        component.data["status"]["securityAPIs"][0],
        json!({"name": "c1-other", "uid": "someone-else", "ready": false})
    );

    set_pod_ready(ns.client(), ns.name(), "impl-0", false).await;
    wait_for_field(ns.name(), "c1-x", "/status/implementation/ready", json!(false)).await;
    wait_for(Duration::from_secs(60), || async {
        let c = components.get("c1").await.ok()?;
        (c.data.pointer("/status/coreAPIs/0/ready") == Some(&json!(false))).then_some(())
    })
    .await;
}

//! `helm uninstall` of a component racing the operator: the Component is deleted (in the
//! background, and in the foreground), garbage collection deletes its ExposedAPIs while the operator
//! reconciles them. That is how APIs end: none may come back (a status write through the main
//! resource, on the Canvas CRD, would create it again), and nothing of it is an error: no error
//! counted, no Warning Event. Runs on both ExposedAPI CRD shapes.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
use serde_json::json;

use crate::operator::{Operator, exposed_apis, wait_for_reason};
use crate::support::*;

/// APIs per Component; every other one a metrics API, which carries the operator's finalizer
/// (pod annotations are removed before it goes).
const APIS: usize = 12;

#[tokio::test]
async fn an_uninstalled_component_s_apis_go_for_good_and_quietly() {
    let ns = TestNamespace::new("uninstall").await;
    gateway_and_service(&ns).await;
    let components = dynamic_api(ns.client(), ns.name(), &component_resource());
    let apis = exposed_apis(ns.name()).await;
    for component in ["background", "foreground"] {
        let owner = dynamic_object(&component_resource(), ns.name(), component, &[], json!({"spec": {}}));
        let owner = create_strict(&components, &owner).await;
        let mut entries = Vec::new();
        for i in 0..APIS {
            let name = format!("{component}-{i}");
            let mut spec = exposed_api_spec("impl", &format!("/{component}/{i}"), 8080);
            if i % 2 == 1 {
                spec["apiType"] = json!("prometheus");
            }
            let mut api = dynamic_object(&exposed_api_resource(), ns.name(), &name, &[], json!({ "spec": spec }));
            api.metadata.owner_references =
                Some(vec![controller_owner_ref("oda.tmforum.org/v1", "Component", &owner.metadata)]);
            let api = create_strict(&apis, &api).await;
            entries.push(json!({"name": name, "uid": api.uid(), "ready": false}));
        }
        // As the Component operator records them: each API's entry gets the URL and readiness.
        let status = json!({"status": {"coreAPIs": entries}});
        components.patch(component, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    }

    let operator = Operator::start(ns.name(), &["--openmetrics-implementation=PrometheusAnnotation"]).await;
    wait_for_reason(ns.name(), "background-0", "Exposed").await;
    let errors = operator.telemetry.metrics.total_errors();

    // The uninstall, while readiness flips keep every API being reconciled.
    let flipping = tokio::spawn({
        let (client, ns) = (ns.client(), ns.name().to_owned());
        async move {
            for ready in [false, true].into_iter().cycle().take(24) {
                set_pod_ready(client.clone(), &ns, "impl-0", ready).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    for (component, policy) in
        [("background", PropagationPolicy::Background), ("foreground", PropagationPolicy::Foreground)]
    {
        let params = DeleteParams { propagation_policy: Some(policy), ..Default::default() };
        components.delete(component, &params).await.unwrap();
    }
    wait_for(Duration::from_secs(90), || async {
        let left = apis.list_metadata(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let owners = components.list_metadata(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let left: Vec<String> = left.items.iter().map(|a| a.name_any()).collect();
        match (left.is_empty(), owners.items.is_empty()) {
            (true, true) => Ok(()),
            _ => Err(format!("ExposedAPIs left: {left:?}; Components left: {}", owners.items.len())),
        }
    })
    .await;
    flipping.await.unwrap();

    // Whatever was still queued has run: nothing came back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let left = apis.list_metadata(&ListParams::default()).await.unwrap();
    let left: Vec<String> = left.items.iter().map(|a| a.name_any()).collect();
    assert!(left.is_empty(), "ExposedAPIs re-created after their deletion: {left:?}");
    assert_eq!(operator.telemetry.metrics.total_errors(), errors, "the uninstall was counted as errors");
    let events: Api<Event> = Api::namespaced(ns.client(), ns.name());
    let warnings: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| e.regarding.as_ref().is_some_and(|r| r.kind.as_deref() == Some("ExposedAPI")))
        .map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect();
    assert!(warnings.is_empty(), "Warning Events about the uninstalled APIs: {warnings:#?}");
    operator.stop().await;
}

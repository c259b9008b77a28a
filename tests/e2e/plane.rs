//! The control plane is what the operator meets on a real cluster: a current Kubernetes with the
//! built-in APIs, and the real CRDs of the kinds it writes, whose schemas and CEL rules are enforced.

use kube::core::DynamicObject;
use kube::discovery::Discovery;
use serde_json::json;

use crate::support::*;

/// The oldest Kubernetes minor the Canvas runs on, and the one the project's own plane provides.
const CANVAS_MINOR: u32 = 29;
const TESTENV_MINOR: u32 = 34;

#[tokio::test]
async fn kubernetes_is_current_with_the_builtin_apis() {
    let client = admin_client().await;
    let version = client.apiserver_version().await.expect("server version");
    let minor: u32 = version.minor.trim_end_matches('+').parse().expect("numeric minor version");
    let oldest =
        if std::env::var("ODA_TESTENV_PLANE").as_deref() == Ok("local") { TESTENV_MINOR } else { CANVAS_MINOR };
    assert!(version.major == "1" && minor >= oldest, "Kubernetes {}.{} < 1.{oldest}", version.major, version.minor);

    let discovery = Discovery::new(client.clone()).run().await.expect("discovery");
    for (group, version) in [("discovery.k8s.io", "v1"), ("policy", "v1")] {
        let served = discovery.groups().find(|g| g.name() == group).is_some_and(|g| g.versions().any(|v| v == version));
        assert!(served, "{group}/{version} is served");
    }
    let crds =
        kube::Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(
            client,
        );
    assert!(crds.get_opt("endpointslices.discovery.k8s.io").await.unwrap().is_none(), "EndpointSlice is built in");
}

#[tokio::test]
async fn gateway_api_cel_rules_are_enforced() {
    let ns = TestNamespace::new("cel").await;
    let routes = dynamic_api(ns.client(), ns.name(), &http_route_resource());
    let route = |path: &str| -> DynamicObject {
        dynamic_object(
            &http_route_resource(),
            ns.name(),
            "r",
            &[],
            json!({"spec": {
                "parentRefs": [{"name": "gw"}],
                "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}]}],
            }}),
        )
    };
    let params = strict_apply();
    // A CEL rule of the HTTPRoute CRD: a PathPrefix value must be an absolute path.
    let rejected = routes.patch("r", &params, &kube::api::Patch::Apply(route("relative"))).await;
    match rejected {
        Err(kube::Error::Api(e)) if e.code == 422 => {
            assert!(e.message.contains("must be an absolute path"), "{}", e.message)
        }
        other => panic!("an HTTPRoute with a relative PathPrefix was not rejected: {other:?}"),
    }
    create_strict(&routes, &route("/ok")).await;
}

#[tokio::test]
async fn istio_schemas_reject_unknown_fields() {
    let ns = TestNamespace::new("istio-schema").await;
    let vs = dynamic_object(
        &virtual_service_resource(),
        ns.name(),
        "v",
        &[],
        json!({"spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "x", "weigth": 1}}]}]}}),
    );
    let params = strict_apply();
    let api = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    match api.patch("v", &params, &kube::api::Patch::Apply(&vs)).await {
        Err(kube::Error::Api(e)) => assert!(e.message.contains("weigth"), "{}", e.message),
        Ok(_) => panic!("a VirtualService with an unknown field was accepted"),
        Err(e) => panic!("{e}"),
    }
}

//! Policies of the ExposedAPI that no backend can enforce (`quota`, `OASValidation`, `template`):
//! reported on their own conditions, with a Warning Event, while the API is still published.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::operator::{Operator, exposed_apis, wait_for_field, wait_for_reason};
use crate::support::*;

/// `(status, reason)` of the condition of type `type_`.
fn status_reason(api: &DynamicObject, type_: &str) -> Option<(String, String)> {
    crate::operator::condition(api, type_).map(|(status, reason, _)| (status, reason))
}

fn with_policies(mut spec: Value) -> Value {
    spec["quota"] = json!({"identifier": "IP", "limit": "1000"});
    spec["OASValidation"] = json!({"requestEnabled": true, "responseEnabled": false});
    spec["template"] = json!("rate-limited");
    spec
}

#[tokio::test]
async fn unenforceable_policies_are_reported_and_the_api_is_still_published() {
    let ns = TestNamespace::new("policies").await;
    gateway_and_service(&ns).await;
    let spec = with_policies(exposed_api_spec("impl", "/p1", 8080));
    create_exposed_api(ns.client(), ns.name(), "p1", &[], spec).await;
    let operator = Operator::start(ns.name(), &[]).await;

    let api = wait_for_reason(ns.name(), "p1", "Exposed").await;
    for type_ in ["Quota", "OASValidation", "Template"] {
        assert_eq!(status_reason(&api, type_), Some(("False".into(), "NotSupported".into())), "{type_}");
    }
    assert!(status_reason(&api, "CORS").is_none(), "a policy not requested has no condition");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(ns.client(), ns.name());
    wait_for(Duration::from_secs(30), || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("PolicyNotSupported") && e.type_.as_deref() == Some("Warning"))
    })
    .await;

    // A converged restart with the policies on writes nothing.
    operator.stop().await;
    let before = exposed_apis(ns.name()).await.get("p1").await.unwrap().metadata.resource_version;
    let restarted = Operator::start(ns.name(), &[]).await;
    wait_for(Duration::from_secs(30), || async { restarted.telemetry.metrics.reconciles.get() > 0 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(restarted.telemetry.metrics.total_writes(), 0);
    assert_eq!(exposed_apis(ns.name()).await.get("p1").await.unwrap().metadata.resource_version, before);

    // A policy no longer requested loses its condition.
    let patch = json!({"spec": {"template": ""}});
    exposed_apis(ns.name()).await.patch("p1", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let api = wait_for(Duration::from_secs(60), || async {
        let a = exposed_apis(ns.name()).await.get("p1").await.ok()?;
        status_reason(&a, "Template").is_none().then_some(a)
    })
    .await;
    assert_eq!(status_reason(&api, "Quota"), Some(("False".into(), "NotSupported".into())));
    wait_for_field(ns.name(), "p1", "/status/implementation/ready", json!(true)).await;
}

async fn virtual_service(ns: &TestNamespace, name: &str) -> DynamicObject {
    let api = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    wait_for(Duration::from_secs(30), || async { api.get_opt(name).await.ok().flatten() }).await
}

async fn set_cors(ns: &TestNamespace, name: &str, cors: Value) {
    let patch = json!({"spec": {"CORS": cors}});
    exposed_apis(ns.name()).await.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

#[tokio::test]
async fn cors_goes_on_the_virtual_service_and_follows_the_spec() {
    let ns = TestNamespace::new("cors-istio").await;
    gateway_and_service(&ns).await;
    let mut spec = exposed_api_spec("impl", "/c1", 8080);
    spec["CORS"] = json!({"enabled": true, "allowCredentials": true, "allowOrigins": "https://a.example.org, https://*.example.com"});
    create_exposed_api(ns.client(), ns.name(), "c1", &[], spec).await;
    let operator = Operator::start(ns.name(), &[]).await;

    let api = wait_for_reason(ns.name(), "c1", "Exposed").await;
    assert_eq!(status_reason(&api, "CORS"), Some(("True".into(), "Applied".into())));
    let vs = virtual_service(&ns, "c1").await;
    assert_eq!(
        vs.data["spec"]["http"][0]["corsPolicy"],
        json!({
            "allowOrigins": [{"exact": "https://a.example.org"}, {"regex": "^https://[a-zA-Z0-9-]+\\.example\\.com$"}],
            "allowMethods": ["GET", "POST", "HEAD", "OPTIONS"],
            "allowHeaders": ["Origin", "Accept", "X-Requested-With", "Content-Type", "Access-Control-Request-Method", "Access-Control-Request-Headers"],
            "maxAge": "1800s",
            "allowCredentials": true
        })
    );

    // A converged restart with CORS on writes nothing.
    operator.stop().await;
    let restarted = Operator::start(ns.name(), &[]).await;
    wait_for(Duration::from_secs(30), || async { restarted.telemetry.metrics.reconciles.get() > 0 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(restarted.telemetry.metrics.total_writes(), 0);

    // An invalid value is reported on the policy, and the route stays, without CORS.
    set_cors(&ns, "c1", json!({"enabled": true, "allowOrigins": "ftp://nope"})).await;
    let api = wait_for(Duration::from_secs(60), || async {
        let a = exposed_apis(ns.name()).await.get("c1").await.ok()?;
        (status_reason(&a, "CORS")? == ("False".to_owned(), "InvalidSpec".to_owned())).then_some(a)
    })
    .await;
    assert!(api.data.pointer("/status/conditions").unwrap().to_string().contains("spec.CORS.allowOrigins"));
    wait_for(Duration::from_secs(30), || async {
        virtual_service(&ns, "c1").await.data["spec"]["http"][0].get("corsPolicy").is_none()
    })
    .await;

    // Off: no corsPolicy, no condition.
    set_cors(&ns, "c1", json!({"enabled": false})).await;
    wait_for(Duration::from_secs(60), || async {
        let a = exposed_apis(ns.name()).await.get("c1").await.ok()?;
        status_reason(&a, "CORS").is_none().then_some(())
    })
    .await;
    wait_for_reason(ns.name(), "c1", "Exposed").await;
}

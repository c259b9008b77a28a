//! The propagate step on the fake API server: the Component's entry patched only when it differs.

use serde_json::{Value, json};

use super::propagate::propagate;
use super::test_context::{Fixture, NS, UID, exposed_api, fixture, spec};
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

const STATUS: &str = "/apis/oda.tmforum.org/v1/namespaces/c1/components/comp/status";

/// An API owned by Component `comp`.
fn api() -> ExposedAPI {
    let mut api = exposed_api("a", spec("/c1/x", json!({})));
    let owner = json!({"apiVersion": "oda.tmforum.org/v1", "kind": "Component", "name": "comp", "uid": "comp-uid"});
    api.metadata.owner_references = Some(vec![serde_json::from_value(owner).unwrap()]);
    api
}

/// Component `comp` (uid `uid`) with this entry for the API.
fn component(fx: &mut Fixture, uid: &str, entry: Value) {
    let mut entry = entry;
    entry["uid"] = json!(UID);
    fx.component(json!({
        "apiVersion": "oda.tmforum.org/v1", "kind": "Component",
        "metadata": {"name": "comp", "namespace": NS, "uid": uid}, "status": {"coreAPIs": [entry]},
    }));
}

fn status() -> ExposedApiStatus {
    serde_json::from_value(json!({"apiStatus": {"url": "http://gw/c1/x"}, "implementation": {"ready": true}})).unwrap()
}

#[tokio::test]
async fn an_entry_that_differs_is_patched_under_the_component_field_manager() {
    let mut fx = fixture();
    component(&mut fx, "comp-uid", json!({"name": "a", "url": "http://old", "ready": false}));
    propagate(&fx.ctx, &api(), &status()).await.unwrap();
    let writes = fx.api.writes();
    assert_eq!(writes.iter().map(|w| w.line()).collect::<Vec<_>>(), [format!("PATCH {STATUS}")]);
    assert_eq!(writes[0].manager().as_deref(), Some("oda-api-operator/component"));
    assert_eq!(writes[0].body[0], json!({"op": "test", "path": "/metadata/uid", "value": "comp-uid"}));
    let component = fx.api.get(STATUS.trim_end_matches("/status")).unwrap();
    assert_eq!(component["status"]["coreAPIs"][0]["url"], "http://gw/c1/x");
    assert_eq!(component["status"]["coreAPIs"][0]["ready"], true);
}

#[tokio::test]
async fn an_entry_that_already_says_it_is_not_written() {
    let mut fx = fixture();
    component(&mut fx, "comp-uid", json!({"name": "a", "url": "http://gw/c1/x", "ready": true}));
    propagate(&fx.ctx, &api(), &status()).await.unwrap();
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn a_component_not_cached_or_replaced_gets_nothing() {
    let mut fx = fixture();
    propagate(&fx.ctx, &api(), &status()).await.unwrap();
    component(&mut fx, "another-uid", json!({"name": "a"}));
    propagate(&fx.ctx, &api(), &status()).await.unwrap();
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn a_component_gone_meanwhile_is_not_an_error_but_a_refusal_is() {
    let mut fx = fixture();
    component(&mut fx, "comp-uid", json!({"name": "a"}));
    fx.api.fail("PATCH", "/components/", 404);
    propagate(&fx.ctx, &api(), &status()).await.unwrap();
    let mut fx = fixture();
    component(&mut fx, "comp-uid", json!({"name": "a"}));
    fx.api.fail("PATCH", "/components/", 500);
    let error = propagate(&fx.ctx, &api(), &status()).await.unwrap_err();
    assert_eq!(error.category(), "PropagationFailed");
}

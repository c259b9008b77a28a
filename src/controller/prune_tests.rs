//! The one prune on the fake API server: what the plan does not want goes, and nothing else.

use serde_json::json;

use super::journal::Journal;
use super::prune::{Routes, prune};
use super::test_context::{Fixture, NS, Recorded, exposed_api, fixture, owned, spec, valid};
use crate::backend::gateway_api::http_route_resource;
use crate::backend::gateway_policy::PerApi;
use crate::backend::istio::virtual_service_resource;
use crate::backend::plan::{GatewayFacts, plan};
use crate::backend::scrape::service_monitor::service_monitor_resource;
use crate::config::VirtualServiceVersion;
use crate::core::gateway_class::Enforcer;
use crate::exposed_api::ExposedAPI;

const VS: &str = "/apis/networking.istio.io/v1alpha3/namespaces/c1/virtualservices/a";
const HR: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/c1/httproutes/a";
const SM: &str = "/apis/monitoring.coreos.com/v1/namespaces/c1/servicemonitors/a";
const FILTER: &str = "/apis/networking.istio.io/v1alpha3/namespaces/istio-ingress/envoyfilters/oda-rl.c1.a";

fn api() -> ExposedAPI {
    exposed_api("a", spec("/c1/x", json!({})))
}

/// The prune of `api`'s plan (as for an unknown GatewayClass), its routes as given; its notes.
async fn prune_with(fx: &Fixture, api: &ExposedAPI, routes: Routes) -> Vec<String> {
    let valid = valid(api);
    let facts = GatewayFacts { class: None, enforcer: &Enforcer::Unknown, engine: None, external: false };
    let desired = plan(&valid, &api.spec, (&fx.ctx.config, &fx.ctx.backends), facts).unwrap();
    let journal = Journal::default();
    prune(&fx.ctx, api, (&valid, &desired), routes, &journal).await.unwrap();
    journal.take()
}

fn owned_object() -> serde_json::Value {
    json!({"metadata": {"name": "a", "namespace": NS, "uid": "old-uid", "ownerReferences": owned()}})
}

#[tokio::test]
async fn the_api_s_route_of_the_former_backend_goes_once_the_new_one_is_applied() {
    let mut fx = fixture();
    fx.observe(&http_route_resource(), owned_object());
    assert!(prune_with(&fx, &api(), Routes::Unsettled).await.is_empty(), "it keeps serving meanwhile");
    assert!(fx.api.writes().is_empty());
    let notes = prune_with(&fx, &api(), Routes::Applied).await;
    let writes = fx.api.writes();
    assert_eq!(writes.iter().map(Recorded::line).collect::<Vec<_>>(), [format!("DELETE {HR}")]);
    assert_eq!(writes[0].body["preconditions"]["uid"], "old-uid", "only the object observed is deleted");
    assert_eq!(notes, ["Deleted HTTPRoute a: ROUTE_BACKEND is VirtualService"]);
}

#[tokio::test]
async fn a_route_of_the_former_kind_that_is_not_the_api_s_is_left_alone() {
    let mut fx = fixture();
    fx.observe(&http_route_resource(), json!({"metadata": {"name": "a", "namespace": NS}}));
    prune_with(&fx, &api(), Routes::Applied).await;
    assert!(fx.api.writes().is_empty());
}

#[tokio::test]
async fn withholding_removes_the_api_s_routes_of_every_kind_and_nothing_else() {
    let mut fx = fixture();
    let vs = virtual_service_resource(VirtualServiceVersion::V1alpha3);
    fx.observe(&vs, owned_object());
    fx.observe(&http_route_resource(), json!({"metadata": {"name": "a", "namespace": NS}}));
    let notes = prune_with(&fx, &api(), Routes::Withheld).await;
    assert_eq!(fx.api.write_lines(), [format!("DELETE {VS}")], "the foreign HTTPRoute stays");
    assert!(notes[0].ends_with("API keys are required and cannot be verified"));
}

#[tokio::test]
async fn an_api_that_is_no_longer_scraped_loses_its_service_monitor() {
    let mut fx = fixture();
    fx.observe(&service_monitor_resource(), owned_object());
    prune_with(&fx, &api(), Routes::Unsettled).await;
    assert_eq!(fx.api.write_lines(), [format!("DELETE {SM}")]);
    // A metrics API keeps it.
    let mut fx = fixture();
    fx.observe(&service_monitor_resource(), owned_object());
    let metrics = exposed_api("a", spec("/c1/metrics", json!({"apiType": "prometheus", "port": 4000})));
    prune_with(&fx, &metrics, Routes::Applied).await;
    assert!(fx.api.writes().is_empty());
}

#[tokio::test]
async fn a_gateway_object_no_longer_requested_goes_and_a_foreign_one_stays() {
    // The rate-limit EnvoyFilter an earlier reconcile wrote for the API, labelled for `uid`.
    let written_for = |fx: &mut Fixture, uid: &str| {
        let limited = exposed_api("a", spec("/c1/x", json!({"rateLimit": {"enabled": true, "limit": "10"}})));
        let valid = valid(&limited);
        let engine = fx.ctx.backends.engine_for(None).map(|e| e.as_ref());
        let facts = GatewayFacts { class: None, enforcer: &Enforcer::Unknown, engine, external: false };
        let desired = plan(&valid, &limited.spec, (&fx.ctx.config, &fx.ctx.backends), facts).unwrap();
        let mut filter = serde_json::to_value(&desired.engine[0]).unwrap();
        filter["metadata"]["labels"]["oda.tmforum.org/exposedapi-uid"] = json!(uid);
        filter["metadata"]["uid"] = json!("rl-uid");
        fx.observe(&PerApi::RateLimit.resource(), filter);
    };
    let mut fx = fixture();
    written_for(&mut fx, "api-uid");
    let notes = prune_with(&fx, &api(), Routes::Applied).await;
    assert_eq!(fx.api.write_lines(), [format!("DELETE {FILTER}")]);
    assert_eq!(notes, ["Deleted EnvoyFilter oda-rl.c1.a: the policy is no longer requested of Istio"]);
    let mut fx = fixture();
    written_for(&mut fx, "someone-else");
    prune_with(&fx, &api(), Routes::Applied).await;
    assert!(fx.api.writes().is_empty());
}

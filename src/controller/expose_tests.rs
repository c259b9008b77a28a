//! The expose step on the fake API server: what it writes, and what it refuses to.

use kube::core::DynamicObject;
use kube::runtime::watcher::Event;
use serde_json::json;

use super::events::Journal;
use super::expose::expose;
use super::test_context::{Fixture, NS, Recorded, as_json, exposed_api, fixture, spec, valid};
use crate::backend::istio::virtual_service_resource;
use crate::backend::route::Claims;
use crate::config::VirtualServiceVersion;
use crate::core::status::{Outcome, ReadyReason};
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

const VS: &str = "/apis/networking.istio.io/v1alpha3/namespaces/c1/virtualservices/a";

fn api() -> ExposedAPI {
    exposed_api("a", spec("/c1/x", json!({})))
}

/// The route the plan wants for the API.
fn route(fx: &Fixture, valid: &ValidApi) -> DynamicObject {
    fx.ctx.backends.route.desired(valid).unwrap()
}

fn blocked(outcome: &Outcome<'_>) -> Option<ReadyReason> {
    match outcome {
        Outcome::Blocked { reason, .. } => Some(*reason),
        Outcome::Applied { .. } => None,
    }
}

#[tokio::test]
async fn a_new_route_is_applied_by_the_operator_with_force_and_strict_validation() {
    let fx = fixture();
    let (api, journal) = (api(), Journal::default());
    let valid = valid(&api);
    let outcome = expose(&fx.ctx, &api, (&valid, &route(&fx, &valid)), &journal).await.unwrap();
    assert!(matches!(outcome, Outcome::Applied { route_uid: Some(_), .. }), "{outcome:?}");
    let writes = fx.api.writes();
    assert_eq!(writes.iter().map(Recorded::line).collect::<Vec<_>>(), [format!("PATCH {VS}")]);
    assert_eq!(writes[0].manager().as_deref(), Some("oda-api-operator"));
    assert!(writes[0].query.contains("force=true") && writes[0].query.contains("fieldValidation=Strict"));
    assert_eq!(writes[0].body["metadata"]["ownerReferences"][0]["uid"], "api-uid");
    assert_eq!(journal.take(), ["Created VirtualService a"]);
}

#[tokio::test]
async fn a_cached_route_that_already_matches_is_not_written() {
    let mut fx = fixture();
    let api = api();
    let valid = valid(&api);
    let desired = route(&fx, &valid);
    fx.observe(&virtual_service_resource(VirtualServiceVersion::V1alpha3), as_json(&desired));
    let outcome = expose(&fx.ctx, &api, (&valid, &route(&fx, &valid)), &Journal::default()).await.unwrap();
    assert!(matches!(outcome, Outcome::Applied { route_uid: Some(_), .. }));
    assert!(fx.api.requests().is_empty(), "{:?}", fx.api.requests());
}

#[tokio::test]
async fn a_cached_route_that_drifted_is_applied_again() {
    let mut fx = fixture();
    let api = api();
    let valid = valid(&api);
    let mut desired = as_json(&route(&fx, &valid));
    desired["spec"]["hosts"] = json!(["elsewhere"]);
    fx.observe(&virtual_service_resource(VirtualServiceVersion::V1alpha3), desired);
    let journal = Journal::default();
    expose(&fx.ctx, &api, (&valid, &route(&fx, &valid)), &journal).await.unwrap();
    assert_eq!(fx.api.write_lines(), [format!("PATCH {VS}")]);
    assert_eq!(journal.take(), ["Updated VirtualService a"]);
}

#[tokio::test]
async fn a_same_named_route_the_api_does_not_control_is_not_owned_and_left_alone() {
    let mut fx = fixture();
    let api = api();
    let foreign = json!({"metadata": {"name": "a", "namespace": NS}, "spec": {"hosts": ["*"]}});
    fx.observe(&virtual_service_resource(VirtualServiceVersion::V1alpha3), foreign);
    let valid = valid(&api);
    let outcome = expose(&fx.ctx, &api, (&valid, &route(&fx, &valid)), &Journal::default()).await.unwrap();
    assert_eq!(blocked(&outcome), Some(ReadyReason::NotOwned));
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn a_key_another_route_claims_is_a_conflict_and_nothing_is_written() {
    let fx = fixture();
    let api = api();
    let valid = valid(&api);
    let key = fx.ctx.backends.route.route_key(&valid);
    let claims = Claims { route: (NS.into(), "other".into()), keys: vec![key.clone()] };
    fx.ctx.state.routes.write().handle(&Event::Apply(claims));
    let outcome = expose(&fx.ctx, &api, (&valid, &route(&fx, &valid)), &Journal::default()).await.unwrap();
    let Outcome::Blocked { reason: ReadyReason::RouteConflict, message } = outcome else { panic!("{outcome:?}") };
    assert!(message.contains("'other.c1'"), "{message}");
    assert!(fx.api.requests().is_empty());
    let woken = fx.ctx.state.waiters.lock().take(&[key]);
    assert_eq!(woken, [(NS.to_owned(), "a".to_owned())], "the API waits for the key to be free");
}

#[tokio::test]
async fn a_refused_apply_is_an_apply_error_naming_the_route() {
    let fx = fixture();
    fx.api.fail("PATCH", "virtualservices", 403);
    let api = api();
    let error =
        expose(&fx.ctx, &api, (&valid(&api), &route(&fx, &valid(&api))), &Journal::default()).await.unwrap_err();
    assert_eq!(error.category(), "ApplyFailed");
    assert!(error.to_string().contains("VirtualService c1/a"), "{error}");
}

//! The policy-engine step on the fake API server with an engine that places its objects in the
//! gateway namespace (Istio's): the finalizer first, each object after its shared one, never over a
//! foreign one, released on deletion.

use serde_json::json;

use super::engine::{self, Engaged};
use super::events::Journal;
use super::test_context::{Fixture, NS, Setup, as_json, exposed_api, fixture, spec, valid};
use crate::backend::gateway_policy::{PerApi, Shared};
use crate::backend::plan::{GatewayFacts, plan};
use crate::core::gateway_class::Enforcer;
use crate::core::policy::Enforcement;
use crate::exposed_api::ExposedAPI;

const GW: &str = "istio-ingress";
const FILTERS: &str = "/apis/networking.istio.io/v1alpha3/namespaces/istio-ingress/envoyfilters";
const API: &str = "/apis/oda.tmforum.org/v1/namespaces/c1/exposedapis/a";

fn limited() -> ExposedAPI {
    exposed_api("a", spec("/c1/x", json!({"rateLimit": {"enabled": true, "limit": "10"}})))
}

fn keyed() -> ExposedAPI {
    exposed_api("a", spec("/c1/x", json!({"apiKeyVerification": {"enabled": true}})))
}

/// A context whose configuration names a token issuer (so `apiKeyVerification` is enforceable).
fn with_issuer() -> Fixture {
    let mut setup = Setup::default();
    setup.config.policy.jwt_issuer = Some("https://idp.example".into());
    setup.build()
}

/// What the step made of the API's policies: each object's state, a failure, whether placed.
struct Enforced {
    rate_limit: Enforcement,
    api_keys: Enforcement,
    failure: Option<super::error::ReconcileError>,
    placed: bool,
}

/// The gateway objects `api` wants (as the plan has them).
fn planned(fx: &Fixture, api: &ExposedAPI) -> Vec<kube::core::DynamicObject> {
    let engine = fx.ctx.backends.engine_for(None).map(|e| e.as_ref());
    let facts = GatewayFacts { class: None, enforcer: &Enforcer::Unknown, engine, external: false };
    plan(&valid(api), &api.spec, (&fx.ctx.config, &fx.ctx.backends), facts).unwrap().engine
}

/// The step run on what `api` wants, read back from the verdict's conditions.
async fn enforce(fx: &Fixture, api: &ExposedAPI) -> Enforced {
    let engine = fx.ctx.backends.engine_for(None).unwrap().as_ref();
    let desired = planned(fx, api);
    let Engaged { verdict, failure, placed } =
        engine::engage(&fx.ctx, api, (&valid(api), None), (engine, &desired), &Journal::default()).await.unwrap();
    let state = |type_: &str| match verdict.conditions.iter().find(|c| c.type_ == type_) {
        Some(c) if !c.status && c.reason == "NotOwned" => Enforcement::NotOwned(c.message.clone()),
        Some(c) if !c.status && c.reason == "ApplyFailed" => Enforcement::Failed(c.message.clone()),
        _ => Enforcement::Enforced,
    };
    Enforced { rate_limit: state("RateLimit"), api_keys: state("APIKeyVerification"), failure, placed }
}

/// Caches the objects `api` wants, as written by an earlier reconcile.
fn observe_written(fx: &mut Fixture, api: &ExposedAPI) {
    for object in planned(fx, api) {
        let kind = crate::backend::gateway_policy::policy_kind(&object.metadata).unwrap();
        fx.observe(&kind.resource(), as_json(&object));
    }
}

#[tokio::test]
async fn a_rate_limit_sets_the_finalizer_then_applies_the_shared_filter_and_the_api_s_own() {
    let fx = fixture();
    let api = limited();
    fx.store_api(&api);
    let enforced = enforce(&fx, &api).await;
    assert_eq!(enforced.rate_limit, Enforcement::Enforced);
    assert!(enforced.placed && enforced.failure.is_none());
    let shared = Shared::RateLimitFilter.name();
    assert_eq!(
        fx.api.write_lines(),
        [format!("PATCH {API}"), format!("PATCH {FILTERS}/{shared}"), format!("PATCH {FILTERS}/oda-rl.c1.a")]
    );
    assert_eq!(fx.stored_api("a")["metadata"]["finalizers"], json!(["oda.tmforum.org/exposedapi-cleanup"]));
    assert!(fx.api.writes()[1..].iter().all(|w| w.manager().as_deref() == Some("oda-api-operator")));
}

#[tokio::test]
async fn objects_already_in_place_are_not_written_again() {
    let mut fx = fixture();
    let mut api = limited();
    api.metadata.finalizers = Some(vec!["oda.tmforum.org/exposedapi-cleanup".into()]);
    observe_written(&mut fx, &api);
    let shared = fx.ctx.backends.gateway.shared(Shared::RateLimitFilter, &fx.ctx.backends.policy_target(NS).unwrap());
    fx.observe(&Shared::RateLimitFilter.resource(), as_json(&shared.unwrap().unwrap()));
    assert_eq!(enforce(&fx, &api).await.rate_limit, Enforcement::Enforced);
    assert!(fx.api.writes().is_empty(), "{:?}", fx.api.write_lines());
}

#[tokio::test]
async fn a_foreign_object_of_the_api_s_name_is_not_owned_and_left_alone() {
    let mut fx = fixture();
    let api = limited();
    fx.store_api(&api);
    fx.observe(&PerApi::RateLimit.resource(), json!({"metadata": {"name": "oda-rl.c1.a", "namespace": GW}}));
    let enforced = enforce(&fx, &api).await;
    assert!(matches!(enforced.rate_limit, Enforcement::NotOwned(_)), "{:?}", enforced.rate_limit);
    assert!(!fx.api.write_lines().iter().any(|w| w.ends_with("/oda-rl.c1.a")));
}

#[tokio::test]
async fn a_foreign_shared_object_is_not_owned_and_the_api_s_object_waits() {
    let mut fx = fixture();
    let api = limited();
    fx.store_api(&api);
    let name = Shared::RateLimitFilter.name();
    fx.observe(&Shared::RateLimitFilter.resource(), json!({"metadata": {"name": name, "namespace": GW}}));
    let enforced = enforce(&fx, &api).await;
    assert!(matches!(enforced.rate_limit, Enforcement::NotOwned(_)));
    assert_eq!(fx.api.write_lines(), [format!("PATCH {API}")], "only the finalizer");
}

#[tokio::test]
async fn a_required_token_gets_its_request_authentication_and_authorization_policy() {
    let fx = with_issuer();
    let api = keyed();
    fx.store_api(&api);
    let enforced = enforce(&fx, &api).await;
    assert_eq!(enforced.api_keys, Enforcement::Enforced);
    let lines = fx.api.write_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].contains("/requestauthentications/") && lines[2].ends_with("/authorizationpolicies/oda-authn.c1.a")
    );
}

#[tokio::test]
async fn a_refused_write_is_reported_as_failed_and_returned_for_backoff() {
    let fx = with_issuer();
    let api = keyed();
    fx.store_api(&api);
    fx.api.fail("PATCH", "authorizationpolicies", 403);
    let enforced = enforce(&fx, &api).await;
    assert!(matches!(enforced.api_keys, Enforcement::Failed(_)), "{:?}", enforced.api_keys);
    assert_eq!(enforced.failure.map(|e| e.category()), Some("ApplyFailed"));
}

#[tokio::test]
async fn on_deletion_the_api_s_objects_go_and_foreign_ones_stay() {
    let mut fx = with_issuer();
    observe_written(&mut fx, &limited());
    fx.observe(&PerApi::ApiKey.resource(), json!({"metadata": {"name": "oda-authn.c1.a", "namespace": GW}}));
    engine::release(&fx.ctx, &limited(), 0).await.unwrap();
    assert_eq!(fx.api.write_lines(), [format!("DELETE {FILTERS}/oda-rl.c1.a")]);
}

use serde_json::json;

use super::*;
use crate::backend::istio::VirtualServiceRoute;
use crate::backend::policy_engine::Failure;
use crate::config::OperatorConfig;
use crate::core::api_keys::Location;
use crate::core::fixtures::short_api;
use crate::core::policy::{API_KEY_VERIFICATION, APPLIED_AS_JWT, APPLY_FAILED, NOT_OWNED, NOT_SUPPORTED, RATE_LIMIT};
use crate::core::rate_limit::{ClientKey, Interval, RateLimit};
use crate::core::status::ConditionSpec;

fn config() -> PolicyConfig {
    PolicyConfig { jwt_issuer: Some("https://idp".into()), ..Default::default() }
}

fn engine(installed: Installed) -> IstioEngine {
    let route: Arc<dyn Route> = Arc::new(VirtualServiceRoute::new(&OperatorConfig::default()));
    IstioEngine::new(&route, &config(), installed).unwrap()
}

/// An API with a rate limit and a required token, and its spec.
fn guarded() -> (ValidApi, ExposedApiSpec) {
    let limit = RateLimit { limit: 3, interval: Interval::Minute, client: ClientKey::RemoteAddress };
    let api =
        ValidApi { uid: Some("u1".into()), rate_limit: Some(limit), api_keys: Some(Location::Default), ..short_api() };
    let spec = serde_json::from_value(json!({
        "path": api.path, "port": 8080, "implementation": api.implementation,
        "rateLimit": {"enabled": true, "limit": "3", "interval": "pm"},
        "apiKeyVerification": {"enabled": true},
    }))
    .unwrap();
    (api, spec)
}

fn target() -> PolicyTarget<'static> {
    PolicyTarget { kind: "VirtualService", name: "x", gateway: ("istio-ingress", "g"), implementation: None }
}

fn condition<'c>(conditions: &'c [ConditionSpec], type_: &str) -> &'c ConditionSpec {
    conditions.iter().find(|c| c.type_ == type_).unwrap()
}

#[test]
fn a_rate_limit_and_a_token_become_labelled_objects_in_the_gateway_namespace_each_with_its_shared_one() {
    let engine = engine(Installed::ALL);
    let (api, _) = guarded();
    let objects = engine.desired(&api, &target(), &config()).unwrap();
    let names: Vec<_> =
        objects.iter().map(|o| (o.types.clone().unwrap().kind, o.metadata.name.clone().unwrap())).collect();
    assert_eq!(names[0].0, "EnvoyFilter");
    assert_eq!(names[1], ("AuthorizationPolicy".into(), format!("oda-authn.{}.{}", api.namespace, api.name)));
    assert!(objects.iter().all(|o| o.metadata.namespace.as_deref() == Some("istio-ingress")));
    assert!(objects.iter().all(|o| engine.is_ours(&o.metadata, "u1") && !engine.is_ours(&o.metadata, "u2")));
    let shared: Vec<_> = objects.iter().map(|o| engine.shared(o).unwrap().unwrap().metadata.name.unwrap()).collect();
    assert_eq!(shared, [gateway_policy::RATE_LIMIT_FILTER, gateway_policy::TOKEN_RULE]);
    let token_rule = engine.shared(&objects[1]).unwrap().unwrap();
    assert!(engine.is_shared(&token_rule.metadata, &token_rule));
    assert!(!engine.is_shared(&ObjectMeta::default(), &token_rule), "a foreign object of the name");
    // The prune and the release look up exactly these names.
    let slots: Vec<_> = engine.slots(&api.namespace, &api.name, "ignored").into_iter().map(|s| s.name).collect();
    assert_eq!(slots, names.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>());
}

#[test]
fn without_its_crds_nothing_is_written_and_the_policies_say_so() {
    let engine = engine(Installed { envoy_filter: false, istio_security: false, ..Installed::ALL });
    let (api, spec) = guarded();
    assert!(engine.desired(&api, &target(), &config()).unwrap().is_empty());
    assert!(engine.kinds().is_empty() && engine.slots("c1", "a", "a").is_empty());
    let verdict = engine.verdict(&spec, &api, &target(), &config(), &[]);
    let limit = condition(&verdict.conditions, RATE_LIMIT);
    assert_eq!((limit.reason, limit.message.contains("EnvoyFilter CRD is not installed")), (NOT_SUPPORTED, true));
    assert_eq!(condition(&verdict.conditions, API_KEY_VERIFICATION).reason, NOT_SUPPORTED);
    assert_eq!(verdict.api_keys, Enforcement::Enforced, "unenforceable is the plan's matter, not the object's");
}

#[test]
fn the_verdict_follows_each_object_s_fate() {
    let engine = engine(Installed::ALL);
    let (api, spec) = guarded();
    let objects = engine.desired(&api, &target(), &config()).unwrap();
    let fates = |limit, token| {
        let observed = [
            Observed { desired: &objects[0], current: None, failure: limit },
            Observed { desired: &objects[1], current: None, failure: token },
        ];
        engine.verdict(&spec, &api, &target(), &config(), &observed)
    };
    let written = fates(None, None);
    assert_eq!(condition(&written.conditions, API_KEY_VERIFICATION).reason, APPLIED_AS_JWT);
    assert_eq!((written.api_keys, written.not_in_force), (Enforcement::Enforced, None));
    let refused = fates(Some(Failure::NotOwned("someone's")), Some(Failure::Failed("403")));
    assert_eq!(condition(&refused.conditions, RATE_LIMIT).reason, NOT_OWNED);
    assert_eq!(condition(&refused.conditions, API_KEY_VERIFICATION).reason, APPLY_FAILED);
    assert_eq!(refused.api_keys, Enforcement::Failed("403".into()), "the route is withheld (fail closed)");
}

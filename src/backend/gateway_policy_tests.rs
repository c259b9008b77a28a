use super::*;
use crate::core::fixtures::core_api;
use crate::core::rate_limit::Interval;

fn workload() -> PolicyTarget {
    PolicyTarget {
        namespace: "istio-ingress".into(),
        attach: Attach::Workload(BTreeMap::from([("istio".into(), "ingressgateway".into())])),
    }
}

fn route() -> RouteRef<'static> {
    RouteRef { envoy_route: "components.api", paths: vec!["/p*".into()] }
}

fn policies(per_client: bool) -> GatewayPolicies {
    GatewayPolicies { per_client, issuer: Some("https://idp/realms/odari".into()), jwks_uri: None, audiences: vec![] }
}

#[test]
fn per_client_rate_limit_patches_the_route_by_name() {
    let limit = RateLimit { limit: 100, interval: Interval::Minute, client: ClientKey::RemoteAddress };
    let filter = policies(true).rate_limit(&core_api(), &workload(), &route(), &limit).unwrap();
    let name = "oda-rl.components.prdcat3-productcatalogmanagement-productcatalogmanagement";
    assert_eq!(filter.metadata.name.as_deref(), Some(name));
    assert_eq!(filter.metadata.namespace.as_deref(), Some("istio-ingress"));
    let spec = &filter.data["spec"];
    assert_eq!(spec["workloadSelector"], json!({"labels": {"istio": "ingressgateway"}}));
    let patch = &spec["configPatches"][0];
    assert_eq!(patch["match"]["routeConfiguration"]["vhost"]["route"]["name"], "components.api");
    let value = &patch["patch"]["value"];
    // The actions sit in the filter's own config; route-level ones are deprecated in Envoy 1.40.
    assert!(value.get("route").is_none(), "no route-level rate_limits: {value}");
    let config = &value["typed_per_filter_config"][LOCAL_RATE_LIMIT];
    assert_eq!(config["rate_limits"], json!([{"actions": [{"remote_address": {}}]}]));
    assert_eq!(config["descriptors"][0]["entries"], json!([{"key": "remote_address", "value": ""}]));
    assert_eq!(config["max_dynamic_descriptors"], MAX_CLIENT_BUCKETS);
    let bucket = json!({"max_tokens": 100, "tokens_per_fill": 100, "fill_interval": "60s"});
    assert_eq!(config["token_bucket"], bucket);
    assert_eq!(config["descriptors"][0]["token_bucket"], bucket);
    assert_eq!(config["always_consume_default_token_bucket"], false);
    assert_eq!(config["filter_enforced"]["default_value"]["numerator"], 100);
    let labels = filter.metadata.labels.unwrap();
    assert_eq!(labels[API_UID_LABEL], "e715b931-4413-4cee-9f84-f747471063c4");
    assert_eq!(labels[API_NAMESPACE_LABEL], "components");
}

#[test]
fn a_shared_bucket_without_per_client_support() {
    let limit = RateLimit { limit: 5, interval: Interval::Second, client: ClientKey::Header("x-key".into()) };
    let filter = policies(false).rate_limit(&core_api(), &workload(), &route(), &limit).unwrap();
    let value = &filter.data["spec"]["configPatches"][0]["patch"]["value"];
    assert!(value.get("route").is_none());
    let config = &value["typed_per_filter_config"][LOCAL_RATE_LIMIT];
    assert!(config.get("descriptors").is_none() && config.get("rate_limits").is_none());
    let limit = RateLimit { limit: 5, interval: Interval::Second, client: ClientKey::Header("x-key".into()) };
    let filter = policies(true).rate_limit(&core_api(), &workload(), &route(), &limit).unwrap();
    let value = &filter.data["spec"]["configPatches"][0]["patch"]["value"];
    assert!(value.get("route").is_none());
    let config = &value["typed_per_filter_config"][LOCAL_RATE_LIMIT];
    assert_eq!(
        config["rate_limits"][0]["actions"][0],
        json!({"request_headers": {"header_name": "x-key", "descriptor_key": "x-key"}})
    );
    assert_eq!(config["descriptors"][0]["entries"], json!([{"key": "x-key", "value": ""}]));
}

#[test]
fn tokens_are_required_by_a_path_scoped_deny() {
    let policy = policies(true).deny_without_token(&core_api(), &workload(), &route(), "https://idp").unwrap();
    let spec = &policy.data["spec"];
    assert_eq!(spec["action"], "DENY");
    assert_eq!(spec["selector"], json!({"matchLabels": {"istio": "ingressgateway"}}));
    assert_eq!(spec["rules"][0]["from"][0]["source"]["notRequestPrincipals"], json!(["https://idp/*"]));
    assert_eq!(spec["rules"][0]["to"][0]["operation"], json!({"paths": ["/p*"], "notMethods": ["OPTIONS"]}));
}

#[test]
fn shared_objects_select_the_gateway() {
    let gateway = PolicyTarget { namespace: "canvas".into(), attach: Attach::Gateway("component-gateway".into()) };
    let filter = policies(true).shared(Shared::RateLimitFilter, &gateway).unwrap().unwrap();
    assert_eq!(filter.metadata.name.as_deref(), Some(RATE_LIMIT_FILTER));
    assert_eq!(filter.data["spec"]["targetRefs"][0]["name"], "component-gateway");
    assert_eq!(filter.data["spec"]["configPatches"][0]["patch"]["operation"], "INSERT_BEFORE");
    assert!(is_shared(&filter.metadata, Shared::RateLimitFilter));
    let rule = policies(true).shared(Shared::TokenRule, &workload()).unwrap().unwrap();
    assert_eq!(
        rule.data["spec"]["jwtRules"],
        json!([{"issuer": "https://idp/realms/odari", "forwardOriginalToken": true}])
    );
    let no_issuer = GatewayPolicies { issuer: None, ..policies(true) };
    assert!(no_issuer.shared(Shared::TokenRule, &workload()).unwrap().is_none());
}

#[test]
fn names_are_unique_bounded_and_recognised() {
    assert_ne!(PerApi::RateLimit.object_name("a", "b-c"), PerApi::RateLimit.object_name("a-b", "c"));
    let long = "n".repeat(253);
    let name = PerApi::ApiKey.object_name("ns", &long);
    assert!(name.len() <= 253 && name != PerApi::ApiKey.object_name("ns", &"n".repeat(252)));
    let policy = policies(true).deny_without_token(&core_api(), &workload(), &route(), "https://idp").unwrap();
    let (ns, uid, kind) = written_for(&policy.metadata).unwrap();
    assert_eq!(
        (ns.as_str(), uid.as_str(), kind),
        ("components", "e715b931-4413-4cee-9f84-f747471063c4", PerApi::ApiKey)
    );
    assert!(written_for(&ObjectMeta::default()).is_none());
}

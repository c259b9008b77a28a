//! Policies on the Gateway API backend: CORS as an HTTPRoute filter; rate limits and token
//! verification as Istio objects attached to the Gateway by `targetRefs` in its namespace; the
//! streaming timeouts as `rules[].timeouts`; and a converged restart with all of them on.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use oda_api_operator::backend::gateway_policy::{
    authorization_policy_resource, envoy_filter_resource, request_authentication_resource,
};
use serde_json::json;

use crate::httproute::{PATH, accept, flags, gateway, wait_for_route};
use crate::operator::{Operator, condition, exposed_apis, wait_for_reason};
use crate::support::*;

const ISSUER: &str = "https://idp.example.org/realms/odari";

#[tokio::test]
async fn unenforceable_policies_are_reported_on_this_backend_too() {
    let ns = TestNamespace::new("httproute-policies").await;
    gateway(&ns, Some("20.1.2.3")).await;
    implementation(&ns, "c1-impl", &[], true).await;
    let mut spec = exposed_api_spec("c1-impl", PATH, 8080);
    spec["quota"] = json!({"identifier": "IP", "limit": "1000"});
    create_exposed_api(ns.client(), ns.name(), "c1-api", &[], spec).await;
    let _operator = crate::httproute::start(&ns).await;
    wait_for_route(&ns, "c1-api", |_| true).await;
    accept(&ns, "c1-api").await;
    let api = wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    let (status, reason, _) = condition(&api, "Quota").expect("a Quota condition");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NotSupported"));
}

async fn start(ns: &TestNamespace) -> Operator {
    let mut flags = flags(ns);
    flags.extend([format!("--jwt-issuer={ISSUER}"), "--streaming-timeout-seconds=900".into()]);
    Operator::start(ns.name(), &flags.iter().map(String::as_str).collect::<Vec<_>>()).await
}

#[tokio::test]
async fn every_policy_goes_on_the_http_route_or_its_gateway() {
    let ns = TestNamespace::new("httproute-all-policies").await;
    crate::gateway_policies::grant_gateway_policies(&ns).await;
    gateway(&ns, Some("20.1.2.3")).await;
    implementation(&ns, "c1-impl", &[], true).await;
    let mut spec = exposed_api_spec("c1-impl", PATH, 8080);
    spec["apiType"] = json!("mcp");
    spec["CORS"] = json!({"enabled": true, "allowOrigins": "https://a.example.org",
        "handlePreflightRequests": {"allowMethods": "GET, PUT", "maxAge": 600}});
    spec["rateLimit"] = json!({"enabled": true, "limit": "10", "interval": "pm", "identifier": "IP"});
    spec["apiKeyVerification"] = json!({"enabled": true, "location": "header"});
    create_exposed_api(ns.client(), ns.name(), "c1-api", &[], spec).await;
    let operator = start(&ns).await;

    let route = wait_for_route(&ns, "c1-api", |_| true).await;
    let rule = &route.data["spec"]["rules"][0];
    assert_eq!(
        rule["filters"],
        json!([{"type": "CORS", "cors": {
            "allowOrigins": ["https://a.example.org"],
            "allowMethods": ["GET", "PUT"],
            "allowHeaders": ["Origin", "Accept", "X-Requested-With", "Content-Type", "Access-Control-Request-Method", "Access-Control-Request-Headers"],
            "allowCredentials": false,
            "maxAge": 600
        }}])
    );
    assert_eq!(rule["timeouts"], json!({"request": "900s", "backendRequest": "900s"}));
    accept(&ns, "c1-api").await;
    let api = wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    for (type_, reason) in
        [("CORS", "Applied"), ("RateLimit", "AppliedPerGatewayReplica"), ("APIKeyVerification", "AppliedAsJWT")]
    {
        assert_eq!(condition(&api, type_).map(|c| c.1), Some(reason.to_owned()), "{type_}");
    }

    // In the Gateway's namespace, attached to it; the rate limit patches Istio's name of rule 0.
    let gateway_ref = json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]);
    let filters = dynamic_api(ns.client(), ns.name(), &envoy_filter_resource());
    let limit = filters.get(&format!("oda-rl.{}.c1-api", ns.name())).await.unwrap();
    assert_eq!(limit.data["spec"]["targetRefs"], gateway_ref);
    let route_name = &limit.data["spec"]["configPatches"][0]["match"]["routeConfiguration"]["vhost"]["route"]["name"];
    assert_eq!(route_name, &json!(format!("{}.c1-api.0", ns.name())));
    assert_eq!(filters.get("oda-local-ratelimit-filter").await.unwrap().data["spec"]["targetRefs"], gateway_ref);
    let policies = dynamic_api(ns.client(), ns.name(), &authorization_policy_resource());
    let deny = policies.get(&format!("oda-authn.{}.c1-api", ns.name())).await.unwrap();
    assert_eq!(deny.data["spec"]["targetRefs"], gateway_ref);
    assert_eq!(deny.data["spec"]["rules"][0]["to"][0]["operation"]["paths"], json!([PATH, format!("{PATH}/*")]));
    let rules = dynamic_api(ns.client(), ns.name(), &request_authentication_resource());
    assert_eq!(rules.get("oda-canvas-jwt").await.unwrap().data["spec"]["targetRefs"], gateway_ref);
    validate_istio_objects(ns.client(), ns.name()).await.unwrap_or_else(|e| panic!("{e}"));

    // A converged restart with every policy on writes nothing.
    operator.stop().await;
    let restarted = start(&ns).await;
    wait_for(Duration::from_secs(30), || async { restarted.telemetry.metrics.reconciles.get() > 0 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(restarted.telemetry.metrics.total_writes(), 0);

    // One change, one write: the rate limit's EnvoyFilter only.
    let before = restarted.telemetry.metrics.total_writes();
    let patch = json!({"spec": {"rateLimit": {"limit": "20"}}});
    exposed_apis(ns.name()).await.patch("c1-api", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for(Duration::from_secs(30), || async {
        let f = filters.get(&format!("oda-rl.{}.c1-api", ns.name())).await.ok()?;
        let bucket = &f.data["spec"]["configPatches"][0]["patch"]["value"]["typed_per_filter_config"]
            ["envoy.filters.http.local_ratelimit"]["token_bucket"];
        (bucket["max_tokens"] == 20).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = restarted.telemetry.metrics.total_writes() - before;
    assert!(writes <= 2, "the EnvoyFilter and at most the status generation: {writes}");

    // CORS changed, then off: the filter follows, then goes with its condition.
    let patch = json!({"spec": {"CORS": {"allowOrigins": "https://b.example.org"}}});
    exposed_apis(ns.name()).await.patch("c1-api", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for_route(&ns, "c1-api", |r| {
        r.data["spec"]["rules"][0]["filters"][0]["cors"]["allowOrigins"] == json!(["https://b.example.org"])
    })
    .await;
    let patch = json!({"spec": {"CORS": {"enabled": false}}});
    exposed_apis(ns.name()).await.patch("c1-api", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for_route(&ns, "c1-api", |r| r.data["spec"]["rules"][0].get("filters").is_none()).await;
    accept(&ns, "c1-api").await;
    wait_for(Duration::from_secs(30), || async {
        let api = exposed_apis(ns.name()).await.get("c1-api").await.ok()?;
        condition(&api, "CORS").is_none().then_some(())
    })
    .await;
}

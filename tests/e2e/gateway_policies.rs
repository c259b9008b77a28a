//! Rate limits and API-key verification end to end, on both route backends: EnvoyFilters, the
//! token rule and DENY AuthorizationPolicies in the gateway namespace (here each test's own),
//! checked by the real Istio CRDs and `istioctl validate`; shared objects kept while used; fail
//! closed without an issuer; removal with the API, orphans swept, foreign objects left alone.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject};
use oda_api_operator::backend::gateway_policy::{
    authorization_policy_resource, envoy_filter_resource, request_authentication_resource,
};
use serde_json::{Value, json};

use crate::operator::{Operator, condition, exposed_apis, wait_for_reason};
use crate::support::*;

const ISSUER: &str = "https://idp.example.org/realms/odari";

/// The operator's identity may write gateway policies in the test's namespace, as the RoleBinding
/// of deploy/rbac.yaml grants it in the gateway namespace.
pub(crate) async fn grant_gateway_policies(ns: &TestNamespace) {
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "oda-api-operator-gateway-policies", "namespace": ns.name()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "oda-api-operator-gateway-policies"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oda-api-operator"}]
    });
    let api: kube::Api<k8s_openapi::api::rbac::v1::RoleBinding> = ns.api();
    let binding = serde_json::from_value(binding).unwrap();
    create_strict(&api, &binding).await;
}

/// The route backend a test runs on: the same policies, attached the backend's way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    VirtualService,
    HttpRoute,
}

impl Backend {
    fn flags(self, ns: &TestNamespace) -> Vec<String> {
        match self {
            // The test namespace stands in for the gateway's.
            Self::VirtualService => vec![format!("--gateway-namespace={}", ns.name())],
            // The Gateway `gw` is in the test namespace: the policies go there.
            Self::HttpRoute => crate::httproute::flags(ns),
        }
    }

    fn route(self) -> ApiResource {
        match self {
            Self::VirtualService => virtual_service_resource(),
            Self::HttpRoute => http_route_resource(),
        }
    }

    /// Istio's name of the API's route in Envoy.
    fn envoy_route(self, ns: &TestNamespace, name: &str) -> String {
        match self {
            Self::VirtualService => format!("{}.{name}", ns.name()),
            Self::HttpRoute => format!("{}.{name}.0", ns.name()),
        }
    }

    fn selector(self) -> (&'static str, Value) {
        match self {
            Self::VirtualService => ("workloadSelector", json!({"labels": {"istio": "ingressgateway"}})),
            Self::HttpRoute => {
                ("targetRefs", json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]))
            }
        }
    }

    fn protected_paths(self, path: &str) -> Value {
        match self {
            Self::VirtualService => json!([format!("{path}*")]),
            Self::HttpRoute => json!([path, format!("{path}/*")]),
        }
    }

    /// Waits until the API is `Exposed` (accepting its HTTPRoute as a gateway controller would).
    async fn published(self, ns: &TestNamespace, name: &str) -> DynamicObject {
        if self == Self::HttpRoute {
            crate::httproute::wait_for_route(ns, name, |_| true).await;
            crate::httproute::accept(ns, name).await;
        }
        wait_for_reason(ns.name(), name, "Exposed").await
    }
}

async fn start(ns: &TestNamespace, backend: Backend, extra: &[&str]) -> Operator {
    let mut flags = backend.flags(ns);
    flags.extend(extra.iter().map(|f| f.to_string()));
    Operator::start(ns.name(), &flags.iter().map(String::as_str).collect::<Vec<_>>()).await
}

async fn fixture(ns: &TestNamespace, backend: Backend) {
    grant_gateway_policies(ns).await;
    gateway_and_service(ns).await;
    if backend == Backend::HttpRoute {
        crate::httproute::gateway(ns, Some("20.1.2.3")).await;
    }
}

fn rate_limited(path: &str, limit: &str, interval: &str, identifier: &str) -> Value {
    let mut spec = exposed_api_spec("impl", path, 8080);
    spec["rateLimit"] = json!({"enabled": true, "limit": limit, "interval": interval, "identifier": identifier});
    spec
}

async fn patch_spec(ns: &TestNamespace, name: &str, spec: Value) {
    let patch = json!({ "spec": spec });
    exposed_apis(ns.name()).await.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

async fn object(ns: &TestNamespace, resource: &ApiResource, name: &str) -> Option<DynamicObject> {
    dynamic_api(ns.client(), ns.name(), resource).get_opt(name).await.unwrap()
}

async fn wait_present(
    ns: &TestNamespace,
    resource: &ApiResource,
    name: &str,
    check: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    wait_for(Duration::from_secs(60), || async { object(ns, resource, name).await.filter(|o| check(o)) }).await
}

async fn wait_gone(ns: &TestNamespace, resource: &ApiResource, name: &str) {
    wait_for(Duration::from_secs(60), || async { object(ns, resource, name).await.is_none().then_some(()) }).await
}

async fn wait_condition(ns: &TestNamespace, name: &str, type_: &str, status: &str, reason: &str) -> DynamicObject {
    wait_for(Duration::from_secs(60), || async {
        let api = exposed_apis(ns.name()).await.get(name).await.ok()?;
        let (s, r, _) = condition(&api, type_)?;
        (s == status && r == reason).then_some(api)
    })
    .await
}

fn bucket(filter: &DynamicObject) -> Value {
    filter.data["spec"]["configPatches"][0]["patch"]["value"]["typed_per_filter_config"]
        ["envoy.filters.http.local_ratelimit"]["token_bucket"]
        .clone()
}

async fn restart_writes_nothing(ns: &TestNamespace, backend: Backend, operator: Operator, extra: &[&str]) -> Operator {
    operator.stop().await;
    let restarted = start(ns, backend, extra).await;
    wait_for(Duration::from_secs(30), || async { restarted.telemetry.metrics.reconciles.get() > 0 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(restarted.telemetry.metrics.total_writes(), 0, "a converged restart writes nothing");
    restarted
}

#[tokio::test]
async fn rate_limits_become_envoy_filters_and_the_shared_filter_lives_while_used() {
    rate_limits(Backend::VirtualService).await;
}

#[tokio::test]
async fn rate_limits_on_http_routes() {
    rate_limits(Backend::HttpRoute).await;
}

async fn rate_limits(backend: Backend) {
    let ns = TestNamespace::new("ratelimit").await;
    fixture(&ns, backend).await;
    let ef = envoy_filter_resource();
    create_exposed_api(ns.client(), ns.name(), "r1", &[], rate_limited("/r1", "100", "ps", "IP")).await;
    create_exposed_api(ns.client(), ns.name(), "r2", &[], rate_limited("/r2", "6", "pm", "x-api-key")).await;
    let operator = start(&ns, backend, &[]).await;

    let api = backend.published(&ns, "r1").await;
    backend.published(&ns, "r2").await;
    let (status, reason, message) = condition(&api, "RateLimit").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "AppliedPerGatewayReplica"), "{message}");
    assert!(message.contains("100 requests/s per client IP"), "{message}");
    let r1 = wait_present(&ns, &ef, &format!("oda-rl.{}.r1", ns.name()), |_| true).await;
    assert_eq!(bucket(&r1), json!({"max_tokens": 100, "tokens_per_fill": 100, "fill_interval": "1s"}));
    let route_name = backend.envoy_route(&ns, "r1");
    assert_eq!(
        r1.data["spec"]["configPatches"][0]["match"]["routeConfiguration"]["vhost"]["route"]["name"],
        route_name
    );
    let routes = dynamic_api(ns.client(), ns.name(), &backend.route());
    if backend == Backend::VirtualService {
        let vs = routes.get("r1").await.unwrap();
        assert_eq!(vs.data["spec"]["http"][0]["name"], route_name, "the patch finds the route by this name");
    }
    let r2 = wait_present(&ns, &ef, &format!("oda-rl.{}.r2", ns.name()), |_| true).await;
    assert_eq!(bucket(&r2)["fill_interval"], "60s");
    // The key's actions are the filter's own `rate_limits` (Envoy 1.40 deprecates the route's).
    let value = &r2.data["spec"]["configPatches"][0]["patch"]["value"];
    assert_eq!(value.get("route"), None);
    let actions = &value["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]["rate_limits"][0]["actions"];
    assert_eq!(actions[0]["request_headers"]["header_name"], "x-api-key");
    let shared = object(&ns, &ef, "oda-local-ratelimit-filter").await.expect("the shared filter");
    let (field, selector) = backend.selector();
    assert_eq!(shared.data["spec"][field], selector);
    assert_eq!(r1.data["spec"][field], selector);
    validate_istio_objects(ns.client(), ns.name()).await.unwrap_or_else(|e| panic!("{e}"));

    let operator = restart_writes_nothing(&ns, backend, operator, &[]).await;

    // Changed: the bucket follows.
    patch_spec(&ns, "r1", json!({"rateLimit": {"limit": "50"}})).await;
    wait_present(&ns, &ef, &format!("oda-rl.{}.r1", ns.name()), |f| bucket(f)["max_tokens"] == 50).await;
    // Invalid: reported on the policy, the API still published.
    patch_spec(&ns, "r1", json!({"rateLimit": {"interval": "ph"}})).await;
    let api = wait_condition(&ns, "r1", "RateLimit", "False", "InvalidSpec").await;
    assert!(condition(&api, "RateLimit").unwrap().2.contains("spec.rateLimit.interval"));
    wait_gone(&ns, &ef, &format!("oda-rl.{}.r1", ns.name())).await;
    // Off for r1: its filter goes, the shared one stays for r2.
    patch_spec(&ns, "r1", json!({"rateLimit": {"enabled": false, "interval": "ps"}})).await;
    wait_for(Duration::from_secs(60), || async {
        let api = exposed_apis(ns.name()).await.get("r1").await.ok()?;
        condition(&api, "RateLimit").is_none().then_some(())
    })
    .await;
    assert!(object(&ns, &ef, "oda-local-ratelimit-filter").await.is_some(), "r2 still uses the shared filter");
    if backend == Backend::VirtualService {
        let vs = routes.get("r1").await.unwrap();
        assert!(vs.data["spec"]["http"][0].get("name").is_none());
    }
    // Off for the last one: the shared filter goes too.
    patch_spec(&ns, "r2", json!({"rateLimit": {"enabled": false}})).await;
    wait_gone(&ns, &ef, &format!("oda-rl.{}.r2", ns.name())).await;
    wait_gone(&ns, &ef, "oda-local-ratelimit-filter").await;
    drop(operator);
}

#[tokio::test]
async fn api_keys_require_a_jwt_and_fail_closed_without_an_issuer() {
    api_keys(Backend::VirtualService).await;
}

#[tokio::test]
async fn api_keys_on_http_routes() {
    api_keys(Backend::HttpRoute).await;
}

async fn api_keys(backend: Backend) {
    let ns = TestNamespace::new("apikeys").await;
    fixture(&ns, backend).await;
    let (ap, ra) = (authorization_policy_resource(), request_authentication_resource());
    let mut spec = exposed_api_spec("impl", "/k1", 8080);
    spec["apiKeyVerification"] = json!({"enabled": true, "location": "header"});
    create_exposed_api(ns.client(), ns.name(), "k1", &[], spec.clone()).await;
    let issuer = format!("--jwt-issuer={ISSUER}");
    let operator = start(&ns, backend, &[&issuer]).await;

    let api = backend.published(&ns, "k1").await;
    assert_eq!(condition(&api, "APIKeyVerification").map(|c| c.1), Some("AppliedAsJWT".into()));
    let policy = wait_present(&ns, &ap, &format!("oda-authn.{}.k1", ns.name()), |_| true).await;
    assert_eq!(policy.data["spec"]["action"], "DENY");
    assert_eq!(
        policy.data["spec"]["rules"][0],
        json!({
            "from": [{"source": {"notRequestPrincipals": [format!("{ISSUER}/*")]}}],
            "to": [{"operation": {"paths": backend.protected_paths("/k1"), "notMethods": ["OPTIONS"]}}]
        })
    );
    let rule = object(&ns, &ra, "oda-canvas-jwt").await.expect("the token rule");
    assert_eq!(rule.data["spec"]["jwtRules"][0]["issuer"], ISSUER);
    let (field, selector) = backend.selector();
    let selector =
        if backend == Backend::VirtualService { json!({"matchLabels": selector["labels"]}) } else { selector };
    let field = if backend == Backend::VirtualService { "selector" } else { field };
    assert_eq!((&policy.data["spec"][field], &rule.data["spec"][field]), (&selector, &selector));
    validate_istio_objects(ns.client(), ns.name()).await.unwrap_or_else(|e| panic!("{e}"));
    let operator = restart_writes_nothing(&ns, backend, operator, &[&issuer]).await;

    // Off: the policy and the (last user's) token rule go.
    patch_spec(&ns, "k1", json!({"apiKeyVerification": {"enabled": false}})).await;
    wait_gone(&ns, &ap, &format!("oda-authn.{}.k1", ns.name())).await;
    wait_gone(&ns, &ra, "oda-canvas-jwt").await;
    operator.stop().await;

    // No issuer configured: the route is withheld, and a published one is taken down.
    let operator = start(&ns, backend, &[]).await;
    create_exposed_api(ns.client(), ns.name(), "k2", &[], {
        let mut s = spec.clone();
        s["path"] = json!("/k2");
        s
    })
    .await;
    let api = wait_for_reason(ns.name(), "k2", "SecurityPolicyNotEnforceable").await;
    let (status, reason, message) = condition(&api, "APIKeyVerification").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NotSupported"));
    assert!(message.contains("JWT_ISSUER") && message.contains("withheld"), "{message}");
    let vs = dynamic_api(ns.client(), ns.name(), &backend.route());
    assert!(vs.get_opt("k2").await.unwrap().is_none(), "no route without verification");
    backend.published(&ns, "k1").await;
    patch_spec(&ns, "k1", json!({"apiKeyVerification": {"enabled": true}})).await;
    wait_for_reason(ns.name(), "k1", "SecurityPolicyNotEnforceable").await;
    wait_for(Duration::from_secs(30), || async { vs.get_opt("k1").await.unwrap().is_none().then_some(()) }).await;
    drop(operator);

    // Fail open, when so configured: published, and said so.
    let _operator = start(&ns, backend, &["--api-key-unenforceable=FailOpen"]).await;
    let api = backend.published(&ns, "k2").await;
    assert!(condition(&api, "APIKeyVerification").unwrap().2.contains("WITHOUT verification"));
}

#[tokio::test]
async fn gateway_objects_go_with_their_api_orphans_are_swept_and_foreign_ones_are_left_alone() {
    gateway_objects(Backend::VirtualService).await;
}

#[tokio::test]
async fn gateway_objects_of_http_routes() {
    gateway_objects(Backend::HttpRoute).await;
}

async fn gateway_objects(backend: Backend) {
    let ns = TestNamespace::new("gwobjects").await;
    fixture(&ns, backend).await;
    let ef = envoy_filter_resource();
    // A foreign object holding the name the API's filter would get.
    let foreign_name = format!("oda-rl.{}.f1", ns.name());
    let foreign = dynamic_object(&ef, ns.name(), &foreign_name, &[], json!({"spec": {"configPatches": []}}));
    create_strict(&dynamic_api(ns.client(), ns.name(), &ef), &foreign).await;
    create_exposed_api(ns.client(), ns.name(), "f1", &[], rate_limited("/f1", "5", "ps", "")).await;
    create_exposed_api(ns.client(), ns.name(), "d1", &[], rate_limited("/d1", "5", "ps", "")).await;
    create_exposed_api(ns.client(), ns.name(), "o1", &[], rate_limited("/o1", "5", "ps", "")).await;
    let operator = start(&ns, backend, &[]).await;

    let api = wait_condition(&ns, "f1", "RateLimit", "False", "NotOwned").await;
    assert!(condition(&api, "RateLimit").unwrap().2.contains("left untouched"));
    backend.published(&ns, "f1").await;
    let d1 = wait_present(&ns, &ef, &format!("oda-rl.{}.d1", ns.name()), |_| true).await;
    wait_present(&ns, &ef, &format!("oda-rl.{}.o1", ns.name()), |_| true).await;
    assert!(d1.metadata.labels.unwrap().contains_key("oda.tmforum.org/exposedapi-uid"));

    // Deleted: its filter goes before it does.
    exposed_apis(ns.name()).await.delete("d1", &DeleteParams::default()).await.unwrap();
    wait_gone(&ns, &ef, &format!("oda-rl.{}.d1", ns.name())).await;
    wait_for(Duration::from_secs(60), || async {
        exposed_apis(ns.name()).await.get_opt("d1").await.unwrap().is_none().then_some(())
    })
    .await;

    // Deleted while the operator is stopped (its finalizer removed by hand): swept at start-up.
    operator.stop().await;
    let patch = json!({"metadata": {"finalizers": null}});
    let apis = exposed_apis(ns.name()).await;
    apis.patch("o1", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    apis.delete("o1", &DeleteParams::default()).await.unwrap();
    let _operator = start(&ns, backend, &[]).await;
    wait_gone(&ns, &ef, &format!("oda-rl.{}.o1", ns.name())).await;
    let left = object(&ns, &ef, &foreign_name).await.expect("the foreign object is left alone");
    assert_eq!(left.data["spec"], json!({"configPatches": []}));
    wait_gone(&ns, &ef, "oda-local-ratelimit-filter").await; // no API uses it now
}

#[tokio::test]
async fn streaming_apis_get_long_route_timeouts() {
    let ns = TestNamespace::new("streaming").await;
    fixture(&ns, Backend::VirtualService).await;
    let mut spec = exposed_api_spec("impl", "/mcp", 8080);
    spec["apiType"] = json!("mcp");
    create_exposed_api(ns.client(), ns.name(), "m1", &[], spec).await;
    create_exposed_api(ns.client(), ns.name(), "o1", &[], exposed_api_spec("impl", "/o1", 8080)).await;
    let _operator = start(&ns, Backend::VirtualService, &["--streaming-timeout-seconds=7200"]).await;
    wait_for_reason(ns.name(), "m1", "Exposed").await;
    wait_for_reason(ns.name(), "o1", "Exposed").await;
    let vs = dynamic_api(ns.client(), ns.name(), &virtual_service_resource());
    assert_eq!(vs.get("m1").await.unwrap().data["spec"]["http"][0]["timeout"], "7200s");
    assert!(vs.get("o1").await.unwrap().data["spec"]["http"][0].get("timeout").is_none());
}

#[tokio::test]
async fn a_restart_with_every_policy_on_writes_nothing() {
    let ns = TestNamespace::new("allpolicies").await;
    fixture(&ns, Backend::VirtualService).await;
    let mut spec = rate_limited("/all", "10", "pm", "IP");
    spec["apiType"] = json!("mcp");
    spec["CORS"] = json!({"enabled": true, "allowOrigins": "https://a.example.org"});
    spec["apiKeyVerification"] = json!({"enabled": true, "location": "header"});
    spec["quota"] = json!({"identifier": "IP", "limit": "1000"});
    spec["OASValidation"] = json!({"requestEnabled": true});
    spec["template"] = json!("gold");
    create_exposed_api(ns.client(), ns.name(), "all", &[], spec).await;
    let issuer = format!("--jwt-issuer={ISSUER}");
    let operator = start(&ns, Backend::VirtualService, &[&issuer]).await;
    let api = Backend::VirtualService.published(&ns, "all").await;
    let reasons: Vec<String> = ["CORS", "RateLimit", "APIKeyVerification", "Quota", "OASValidation", "Template"]
        .iter()
        .map(|t| condition(&api, t).map(|c| c.1).unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        ["Applied", "AppliedPerGatewayReplica", "AppliedAsJWT", "NotSupported", "NotSupported", "NotSupported"]
    );
    let vs = dynamic_api(ns.client(), ns.name(), &virtual_service_resource()).get("all").await.unwrap();
    assert_eq!(vs.data["spec"]["http"][0]["timeout"], "3600s");
    validate_istio_objects(ns.client(), ns.name()).await.unwrap_or_else(|e| panic!("{e}"));
    drop(restart_writes_nothing(&ns, Backend::VirtualService, operator, &[&issuer]).await);
}

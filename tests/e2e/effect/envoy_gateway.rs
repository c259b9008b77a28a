//! A third Gateway API implementation: Envoy Gateway v1.9 ([`crate::support::envoy_gateway`]),
//! the CNCF reference implementation, its Envoy the test plane's own. Through real requests: an
//! API published by the operator on its Gateway (`--route-backend=HTTPRoute`) answers at its URL;
//! each policy the operator writes as Envoy Gateway's own objects (`SecurityPolicy`: CORS and the
//! required token; `BackendTrafficPolicy`: the rate limit and a streaming API's timeout) is
//! `Applied`, the API `Ready`, and enforced as the Istio suite proves it ([`super::policies`]); and,
//! by hand (objects written by the test), the two Envoy Gateway facts the engine builds on. The
//! GatewayClass' `supportedFeatures` are printed: v1.9 writes none.

use std::time::{Duration, Instant};

use kube::core::DynamicObject;
use serde_json::{Value, json};

use super::policies::{AUDIENCE, statuses, token_cases};
use super::routing::a_long_stream_arrives_whole;
use super::{OwnGateway, api_path, expose_impl, from_impl, http_route_operator, served, until};
use crate::operator::{Operator, condition, exposed_apis, ready_condition, wait_for_reason};
use crate::support::envoy_gateway::{EG_GATEWAY, EnvoyGateway, EnvoyGatewayPlane, eg_resource};
use crate::support::gateway_status::supported_features;
use crate::support::http::{self, Backend};
use crate::support::jwt::Issuer;
use crate::support::*;

const ALLOWED: &str = "https://shop.example.org";

/// `Accepted=True` in a policy's `status.ancestors` (written by Envoy Gateway).
async fn policy_accepted(ns: &TestNamespace, kind: &str, plural: &str, name: &str) -> DynamicObject {
    let policies = dynamic_api(ns.client(), ns.name(), &eg_resource(kind, plural));
    wait_for(Duration::from_secs(30), || async {
        let policy = policies.get(name).await.map_err(|e| e.to_string())?;
        let accepted = policy
            .data
            .pointer("/status/ancestors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|a| a["conditions"].as_array().cloned().unwrap_or_default())
            .any(|c| c["type"] == "Accepted" && c["status"] == "True");
        if accepted { Ok(policy) } else { Err(format!("{kind} {name} not Accepted: {:?}", policy.data.get("status"))) }
    })
    .await
}

/// A test's Envoy Gateway with the implementation `impl` (Service port 8080) and one HTTPRoute
/// `route` written by the test at `/<ns>/route`, or `None` (skipped) without Envoy Gateway.
async fn hand_written_route(test: &str) -> Option<(TestNamespace, EnvoyGateway, Backend, String)> {
    let (ns, eg, backend) = served_by_eg(test).await?;
    let path = format!("/{}/route", ns.name());
    let route = dynamic_object(
        &http_route_resource(),
        ns.name(),
        "route",
        &[],
        json!({"spec": {
            "parentRefs": [{"name": EG_GATEWAY}],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                "backendRefs": [{"name": "impl", "port": 8080}],
            }],
        }}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &http_route_resource()), &route).await;
    let url = format!("{}{path}", eg.base());
    until(&eg, "GET", &url, &[], "200 from the implementation", from_impl).await;
    Some((ns, eg, backend, url))
}

/// A test's namespace with its Envoy Gateway and the implementation `impl` (Service port 8080), or
/// `None` (skipped, saying why) without Envoy Gateway.
async fn served_by_eg(test: &str) -> Option<(TestNamespace, EnvoyGateway, Backend)> {
    let plane = EnvoyGatewayPlane::from_env(test)?;
    served(test, async |ns: &TestNamespace| EnvoyGateway::start(ns, &plane).await).await
}

impl OwnGateway for EnvoyGateway {
    fn log_tail(&self) -> String {
        EnvoyGateway::log_tail(self)
    }
}

/// One test's Envoy Gateway world: its namespace, the Envoy Gateway serving Gateway
/// [`EG_GATEWAY`], the implementation `impl` (Service port 8080) and an operator publishing
/// HTTPRoutes on that Gateway (with `extra` flags).
struct EgWorld {
    ns: TestNamespace,
    eg: EnvoyGateway,
    backend: Backend,
    _operator: Operator,
}

impl EgWorld {
    /// `None` (the test is skipped, saying why) without Envoy Gateway.
    async fn new(test: &str, extra: &[&str]) -> Option<Self> {
        let (ns, eg, backend) = served_by_eg(test).await?;
        let operator = http_route_operator(&ns, EG_GATEWAY, extra).await;
        Some(EgWorld { ns, eg, backend, _operator: operator })
    }

    fn path(&self, api: &str) -> String {
        api_path(&self.ns, api)
    }

    /// Creates ExposedAPI `name` for `impl` at [`EgWorld::path`], `extra` merged into its spec;
    /// waits until it is `Ready` (`Exposed`: its route and every policy it asks for in force) and
    /// returns its published URL.
    async fn expose(&self, name: &str, extra: Value) -> String {
        expose_impl(&self.ns, name, extra).await;
        let api = wait_for_reason(self.ns.name(), name, "Exposed").await;
        let (status, _, message) = ready_condition(&api).expect("a Ready condition");
        assert_eq!(status, "True", "{name}: {message}");
        api.data.pointer("/status/apiStatus/url").and_then(Value::as_str).expect("a published URL").to_owned()
    }

    /// The `(status, reason, message)` of the API's policy condition `type_`.
    async fn condition(&self, name: &str, type_: &str) -> (String, String, String) {
        let api = exposed_apis(self.ns.name()).await.get(name).await.expect("the API");
        condition(&api, type_).unwrap_or_else(|| panic!("{name}: no {type_} condition: {:?}", api.data.get("status")))
    }

    /// The operator's policy object of `kind` for API `name`: named as its route, controlled by
    /// the ExposedAPI, and `Accepted` by Envoy Gateway.
    async fn policy(&self, kind: &str, plural: &str, name: &str) -> DynamicObject {
        let policy = policy_accepted(&self.ns, kind, plural, name).await;
        let api = exposed_apis(self.ns.name()).await.get(name).await.expect("the API");
        let owner =
            policy.metadata.owner_references.as_ref().and_then(|refs| refs.iter().find(|r| r.controller == Some(true)));
        assert_eq!(
            owner.map(|o| (o.kind.as_str(), Some(o.uid.as_str()))),
            Some(("ExposedAPI", api.metadata.uid.as_deref()))
        );
        policy
    }
}

/// An API published with `--route-backend=HTTPRoute` on an Envoy Gateway Gateway answers at its
/// URL (the Gateway's address and its listener's port) through Envoy Gateway's Envoy; the
/// GatewayClass is Accepted and lists no supported features.
#[tokio::test]
async fn envoy_gateway_http_route_answers_at_its_url() {
    let Some(w) = EgWorld::new("eg-url", &[]).await else { return };
    let url = w.expose("api", json!({})).await;
    let path = w.path("api");
    assert_eq!(url, format!("{}{path}", w.eg.base()));
    let answer = until(&w.eg, "GET", &format!("{url}/productOffering?limit=1"), &[], "200", from_impl).await;
    assert!(answer.body.contains(&format!("{path}/productOffering")), "{}", answer.body);
    let outside = http::get(&format!("{}/{}/elsewhere", w.eg.base(), w.ns.name())).await.expect("an answer");
    assert_eq!((outside.status, outside.backend()), (404, None), "{outside:?}");
    assert!(w.backend.hits() > 0);

    let class = wait_for(Duration::from_secs(30), || async {
        let class = w.eg.gateway_class(w.ns.client()).await;
        let accepted = class
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Accepted" && c["status"] == "True");
        accepted.then_some(class)
    })
    .await;
    // Envoy Gateway v1.9 leaves `supportedFeatures` out of its GatewayClass status on purpose (the
    // line setting it is commented out in its source, "until the field moves from experimental to
    // stable"): a consumer learns nothing from the class and must know the implementation.
    let features = supported_features(&class);
    eprintln!(
        "Envoy Gateway (Envoy {}): GatewayClass {} Accepted, {} supportedFeatures: {features:?}",
        w.eg.envoy_version,
        w.eg.class,
        features.len()
    );
    assert!(features.is_empty(), "Envoy Gateway v1.9 now lists supportedFeatures: {features:?}");
}

/// A `SecurityPolicy` with CORS targeting an HTTPRoute (written by the test): a preflight from the
/// allowed origin is answered by Envoy with that origin; a refused origin gets none.
#[tokio::test]
async fn envoy_gateway_security_policy_cors_answers_preflight() {
    let Some((ns, eg, _backend, url)) = hand_written_route("eg-cors").await else { return };
    let policy = dynamic_object(
        &eg_resource("SecurityPolicy", "securitypolicies"),
        ns.name(),
        "cors",
        &[],
        json!({"spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "route"}],
            "cors": {"allowOrigins": [ALLOWED], "allowMethods": ["GET", "POST"], "allowHeaders": ["content-type"],
                     "maxAge": "60s"},
        }}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &eg_resource("SecurityPolicy", "securitypolicies")), &policy)
        .await;
    policy_accepted(&ns, "SecurityPolicy", "securitypolicies", "cors").await;
    cors_holds(&eg, &url).await;
}

/// Envoy answers a preflight from [`ALLOWED`] itself, with that origin and `POST` allowed; one
/// from [`REFUSED`] gets no `access-control-allow-origin`; a simple request from `ALLOWED` reaches
/// the implementation and carries it.
async fn cors_holds(eg: &EnvoyGateway, url: &str) {
    let allowed = until(eg, "OPTIONS", url, &preflight(ALLOWED), "a preflight allowing the origin", |a| {
        a.header("access-control-allow-origin") == Some(ALLOWED)
    })
    .await;
    assert_eq!(allowed.backend(), None, "Envoy answered the preflight itself: {allowed:?}");
    assert!(allowed.status < 300, "{allowed:?}");
    assert!(allowed.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{allowed:?}");
    let refused = http::send("OPTIONS", url, &preflight(REFUSED)).await.expect("an answer");
    assert_eq!(refused.header("access-control-allow-origin"), None, "{refused:?}");
    let simple = http::send("GET", url, &[("origin", ALLOWED)]).await.expect("an answer");
    assert!(from_impl(&simple), "{simple:?}");
    assert_eq!(simple.header("access-control-allow-origin"), Some(ALLOWED), "{simple:?}");
}

/// A `BackendTrafficPolicy` with a local rate limit of 3 requests a minute targeting an HTTPRoute
/// (written by the test): 3 requests pass, then Envoy answers 429.
#[tokio::test]
async fn envoy_gateway_backend_traffic_policy_local_rate_limit_gives_429() {
    let Some((ns, eg, _backend, url)) = hand_written_route("eg-ratelimit").await else { return };
    let resource = eg_resource("BackendTrafficPolicy", "backendtrafficpolicies");
    let policy = dynamic_object(
        &resource,
        ns.name(),
        "limit",
        &[],
        json!({"spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "route"}],
            "rateLimit": {"type": "Local", "local": {"rules": [{"limit": {"requests": 3, "unit": "Minute"}}]}},
        }}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &resource), &policy).await;
    policy_accepted(&ns, "BackendTrafficPolicy", "backendtrafficpolicies", "limit").await;

    // Once the limit is in force, a burst sees at most 3 answers of the implementation, then 429s.
    let start = Instant::now();
    loop {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let a = http::get(&url).await.expect("an answer");
            statuses.push(if from_impl(&a) { 200 } else { a.status });
        }
        if statuses.iter().filter(|s| **s == 200).count() <= 3 && statuses.ends_with(&[429, 429, 429]) {
            eprintln!("{url}: {statuses:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no 429 after the limit within 90 s; last burst: {statuses:?}\nEnvoy Gateway log:\n{}",
            eg.log_tail()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

// --- the operator's policies, enforced by Envoy Gateway --------------------------------------

const REFUSED: &str = "https://evil.example.net";
const SECURITY_POLICY: (&str, &str) = ("SecurityPolicy", "securitypolicies");
const TRAFFIC_POLICY: (&str, &str) = ("BackendTrafficPolicy", "backendtrafficpolicies");

fn preflight(origin: &str) -> [(&str, &str); 3] {
    [("origin", origin), ("access-control-request-method", "POST"), ("access-control-request-headers", "content-type")]
}

fn cors_for(origin: &str) -> Value {
    json!({"CORS": {"enabled": true, "allowOrigins": origin, "handlePreflightRequests": {"allowMethods": "GET, POST"}}})
}

/// `CORS` through the API's SecurityPolicy (not the route's filter): `Applied` once Envoy Gateway
/// accepts it, and the API `Ready`; a preflight from the allowed origin is answered by Envoy with
/// that origin, a refused origin gets none, a simple request carries it.
#[tokio::test]
async fn envoy_gateway_cors_from_the_operator() {
    let Some(w) = EgWorld::new("eg-op-cors", &[]).await else { return };
    let url = w.expose("api", cors_for(ALLOWED)).await;
    let (status, reason, message) = w.condition("api", "CORS").await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Applied"), "{message}");
    let (kind, plural) = SECURITY_POLICY;
    let policy = w.policy(kind, plural, "api").await;
    assert_eq!(policy.data.pointer("/spec/cors/allowOrigins"), Some(&json!([ALLOWED])));
    let route = dynamic_api(w.ns.client(), w.ns.name(), &http_route_resource()).get("api").await.expect("the route");
    assert_eq!(route.data.pointer("/spec/rules/0/filters"), None, "the route carries no CORS filter of its own");

    cors_holds(&w.eg, &url).await;
}

/// `rateLimit` through the API's BackendTrafficPolicy (Envoy's local rate limit, per Envoy
/// replica): exactly 3 requests a minute per value of `x-client`, then 429, another client's
/// bucket untouched, requests without the header sharing the route's bucket; by client address,
/// this machine is one client.
#[tokio::test]
async fn envoy_gateway_rate_limits_from_the_operator() {
    let Some(w) = EgWorld::new("eg-op-rl", &[]).await else { return };
    let limited = |identifier: &str| json!({"rateLimit": {"enabled": true, "limit": "3", "interval": "pm", "identifier": identifier}});
    let by_key = w.expose("by-key", limited("x-client")).await;
    let by_ip = w.expose("by-ip", limited("")).await;
    let (kind, plural) = TRAFFIC_POLICY;
    for name in ["by-key", "by-ip"] {
        let (status, reason, message) = w.condition(name, "RateLimit").await;
        assert_eq!((status.as_str(), reason.as_str()), ("True", "AppliedPerGatewayReplica"), "{name}: {message}");
        assert!(message.contains("counted by each gateway pod on its own"), "{message}");
        w.policy(kind, plural, name).await;
    }

    // The bucket is in place once the first 429 appears; a probe uses a client key of its own.
    until(&w.eg, "GET", &by_key, &[("x-client", "probe")], "429 once the limit is in place", |a| a.status == 429).await;
    for (client, n, expected) in [("alice", 5, &[200, 200, 200, 429, 429][..]), ("bob", 3, &[200, 200, 200][..])] {
        assert_eq!(statuses(&by_key, &[("x-client", client)], n).await, expected, "client {client}");
    }
    assert_eq!(statuses(&by_key, &[], 4).await, [200, 200, 200, 429], "without the header: the route's bucket");
    until(&w.eg, "GET", &by_ip, &[], "429 by address", |a| a.status == 429).await;
    assert_eq!(statuses(&by_ip, &[], 2).await, [429, 429]);
}

/// `apiKeyVerification` as a required token of `JWT_ISSUER` in the API's SecurityPolicy (beside its
/// CORS): no token or a forged or expired one 401, another audience 403, a valid one 200 by header
/// or `access_token`; the preflight from the allowed origin is answered without a token.
#[tokio::test]
async fn envoy_gateway_token_verification_from_the_operator() {
    let Some(plane) = EnvoyGatewayPlane::from_env("eg-op-jwt") else { return };
    let issuer = Issuer::new("https://idp.e2e.example/realms/oda");
    let jwks = Backend::start_with("idp", &plane.host_ip, vec![("/jwks".into(), issuer.jwks())]).await;
    let flags = [
        format!("--jwt-issuer={}", issuer.issuer),
        format!("--jwt-jwks-uri=http://{}/jwks", jwks.addr),
        format!("--jwt-audiences={AUDIENCE}"),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some(w) = EgWorld::new("eg-op-jwt", &flags).await else { return };
    let mut spec = cors_for(ALLOWED);
    spec["apiKeyVerification"] = json!({"enabled": true, "location": "header"});
    let url = w.expose("api", spec).await;
    for (type_, expected) in [("APIKeyVerification", "AppliedAsJWT"), ("CORS", "Applied")] {
        let (status, reason, message) = w.condition("api", type_).await;
        assert_eq!((status.as_str(), reason.as_str()), ("True", expected), "{type_}: {message}");
    }
    let (kind, plural) = SECURITY_POLICY;
    let policy = w.policy(kind, plural, "api").await;
    assert_eq!(policy.data.pointer("/spec/jwt/providers/0/issuer"), Some(&json!(issuer.issuer)));

    let valid = format!("Bearer {}", issuer.token(AUDIENCE));
    until(&w.eg, "GET", &url, &[], "401 without a token", |a| a.status == 401).await;
    until(&w.eg, "GET", &url, &[("authorization", &valid)], "200 with a valid token", from_impl).await;
    token_cases(&issuer, &url, "Envoy Gateway").await;
    let answer = http::send("OPTIONS", &url, &preflight(ALLOWED)).await.expect("an answer");
    assert!(answer.status < 300 && answer.header("access-control-allow-origin") == Some(ALLOWED), "{answer:?}");
    assert!(jwks.hits() > 0, "Envoy fetched the JWKS");
}

/// A streaming API (`apiType: mcp`) gets its route timeout (STREAMING_TIMEOUT_SECONDS) through its
/// BackendTrafficPolicy: `StreamingTimeout` `Applied`, and a response streamed for 17 s (Envoy's
/// default route timeout is 15 s) arrives whole.
#[tokio::test]
async fn envoy_gateway_streams_outlive_the_default_timeout() {
    let Some(w) = EgWorld::new("eg-op-mcp", &[]).await else { return };
    let url = w.expose("api", json!({"apiType": "mcp"})).await;
    let (status, reason, message) = w.condition("api", "StreamingTimeout").await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Applied"), "{message}");
    let (kind, plural) = TRAFFIC_POLICY;
    let policy = w.policy(kind, plural, "api").await;
    assert_eq!(policy.data.pointer("/spec/timeout/http/requestTimeout"), Some(&json!("3600s")));
    until(&w.eg, "GET", &url, &[], "200 from the implementation", from_impl).await;
    a_long_stream_arrives_whole(&url, "Envoy Gateway").await;
}

/// Without `JWT_JWKS_URI` Envoy Gateway cannot verify tokens (it reads no OpenID discovery
/// document): `apiKeyVerification` is `NotSupported`, saying so, and under `FailClosed` the API's
/// route is withheld (`SecurityPolicyNotEnforceable`) while an API without verification answers.
#[tokio::test]
async fn envoy_gateway_fail_closed_without_a_jwks_url() {
    let Some(w) = EgWorld::new("eg-op-closed", &["--jwt-issuer=https://idp.e2e.example/realms/oda"]).await else {
        return;
    };
    let open = w.expose("open", json!({})).await;
    until(&w.eg, "GET", &open, &[], "200 from the implementation", from_impl).await;
    expose_impl(&w.ns, "api", json!({"apiKeyVerification": {"enabled": true}})).await;
    wait_for_reason(w.ns.name(), "api", "SecurityPolicyNotEnforceable").await;
    let (status, reason, message) = w.condition("api", "APIKeyVerification").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NotSupported"), "{message}");
    assert!(message.contains("JWT_JWKS_URI"), "{message}");
    let answer = http::get(&format!("{}{}", w.eg.base(), w.path("api"))).await.expect("an answer");
    assert_eq!((answer.status, answer.backend()), (404, None), "withheld means no route: {answer:?}");
}

/// A SecurityPolicy Envoy Gateway refuses (an issuer that is no URI, which its CRD and Istio's
/// RequestAuthentication let through): `APIKeyVerification` is `False` with Envoy Gateway's own
/// reason and message, the API is not `Ready` (`PolicyNotAccepted`), and Envoy Gateway answers the
/// route 500 itself.
#[tokio::test]
async fn envoy_gateway_refused_policy_is_reported() {
    let flags = ["--jwt-issuer=https://idp e2e/realms/oda", "--jwt-jwks-uri=http://127.0.0.1:9/jwks"];
    let Some(w) = EgWorld::new("eg-op-refused", &flags).await else { return };
    expose_impl(&w.ns, "api", json!({"apiKeyVerification": {"enabled": true}})).await;
    let api = wait_for_reason(w.ns.name(), "api", "PolicyNotAccepted").await;
    let (_, _, ready) = ready_condition(&api).expect("a Ready condition");
    let (status, reason, message) = w.condition("api", "APIKeyVerification").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Invalid"), "{message}");
    assert!(message.contains("Accepted=False: Invalid") && message.contains("issuer"), "{message}");
    assert!(ready.contains(&message), "Ready quotes it: {ready}");
    // Envoy Gateway itself never serves a route whose SecurityPolicy it refused: it answers 500
    // ("to avoid unauthorized access"), and the implementation sees nothing.
    let url = format!("{}{}", w.eg.base(), w.path("api"));
    until(&w.eg, "GET", &url, &[], "Envoy's own 500", |a| a.status == 500 && a.backend().is_none()).await;
    assert_eq!(w.backend.hits(), 0, "the implementation was never reached");
}

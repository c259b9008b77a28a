//! A third Gateway API implementation: Envoy Gateway v1.9 ([`crate::support::envoy_gateway`]),
//! the CNCF reference implementation, its Envoy the test plane's own. Through real requests: an
//! API published by the operator on its Gateway (`--route-backend=HTTPRoute`) answers at its URL;
//! and, by hand (objects written by the test, not the operator), the two policies of Envoy
//! Gateway's own API a later operator backend would write: a `SecurityPolicy` with CORS targeting
//! an HTTPRoute answers a preflight, a `BackendTrafficPolicy` with a local rate limit answers 429
//! past its limit. The GatewayClass' `supportedFeatures` are printed: v1.9 writes none.

use std::time::{Duration, Instant};

use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::operator::{Operator, wait_for_reason};
use crate::support::dataplane::{DataPlane, served_implementation};
use crate::support::envoy_gateway::{EG_GATEWAY, EnvoyGateway, EnvoyGatewayPlane, eg_resource};
use crate::support::gateway_status::supported_features;
use crate::support::http::{self, Answer, Backend};
use crate::support::*;

/// How long a change may take to reach Envoy (Envoy Gateway's watch, translation and xDS push).
const PROPAGATION: Duration = Duration::from_secs(30);
const ALLOWED: &str = "https://shop.example.org";

/// Sends `method url` until `check` holds; panics after [`PROPAGATION`] with the last answer and
/// Envoy Gateway's log.
async fn until(
    eg: &EnvoyGateway,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    what: &str,
    check: impl Fn(&Answer) -> bool,
) -> Answer {
    let start = Instant::now();
    loop {
        let answer = http::send(method, url, headers).await;
        match &answer {
            Ok(a) if check(a) => return a.clone(),
            _ if start.elapsed() > PROPAGATION => panic!(
                "{method} {url}: expected {what} within {PROPAGATION:?}; last: {answer:?}\nEnvoy Gateway log:\n{}",
                eg.log_tail()
            ),
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

fn from_impl(a: &Answer) -> bool {
    a.status == 200 && a.backend() == Some("impl")
}

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
    let plane = EnvoyGatewayPlane::from_env(test)?;
    let data_plane = DataPlane::from_env(test)?;
    let ns = TestNamespace::new(test).await;
    let eg = EnvoyGateway::start(&ns, &plane).await;
    let backend = Backend::start("impl", &plane.host_ip).await;
    served_implementation(&ns, &data_plane, "impl", 8080, &backend, true).await;
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

/// An API published with `--route-backend=HTTPRoute` on an Envoy Gateway Gateway answers at its
/// URL (the Gateway's address and its listener's port) through Envoy Gateway's Envoy; the
/// GatewayClass is Accepted and lists no supported features.
#[tokio::test]
async fn envoy_gateway_http_route_answers_at_its_url() {
    let Some(plane) = EnvoyGatewayPlane::from_env("eg-url") else { return };
    let Some(data_plane) = DataPlane::from_env("eg-url") else { return };
    let ns = TestNamespace::new("eg-url").await;
    let eg = EnvoyGateway::start(&ns, &plane).await;
    let backend = Backend::start("impl", &plane.host_ip).await;
    served_implementation(&ns, &data_plane, "impl", 8080, &backend, true).await;
    crate::gateway_policies::grant_gateway_policies(&ns).await;
    let gateway = format!("--component-gateway={}/{EG_GATEWAY}", ns.name());
    let _operator = Operator::start(ns.name(), &["--route-backend=HTTPRoute", &gateway]).await;

    let path = format!("/{}/api/tmf-api/x/v4", ns.name());
    create_exposed_api(ns.client(), ns.name(), "api", &[], exposed_api_spec("impl", &path, 8080)).await;
    let api = wait_for_reason(ns.name(), "api", "Exposed").await;
    let url = api.data.pointer("/status/apiStatus/url").and_then(Value::as_str).expect("a published URL").to_owned();
    assert_eq!(url, format!("{}{path}", eg.base()));
    let answer = until(&eg, "GET", &format!("{url}/productOffering?limit=1"), &[], "200", from_impl).await;
    assert!(answer.body.contains(&format!("{path}/productOffering")), "{}", answer.body);
    let outside = http::get(&format!("{}/{}/elsewhere", eg.base(), ns.name())).await.expect("an answer");
    assert_eq!((outside.status, outside.backend()), (404, None), "{outside:?}");

    let class = wait_for(Duration::from_secs(30), || async {
        let class = eg.gateway_class(ns.client()).await;
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
        eg.envoy_version,
        eg.class,
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

    let preflight = |origin: &'static str| [("origin", origin), ("access-control-request-method", "POST")];
    let answer = until(&eg, "OPTIONS", &url, &preflight(ALLOWED), "a CORS preflight answer", |a| {
        a.header("access-control-allow-origin") == Some(ALLOWED)
    })
    .await;
    assert_eq!(answer.backend(), None, "Envoy answered the preflight itself: {answer:?}");
    assert!(answer.status < 300, "{answer:?}");
    assert!(answer.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{answer:?}");
    let refused = http::send("OPTIONS", &url, &preflight("https://evil.example.com")).await.expect("an answer");
    assert_eq!(refused.header("access-control-allow-origin"), None, "{refused:?}");
    let simple = http::send("GET", &url, &[("origin", ALLOWED)]).await.expect("an answer");
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

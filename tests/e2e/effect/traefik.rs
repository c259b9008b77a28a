//! A second Gateway API implementation: Traefik v3.7 ([`crate::support::traefik`]), whose
//! GatewayClass lists neither `HTTPRouteCORS` nor `HTTPRouteRequestTimeout` among its
//! `supportedFeatures` (istiod's lists both), and which answers 500 to every request of an
//! HTTPRoute carrying a `CORS` filter it accepted. Through real requests to a Traefik of each
//! test's own: an API published on its Gateway answers at its URL, and still does with CORS asked
//! for, because the operator leaves the filter out and says so (`CORS` `False`, `NotSupported`).
//! Istio's policy objects would be ignored by Traefik just as silently, so none is written: a rate
//! limit is `NotSupported` and an API requiring keys is withheld.

use std::time::Duration;

use oda_api_operator::backend::gateway_policy::{
    authorization_policy_resource, envoy_filter_resource, request_authentication_resource,
};
use serde_json::{Value, json};

use super::{OwnGateway, api_path, expose_impl, from_impl, http_route_operator, served, until};
use crate::operator::{Operator, condition, exposed_apis, wait_for_reason};
use crate::support::gateway_status::supported_features;
use crate::support::http::{self, Answer, Backend};
use crate::support::traefik::{TRAEFIK_CONTROLLER, TRAEFIK_GATEWAY, Traefik, TraefikPlane};
use crate::support::*;

const ALLOWED: &str = "https://shop.example.org";

/// One test's world: its namespace, its Traefik (GatewayClass and Gateway), the implementation
/// `impl` (a [`Backend`] behind Service port 8080), and an operator publishing HTTPRoutes on the
/// Traefik Gateway.
struct TraefikWorld {
    ns: TestNamespace,
    traefik: Traefik,
    backend: Backend,
    _operator: Operator,
}

impl TraefikWorld {
    /// `None` (the test is skipped) without Traefik or the data plane.
    async fn new(test: &str) -> Option<Self> {
        Self::with_flags(test, &[]).await
    }

    /// As [`Self::new`], the operator started with `extra` flags. It may write Istio's policy
    /// objects in the namespace (the Gateway's), so that only the class can keep them out.
    async fn with_flags(test: &str, extra: &[&str]) -> Option<Self> {
        let plane = TraefikPlane::from_env(test)?;
        let (ns, traefik, backend) = served(test, async |ns: &TestNamespace| Traefik::start(ns, &plane).await).await?;
        let operator = http_route_operator(&ns, TRAEFIK_GATEWAY, extra).await;
        Some(TraefikWorld { ns, traefik, backend, _operator: operator })
    }

    fn path(&self, api: &str) -> String {
        api_path(&self.ns, api)
    }

    async fn expose(&self, name: &str, extra: Value) {
        expose_impl(&self.ns, name, extra).await;
    }

    /// The published URL (`status.apiStatus.url`) once the API is `Exposed`.
    async fn url(&self, name: &str) -> String {
        let api = wait_for_reason(self.ns.name(), name, "Exposed").await;
        api.data.pointer("/status/apiStatus/url").and_then(Value::as_str).expect("a published URL").to_owned()
    }

    /// Sends `GET url` (with `headers`) until the implementation answers ([`until`]).
    async fn reaches(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        until(&self.traefik, "GET", url, headers, "200 from the implementation", from_impl).await
    }

    /// The HTTPRoutes of the namespace (spec and status), for failure messages.
    async fn http_routes(&self) -> String {
        let routes = dynamic_api(self.ns.client(), self.ns.name(), &http_route_resource());
        match routes.list(&Default::default()).await {
            Ok(list) => list
                .items
                .iter()
                .map(|r| format!("{}: {}", r.metadata.name.as_deref().unwrap_or_default(), r.data))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("(listing HTTPRoutes: {e})"),
        }
    }
}

/// An API published with `--route-backend=HTTPRoute` on a Traefik Gateway answers at its URL:
/// the Gateway's status address (written by Traefik) and its listener's port.
#[tokio::test]
async fn traefik_http_route_answers_at_its_url() {
    let Some(w) = TraefikWorld::new("traefik-url").await else { return };
    w.expose("api", json!({})).await;
    let url = w.url("api").await;
    assert_eq!(url, format!("{}{}", w.traefik.base(), w.path("api")));
    let answer = w.reaches(&format!("{url}/productOffering?limit=1"), &[]).await;
    assert!(answer.body.contains(&format!("{}/productOffering", w.path("api"))), "{}", answer.body);
    assert!(w.backend.hits() > 0);
}

/// CORS asked for on Traefik, which does not implement the HTTPRoute `CORS` filter (and answers
/// 500 to every request of a route carrying one): the API still answers, and its `CORS` condition
/// says the policy is not supported by this implementation.
#[tokio::test]
async fn traefik_cors_is_not_supported_and_the_api_still_answers() {
    let Some(w) = TraefikWorld::new("traefik-cors").await else { return };
    w.expose("api", json!({"CORS": {"enabled": true, "allowOrigins": ALLOWED}})).await;
    let url = w.url("api").await;
    w.reaches(&url, &[]).await;
    w.reaches(&url, &[("origin", ALLOWED)]).await;

    let api = exposed_apis(w.ns.name()).await.get("api").await.expect("the API");
    let (status, reason, message) = condition(&api, "CORS").expect("a CORS condition");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NotSupported"), "CORS condition: {message}");
    assert!(message.contains(TRAEFIK_CONTROLLER), "the message names the implementation: {message}");
    assert!(!w.http_routes().await.contains("\"CORS\""), "no CORS filter written: {}", w.http_routes().await);
    // Still answering after the condition was written (no later rewrite added the filter).
    w.reaches(&url, &[("origin", ALLOWED)]).await;
}

/// Istio's EnvoyFilter, RequestAuthentication and AuthorizationPolicy attached to a Traefik Gateway
/// would be accepted by the API server and ignored by Traefik. With an issuer configured (so that
/// only the class makes keys unverifiable), none is written: the API requiring keys is withheld
/// (`SecurityPolicyNotEnforceable`, its path unknown to Traefik: 404), and the rate-limited one is
/// published without a limit and says so (`RateLimit` `False`, `NotSupported`).
#[tokio::test]
async fn traefik_gets_no_istio_policies_keys_withheld_rate_limit_not_supported() {
    let issuer = "--jwt-issuer=https://idp.example.org/realms/x";
    let Some(w) = TraefikWorld::with_flags("traefik-istio-policies", &[issuer]).await else { return };
    w.expose("limited", json!({"rateLimit": {"enabled": true, "limit": "3", "interval": "pm"}})).await;
    w.expose("keyed", json!({"apiKeyVerification": {"enabled": true}})).await;

    let keyed = wait_for_reason(w.ns.name(), "keyed", "SecurityPolicyNotEnforceable").await;
    let (_, _, message) = condition(&keyed, "Ready").expect("a Ready condition");
    assert!(message.contains(TRAEFIK_CONTROLLER), "Ready names the implementation: {message}");
    let (status, reason, message) = condition(&keyed, "APIKeyVerification").expect("an APIKeyVerification condition");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NotSupported"), "{message}");

    // More than 3 requests a minute reach the implementation: nothing limits them.
    let url = w.url("limited").await;
    w.reaches(&url, &[]).await;
    for n in 2..=6 {
        let answer = http::get(&url).await;
        assert!(
            answer.as_ref().is_ok_and(|a| a.status == 200 && a.backend() == Some("impl")),
            "request {n} to {url}: {answer:?}"
        );
    }
    let limited = exposed_apis(w.ns.name()).await.get("limited").await.expect("the API");
    let (status, reason, message) = condition(&limited, "RateLimit").expect("a RateLimit condition");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NotSupported"), "RateLimit condition: {message}");
    assert!(message.contains(TRAEFIK_CONTROLLER) && message.contains("would not be enforced"), "{message}");

    // The withheld API: no route, and Traefik, routing the other one, knows no such path.
    let keyed_url = format!("{}{}", w.traefik.base(), w.path("keyed"));
    let answer = http::get(&keyed_url).await.unwrap_or_else(|e| panic!("GET {keyed_url}: {e}"));
    assert_eq!((answer.status, answer.backend()), (404, None), "GET {keyed_url}: {answer:?}");
    let routes = dynamic_api(w.ns.client(), w.ns.name(), &http_route_resource());
    assert!(routes.get_opt("keyed").await.expect("reading HTTPRoutes").is_none(), "{}", w.http_routes().await);

    // Nothing of Istio's in the Gateway's namespace, though the operator may write there.
    for resource in [envoy_filter_resource(), authorization_policy_resource(), request_authentication_resource()] {
        let objects = dynamic_api(w.ns.client(), w.ns.name(), &resource).list(&Default::default()).await;
        let names: Vec<String> = objects.expect("listing").items.into_iter().filter_map(|o| o.metadata.name).collect();
        assert!(names.is_empty(), "{} written for a Traefik Gateway: {names:?}", resource.kind);
    }
}

/// What Traefik v3.7.13 itself writes to its GatewayClass: `Accepted`, and `supportedFeatures`
/// without `HTTPRouteCORS` and `HTTPRouteRequestTimeout` (the fact the operator reads).
#[tokio::test]
async fn traefik_gateway_class_lacks_cors_and_request_timeout() {
    let Some(plane) = TraefikPlane::from_env("traefik-class") else { return };
    let ns = TestNamespace::new("traefik-class").await;
    let traefik = Traefik::start(&ns, &plane).await;
    let class = wait_for(Duration::from_secs(30), || async {
        let class = traefik.gateway_class(ns.client()).await;
        (!supported_features(&class).is_empty()).then_some(class)
    })
    .await;
    let accepted = class
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Accepted" && c["status"] == "True");
    assert!(accepted, "GatewayClass {} not Accepted: {:?}", traefik.class, class.data.get("status"));
    let features = supported_features(&class);
    eprintln!("GatewayClass {}: {} supportedFeatures: {features:?}", traefik.class, features.len());
    for listed in ["Gateway", "HTTPRoute", "HTTPRouteResponseHeaderModification"] {
        assert!(features.iter().any(|f| f == listed), "{listed} not in {features:?}");
    }
    for missing in ["HTTPRouteCORS", "HTTPRouteRequestTimeout"] {
        assert!(!features.iter().any(|f| f == missing), "{missing} in {features:?}");
    }
}

/// Why the operator must leave the filter out: an HTTPRoute carrying a `CORS` filter (written here
/// by hand, beside one without) is accepted by Traefik v3.7.13, and then every request to it is
/// answered 500 by Traefik itself, while the route without the filter reaches the implementation.
#[tokio::test]
async fn traefik_answers_500_to_a_route_with_a_cors_filter() {
    let Some(plane) = TraefikPlane::from_env("traefik-cors-filter") else { return };
    let start = async |ns: &TestNamespace| Traefik::start(ns, &plane).await;
    let Some((ns, traefik, _backend)) = served("traefik-cors-filter", start).await else { return };
    let routes = dynamic_api(ns.client(), ns.name(), &http_route_resource());
    for (name, filters) in [
        ("plain", json!([])),
        ("with-cors", json!([{"type": "CORS", "cors": {"allowOrigins": [ALLOWED], "maxAge": 1}}])),
    ] {
        let route = dynamic_object(
            &http_route_resource(),
            ns.name(),
            name,
            &[],
            json!({"spec": {
                "parentRefs": [{"name": TRAEFIK_GATEWAY}],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": format!("/{}/{name}", ns.name())}}],
                    "filters": filters,
                    "backendRefs": [{"name": "impl", "port": 8080}],
                }],
            }}),
        );
        create_strict(&routes, &route).await;
    }
    let url = |name: &str| format!("{}/{}/{name}", traefik.base(), ns.name());
    until(&traefik, "GET", &url("plain"), &[], "200 from the implementation", from_impl).await;
    let failed = until(&traefik, "GET", &url("with-cors"), &[], "500 from Traefik", |a| a.status == 500).await;
    assert_eq!(failed.backend(), None, "Traefik answered itself: {failed:?}");
    // Traefik reports the route as accepted all the same.
    let route = routes.get("with-cors").await.expect("the route");
    let accepted = route
        .data
        .pointer("/status/parents/0/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Accepted" && c["status"] == "True");
    assert!(accepted, "route status: {:?}", route.data.get("status"));
}

impl OwnGateway for Traefik {
    fn log_tail(&self) -> String {
        Traefik::log_tail(self)
    }
}

//! The policies a status calls `Applied`, enforced by the real gateway: CORS preflights, rate
//! limits (exactly the configured number within the interval, per client where asked), token
//! verification (`apiKeyVerification`), and fail-closed withholding.

use serde_json::json;

use super::{RouteBackend, World, until};
use crate::operator::{condition, exposed_apis};
use crate::support::http::{self, Backend};
use crate::support::jwt::Issuer;

const ALLOWED: &str = "https://shop.example.org";
const REFUSED: &str = "https://evil.example.net";

async fn condition_of(w: &World, name: &str, type_: &str) -> Option<(String, String, String)> {
    let api = exposed_apis(w.ns.name()).await.get(name).await.expect("the API");
    condition(&api, type_)
}

async fn cors_preflights(route: RouteBackend) {
    let Some(w) = World::new(&format!("cors-{route:?}"), route, &[]).await else { return };
    w.expose("api", json!({"CORS": {"enabled": true, "allowOrigins": ALLOWED, "allowMethods": "GET, POST"}})).await;
    let url = w.url("api").await;
    let (status, reason, _) = condition_of(&w, "api", "CORS").await.expect("a CORS condition");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Applied"), "{route:?}");

    let preflight = |origin: &'static str| {
        [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ]
    };
    let allowed = until(&w.gateway, "OPTIONS", &url, &preflight(ALLOWED), "a preflight allowing the origin", |a| {
        a.header("access-control-allow-origin") == Some(ALLOWED)
    })
    .await;
    assert!(allowed.status < 300, "{route:?}: {allowed:?}");
    assert!(allowed.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{allowed:?}");
    let refused = http::send("OPTIONS", &url, &preflight(REFUSED)).await.expect("an answer");
    assert_eq!(refused.header("access-control-allow-origin"), None, "{route:?}: {refused:?}");
    // A simple request from the allowed origin reaches the API and carries the header.
    let simple = until(&w.gateway, "GET", &url, &[("origin", ALLOWED)], "a CORS answer", |a| a.status == 200).await;
    assert_eq!(simple.header("access-control-allow-origin"), Some(ALLOWED));
}

on_both_backends!(cors_preflights => virtual_service_cors_preflights, http_route_cors_preflights);

/// `limit` requests per minute pass, the next is 429; per client: one client's exhaustion leaves
/// another's bucket alone.
async fn rate_limits(route: RouteBackend) {
    let Some(w) = World::new(&format!("rl-{route:?}"), route, &[]).await else { return };
    let limited = |identifier: &str| json!({"rateLimit": {"enabled": true, "limit": "3", "interval": "pm", "identifier": identifier}});
    w.expose("by-ip", limited("")).await;
    w.expose("by-key", limited("x-client")).await;
    let by_ip = w.url("by-ip").await;
    let by_key = w.url("by-key").await;
    let (status, _, _) = condition_of(&w, "by-ip", "RateLimit").await.expect("a RateLimit condition");
    assert_eq!(status, "True", "{route:?}");

    // The bucket is in place once the first 429 appears; from a fresh bucket count exactly. A
    // request that probes for the limit uses the bucket too, so probe with another client key.
    until(&w.gateway, "GET", &by_key, &[("x-client", "probe")], "429 once the limit is in place", |a| a.status == 429)
        .await;
    for client in ["alice", "bob"] {
        let statuses = statuses(&by_key, &[("x-client", client)], if client == "alice" { 5 } else { 3 }).await;
        let expected: &[u16] = if client == "alice" { &[200, 200, 200, 429, 429] } else { &[200, 200, 200] };
        assert_eq!(statuses, expected, "{route:?}: client {client}");
    }
    // By client address: this machine is one client; the limit applies to it alone.
    until(&w.gateway, "GET", &by_ip, &[], "429 by address", |a| a.status == 429).await;
    let statuses = statuses(&by_ip, &[], 2).await;
    assert_eq!(statuses, [429, 429], "{route:?}");
    // Envoy 1.40 deprecates route-level `rate_limits` for the local rate limit ("will be ignored in
    // the future"): the operator's form must draw no such warning.
    assert_eq!(w.gateway.deprecations(), Vec::<String>::new(), "{route:?}");
}

/// The statuses of `n` requests in a row.
pub(super) async fn statuses(url: &str, headers: &[(&str, &str)], n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(http::send("GET", url, headers).await.expect("an answer").status);
    }
    out
}

on_both_backends!(rate_limits => virtual_service_rate_limits, http_route_rate_limits);

pub(super) const AUDIENCE: &str = "oda-e2e";

/// Through a gateway whose Envoy verifies the tokens of `issuer` for [`AUDIENCE`]: a forged or
/// expired token 401, one for another audience 403, a valid one 200, also as `access_token`.
pub(super) async fn token_cases(issuer: &Issuer, url: &str, gateway: &str) {
    let bearer = |token: String| format!("Bearer {token}");
    let cases = [
        ("forged", bearer(issuer.forged(AUDIENCE)), 401),
        ("expired", bearer(issuer.expired(AUDIENCE)), 401),
        // Envoy's jwt_authn answers an audience it does not allow with 403, not 401.
        ("wrong audience", bearer(issuer.token("somebody-else")), 403),
        ("valid", bearer(issuer.token(AUDIENCE)), 200),
    ];
    for (what, header, expected) in cases {
        let answer = http::send("GET", url, &[("authorization", &header)]).await.expect("an answer");
        assert_eq!(answer.status, expected, "{gateway}: {what} token: {answer:?}");
    }
    let by_query = http::get(&format!("{url}?access_token={}", issuer.token(AUDIENCE))).await.expect("an answer");
    assert_eq!(by_query.status, 200, "{gateway}: token as access_token");
}

/// `apiKeyVerification` as a required token of the issuer: none, forged, expired or for another
/// audience refused (401, 401, 403); valid accepted, by header or query; the preflight passes.
async fn token_verification(route: RouteBackend) {
    let Some(plane) = crate::support::dataplane::DataPlane::from_env("jwt") else { return };
    let issuer = Issuer::new("https://idp.e2e.example/realms/oda");
    let jwks = Backend::start_with("idp", &plane.host_ip, vec![("/jwks".into(), issuer.jwks())]).await;
    let jwks_uri = format!("http://{}/jwks", jwks.addr);
    let flags = [
        format!("--jwt-issuer={}", issuer.issuer),
        format!("--jwt-jwks-uri={jwks_uri}"),
        format!("--jwt-audiences={AUDIENCE}"),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some(w) = World::new(&format!("jwt-{route:?}"), route, &flags).await else { return };
    w.expose("api", json!({"apiKeyVerification": {"enabled": true, "location": "header"}})).await;
    let url = w.url("api").await;
    let (status, reason, _) = condition_of(&w, "api", "APIKeyVerification").await.expect("a condition");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "AppliedAsJWT"), "{route:?}");

    let valid = format!("Bearer {}", issuer.token(AUDIENCE));
    until(&w.gateway, "GET", &url, &[], "403 without a token", |a| a.status == 403).await;
    until(&w.gateway, "GET", &url, &[("authorization", &valid)], "200 with a valid token", |a| a.status == 200).await;
    token_cases(&issuer, &url, &format!("{route:?}")).await;
    let preflight = [("origin", ALLOWED), ("access-control-request-method", "GET")];
    let answer = http::send("OPTIONS", &url, &preflight).await.expect("an answer");
    assert!(![401, 403].contains(&answer.status), "{route:?}: the preflight passes: {answer:?}");
}

on_both_backends!(token_verification => virtual_service_token_verification, http_route_token_verification);

/// Without an issuer `apiKeyVerification` cannot be enforced: the route is withheld (fail closed),
/// and the gateway has no route for the API's path.
async fn fail_closed(route: RouteBackend) {
    let Some(w) = World::new(&format!("closed-{route:?}"), route, &[]).await else { return };
    w.expose("open", json!({})).await;
    w.expose("api", json!({"apiKeyVerification": {"enabled": true}})).await;
    let open = w.url("open").await;
    w.reaches(&open).await;
    w.ready_with("api", "SecurityPolicyNotEnforceable").await;
    let url = format!("{}{}", w.gateway.base(), w.path("api"));
    let answer = http::get(&url).await.expect("an answer");
    assert_eq!((answer.status, answer.backend()), (404, None), "{route:?}: withheld means no route");
}

on_both_backends!(fail_closed => virtual_service_fail_closed, http_route_fail_closed);

//! Routing through the real gateway: the published URL answers, nothing outside the prefix does,
//! readiness follows the implementation, deletion ends it, streams outlive Envoy's default route
//! timeout, and a backend switch keeps the API answering.

use std::time::{Duration, Instant};

use kube::api::DeleteParams;
use serde_json::json;

use super::{RouteBackend, World, until};
use crate::operator::exposed_apis;
use crate::support::http::{self, STREAM_SUFFIX};
use crate::support::*;

async fn answers_at_its_url_and_only_there(route: RouteBackend) {
    let Some(w) = World::new(&format!("url-{route:?}"), route, &[]).await else { return };
    w.expose("api", json!({})).await;
    let url = w.url("api").await;
    // Scheme, host and port of the listener the route is attached to (HTTP on the test's port).
    assert_eq!(url, format!("{}{}", w.gateway.base(), w.path("api")), "{route:?}");
    let answer = w.reaches(&format!("{url}/productOffering?limit=1")).await;
    assert!(answer.body.contains(&format!("{}/productOffering", w.path("api"))), "{}", answer.body);

    // Outside the prefix the gateway answers itself.
    for outside in [format!("/{}/other/tmf-api/x/v4", w.ns.name()), format!("/{}/api/tmf-api", w.ns.name())] {
        let answer = http::get(&format!("{}{outside}", w.gateway.base())).await.expect("an answer");
        assert_eq!((answer.status, answer.backend()), (404, None), "{route:?} {outside}");
    }
    assert!(w.backend.hits() > 0);
}

on_both_backends!(answers_at_its_url_and_only_there => virtual_service_answers_at_its_url_and_only_there, http_route_answers_at_its_url_and_only_there);

/// An implementation without a ready endpoint: `Ready=False`, and the gateway answers 503 itself;
/// ready again, the API answers again. Deleted, it is gone from the gateway.
async fn follows_its_implementation_and_ends_with_deletion(route: RouteBackend) {
    let Some(w) = World::new(&format!("ready-{route:?}"), route, &[]).await else { return };
    w.expose("api", json!({})).await;
    let url = w.url("api").await;
    w.reaches(&url).await;

    set_pod_ready(w.ns.client(), w.ns.name(), "impl-0", false).await;
    w.ready_with("api", "ImplementationNotReady").await;
    let answer = until(&w.gateway, "GET", &url, &[], "the gateway's 503", |a| a.status == 503).await;
    assert_eq!(answer.backend(), None, "{route:?}: the gateway answered, not the implementation");

    set_pod_ready(w.ns.client(), w.ns.name(), "impl-0", true).await;
    w.ready_with("api", "Exposed").await;
    w.reaches(&url).await;

    exposed_apis(w.ns.name()).await.delete("api", &DeleteParams::default()).await.expect("deleted");
    until(&w.gateway, "GET", &url, &[], "404 once the API is deleted", |a| a.status == 404 && a.backend().is_none())
        .await;
}

on_both_backends!(follows_its_implementation_and_ends_with_deletion => virtual_service_follows_its_implementation_and_ends_with_deletion, http_route_follows_its_implementation_and_ends_with_deletion);

/// Envoy's default route timeout is 15 s; an `mcp` API's stream must not be cut by it.
async fn streams_outlive_the_default_timeout(route: RouteBackend) {
    let Some(w) = World::new(&format!("mcp-{route:?}"), route, &[]).await else { return };
    w.expose("api", json!({"apiType": "mcp"})).await;
    let url = w.url("api").await;
    w.reaches(&url).await;
    a_long_stream_arrives_whole(&url, &format!("{route:?}")).await;
}

/// A response of the API at `url` streamed for 17 s (Envoy's default route timeout is 15 s)
/// arrives whole through `gateway`.
pub(super) async fn a_long_stream_arrives_whole(url: &str, gateway: &str) {
    let started = Instant::now();
    let answer = http::send("GET", &format!("{url}{STREAM_SUFFIX}"), &[("x-stream-seconds", "17")])
        .await
        .expect("the stream answers");
    assert_eq!(answer.status, 200, "{gateway}");
    assert!(answer.body.contains("chunk 33"), "{gateway}: stream cut after {:?}: {:?}", started.elapsed(), answer.body);
    assert!(started.elapsed() >= Duration::from_secs(16));
}

on_both_backends!(streams_outlive_the_default_timeout => virtual_service_streams_outlive_the_default_timeout, http_route_streams_outlive_the_default_timeout);

/// Switching the route backend (VirtualService → HTTPRoute) keeps the API answering: the new route
/// is applied before the old one goes, and every request during the switch reaches the API.
#[tokio::test]
async fn a_backend_switch_keeps_the_api_answering() {
    let Some(mut w) = World::new("switch", RouteBackend::VirtualService, &[]).await else { return };
    w.expose("api", json!({})).await;
    let url = w.url("api").await;
    w.reaches(&url).await;

    w.start_operator(RouteBackend::HttpRoute, &[]).await;
    let started = Instant::now();
    let mut failures = Vec::new();
    let routes = dynamic_api(w.ns.client(), w.ns.name(), &virtual_service_resource());
    let mut switched_at = None;
    while started.elapsed() < Duration::from_secs(60) {
        match http::get(&url).await {
            Ok(a) if a.status == 200 && a.backend() == Some("impl") => {}
            other => failures.push(format!("{:?}: {other:?}", started.elapsed())),
        }
        if switched_at.is_none() && routes.get_opt("api").await.ok().flatten().is_none() {
            switched_at = Some(Instant::now());
        }
        // Keep asking for a while after the VirtualService is gone, so that its removal has reached Envoy.
        if switched_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(switched_at.is_some(), "the VirtualService was not removed after the switch");
    assert_eq!(w.url("api").await, url, "the same URL after the switch");
    assert!(failures.is_empty(), "requests failed during the switch: {failures:#?}");
}

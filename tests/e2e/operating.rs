//! Operating the operator: metrics, health, leader election, least privilege, SIGTERM, logs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use oda_api_operator::telemetry::Telemetry;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::operator::{Operator, exposed_apis, ready_condition, wait_for_field, wait_for_reason};
use crate::support::*;

/// Serves the operator's HTTP endpoints on an ephemeral loopback port.
async fn serve(telemetry: &Telemetry) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(oda_api_operator::http::serve(listener, telemetry.clone(), std::future::pending()));
    port
}

/// `(status code, body)` of a GET on loopback.
async fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else { return (0, String::new()) };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

fn series(metrics: &str, name: &str) -> f64 {
    metrics.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

async fn gateway_and_api(ns: &TestNamespace, api: &str, path: &str) {
    gateway_and_service(ns).await;
    create_exposed_api(ns.client(), ns.name(), api, &[], exposed_api_spec("impl", path, 8080)).await;
}

#[tokio::test]
async fn metrics_and_readiness_follow_the_operator() {
    let ns = TestNamespace::new("http").await;
    let telemetry = Telemetry::default();
    let port = serve(&telemetry).await;
    let (code, body) = get(port, "/readyz").await;
    assert_eq!((code, body.as_str()), (503, "caches not synced yet"));
    assert_eq!(get(port, "/healthz").await.0, 200);

    gateway_and_api(&ns, "a1", "/a1").await;
    let _operator = Operator::start_as(operator_client().await, ns.name(), &[], telemetry.clone());
    wait_for_reason(ns.name(), "a1", "Exposed").await;
    assert_eq!(get(port, "/readyz").await, (200, "ok".to_owned()));
    let (code, metrics) = get(port, "/metrics").await;
    assert_eq!(code, 200);
    for name in [
        "oda_api_operator_reconciles_total",
        "oda_api_operator_reconcile_errors_total",
        "oda_api_operator_reconcile_duration_seconds_bucket",
        "oda_api_operator_managed_apis",
        "oda_api_operator_route_conflicts",
        "oda_api_operator_queue_depth",
        "oda_api_operator_writes_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    let reconciles = series(&metrics, "oda_api_operator_reconciles_total");
    assert!(series(&metrics, "oda_api_operator_writes_total{kind=\"VirtualService\"}") >= 1.0);

    create_exposed_api(ns.client(), ns.name(), "a2", &[], exposed_api_spec("impl", "/a2", 8080)).await;
    wait_for_reason(ns.name(), "a2", "Exposed").await;
    let metrics = get(port, "/metrics").await.1;
    assert!(series(&metrics, "oda_api_operator_reconciles_total") > reconciles, "the series move");
    assert_eq!(series(&metrics, "oda_api_operator_managed_apis"), 2.0);

    // A conflicting API, then deletions: the gauges come back to the truth.
    create_exposed_api(ns.client(), ns.name(), "a3", &[], exposed_api_spec("impl", "/a2", 8080)).await;
    wait_for_reason(ns.name(), "a3", "RouteConflict").await;
    assert_eq!(series(&get(port, "/metrics").await.1, "oda_api_operator_route_conflicts"), 1.0);
    for name in ["a2", "a3"] {
        exposed_apis(ns.name()).await.delete(name, &DeleteParams::default()).await.unwrap();
    }
    wait_for(Duration::from_secs(30), || async {
        let metrics = get(port, "/metrics").await.1;
        let gauges = ["managed_apis", "queue_depth", "route_conflicts"]
            .map(|g| series(&metrics, &format!("oda_api_operator_{g}")));
        (gauges == [1.0, 0.0, 0.0]).then_some(()).ok_or(format!("{gauges:?}"))
    })
    .await;
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_goes() {
    let ns = TestNamespace::new("leader").await;
    gateway_and_api(&ns, "a1", "/a1").await;
    let flags = |id: &'static str| {
        [
            "--leader-election=true".to_owned(),
            format!("--leader-election-namespace={}", ns.name()),
            "--lease-name=e2e-lease".to_owned(),
            format!("--pod-name={id}"),
        ]
    };
    let (fa, fb) = (flags("replica-a"), flags("replica-b"));
    let fa: Vec<&str> = fa.iter().map(String::as_str).collect();
    let fb: Vec<&str> = fb.iter().map(String::as_str).collect();
    let a = Operator::start_as(operator_client().await, ns.name(), &fa, Telemetry::default());
    let b = Operator::start_as(operator_client().await, ns.name(), &fb, Telemetry::default());
    wait_for_reason(ns.name(), "a1", "Exposed").await;
    let (leader, standby) = if a.telemetry.health.leading() == Some(true) { (a, b) } else { (b, a) };
    assert_eq!(leader.telemetry.health.leading(), Some(true));
    assert_eq!(standby.telemetry.health.leading(), Some(false));
    assert_eq!(standby.telemetry.metrics.total_writes(), 0, "only the leader writes");
    assert!(standby.telemetry.health.readiness().is_ok(), "a standby is ready");

    leader.stop().await;
    let patch = json!({"spec": {"path": "/a1/v2"}});
    exposed_apis(ns.name()).await.patch("a1", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for_field(ns.name(), "a1", "/status/apiStatus/url", json!("https://20.1.2.3/a1/v2")).await;
    assert_eq!(standby.telemetry.health.leading(), Some(true));
    assert!(standby.telemetry.metrics.total_writes() > 0);
}

#[tokio::test]
async fn a_dropped_rbac_rule_is_reported_clearly() {
    let ns = TestNamespace::new("rbac").await;
    gateway_and_api(&ns, "a1", "/a1").await;
    // The operator's ClusterRole without the right to write VirtualServices, for a user of its own.
    let admin = admin_client().await;
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let mut role = roles.get("oda-api-operator").await.unwrap();
    let name = format!("{}-dropped", ns.name());
    role.metadata = kube::core::ObjectMeta { name: Some(name.clone()), ..Default::default() };
    for rule in role.rules.iter_mut().flatten() {
        if rule.resources.iter().flatten().any(|r| r == "virtualservices") {
            rule.verbs = vec!["get".into(), "list".into(), "watch".into()];
        }
    }
    roles.create(&PostParams::default(), &role).await.unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}]
    }))
    .unwrap();
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    bindings.create(&PostParams::default(), &binding).await.unwrap();
    let mut config = kube::Config::infer().await.unwrap();
    config.auth_info.impersonate = Some(name.clone());
    let client = kube::Client::try_from(config).unwrap();

    let telemetry = Telemetry::default();
    let port = serve(&telemetry).await;
    let _operator = Operator::start_as(client, ns.name(), &[], telemetry);
    let api = wait_for_reason(ns.name(), "a1", "ApplyFailed").await;
    let message = ready_condition(&api).unwrap().2;
    assert!(message.contains("forbidden") && message.contains("virtualservices"), "{message}");
    let (code, body) = wait_for(Duration::from_secs(30), || async {
        let (code, body) = get(port, "/readyz").await;
        (code == 503).then_some((code, body))
    })
    .await;
    assert!(body.contains("virtualservices") && body.contains("forbidden"), "{code}: {body}");
    let _ = bindings.delete(&name, &DeleteParams::default()).await;
    let _ = roles.delete(&name, &DeleteParams::default()).await;
}

#[tokio::test]
async fn sigterm_stops_the_binary_cleanly_and_logs_are_json_with_api_fields() {
    let ns = TestNamespace::new("sigterm").await;
    gateway_and_api(&ns, "a1", "/a1").await;
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let kubeconfig = oda_test_support::clients::operator_kubeconfig().map(|(paths, _)| paths).expect("KUBECONFIG");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oda-api-operator"))
        .arg("run")
        .env("KUBECONFIG", kubeconfig)
        .env("COMPONENT_NAMESPACE", ns.name())
        .env("APIOPERATORISTIO_INGRESS_NAMESPACE", ns.name())
        .env("OPENMETRICS_IMPLEMENTATION", "ServiceMonitor")
        .env("HTTP_PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_reason(ns.name(), "a1", "Exposed").await;
    wait_for(Duration::from_secs(30), || async { get(port, "/readyz").await.0 == 200 }).await;

    let pid = child.id().unwrap().to_string();
    let start = Instant::now();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.expect("exits within 5 s").unwrap();
    assert!(status.success(), "clean exit: {status:?} after {:?}", start.elapsed());

    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let about_api = lines
        .iter()
        .find(|l| l["span"]["exposedapi"] == "a1")
        .unwrap_or_else(|| panic!("no log line about the API in\n{out}"));
    assert_eq!(about_api["span"]["namespace"], ns.name());
    assert!(about_api["span"].get("component").is_some());
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{out}");
}

#[tokio::test]
async fn events_mark_changes_not_reconciles() {
    use k8s_openapi::api::events::v1::Event;
    let ns = TestNamespace::new("events").await;
    gateway_and_api(&ns, "a1", "/a1").await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_reason(ns.name(), "a1", "Exposed").await;
    let events: Api<Event> = Api::namespaced(ns.client(), ns.name());
    let reasons = || async {
        let list = events.list(&Default::default()).await.unwrap().items;
        let mut reasons: Vec<String> = list
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("a1"))
            .map(|e| format!("{}: {}", e.reason.clone().unwrap_or_default(), e.note.clone().unwrap_or_default()))
            .collect();
        reasons.sort();
        reasons
    };
    let seen = wait_for(Duration::from_secs(30), || async {
        let r = reasons().await;
        // One event for the reconcile that created the route and published the API.
        r.iter().any(|e| e.starts_with("Exposed: Created VirtualService a1; published at")).then_some(r)
    })
    .await;

    // Reconciles that change nothing publish nothing.
    for i in 0..3 {
        let touch = json!({"metadata": {"annotations": {"e2e/touch": i.to_string()}}});
        exposed_apis(ns.name()).await.patch("a1", &PatchParams::default(), &Patch::Merge(&touch)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reasons().await, seen);

    // The same Event again (each path change updates the route) continues its series: one object.
    for path in ["/b1", "/a1", "/b1"] {
        let change = json!({"spec": {"path": path}});
        exposed_apis(ns.name()).await.patch("a1", &PatchParams::default(), &Patch::Merge(&change)).await.unwrap();
        let api = exposed_apis(ns.name()).await;
        wait_for(Duration::from_secs(30), || async {
            let obj = serde_json::to_value(api.get("a1").await.ok()?).ok()?;
            obj.pointer("/status/apiStatus/url")?.as_str()?.ends_with(path).then_some(())
        })
        .await;
    }
    let updates = wait_for(Duration::from_secs(30), || async {
        let list = events.list(&Default::default()).await.unwrap().items;
        let updates: Vec<Event> =
            list.into_iter().filter(|e| e.note.as_deref() == Some("Updated VirtualService a1")).collect();
        let counts: Vec<_> = updates.iter().map(|e| e.series.as_ref().map(|s| s.count)).collect();
        if counts == [Some(3)] { Ok(counts) } else { Err(format!("series counts {counts:?}")) }
    })
    .await;
    assert_eq!(updates, [Some(3)]);
}

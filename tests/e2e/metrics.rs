//! Metrics APIs: ServiceMonitor, Prometheus and DataDog annotations, and their clean-up.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::operator::{Operator, condition, exposed_apis, ready_condition, wait_for_reason};
use crate::support::*;

const PATH: &str = "/c1/metrics";

/// A metrics Service selecting `app=c1-metrics,tier=api`, and the metrics ExposedAPI `c1-metrics`.
async fn metrics_fixture(ns: &TestNamespace) {
    let client = ns.client();
    let mut svc = service("c1-sm", &[("name", "c1-sm")], &[("metrics", 4000)]);
    svc.spec.as_mut().unwrap().selector = Some(labels(&[("app", "c1-metrics"), ("tier", "api")]));
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), ns.name())
        .create(&Default::default(), &svc)
        .await
        .unwrap();
    let mut spec = exposed_api_spec("c1-sm", PATH, 4000);
    spec["apiType"] = json!("prometheus");
    create_exposed_api(client, ns.name(), "c1-metrics", &[], spec).await;
}

async fn annotations(ns: &TestNamespace, pod: &str) -> BTreeMap<String, String> {
    ns.api::<Pod>().get(pod).await.unwrap().annotations().clone()
}

async fn wait_for_annotation(ns: &TestNamespace, pod: &str, key: &str, value: &str) {
    let pods = ns.api::<Pod>();
    wait_for(Duration::from_secs(60), || async {
        let p = pods.get(pod).await.ok()?;
        (p.annotations().get(key).map(String::as_str) == Some(value)).then_some(())
    })
    .await;
}

fn metrics_condition(api: &kube::core::DynamicObject) -> Option<(String, String)> {
    condition(api, "MetricsConfigured").map(|(_, reason, message)| (reason, message))
}

#[tokio::test]
async fn service_monitor_mode_writes_the_reference_service_monitor() {
    let ns = TestNamespace::new("sm").await;
    metrics_fixture(&ns).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    let api = wait_for_reason(ns.name(), "c1-metrics", "AddressPending").await;
    let sms = dynamic_api(ns.client(), ns.name(), &service_monitor_resource());
    let sm = wait_for(Duration::from_secs(60), || async { sms.get_opt("c1-metrics").await.ok().flatten() }).await;
    assert_eq!(
        sm.data["spec"],
        json!({
            "selector": {"matchLabels": {"name": "c1-sm"}},
            "endpoints": [{"path": PATH, "interval": "15s", "scheme": "http", "targetPort": 4000}]
        })
    );
    assert_eq!(sm.owner_references()[0].uid, api.uid().unwrap());
    // No Pod declares the port the ServiceMonitor targets: nothing would be scraped, and it says so.
    wait_for(Duration::from_secs(30), || async {
        let a = exposed_apis(ns.name()).await.get("c1-metrics").await.ok()?;
        (metrics_condition(&a)?.0 == "NoScrapeTarget").then_some(())
    })
    .await;
    let mut pod = pod_manifest("p1", &[("app", "c1-metrics"), ("tier", "api")], None);
    pod.spec.as_mut().unwrap().containers[0].ports =
        Some(vec![serde_json::from_value(json!({"containerPort": 4000, "name": "metrics"})).unwrap()]);
    create_pod_when_admitted(ns.client(), ns.name(), &pod).await;
    let api = wait_for(Duration::from_secs(30), || async {
        let a = exposed_apis(ns.name()).await.get("c1-metrics").await.ok()?;
        (metrics_condition(&a)?.0 == "Configured").then_some(a)
    })
    .await;
    assert!(virtual_service_exists(&ns, "c1-metrics").await, "metrics APIs are routed too");

    // No longer a metrics API: the ServiceMonitor goes, the condition too.
    let patch = json!({"spec": {"apiType": "openapi"}});
    exposed_apis(ns.name()).await.patch("c1-metrics", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for(Duration::from_secs(60), || async { matches!(sms.get_opt("c1-metrics").await, Ok(None)) }).await;
    drop(api);
}

#[tokio::test]
async fn switching_to_annotations_removes_the_service_monitor() {
    let ns = TestNamespace::new("sm-to-annotations").await;
    metrics_fixture(&ns).await;
    let sms = dynamic_api(ns.client(), ns.name(), &service_monitor_resource());
    let monitors = Operator::start(ns.name(), &[]).await;
    wait_for(Duration::from_secs(60), || async { sms.get_opt("c1-metrics").await.ok().flatten() }).await;
    monitors.stop().await;

    let _annotations = Operator::start(ns.name(), &["--openmetrics-implementation=PrometheusAnnotation"]).await;
    wait_for(Duration::from_secs(60), || async { matches!(sms.get_opt("c1-metrics").await, Ok(None)) }).await;
    let api = wait_for(Duration::from_secs(30), || async {
        let a = exposed_apis(ns.name()).await.get("c1-metrics").await.ok()?;
        (metrics_condition(&a)?.0 == "WaitingForPods").then_some(a)
    })
    .await;
    assert!(
        api.finalizers().iter().any(|f| f == "oda.tmforum.org/exposedapi-cleanup"),
        "annotating needs the finalizer"
    );
}

async fn virtual_service_exists(ns: &TestNamespace, name: &str) -> bool {
    dynamic_api(ns.client(), ns.name(), &virtual_service_resource()).get_opt(name).await.ok().flatten().is_some()
}

#[tokio::test]
async fn prometheus_annotations_reach_every_selected_pod_and_only_those() {
    let ns = TestNamespace::new("prom").await;
    let selected = [("app", "c1-metrics"), ("tier", "api")];
    create_pod(ns.client(), ns.name(), "p1", &selected).await;
    create_pod(ns.client(), ns.name(), "p2", &selected).await;
    create_pod(ns.client(), ns.name(), "half", &[("app", "c1-metrics")]).await;
    create_pod(ns.client(), ns.name(), "other", &[("app", "other")]).await;
    let keep = json!({"metadata": {"annotations": {"team": "catalog", "prometheus.io/scheme": "http"}}});
    ns.api::<Pod>().patch("p1", &PatchParams::default(), &Patch::Merge(&keep)).await.unwrap();
    metrics_fixture(&ns).await;
    let _operator = Operator::start(ns.name(), &["--openmetrics-implementation=PrometheusAnnotation"]).await;

    for pod in ["p1", "p2"] {
        wait_for_annotation(&ns, pod, "prometheus.io/port", "4000").await;
        let a = annotations(&ns, pod).await;
        assert_eq!(a["prometheus.io/scrape"], "true");
        assert_eq!(a["prometheus.io/path"], PATH);
    }
    let p1 = annotations(&ns, "p1").await;
    assert_eq!(
        (p1["team"].as_str(), p1["prometheus.io/scheme"].as_str()),
        ("catalog", "http"),
        "others' annotations kept"
    );
    for untouched in ["half", "other"] {
        assert!(!annotations(&ns, untouched).await.contains_key("prometheus.io/scrape"), "{untouched} is not selected");
    }

    create_pod(ns.client(), ns.name(), "late", &selected).await;
    wait_for_annotation(&ns, "late", "prometheus.io/scrape", "true").await;

    // Deleting the API removes our annotations (and only ours), then the API is gone.
    exposed_apis(ns.name()).await.delete("c1-metrics", &Default::default()).await.unwrap();
    let apis = exposed_apis(ns.name()).await;
    wait_for(Duration::from_secs(60), || async { matches!(apis.get_opt("c1-metrics").await, Ok(None)) }).await;
    for pod in ["p1", "p2", "late"] {
        let a = annotations(&ns, pod).await;
        assert!(
            !a.keys()
                .any(|k| matches!(k.as_str(), "prometheus.io/scrape" | "prometheus.io/path" | "prometheus.io/port")),
            "{pod}: {a:?}"
        );
    }
    assert_eq!(annotations(&ns, "p1").await["team"], "catalog");
}

#[tokio::test]
async fn datadog_annotation_uses_the_first_container_and_the_real_namespace() {
    let ns = TestNamespace::new("datadog").await;
    create_pod(ns.client(), ns.name(), "p1", &[("app", "c1-metrics"), ("tier", "api")]).await;
    metrics_fixture(&ns).await;
    let _operator = Operator::start(ns.name(), &["--openmetrics-implementation=DataDogAnnotations"]).await;
    let expected = format!(
        "{{\"openmetrics\": {{\"instances\": [{{\"openmetrics_endpoint\": \"http://c1-sm.{ns}.svc.cluster.local:4000{PATH}\", \"namespace\": \"{ns}\", \"metrics\": [\".*\"]}}]}}}}",
        ns = ns.name()
    );
    wait_for_annotation(&ns, "p1", "ad.datadoghq.com/app.checks", &expected).await;
}

#[tokio::test]
async fn switching_away_from_metrics_cleans_up_and_missing_pods_are_reported() {
    let ns = TestNamespace::new("switch").await;
    metrics_fixture(&ns).await;
    let _operator = Operator::start(ns.name(), &["--openmetrics-implementation=PrometheusAnnotation"]).await;
    let api = wait_for(Duration::from_secs(60), || async {
        let a = exposed_apis(ns.name()).await.get("c1-metrics").await.ok()?;
        (metrics_condition(&a)?.0 == "WaitingForPods").then_some(a)
    })
    .await;
    assert_eq!(ready_condition(&api).unwrap().1, "AddressPending", "metrics do not block the route");

    create_pod(ns.client(), ns.name(), "p1", &[("app", "c1-metrics"), ("tier", "api")]).await;
    wait_for_annotation(&ns, "p1", "prometheus.io/scrape", "true").await;
    let api = exposed_apis(ns.name()).await.get("c1-metrics").await.unwrap();
    assert!(api.finalizers().contains(&"oda.tmforum.org/exposedapi-cleanup".to_owned()));

    let patch = json!({"spec": {"apiType": "openapi"}});
    exposed_apis(ns.name()).await.patch("c1-metrics", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let pods = ns.api::<Pod>();
    wait_for(Duration::from_secs(60), || async {
        let p = pods.get("p1").await.ok()?;
        (!p.annotations().contains_key("prometheus.io/scrape")).then_some(())
    })
    .await;
    let apis = exposed_apis(ns.name()).await;
    wait_for(Duration::from_secs(30), || async {
        let a = apis.get("c1-metrics").await.ok()?;
        (a.finalizers().is_empty() && metrics_condition(&a).is_none()).then_some(())
    })
    .await;
}

//! Metrics APIs scraped for real: the ServiceMonitor the operator writes is turned into a scrape
//! configuration by prometheus-operator (run by `scripts/testenv up`), and a real Prometheus
//! ([`Prometheus`]) scrapes the implementation's Pod at its address. The proof is Prometheus' own
//! word: `up == 1` for that Pod, and the backend's exposition read.
//!
//! The ServiceMonitor's `targetPort` is the ExposedAPI's `spec.port`, a Pod port: Prometheus keeps
//! only endpoints whose Pod declares that `containerPort`. When none does, nothing is scraped, and
//! the ExposedAPI must not say its metrics are configured.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::operator::{Operator, condition, exposed_apis};
use crate::support::dataplane::{DataPlane, served_implementation};
use crate::support::http::Backend;
use crate::support::prometheus::Prometheus;
use crate::support::*;

/// The implementation: Service and Pod `impl-0`, Pod labels `app=impl`.
const IMPL: &str = "impl";
const API: &str = "metrics";
/// Discovery, a reload, and the first scrape within the ServiceMonitor's 15 s interval.
const SCRAPED: Duration = Duration::from_secs(90);

/// One test's world: namespace, Prometheus, the implementation's backend (answering its metrics
/// path with a text exposition) behind Service port `service_port`, and the operator in
/// ServiceMonitor mode.
struct MetricsWorld {
    ns: TestNamespace,
    prometheus: Prometheus,
    backend: Backend,
    _operator: Operator,
}

impl MetricsWorld {
    async fn new(test: &str, service_port: Option<i32>) -> Option<Self> {
        let plane = DataPlane::from_env(test)?;
        let binary = Prometheus::binary_from_env(test)?;
        let ns = TestNamespace::new(test).await;
        // Prometheus first: the ServiceMonitor then reaches it through a configuration change.
        let prometheus = Prometheus::start(&ns, binary).await;
        let backend = Backend::start(IMPL, &plane.host_ip).await;
        let service_port = service_port.unwrap_or(i32::from(backend.port()));
        served_implementation(&ns, &plane, IMPL, service_port, &backend, true).await;
        // The operator's ServiceMonitor selects the implementation's Service by its `name` label.
        let labels = json!({"metadata": {"labels": {"name": IMPL}}});
        ns.api::<k8s_openapi::api::core::v1::Service>()
            .patch(IMPL, &PatchParams::default(), &Patch::Merge(&labels))
            .await
            .expect("labelling the Service");
        let operator = Operator::start(ns.name(), &["--openmetrics-implementation=ServiceMonitor"]).await;
        Some(MetricsWorld { ns, prometheus, backend, _operator: operator })
    }

    fn path(&self) -> String {
        format!("/{}/metrics", self.ns.name())
    }

    /// The metrics ExposedAPI for `impl` with `spec.port` = `port`, and its ServiceMonitor.
    async fn expose(&self, port: i32) -> DynamicObject {
        let mut spec = exposed_api_spec(IMPL, &self.path(), port);
        spec["apiType"] = json!("prometheus");
        create_exposed_api(self.ns.client(), self.ns.name(), API, &[], spec).await;
        let monitors = dynamic_api(self.ns.client(), self.ns.name(), &service_monitor_resource());
        wait_for(Duration::from_secs(60), || async { monitors.get_opt(API).await.ok().flatten() }).await
    }

    /// The scrape job prometheus-operator made of the ServiceMonitor, once Prometheus runs it.
    async fn job_loaded(&self) -> String {
        let job = format!("serviceMonitor/{}/{API}/0", self.ns.name());
        let loaded = tokio::time::timeout(SCRAPED, async {
            while !self.prometheus.config().await.contains(&job) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        if loaded.is_err() {
            panic!(
                "Prometheus does not run job {job} after {SCRAPED:?}; its configuration:\n{}\nlog:\n{}",
                self.prometheus.config().await,
                self.prometheus.log_tail()
            );
        }
        job
    }

    async fn metrics_condition(&self) -> Option<(String, String, String)> {
        let api = exposed_apis(self.ns.name()).await.get(API).await.ok()?;
        condition(&api, "MetricsConfigured")
    }

    fn diagnostics(&self, targets: &Result<Vec<Value>, String>) -> String {
        format!("targets: {targets:?}\nPrometheus log:\n{}", self.prometheus.log_tail())
    }
}

fn label<'a>(sample: &'a Value, name: &str) -> &'a str {
    sample["metric"][name].as_str().unwrap_or_default()
}

#[tokio::test]
async fn service_monitor_ends_in_a_scraped_target() {
    let Some(w) = MetricsWorld::new("scraped", None).await else { return };
    let port = i32::from(w.backend.port());
    w.expose(port).await;
    let job = w.job_loaded().await;

    // `up == 1` for the implementation's Pod, with the labels prometheus-operator's relabelling sets.
    let query = format!("up{{namespace=\"{}\"}}", w.ns.name());
    let started = std::time::Instant::now();
    let up = loop {
        let samples = w.prometheus.query(&query).await;
        if let Ok(samples) = &samples
            && let Some(up) = samples.iter().find(|s| s["value"][1] == "1")
        {
            break up.clone();
        }
        if started.elapsed() > SCRAPED {
            panic!(
                "no `up == 1` for {query} after {SCRAPED:?}: {samples:?}\n{}",
                w.diagnostics(&w.prometheus.active_targets().await)
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(
        (label(&up, "job"), label(&up, "namespace"), label(&up, "service"), label(&up, "pod")),
        (IMPL, w.ns.name(), IMPL, "impl-0"),
        "{up}"
    );
    let instance = format!("{}:{port}", w.backend.addr.ip());
    assert_eq!(label(&up, "instance"), instance, "scraped at the Pod's address and port: {up}");

    // The target, as /api/v1/targets reports it: the ServiceMonitor's job, path and health.
    let targets = w.prometheus.active_targets().await;
    let target = targets
        .iter()
        .flatten()
        .find(|t| t["scrapePool"] == job.as_str())
        .unwrap_or_else(|| panic!("no active target of {job}\n{}", w.diagnostics(&targets)));
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["scrapeUrl"], format!("http://{instance}{}", w.path()).as_str(), "{target}");

    // What the backend exposes was read: its request counter, as a series of that Pod.
    let series = format!("oda_e2e_backend_requests_total{{namespace=\"{}\",pod=\"impl-0\"}}", w.ns.name());
    let samples = w.prometheus.query(&series).await.expect("query");
    assert!(
        samples.iter().any(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= 1.0)),
        "{series}: {samples:?}"
    );
    assert!(w.backend.hits() >= 1);

    // And the operator says so.
    let (status, reason, message) =
        wait_for(Duration::from_secs(30), || async { w.metrics_condition().await.filter(|(s, _, _)| s == "True") })
            .await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Configured"), "{message}");
}

/// `spec.port` is the Service's port, which no container of the implementation declares: the
/// ServiceMonitor's `targetPort` matches no Pod port, Prometheus drops the discovered endpoint, and
/// nothing is scraped. The ExposedAPI must not claim its metrics are configured.
#[tokio::test]
async fn no_target_when_no_pod_declares_the_port_and_the_api_does_not_claim_success() {
    const SERVICE_PORT: i32 = 8080;
    let Some(w) = MetricsWorld::new("not-scraped", Some(SERVICE_PORT)).await else { return };
    assert_ne!(i32::from(w.backend.port()), SERVICE_PORT);
    w.expose(SERVICE_PORT).await;
    let job = w.job_loaded().await;

    // Discovery sees the Pod's endpoint (a dropped target of the job), so the absence below is the
    // port's doing, not a discovery that has not happened.
    let dropped = wait_for(SCRAPED, || async {
        let data = w.prometheus.api("targets?state=dropped").await?;
        let dropped = data["droppedTargets"].as_array().cloned().unwrap_or_default();
        dropped
            .into_iter()
            .find(|t| {
                t["discoveredLabels"]["job"] == job.as_str()
                    && t["discoveredLabels"]["__meta_kubernetes_pod_name"] == "impl-0"
            })
            .ok_or_else(|| format!("impl-0 not (yet) among the dropped targets of {job}"))
    })
    .await;
    assert_eq!(
        dropped["discoveredLabels"]["__meta_kubernetes_pod_container_port_number"],
        w.backend.port().to_string().as_str(),
        "{dropped}"
    );

    // Longer than the ServiceMonitor's 15 s interval: still no target, no `up` series.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let targets = w.prometheus.active_targets().await;
    assert!(
        !targets.iter().flatten().any(|t| t["scrapePool"] == job.as_str()),
        "no target expected\n{}",
        w.diagnostics(&targets)
    );
    let up = w.prometheus.query(&format!("up{{namespace=\"{}\"}}", w.ns.name())).await.expect("query");
    assert!(up.is_empty(), "{up:?}");
    assert_eq!(w.backend.hits(), 0, "nothing scraped the backend");

    // The operator must not report success for a ServiceMonitor that selects no Pod port.
    let settled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(c) = w.metrics_condition().await
                && c.0 != "True"
            {
                return c;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await;
    match settled {
        Ok((status, reason, message)) => {
            assert_eq!((status.as_str(), reason.as_str()), ("False", "NoScrapeTarget"), "{message}")
        }
        Err(_) => panic!(
            "MetricsConfigured still claims success although no Pod of {IMPL} declares port {SERVICE_PORT}: {:?}",
            w.metrics_condition().await
        ),
    }
}

//! The scraping step on the fake API server: the ServiceMonitor, or the annotations of the
//! implementation's pods under the API's own field manager; and the clean-up of the other mode.

use serde_json::json;

use super::events::Journal;
use super::scraping::{self, configure};
use super::test_context::{Fixture, NS, Setup, as_json, exposed_api, fixture, spec, valid};
use crate::backend::Installed;
use crate::backend::scrape::service_monitor::{ServiceMonitorBackend, service_monitor_resource};
use crate::config::OpenMetricsImplementation;
use crate::core::status::ConditionSpec;
use crate::exposed_api::ExposedAPI;

const SM: &str = "/apis/monitoring.coreos.com/v1/namespaces/c1/servicemonitors/a";
const PODS: &str = "/api/v1/namespaces/c1/pods";

fn metrics_api() -> ExposedAPI {
    exposed_api("a", spec("/c1/metrics", json!({"apiType": "prometheus", "port": 4000})))
}

fn annotations() -> serde_json::Value {
    json!({"prometheus.io/scrape": "true", "prometheus.io/path": "/c1/metrics", "prometheus.io/port": "4000"})
}

fn annotating() -> Fixture {
    let mut setup = Setup::default();
    setup.config.openmetrics_implementation = OpenMetricsImplementation::PrometheusAnnotation;
    setup.build()
}

/// The step as the pipeline runs it, with the plan's ServiceMonitor.
async fn scrape(fx: &Fixture, api: &ExposedAPI) -> Option<ConditionSpec> {
    let valid = valid(api);
    let monitor = ServiceMonitorBackend.desired(&valid).unwrap();
    configure(&fx.ctx, api, (&valid, monitor.as_ref()), &Journal::default()).await.unwrap()
}

#[tokio::test]
async fn a_metrics_api_gets_its_service_monitor() {
    let fx = fixture();
    let condition = scrape(&fx, &metrics_api()).await.unwrap();
    assert_eq!(condition.type_, "MetricsConfigured");
    assert_eq!(fx.api.write_lines(), [format!("PATCH {SM}")]);
    assert_eq!(fx.api.writes()[0].manager().as_deref(), Some("oda-api-operator"));
}

#[tokio::test]
async fn a_service_monitor_in_place_is_not_written_again() {
    let mut fx = fixture();
    let api = metrics_api();
    let desired = ServiceMonitorBackend.desired(&valid(&api)).unwrap().unwrap();
    fx.observe(&service_monitor_resource(), as_json(&desired));
    scrape(&fx, &api).await.unwrap();
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn a_foreign_service_monitor_is_not_owned_and_left_alone() {
    let mut fx = fixture();
    fx.observe(&service_monitor_resource(), json!({"metadata": {"name": "a", "namespace": NS}}));
    let condition = scrape(&fx, &metrics_api()).await.unwrap();
    assert_eq!(condition.reason, "NotOwned");
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn without_the_service_monitor_crd_the_condition_says_so_and_nothing_is_written() {
    let setup = Setup { installed: Installed { service_monitor: false, ..Installed::ALL }, ..Setup::default() };
    let fx = setup.build();
    let condition = scrape(&fx, &metrics_api()).await.unwrap();
    assert_eq!(condition.reason, "ServiceMonitorCRDMissing");
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn the_pods_not_yet_annotated_are_patched_under_the_api_s_own_field_manager() {
    let fx = annotating();
    fx.service();
    fx.pod("p1", annotations());
    fx.pod("p2", json!({}));
    let condition = scrape(&fx, &metrics_api()).await.unwrap();
    assert_eq!((condition.reason, condition.status), ("Configured", true));
    assert!(condition.message.starts_with("2 pod(s)"), "{}", condition.message);
    let writes = fx.api.writes();
    assert_eq!(writes.len(), 1, "{:?}", fx.api.write_lines());
    assert_eq!(writes[0].line(), format!("PATCH {PODS}/p2"));
    assert_eq!(writes[0].manager().as_deref(), Some("oda-api-operator/metrics-api-uid"));
    assert!(writes[0].query.contains("force=true"));
    assert_eq!(writes[0].body["metadata"]["annotations"], annotations());
}

#[tokio::test]
async fn converged_pods_are_not_written() {
    let fx = annotating();
    fx.service();
    fx.pod("p1", annotations());
    let condition = scrape(&fx, &metrics_api()).await.unwrap();
    assert_eq!(condition.reason, "Configured");
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn without_the_service_or_its_pods_the_condition_waits_and_nothing_is_written() {
    let fx = annotating();
    assert_eq!(scrape(&fx, &metrics_api()).await.unwrap().reason, "ServiceNotFound");
    fx.service();
    assert_eq!(scrape(&fx, &metrics_api()).await.unwrap().reason, "WaitingForPods");
    assert!(fx.api.requests().is_empty());
}

#[tokio::test]
async fn a_type_change_removes_the_annotations_and_the_former_finalizer() {
    let fx = annotating();
    fx.service();
    fx.pod("p1", annotations());
    let mut api = exposed_api("a", spec("/c1/x", json!({})));
    api.metadata.finalizers = Some(vec!["oda.tmforum.org/metrics-annotations".into()]);
    fx.store_api(&api);
    assert!(scrape(&fx, &api).await.is_none());
    let writes = fx.api.writes();
    let lines: Vec<String> = writes.iter().map(|w| w.line()).collect();
    assert_eq!(
        lines,
        [format!("PATCH {PODS}/p1"), "PATCH /apis/oda.tmforum.org/v1/namespaces/c1/exposedapis/a".into()]
    );
    assert_eq!(writes[0].manager().as_deref(), Some("oda-api-operator/metrics-api-uid"));
    assert!(writes[0].body["metadata"].get("annotations").is_none(), "an empty apply gives the keys up");
    assert_eq!(fx.stored_api("a")["metadata"]["finalizers"], json!([]));
}

#[tokio::test]
async fn an_annotated_api_needs_the_finalizer_and_releases_its_pods_on_deletion() {
    let fx = annotating();
    fx.service();
    fx.pod("p1", annotations());
    let api = metrics_api();
    assert!(scraping::needs_finalizer(&fx.ctx, &api));
    scraping::release(&fx.ctx, &api, 0).await.unwrap();
    assert_eq!(fx.api.write_lines(), [format!("PATCH {PODS}/p1")]);
}

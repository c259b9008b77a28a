//! Metrics scraping for metrics APIs: the ServiceMonitor, or annotations on every pod selected by
//! the implementation Service, owned key by key through server-side apply; and their clean-up.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::apply::annotations_manager;
use super::children::{apply_if_changed, observed};
use super::context::Context;
use super::error::ReconcileError;
use super::events::Journal;
use crate::backend::scrape::Scraper;
use crate::backend::scrape::annotations::desired_annotations;
use crate::backend::scrape::service_monitor::{ScrapeTargets, ServiceMonitorBackend};
use crate::config::OpenMetricsImplementation;
use crate::core::ownership::is_controlled_by;
use crate::core::status::{ConditionSpec, MetricsReason};
use crate::core::validation::ValidApi;
use crate::exposed_api::{ApiType, ExposedAPI};

/// The finalizer name earlier releases set for the pod annotations alone (see `finalizer`).
const FINALIZER: &str = "oda.tmforum.org/metrics-annotations";

/// Whether the API needs the finalizer for its scraping: its scraper says it leaves something behind.
pub(super) fn needs_finalizer(ctx: &Context, api: &ExposedAPI) -> bool {
    ctx.backends.scraper.needs_cleanup(api.spec.api_type.as_deref().and_then(ApiType::parse))
}

/// Configures scraping for a valid API (`monitor`: the plan's ServiceMonitor); `None` for APIs that are not metrics APIs. Leftovers of a
/// previous type or mode (annotations, a ServiceMonitor) are removed first.
pub(super) async fn configure(
    ctx: &Context,
    api: &ExposedAPI,
    (valid, monitor): (&ValidApi, Option<&DynamicObject>),
    journal: &Journal,
) -> Result<Option<ConditionSpec>, ReconcileError> {
    let scraper = if valid.api_type.is_metrics() { Some(ctx.backends.scraper) } else { None };
    let annotate_error = |source| ReconcileError::Annotate { service: valid.implementation.clone(), source };
    if !matches!(scraper, Some(Scraper::Annotations(_))) && may_have_annotated(ctx, api, valid) {
        remove_annotations(ctx, api).await.map_err(annotate_error)?;
        // The API no longer needs the finalizer of earlier releases (its type or the mode changed).
        super::apply::remove_finalizer(ctx, api, FINALIZER).await?;
    }
    match scraper {
        None => Ok(None),
        Some(Scraper::ServiceMonitor(backend)) => {
            service_monitor(ctx, api, (valid, monitor), backend, journal).await.map(Some)
        }
        Some(Scraper::ServiceMonitorMissing) => Ok(Some(MetricsReason::ServiceMonitorCRDMissing.condition(
            "OPENMETRICS_IMPLEMENTATION=ServiceMonitor but the ServiceMonitor CRD (monitoring.coreos.com/v1) is not \
             installed: install the Prometheus operator, or use PrometheusAnnotation",
        ))),
        Some(Scraper::Annotations(mode)) => annotate(ctx, api, valid, mode).await.map(Some).map_err(annotate_error),
    }
}

async fn service_monitor(
    ctx: &Context,
    api: &ExposedAPI,
    (valid, desired): (&ValidApi, Option<&DynamicObject>),
    backend: ServiceMonitorBackend,
    journal: &Journal,
) -> Result<ConditionSpec, ReconcileError> {
    let resource = backend.resource();
    let existing = observed(ctx, &resource, &valid.namespace, &valid.name);
    if let Some(existing) = &existing
        && !is_controlled_by(&existing.metadata, api.meta().uid.as_deref().unwrap_or_default())
    {
        return Ok(MetricsReason::NotOwned.condition(format!(
            "ServiceMonitor {}/{} exists and is not controlled by this ExposedAPI; it is left untouched",
            valid.namespace, valid.name
        )));
    }
    if let Some(desired) = desired {
        apply_if_changed(ctx, &resource, desired, existing.as_deref(), journal).await?;
    }
    Ok(ServiceMonitorBackend::condition(valid, &scrape_targets(ctx, valid)))
}

/// The pods behind the implementation Service and the ports they declare, from the caches.
fn scrape_targets(ctx: &Context, valid: &ValidApi) -> ScrapeTargets {
    let selector = ctx.state.selectors.read().get().selector(&valid.namespace, &valid.implementation).cloned();
    match selector {
        None => ScrapeTargets::NoService,
        Some(selector) if selector.is_empty() => ScrapeTargets::NoSelector,
        Some(selector) => {
            let pods = ctx.state.pods.read().get().selected(&valid.namespace, &selector);
            ScrapeTargets::Pods(pods.into_iter().map(|(_, facts)| facts.ports).collect())
        }
    }
}

async fn annotate(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    mode: OpenMetricsImplementation,
) -> Result<ConditionSpec, kube::Error> {
    let selector = ctx.state.selectors.read().get().selector(&valid.namespace, &valid.implementation).cloned();
    let Some(selector) = selector else {
        return Ok(MetricsReason::ServiceNotFound
            .condition(format!("Service {} not found; its pods are annotated when it appears", valid.implementation)));
    };
    if selector.is_empty() {
        return Ok(MetricsReason::NoSelector
            .condition(format!("Service {} has no selector: there are no pods to annotate", valid.implementation)));
    }
    let pods = ctx.state.pods.read().get().selected(&valid.namespace, &selector);
    if pods.is_empty() {
        return Ok(
            MetricsReason::WaitingForPods.condition(format!("no pod selected by Service {} yet", valid.implementation))
        );
    }
    let manager = annotations_manager(api.meta().uid.as_deref().unwrap_or_default());
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &valid.namespace);
    let mut annotated = 0;
    for (name, facts) in &pods {
        // DataDog keys carry the first container's name, which pod metadata does not hold.
        let converged_datadog = mode == OpenMetricsImplementation::DataDogAnnotation
            && facts.annotations.iter().any(|(k, v)| {
                k.ends_with(".checks") && desired_annotations(mode, valid, "").values().any(|want| want == v)
            });
        if converged_datadog {
            annotated += 1;
            continue;
        }
        let container = match mode {
            OpenMetricsImplementation::DataDogAnnotation => match pod_api.get_opt(name).await? {
                Some(pod) => pod.spec.and_then(|s| s.containers.first().map(|c| c.name.clone())).unwrap_or_default(),
                None => continue,
            },
            _ => String::new(),
        };
        let desired = desired_annotations(mode, valid, &container);
        if desired.iter().all(|(k, v)| facts.annotations.get(k) == Some(v)) {
            annotated += 1;
            continue;
        }
        let applied = apply_annotations(&pod_api, name, &manager, &desired).await;
        ctx.telemetry.health.record("write pods", &applied);
        match applied {
            Ok(()) => {
                ctx.telemetry.metrics.wrote("Pod");
                annotated += 1;
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        info!(pod = %name, "metrics annotations applied");
    }
    Ok(MetricsReason::Configured.condition(format!(
        "{annotated} pod(s) of Service {} annotated for {}",
        valid.implementation,
        match mode {
            OpenMetricsImplementation::DataDogAnnotation => "DataDog",
            _ => "Prometheus",
        }
    )))
}

/// Removes this API's annotations from the pods of its Service, or, when the Service is gone,
/// from the namespace's pods that carry annotations it may own. Rare, so it reads directly.
pub(super) async fn remove_annotations(ctx: &Context, api: &ExposedAPI) -> Result<(), kube::Error> {
    let namespace = api.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    let implementation = api.spec.implementation.clone().unwrap_or_default();
    let selector: BTreeMap<String, String> = match services.get_opt(&implementation).await? {
        Some(svc) => svc.spec.and_then(|s| s.selector).unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let params = if selector.is_empty() {
        ListParams::default()
    } else {
        let query: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        ListParams::default().labels(&query.join(","))
    };
    let manager = annotations_manager(api.meta().uid.as_deref().unwrap_or_default());
    for pod in pods.list_metadata(&params).await? {
        let ours =
            pod.annotations().keys().any(|k| k.starts_with("prometheus.io/") || k.starts_with("ad.datadoghq.com/"));
        if !ours {
            continue;
        }
        match apply_annotations(&pods, &pod.name_any(), &manager, &BTreeMap::new()).await {
            Ok(()) => ctx.telemetry.metrics.wrote("Pod"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Server-side applies exactly these annotations under the API's own field manager: keys it
/// applied before and leaves out now are removed; nothing else of the pod is touched.
async fn apply_annotations(
    pods: &Api<Pod>,
    name: &str,
    manager: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<(), kube::Error> {
    let mut metadata = json!({"name": name});
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata});
    pods.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(body)).await.map(|_| ())
}

/// Whether pods of the API's Service may still carry annotations it wrote: it holds the finalizer
/// of earlier releases, or it holds the finalizer and the pod cache shows such annotations.
fn may_have_annotated(ctx: &Context, api: &ExposedAPI, valid: &ValidApi) -> bool {
    if api.finalizers().iter().any(|f| f == FINALIZER) {
        return true;
    }
    if !super::finalizer::held(api) {
        return false;
    }
    let selector = ctx.state.selectors.read().get().selector(&valid.namespace, &valid.implementation).cloned();
    let Some(selector) = selector.filter(|s| !s.is_empty()) else { return false };
    let pods = ctx.state.pods.read().get().selected(&valid.namespace, &selector);
    pods.iter().any(|(_, facts)| !facts.annotations.is_empty())
}

/// Deletion: our pod annotations go, if the API may have written any. After repeated failures they
/// are left, with a Warning, so that the finalizer can go.
pub(super) async fn release(ctx: &Context, api: &ExposedAPI, attempts: u32) -> Result<(), ReconcileError> {
    let legacy = api.finalizers().iter().any(|f| f == FINALIZER);
    if !legacy && !needs_finalizer(ctx, api) {
        return Ok(());
    }
    if let Err(e) = remove_annotations(ctx, api).await {
        if attempts < super::finalizer::CLEANUP_ATTEMPTS {
            return Err(ReconcileError::Cleanup(e));
        }
        let note = format!(
            "could not remove metrics annotations after {attempts} attempts ({e}); removing the finalizer anyway"
        );
        warn!("{note}");
        super::events::publish(ctx, api, EventType::Warning, "CleanupFailed", &note);
    }
    Ok(())
}

//! Metrics scraping for metrics APIs: the ServiceMonitor, or annotations on every pod selected by
//! the implementation Service, owned key by key through server-side apply; and their clean-up.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::info;

use super::Context;
use super::reconcile::{Journal, apply_if_changed, observed};
use crate::config::OpenMetricsImplementation;
use crate::exposed_api::ExposedAPI;
use crate::output::Output;
use crate::ownership::is_controlled_by;
use crate::pod_annotations::desired_annotations;
use crate::status::{ConditionSpec, MetricsReason};
use crate::validation::ValidApi;

/// Finalizer that lets the operator remove its pod annotations before the ExposedAPI goes.
pub const FINALIZER: &str = "oda.tmforum.org/metrics-annotations";

/// Configures scraping for a valid API; `None` for APIs that are not metrics APIs. Leftovers of a
/// previous type or mode (annotations, a ServiceMonitor) are removed first.
pub(super) async fn configure(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    journal: &Journal,
) -> Result<Option<ConditionSpec>, kube::Error> {
    let mode = ctx.config.openmetrics_implementation;
    let annotating = valid.api_type.is_metrics() && mode != OpenMetricsImplementation::ServiceMonitor;
    if !annotating && has_finalizer(api) {
        remove_annotations(ctx, api).await?;
        remove_finalizer(ctx, api).await?;
    }
    let monitoring = valid.api_type.is_metrics() && mode == OpenMetricsImplementation::ServiceMonitor;
    if !monitoring {
        delete_stale_service_monitor(ctx, api, valid, journal).await?;
    }
    if !valid.api_type.is_metrics() {
        return Ok(None);
    }
    match mode {
        OpenMetricsImplementation::ServiceMonitor => service_monitor(ctx, api, valid, journal).await.map(Some),
        mode => annotate(ctx, api, valid, mode).await.map(Some),
    }
}

async fn service_monitor(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    journal: &Journal,
) -> Result<ConditionSpec, kube::Error> {
    let (Some(output), Some(store)) = (&ctx.service_monitor, &ctx.service_monitors) else {
        return Ok(MetricsReason::ServiceMonitorCRDMissing.condition(
            "OPENMETRICS_IMPLEMENTATION=ServiceMonitor but the ServiceMonitor CRD (monitoring.coreos.com/v1) is not \
             installed: install the Prometheus operator, or use PrometheusAnnotation",
        ));
    };
    let existing = observed(ctx, store, output, valid);
    if let Some(existing) = &existing
        && !is_controlled_by(&existing.metadata, api.meta().uid.as_deref().unwrap_or_default())
    {
        return Ok(MetricsReason::NotOwned.condition(format!(
            "ServiceMonitor {}/{} exists and is not controlled by this ExposedAPI; it is left untouched",
            valid.namespace, valid.name
        )));
    }
    if let Some(desired) = output.desired(valid) {
        apply_if_changed(ctx, &output.api_resource(), &desired, existing.as_deref(), journal).await?;
    }
    Ok(MetricsReason::Configured.condition(format!("ServiceMonitor {} applied", valid.name)))
}

async fn delete_stale_service_monitor(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    journal: &Journal,
) -> Result<(), kube::Error> {
    let (Some(output), Some(store)) = (&ctx.service_monitor, &ctx.service_monitors) else { return Ok(()) };
    let Some(stale) = observed(ctx, store, output, valid) else { return Ok(()) };
    if !is_controlled_by(&stale.metadata, api.meta().uid.as_deref().unwrap_or_default()) {
        return Ok(());
    }
    let sms: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &valid.namespace, &output.api_resource());
    match sms.delete(&stale.name_any(), &DeleteParams::default()).await {
        Ok(_) => ctx.telemetry.metrics.wrote("ServiceMonitor"),
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(e),
    }
    journal.note(format!("Deleted ServiceMonitor {}: the API is no longer scraped through one", valid.name));
    Ok(())
}

async fn annotate(
    ctx: &Context,
    api: &ExposedAPI,
    valid: &ValidApi,
    mode: OpenMetricsImplementation,
) -> Result<ConditionSpec, kube::Error> {
    let selector = ctx
        .state
        .selectors
        .read()
        .ok()
        .and_then(|i| i.get().selector(&valid.namespace, &valid.implementation).cloned());
    let Some(selector) = selector else {
        return Ok(MetricsReason::ServiceNotFound
            .condition(format!("Service {} not found; its pods are annotated when it appears", valid.implementation)));
    };
    if selector.is_empty() {
        return Ok(MetricsReason::NoSelector
            .condition(format!("Service {} has no selector: there are no pods to annotate", valid.implementation)));
    }
    if !has_finalizer(api) {
        add_finalizer(ctx, api).await?;
    }
    let pods = ctx.state.pods.read().map(|i| i.get().selected(&valid.namespace, &selector)).unwrap_or_default();
    if pods.is_empty() {
        return Ok(
            MetricsReason::WaitingForPods.condition(format!("no pod selected by Service {} yet", valid.implementation))
        );
    }
    let manager = field_manager(api);
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
    let manager = field_manager(api);
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

/// One field manager per ExposedAPI, so two APIs never remove each other's annotations.
fn field_manager(api: &ExposedAPI) -> String {
    format!("{}/metrics-{}", super::MANAGER, api.meta().uid.as_deref().unwrap_or_default())
}

pub(super) fn has_finalizer(api: &ExposedAPI) -> bool {
    api.finalizers().iter().any(|f| f == FINALIZER)
}

async fn add_finalizer(ctx: &Context, api: &ExposedAPI) -> Result<(), kube::Error> {
    let ops = match api.meta().finalizers.as_ref() {
        None => json!([{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]),
        Some(existing) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": existing},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}
        ]),
    };
    patch_metadata(ctx, api, ops).await
}

pub(super) async fn remove_finalizer(ctx: &Context, api: &ExposedAPI) -> Result<(), kube::Error> {
    let Some(index) = api.finalizers().iter().position(|f| f == FINALIZER) else { return Ok(()) };
    let path = format!("/metadata/finalizers/{index}");
    let ops = json!([{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}]);
    patch_metadata(ctx, api, ops).await
}

async fn patch_metadata(ctx: &Context, api: &ExposedAPI, ops: Value) -> Result<(), kube::Error> {
    let apis: Api<ExposedAPI> = Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default());
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(kube::Error::SerdeError)?;
    let params = PatchParams { field_manager: Some(super::MANAGER.into()), ..Default::default() };
    apis.patch(&api.name_any(), &params, &Patch::<()>::Json(patch)).await?;
    ctx.telemetry.metrics.wrote("finalizer");
    Ok(())
}

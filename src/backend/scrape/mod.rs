//! The metrics scraping backends of metrics APIs (`apiType` `prometheus` / `openmetrics`): a
//! Prometheus-operator `ServiceMonitor` owned by the API, or annotations on the implementation's
//! pods (Prometheus or DataDog), chosen by `OPENMETRICS_IMPLEMENTATION`.

pub mod annotations;
pub mod service_monitor;

use crate::config::OpenMetricsImplementation;
use crate::exposed_api::ApiType;
use service_monitor::ServiceMonitorBackend;

/// How metrics APIs are scraped, as configured and as the cluster allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scraper {
    /// A ServiceMonitor owned by the API.
    ServiceMonitor(ServiceMonitorBackend),
    /// `OPENMETRICS_IMPLEMENTATION=ServiceMonitor`, but the CRD is not installed.
    ServiceMonitorMissing,
    /// Annotations on every pod selected by the implementation Service.
    Annotations(OpenMetricsImplementation),
}

impl Scraper {
    pub fn new(mode: OpenMetricsImplementation, service_monitor_crd: bool) -> Self {
        match (mode, service_monitor_crd) {
            (OpenMetricsImplementation::ServiceMonitor, true) => Self::ServiceMonitor(ServiceMonitorBackend),
            (OpenMetricsImplementation::ServiceMonitor, false) => Self::ServiceMonitorMissing,
            (mode, _) => Self::Annotations(mode),
        }
    }

    /// Whether an API of this type leaves something garbage collection cannot remove (annotations
    /// on pods it does not own), so that it carries the finalizer.
    pub fn needs_cleanup(&self, api_type: Option<ApiType>) -> bool {
        matches!(self, Self::Annotations(_)) && api_type.is_some_and(ApiType::is_metrics)
    }

    /// Whether Services (their selectors) and Pods must be watched: the pods to annotate, or the
    /// pods whose container ports a ServiceMonitor's `targetPort` must match.
    pub fn watches_pods(&self) -> bool {
        matches!(self, Self::Annotations(_) | Self::ServiceMonitor(_))
    }

    /// Whether the pods' declared container ports are needed (a whole-pod watch).
    pub fn reads_pod_ports(&self) -> bool {
        matches!(self, Self::ServiceMonitor(_))
    }
}

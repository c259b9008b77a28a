//! The metrics scraping backends of metrics APIs (`apiType` `prometheus` / `openmetrics`): a
//! Prometheus-operator `ServiceMonitor` owned by the API, or annotations on the implementation's
//! pods (Prometheus or DataDog), chosen by `OPENMETRICS_IMPLEMENTATION`.

pub mod annotations;
pub mod service_monitor;

//! Pod annotations for the annotation-based metrics patterns (reference §2.6).

use std::collections::BTreeMap;

use crate::config::OpenMetricsImplementation;
use crate::core::validation::ValidApi;

/// The annotations the operator owns on each pod of a metrics API's implementation.
///
/// `PrometheusAnnotation` also sets `prometheus.io/path` and `prometheus.io/port` (the reference
/// only sets `scrape`, so Prometheus scraped `/metrics` on every port). `DataDogAnnotation` uses
/// the API's real namespace (the reference hard-coded `components`).
pub fn desired_annotations(
    mode: OpenMetricsImplementation,
    api: &ValidApi,
    first_container: &str,
) -> BTreeMap<String, String> {
    match mode {
        OpenMetricsImplementation::ServiceMonitor => BTreeMap::new(),
        OpenMetricsImplementation::PrometheusAnnotation => [
            ("prometheus.io/scrape", "true".to_owned()),
            ("prometheus.io/path", api.path.clone()),
            ("prometheus.io/port", api.port.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        OpenMetricsImplementation::DataDogAnnotation => {
            let key = format!("ad.datadoghq.com/{first_container}.checks");
            [(key, datadog_check(api))].into()
        }
    }
}

/// The openmetrics check, formatted as the reference's Python `json.dumps` does (", " and ": ").
fn datadog_check(api: &ValidApi) -> String {
    let endpoint =
        format!("http://{}.{}.svc.cluster.local:{}{}", api.implementation, api.namespace, api.port, api.path);
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "{{\"openmetrics\": {{\"instances\": [{{\"openmetrics_endpoint\": {}, \"namespace\": {}, \"metrics\": [\".*\"]}}]}}}}",
        quote(&endpoint),
        quote(&api.namespace)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::metrics_api as api;

    #[test]
    fn golden_g14_datadog_string() {
        let annotations = desired_annotations(OpenMetricsImplementation::DataDogAnnotation, &api(), "c0");
        assert_eq!(
            annotations.get("ad.datadoghq.com/c0.checks").map(String::as_str),
            Some(
                "{\"openmetrics\": {\"instances\": [{\"openmetrics_endpoint\": \"http://prdcat3-productcatalogmanagement-sm.components.svc.cluster.local:4000/prdcat3-productcatalogmanagement/metrics\", \"namespace\": \"components\", \"metrics\": [\".*\"]}]}}"
            )
        );
    }

    #[test]
    fn datadog_uses_the_real_namespace() {
        let mut api = api();
        api.namespace = "odacompns-1".into();
        let annotations = desired_annotations(OpenMetricsImplementation::DataDogAnnotation, &api, "c0");
        let value = &annotations["ad.datadoghq.com/c0.checks"];
        assert!(value.contains("\"namespace\": \"odacompns-1\""), "{value}");
        assert!(value.contains(".odacompns-1.svc.cluster.local:4000"), "{value}");
    }

    #[test]
    fn prometheus_sets_scrape_path_and_port() {
        let annotations = desired_annotations(OpenMetricsImplementation::PrometheusAnnotation, &api(), "c0");
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/path"], "/prdcat3-productcatalogmanagement/metrics");
        assert_eq!(annotations["prometheus.io/port"], "4000");
    }
}

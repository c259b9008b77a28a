//! The Prometheus-operator `ServiceMonitor` for metrics APIs (reference §2.6).

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{BuildError, object_with_spec};
use crate::core::ownership::child_metadata;
use crate::core::status::{ConditionSpec, MetricsReason};
use crate::core::validation::ValidApi;

/// The subset of `monitoring.coreos.com/v1` ServiceMonitor spec the operator writes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub endpoints: Vec<Endpoint>,
}

/// Selects the implementation Service by its `name` label, as the reference does.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: std::collections::BTreeMap<String, String>,
}

/// One scrape endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub path: String,
    pub interval: String,
    pub scheme: String,
    /// The pod port number (an integer, as the reference writes it).
    pub target_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<Value>,
}

/// The ServiceMonitor scraping backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceMonitorBackend;

impl ServiceMonitorBackend {
    pub fn spec(api: &ValidApi) -> ServiceMonitorSpec {
        ServiceMonitorSpec {
            selector: LabelSelector { match_labels: [("name".to_owned(), api.implementation.clone())].into() },
            endpoints: vec![Endpoint {
                path: api.path.clone(),
                interval: "15s".into(),
                scheme: "http".into(),
                target_port: api.port,
                basic_auth: api.basic_auth.clone(),
            }],
        }
    }

    pub fn resource(&self) -> ApiResource {
        service_monitor_resource()
    }

    /// The ServiceMonitor of a metrics API; `None` for other APIs.
    pub fn desired(&self, api: &ValidApi) -> Result<Option<DynamicObject>, BuildError> {
        if !api.api_type.is_metrics() {
            return Ok(None);
        }
        object_with_spec(&self.resource(), child_metadata(api), &Self::spec(api)).map(Some)
    }
}

/// What the watch caches know of the pods behind the implementation Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScrapeTargets {
    /// The Service is not (yet) there.
    NoService,
    /// The Service has no selector: its endpoints are managed by hand, its pods cannot be known.
    NoSelector,
    /// The container ports each selected pod declares.
    Pods(Vec<Vec<i32>>),
}

impl ServiceMonitorBackend {
    /// The `MetricsConfigured` condition of an applied ServiceMonitor. prometheus-operator keeps
    /// only the endpoints whose pod declares a container port equal to a numeric `targetPort`,
    /// so without such a pod nothing is ever scraped, silently.
    pub fn condition(api: &ValidApi, targets: &ScrapeTargets) -> ConditionSpec {
        let (monitor, service, port) = (&api.name, &api.implementation, api.port);
        let applied = format!("ServiceMonitor {monitor} applied");
        match targets {
            ScrapeTargets::NoService => MetricsReason::ServiceNotFound
                .condition(format!("{applied}; Service {service} not found: there is nothing to scrape yet")),
            ScrapeTargets::NoSelector => MetricsReason::Configured.condition(format!(
                "{applied}; Service {service} has no selector, so whether its pods declare port {port} is not checked"
            )),
            ScrapeTargets::Pods(pods) if pods.is_empty() => MetricsReason::NoScrapeTarget.condition(format!(
                "{applied}, but no Pod is selected by Service {service}: there is no target to scrape"
            )),
            ScrapeTargets::Pods(pods) if !pods.iter().any(|ports| ports.contains(&i32::from(port))) => {
                let mut seen: Vec<i32> = pods.iter().flatten().copied().collect();
                seen.sort_unstable();
                seen.dedup();
                let seen: Vec<String> = seen.iter().map(ToString::to_string).collect();
                MetricsReason::NoScrapeTarget.condition(format!(
                    "{applied}, but no Pod of Service {service} declares containerPort {port} (they declare [{}]);                      its targetPort matches declared container ports only, so nothing is scraped",
                    seen.join(", ")
                ))
            }
            ScrapeTargets::Pods(_) => MetricsReason::Configured
                .condition(format!("{applied}; Pods of Service {service} declare containerPort {port}")),
        }
    }
}

/// `monitoring.coreos.com/v1` `ServiceMonitor`.
pub fn service_monitor_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
        "servicemonitors",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::ApiType;
    use serde_json::json;

    fn metrics_api(basic_auth: Option<Value>) -> ValidApi {
        ValidApi { basic_auth, ..crate::core::fixtures::metrics_api() }
    }

    #[test]
    fn golden_g11_shape() {
        let sm = ServiceMonitorBackend.desired(&metrics_api(None)).unwrap().unwrap();
        assert_eq!(sm.types.as_ref().unwrap().api_version, "monitoring.coreos.com/v1");
        assert_eq!(sm.metadata.name.as_deref(), Some("prdcat3-productcatalogmanagement-metrics"));
        assert_eq!(
            sm.data["spec"],
            json!({
                "selector": {"matchLabels": {"name": "prdcat3-productcatalogmanagement-sm"}},
                "endpoints": [{
                    "path": "/prdcat3-productcatalogmanagement/metrics",
                    "interval": "15s",
                    "scheme": "http",
                    "targetPort": 4000
                }]
            })
        );
    }

    #[test]
    fn basic_auth_is_copied_verbatim() {
        let auth = json!({"username": {"name": "s", "key": "u"}, "password": {"name": "s", "key": "p"}});
        let sm = ServiceMonitorBackend.desired(&metrics_api(Some(auth.clone()))).unwrap().unwrap();
        assert_eq!(sm.data["spec"]["endpoints"][0]["basicAuth"], auth);
    }

    #[test]
    fn a_monitor_without_a_pod_declaring_its_port_scrapes_nothing() {
        let api = metrics_api(None);
        let reason = |targets| {
            let c = ServiceMonitorBackend::condition(&api, &targets);
            (c.status, c.reason, c.message)
        };
        let (status, reason_, message) = reason(ScrapeTargets::Pods(vec![vec![8080, 9090], vec![8080]]));
        assert_eq!((status, reason_), (false, "NoScrapeTarget"));
        assert!(message.contains("containerPort 4000") && message.contains("[8080, 9090]"), "{message}");
        let (status, reason_, message) = reason(ScrapeTargets::Pods(vec![]));
        assert_eq!((status, reason_), (false, "NoScrapeTarget"));
        assert!(message.contains("no Pod is selected by Service prdcat3-productcatalogmanagement-sm"), "{message}");
        assert_eq!(reason(ScrapeTargets::Pods(vec![vec![], vec![4000, 8080]])).1, "Configured");
        assert_eq!(reason(ScrapeTargets::NoService).1, "ServiceNotFound");
        let (status, reason_, _) = reason(ScrapeTargets::NoSelector);
        assert_eq!((status, reason_), (true, "Configured"), "endpoints by hand: not judged");
    }

    #[test]
    fn only_metrics_apis_get_one() {
        let mut api = metrics_api(None);
        api.api_type = ApiType::Openapi;
        assert!(ServiceMonitorBackend.desired(&api).unwrap().is_none());
        api.api_type = ApiType::Openmetrics;
        assert!(ServiceMonitorBackend.desired(&api).unwrap().is_some());
    }
}

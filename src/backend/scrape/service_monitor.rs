//! The Prometheus-operator `ServiceMonitor` for metrics APIs (reference §2.6).

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{BuildError, object_with_spec};
use crate::core::ownership::child_metadata;
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
    fn only_metrics_apis_get_one() {
        let mut api = metrics_api(None);
        api.api_type = ApiType::Openapi;
        assert!(ServiceMonitorBackend.desired(&api).unwrap().is_none());
        api.api_type = ApiType::Openmetrics;
        assert!(ServiceMonitorBackend.desired(&api).unwrap().is_some());
    }
}

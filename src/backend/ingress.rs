//! The Kubernetes side of the Azure API Management backend: an `Ingress` per API into the mesh
//! (class `APIM_INGRESS_CLASS`, `istio` by default), owned by the API, which APIM forwards to. Its
//! name is the reference operator's, `apim-api-ingress-<name>`, so a take-over finds it.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    ServiceBackendPort,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

use super::route::{AddressSource, Route, RouteKey, RouteState};
use super::{BuildError, object_with_spec};
use crate::config::ApimConfig;
use crate::core::ownership::child_metadata;
use crate::core::validation::ValidApi;

/// The reference's prefix of the Ingress names.
pub const NAME_PREFIX: &str = "apim-api-ingress-";

/// The Ingress route of the APIM backend.
#[derive(Clone, Debug)]
pub struct IngressRoute {
    pub class: String,
}

impl IngressRoute {
    pub fn new(config: &ApimConfig) -> Self {
        Self { class: config.apim_ingress_class.clone() }
    }

    /// `apim-api-ingress-<name>` (the reference's name), shortened with a hash past 253 characters.
    pub fn name(api_name: &str) -> String {
        let name = format!("{NAME_PREFIX}{api_name}");
        if name.len() <= 253 { name } else { format!("{}-{}", &name[..244], super::apim::short_hash(api_name)) }
    }

    pub fn spec(&self, api: &ValidApi) -> IngressSpec {
        let backend = IngressServiceBackend {
            name: api.implementation.clone(),
            port: Some(ServiceBackendPort { number: Some(i32::from(api.port)), name: None }),
        };
        let path = HTTPIngressPath {
            path: Some(api.path.clone()),
            path_type: "Prefix".into(),
            backend: IngressBackend { service: Some(backend), resource: None },
        };
        IngressSpec {
            ingress_class_name: Some(self.class.clone()),
            rules: Some(vec![IngressRule { host: None, http: Some(HTTPIngressRuleValue { paths: vec![path] }) }]),
            ..Default::default()
        }
    }
}

impl Route for IngressRoute {
    fn address_source(&self) -> AddressSource {
        AddressSource::External
    }

    fn resource(&self) -> ApiResource {
        ingress_resource()
    }

    fn object_name(&self, api_name: &str) -> String {
        Self::name(api_name)
    }

    fn desired(&self, api: &ValidApi) -> Result<DynamicObject, BuildError> {
        let mut metadata = child_metadata(api);
        metadata.name = Some(Self::name(&api.name));
        object_with_spec(&self.resource(), metadata, &self.spec(api))
    }

    /// Ingresses of one class conflict on host and path.
    fn route_key(&self, api: &ValidApi) -> RouteKey {
        RouteKey::new(&api.namespace, &format!("ingressclass/{}", self.class), "*", &api.path)
    }

    fn claims(&self, ingress: &DynamicObject) -> Vec<RouteKey> {
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) = ingress.data.get("spec").and_then(|s| serde_json::from_value::<IngressSpec>(s.clone()).ok())
        else {
            return Vec::new();
        };
        let class = format!("ingressclass/{}", spec.ingress_class_name.as_deref().unwrap_or_default());
        let mut keys = Vec::new();
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.as_deref().unwrap_or("*");
            for path in rule.http.iter().flat_map(|h| &h.paths) {
                keys.push(RouteKey::new(namespace, &class, host, path.path.as_deref().unwrap_or("/")));
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// An Ingress reports no acceptance; its address is a fact of the APIM step.
    fn state(&self, _: &DynamicObject) -> RouteState {
        RouteState::Accepted
    }
}

/// `networking.k8s.io/v1` `Ingress`.
pub fn ingress_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"), "ingresses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::core_api;
    use serde_json::json;

    #[test]
    fn the_reference_ingress_shape_owned_by_the_api() {
        let route = IngressRoute::new(&ApimConfig::default());
        let ingress = route.desired(&core_api()).unwrap();
        assert_eq!(
            ingress.metadata.name.as_deref(),
            Some("apim-api-ingress-prdcat3-productcatalogmanagement-productcatalogmanagement")
        );
        assert_eq!(ingress.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            ingress.data["spec"],
            json!({"ingressClassName": "istio", "rules": [{"http": {"paths": [{
                "path": "/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4",
                "pathType": "Prefix",
                "backend": {"service": {"name": "prdcat3-prodcatapi", "port": {"number": 8080}}}
            }]}}]})
        );
        let keys = route.claims(&ingress);
        assert_eq!(keys, vec![route.route_key(&core_api())]);
        assert!(IngressRoute::name(&"x".repeat(300)).len() <= 253);
    }
}

//! Test fixtures shared by the pure modules' unit tests: the reference's fixture APIs.

use crate::core::validation::ValidApi;
use crate::exposed_api::ApiType;

/// `CREATE_APISTATUS_1`: the TMF620 core API of release `prdcat3`.
pub fn core_api() -> ValidApi {
    ValidApi {
        name: "prdcat3-productcatalogmanagement-productcatalogmanagement".into(),
        namespace: "components".into(),
        uid: Some("e715b931-4413-4cee-9f84-f747471063c4".into()),
        labels: [("oda.tmforum.org/componentName".to_owned(), "prdcat3-productcatalogmanagement".to_owned())].into(),
        api_type: ApiType::Openapi,
        implementation: "prdcat3-prodcatapi".into(),
        path: "/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4".into(),
        port: 8080,
        developer_ui: None,
        hostname: None,
        basic_auth: None,
        cors: None,
        rate_limit: None,
        api_keys: None,
    }
}

/// `CREATE_APISTATUS_2`: the Prometheus metrics API of the same release.
pub fn metrics_api() -> ValidApi {
    ValidApi {
        name: "prdcat3-productcatalogmanagement-metrics".into(),
        uid: Some("103a544e-07c5-48a8-89f9-b1ae2618b141".into()),
        labels: Default::default(),
        api_type: ApiType::Prometheus,
        implementation: "prdcat3-productcatalogmanagement-sm".into(),
        path: "/prdcat3-productcatalogmanagement/metrics".into(),
        port: 4000,
        ..core_api()
    }
}

/// A short API for URL tests: path `/c1/tmf-api/x/v4`.
pub fn short_api() -> ValidApi {
    ValidApi {
        name: "c1-x".into(),
        uid: Some("u1".into()),
        labels: Default::default(),
        implementation: "c1-impl".into(),
        path: "/c1/tmf-api/x/v4".into(),
        ..core_api()
    }
}

/// A GatewayClass like Traefik v3.7's: no `HTTPRouteCORS`, no `HTTPRouteRequestTimeout`.
pub fn traefik_class() -> crate::core::gateway_class::ClassFeatures {
    crate::core::gateway_class::ClassFeatures::of(&serde_json::json!({
        "spec": {"controllerName": "traefik.io/gateway-controller"},
        "status": {"supportedFeatures": [{"name": "Gateway"}, {"name": "HTTPRoute"}, {"name": "HTTPRouteBackendRequestTimeout"}]},
    }))
}

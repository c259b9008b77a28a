//! Start-up discovery: which CRDs exist and whether they have a status subresource. Kinds whose
//! CRD is absent are not watched (with a clear log); writing one fails with a condition saying so.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::{Api, Client};

use crate::Error;
use crate::config::VirtualServiceVersion;

/// What the cluster offers.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    /// The ExposedAPI CRD serves `v1` with a status subresource (ours does; the Canvas' does not).
    pub exposed_api_status_subresource: bool,
    /// The Component CRD exists (propagation is skipped otherwise), and whether it has `/status`.
    pub component: Option<bool>,
    /// The VirtualService CRD serves the configured version.
    pub virtual_service: bool,
    /// The Istio Gateway CRD serves that version too (its servers decide the URLs' scheme).
    pub istio_gateway: bool,
    /// The ServiceMonitor CRD exists.
    pub service_monitor: bool,
    /// The Gateway API `Gateway` CRD exists.
    pub gateway_api: bool,
    /// The `GatewayClass` CRD serves `v1` (what its implementation supports).
    pub gateway_class: bool,
    /// The Gateway API `HTTPRoute` CRD serves `v1`, and whether its rules take a `CORS` filter.
    pub http_route: bool,
    pub http_route_cors: bool,
    /// Istio's `EnvoyFilter` (v1alpha3), for rate limits.
    pub envoy_filter: bool,
    /// Istio's `AuthorizationPolicy` and `RequestAuthentication` (both `v1`), for API keys.
    pub istio_security: bool,
    /// The policy-engine kinds (`plural.group/version`) whose CRD serves that version.
    pub engine_kinds: Vec<String>,
}

impl Discovered {
    /// Which kinds the backends may write.
    pub fn installed(&self) -> crate::backend::Installed {
        crate::backend::Installed {
            virtual_service: self.virtual_service,
            http_route: self.http_route,
            http_route_cors: self.http_route_cors,
            service_monitor: self.service_monitor,
            envoy_filter: self.envoy_filter,
            istio_security: self.istio_security,
        }
    }
}

/// Reads the CRDs the operator depends on.
/// `plural.group/version` of a kind, as [`Discovered::engine_kinds`] lists it.
pub fn kind_key(resource: &kube::core::ApiResource) -> String {
    format!("{}.{}/{}", resource.plural, resource.group, resource.version)
}

pub async fn discover(
    client: &Client,
    vs_version: VirtualServiceVersion,
    engine_kinds: &[kube::core::ApiResource],
) -> Result<Discovered, Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let exposed_api = crds.get_opt("exposedapis.oda.tmforum.org").await?.ok_or_else(|| {
        Error::Setup(
            "the ExposedAPI CRD is not installed: apply deploy/crds/exposedapis.oda.tmforum.org.yaml \
             (or the Canvas oda-crds chart) first"
                .into(),
        )
    })?;
    let component = crds.get_opt("components.oda.tmforum.org").await?;
    let virtual_service = crds.get_opt("virtualservices.networking.istio.io").await?;
    let http_route = crds.get_opt("httproutes.gateway.networking.k8s.io").await?;
    let served = async |name: &str, version: &str| -> Result<bool, Error> {
        Ok(crds.get_opt(name).await?.as_ref().is_some_and(|c| serves(c, version)))
    };
    let envoy_filter = served("envoyfilters.networking.istio.io", "v1alpha3").await?;
    let istio_gateway = served("gateways.networking.istio.io", vs_version.as_str()).await?;
    let gateway_class = served("gatewayclasses.gateway.networking.k8s.io", "v1").await?;
    let istio_security = served("authorizationpolicies.security.istio.io", "v1").await?
        && served("requestauthentications.security.istio.io", "v1").await?;
    let mut served_engine_kinds = Vec::new();
    for kind in engine_kinds {
        if served(&format!("{}.{}", kind.plural, kind.group), &kind.version).await? {
            served_engine_kinds.push(kind_key(kind));
        }
    }
    Ok(Discovered {
        engine_kinds: served_engine_kinds,
        exposed_api_status_subresource: status_subresource(&exposed_api, "v1"),
        component: component.as_ref().map(|c| status_subresource(c, "v1")),
        virtual_service: virtual_service.as_ref().is_some_and(|c| serves(c, vs_version.as_str())),
        istio_gateway,
        service_monitor: crds.get_opt("servicemonitors.monitoring.coreos.com").await?.is_some(),
        gateway_api: crds.get_opt("gateways.gateway.networking.k8s.io").await?.is_some(),
        gateway_class,
        http_route: http_route.as_ref().is_some_and(|c| serves(c, "v1")),
        http_route_cors: http_route.as_ref().is_some_and(has_cors_filter),
        envoy_filter,
        istio_security,
    })
}

fn status_subresource(crd: &CustomResourceDefinition, version: &str) -> bool {
    crd.spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .and_then(|v| v.subresources.as_ref())
        .is_some_and(|s| s.status.is_some())
}

/// Whether the `v1` schema of the HTTPRoute CRD has `rules[].filters[].cors`.
fn has_cors_filter(crd: &CustomResourceDefinition) -> bool {
    let Some(version) = crd.spec.versions.iter().find(|v| v.name == "v1") else { return false };
    let schema = version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
    let property = |s: Option<&JSONSchemaProps>, name: &str| s?.properties.as_ref()?.get(name).cloned();
    let items = |s: Option<JSONSchemaProps>| match s?.items? {
        JSONSchemaPropsOrArray::Schema(item) => Some(*item),
        JSONSchemaPropsOrArray::Schemas(mut items) => items.pop(),
    };
    let spec = property(schema, "spec");
    let rule = items(property(spec.as_ref(), "rules"));
    let filter = items(property(rule.as_ref(), "filters"));
    property(filter.as_ref(), "cors").is_some()
}

fn serves(crd: &CustomResourceDefinition, version: &str) -> bool {
    crd.spec.versions.iter().any(|v| v.name == version && v.served)
}

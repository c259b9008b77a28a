//! What the operator would write for a fixture ExposedAPI, built with the operator's own code, so
//! that the write floor writes objects and bodies of the same size and shape as the operator's.
//!
//! This is the one module of the benchmark that uses the operator library (`oda_api_operator`):
//! when the library's API changes, only this module follows it.

use kube::core::{ApiResource, DynamicObject};
use oda_api_operator::backend::istio::VirtualServiceRoute;
use oda_api_operator::backend::route::{Route, RouteState};
use oda_api_operator::config::OperatorConfig;
use oda_api_operator::core::gateway_address::{GatewayAddress, IngressPort, IngressTarget, Scheme};
use oda_api_operator::core::status::{ConditionSpec, Outcome, assemble, desired_status};
use oda_api_operator::core::url::published_url;
use oda_api_operator::core::validation::{ValidApi, validate};
use oda_api_operator::exposed_api::ExposedAPI;
use serde_json::json;

use crate::cluster::Result;

/// An ExposedAPI as the operator reads it once validated.
pub struct ExpectedApi(ValidApi);

impl ExpectedApi {
    /// The API as the operator reads `fixture`, created in `ns` with `uid`.
    pub fn from_fixture(fixture: &DynamicObject, uid: &str, ns: &str) -> Result<Self> {
        let mut obj: ExposedAPI = serde_json::from_value(serde_json::to_value(fixture)?)?;
        obj.metadata.uid = Some(uid.to_owned());
        Ok(Self(validate(&obj, ns).map_err(|e| format!("the fixture does not validate: {e}"))?))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn namespace(&self) -> &str {
        &self.0.namespace
    }

    pub fn uid(&self) -> String {
        self.0.uid.clone().unwrap_or_default()
    }
}

/// What the operator writes with its default configuration, the ingress gateway having an IP
/// address and an `http2` port 80.
pub struct Expected {
    routes: VirtualServiceRoute,
    gateway: GatewayAddress,
}

impl Expected {
    pub fn new(gateway_ip: &str) -> Self {
        Self {
            routes: VirtualServiceRoute::new(&OperatorConfig::default()),
            gateway: GatewayAddress {
                target: Some(IngressTarget { ip: Some(gateway_ip.to_owned()), hostname: None }),
                ports: vec![IngressPort { name: Some("http2".to_owned()), port: 80 }],
                scheme: Scheme::Reference,
            },
        }
    }

    /// The kind and version of the VirtualServices the operator writes.
    pub fn virtual_service_resource(&self) -> ApiResource {
        self.routes.resource()
    }

    /// The VirtualService the operator applies for `api`.
    pub fn virtual_service(&self, api: &ExpectedApi) -> Result<DynamicObject> {
        Ok(self.routes.desired(&api.0)?)
    }

    /// The body of the operator's server-side apply of the status of `api` (implementation ready)
    /// once its VirtualService, of uid `route_uid`, is applied.
    pub fn status(&self, api: &ExpectedApi, route_uid: Option<String>) -> serde_json::Value {
        let api = &api.0;
        let url = published_url(api, Some(&self.gateway));
        let outcome = Outcome::Applied { api, route_uid, route: RouteState::Accepted };
        let (api_status, implementation, condition) = desired_status(&outcome, url.as_ref(), true, None);
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
        let status = assemble(api_status, implementation, &[ConditionSpec::from(&condition)], Some(1), None, now);
        json!({
            "apiVersion": "oda.tmforum.org/v1",
            "kind": "ExposedAPI",
            "metadata": {"name": api.name, "namespace": api.namespace},
            "status": status,
        })
    }
}

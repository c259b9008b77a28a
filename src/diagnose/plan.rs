//! The operator's own plan for the API (`backend::plan`, the one the pipeline applies and `render`
//! prints), made from what the cluster says of the API's Gateway, and which of its objects the
//! cluster holds: what a reconcile would write, and what is missing or not the API's.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::core::{ApiResource, DynamicObject};
use kube::{Client, ResourceExt};

use super::lookup::by_name;
use crate::backend::Backends;
use crate::backend::plan::{Desired, GatewayFacts, plan};
use crate::backend::policy_engine::{PolicyEngine, declared_kind};
use crate::backend::route::AddressSource;
use crate::backend::scrape::service_monitor::service_monitor_resource;
use crate::config::{RouteBackend, RunConfig};
use crate::core::gateway_address::{Gateway, gateway_ref};
use crate::core::gateway_class::{ClassFeatures, Enforcer, gateway_class_resource};
use crate::core::ownership::{controller_of, is_controlled_by};
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedAPI;

/// What the plan says: each object and whether the cluster has it, and why the route is withheld.
#[derive(Default)]
pub struct Planned {
    pub objects: Vec<String>,
    pub withheld: Option<String>,
}

pub(super) async fn planned(
    client: &Client,
    config: &RunConfig,
    backends: &Backends,
    (api, valid): (&ExposedAPI, &ValidApi),
) -> Planned {
    let class = gateway_class(client, config, backends, &valid.namespace).await;
    let enforcer = Enforcer::of(class.as_ref(), &config.output.policy.istio_gateway_controllers());
    let engine = backends.engine_for(class.as_ref()).map(|e| e.as_ref());
    let facts = GatewayFacts {
        class: class.as_ref(),
        enforcer: &enforcer,
        engine,
        external: config.output.route_backend == RouteBackend::AzureApim,
    };
    let desired = match plan(valid, &api.spec, (&config.output, backends), facts) {
        Ok(desired) => desired,
        Err(e) => return Planned { objects: vec![format!("cannot plan: {e}")], withheld: None },
    };
    let uid = api.uid().unwrap_or_default();
    let mut objects = Vec::new();
    for (resource, object) in wanted(backends, engine, &desired) {
        let ours = |meta: &ObjectMeta| is_controlled_by(meta, &uid) || engine.is_some_and(|e| e.is_ours(meta, &uid));
        objects.push(found(client, &resource, &object, ours).await);
    }
    Planned { objects, withheld: desired.withheld }
}

/// Every planned object with its kind, the route first.
fn wanted(
    backends: &Backends,
    engine: Option<&dyn PolicyEngine>,
    desired: &Desired,
) -> Vec<(ApiResource, DynamicObject)> {
    let mut wanted = vec![(backends.route.resource(), desired.route.clone())];
    wanted.extend(desired.monitor.iter().map(|m| (service_monitor_resource(), m.clone())));
    let kinds = engine.map(|e| e.kinds()).unwrap_or_default();
    for object in &desired.engine {
        wanted.extend(declared_kind(&kinds, object).map(|r| (r.clone(), object.clone())));
    }
    wanted
}

/// One planned object as the cluster has it; `ours`: whether an object of its name is the API's.
async fn found(
    client: &Client,
    resource: &ApiResource,
    object: &DynamicObject,
    ours: impl Fn(&ObjectMeta) -> bool,
) -> String {
    let (namespace, name) = (object.namespace().unwrap_or_default(), object.name_any());
    let what = format!("{} {namespace}/{name}", resource.kind);
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
    match objects.list(&by_name(&name)).await.map(|l| l.items.into_iter().next()) {
        Ok(Some(o)) if ours(&o.metadata) => format!("{what}: present"),
        Ok(Some(o)) => match controller_of(&o.metadata) {
            Some(owner) => format!("{what}: present, controlled by {} {} (not this API)", owner.kind, owner.name),
            None => format!("{what}: present, not this API's"),
        },
        Ok(None) => format!("{what}: MISSING"),
        Err(e) => format!("{what}: cannot read it ({e})"),
    }
}

/// The class of the Gateway an HTTPRoute attaches to, as the cluster has it.
async fn gateway_class(
    client: &Client,
    config: &RunConfig,
    backends: &Backends,
    namespace: &str,
) -> Option<ClassFeatures> {
    if backends.route.address_source() != AddressSource::Gateway {
        return None;
    }
    let (gateway_ns, name) = gateway_ref(&config.output.component_gateway);
    let gateways: Api<Gateway> = Api::namespaced(client.clone(), gateway_ns.unwrap_or(namespace));
    let gateway = gateways.list(&by_name(name)).await.ok()?.items.into_iter().next()?;
    let classes: Api<DynamicObject> = Api::all_with(client.clone(), &gateway_class_resource());
    let class = classes.list(&by_name(&gateway.spec.gateway_class_name)).await.ok()?;
    let class = class.items.into_iter().next()?;
    Some(ClassFeatures::of(&serde_json::to_value(&class).ok()?))
}

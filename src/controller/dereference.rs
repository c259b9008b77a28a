//! The dereference step: the facts a reconcile needs, read from watch caches and indexes (never
//! from the API server): the implementation's readiness, where the gateway is reachable, and the
//! status the API has now (our own last write while its echo is on its way).

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::context::Context;
use crate::backend::route::AddressSource;
use crate::core::gateway_address::{Gateway, GatewayAddress, gateway_ref};
use crate::core::gateway_class::ClassFeatures;
use crate::core::status::RouteState;
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

/// What the status of one API is computed from, besides the outcome of its steps.
pub(super) struct Facts {
    pub implementation_ready: bool,
    pub gateway: Option<GatewayAddress>,
    /// Our own last status write, if the cache has not caught up with it yet.
    pub recent_status: Option<ExposedApiStatus>,
}

pub(super) fn facts(ctx: &Context, api: &ExposedAPI, namespace: &str) -> Facts {
    let implementation = api.spec.implementation.as_deref().unwrap_or_default();
    let implementation_ready = ctx.state.readiness.read().get().ready(namespace, implementation);
    let recent_status = ctx.state.recent().status(namespace, &api.name_any()).cloned();
    Facts { implementation_ready, gateway: gateway(ctx, namespace), recent_status }
}

/// The address URLs are built from. VirtualServices: the ingress gateway Service, else the
/// Gateway (computed by the gateway watch), through the Istio Gateway they bind to (in the API's
/// namespace for a bare name; plain HTTP only makes `http://` URLs). HTTPRoutes: the Gateway they
/// attach to, in the API's namespace when the setting names no namespace. A public host name wins
/// in both.
fn gateway(ctx: &Context, namespace: &str) -> Option<GatewayAddress> {
    let (gateway_ns, name) = gateway_ref(&ctx.config.component_gateway);
    match ctx.backends.route.address_source() {
        // The external system gives the URL.
        AddressSource::External => None,
        AddressSource::IstioIngress => {
            let address = ctx.state.gateway.read().clone()?;
            let listener = ctx.state.istio_gateways.read().get().get(gateway_ns.unwrap_or(namespace), name).copied();
            Some(address.behind_istio_gateway(listener))
        }
        AddressSource::Gateway => {
            let key = ObjectRef::<Gateway>::new(name).within(gateway_ns.unwrap_or(namespace));
            let observed = ctx.gateways.as_ref().and_then(|store| store.get(&key));
            let address = observed.map(|gw| GatewayAddress::for_routes(&gw, ctx.config.gateway_section_name()));
            match ctx.config.public_hostname() {
                Some(host) => Some(address.unwrap_or_default().with_public_hostname(host)),
                None => address,
            }
        }
    }
}

/// The implementation behind the Gateway the API's HTTPRoute attaches to, as its GatewayClass
/// reports it; `None` with other backends, or while the Gateway or its class is not known.
pub(super) fn implementation(ctx: &Context, namespace: &str) -> Option<ClassFeatures> {
    if ctx.backends.route.address_source() != AddressSource::Gateway {
        return None;
    }
    let (gateway_ns, name) = gateway_ref(&ctx.config.component_gateway);
    let key = ObjectRef::<Gateway>::new(name).within(gateway_ns.unwrap_or(namespace));
    let gateway = ctx.gateways.as_ref()?.get(&key)?;
    ctx.state.gateway_classes.read().get().get("", &gateway.spec.gateway_class_name).cloned()
}

/// What the Gateway the API's HTTPRoute attaches to says of itself (`Programmed`); `None` with
/// other backends, or while the Gateway is not in the cache (the route then waits on its own).
pub(super) fn gateway_state(ctx: &Context, namespace: &str) -> Option<RouteState> {
    if ctx.backends.route.address_source() != AddressSource::Gateway {
        return None;
    }
    let (gateway_ns, name) = gateway_ref(&ctx.config.component_gateway);
    let key = ObjectRef::<Gateway>::new(name).within(gateway_ns.unwrap_or(namespace));
    ctx.gateways.as_ref()?.get(&key).map(|gateway| crate::backend::gateway_api_status::gateway_state(&gateway))
}

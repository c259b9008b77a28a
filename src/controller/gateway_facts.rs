//! Facts of gateway objects besides the address, each read once per change into a small index
//! (never per reconcile): the Istio Gateway the VirtualServices bind to (whether it serves TLS,
//! which makes the URLs' scheme), and the GatewayClasses (what the implementation behind the
//! HTTPRoutes' Gateway supports). A change of a fact re-reconciles the APIs it concerns.

use kube::Api;
use kube::core::DynamicObject;
use kube::runtime::reflector::Store;
use kube::runtime::watcher::{self, Event};
use parking_lot::RwLock;
use tokio::sync::oneshot;

use super::context::State;
use super::discovery::Discovered;
use super::facts::{Fact, Facts};
use super::indexes::{Key, Relisting};
use super::watches::SideWatches;
use crate::backend::route::AddressSource;
use crate::config::RunConfig;
use crate::core::gateway_address::{Gateway, gateway_ref};
use crate::core::gateway_class::ClassFeatures;
use crate::core::istio_gateway::{IstioListener, istio_gateway_resource};

/// Which index of [`State`] a watch feeds.
type Slot<T> = fn(&State) -> &RwLock<Relisting<Facts<T>>>;

impl SideWatches {
    /// The Istio Gateway of `APIOPERATORISTIO_COMPONENTGATEWAY` (in each API's namespace for a bare
    /// name), with VirtualServices only. Optional: without the right to read it the URLs keep the
    /// reference's `https://`.
    pub(super) fn istio_gateways(
        &self,
        (config, source): (&RunConfig, AddressSource),
        discovered: &Discovered,
    ) -> Option<oneshot::Receiver<()>> {
        let output = &config.output;
        if source != AddressSource::IstioIngress || !discovered.istio_gateway {
            return None;
        }
        let resource = istio_gateway_resource(output.virtual_service_version.as_str());
        let (namespace, name) = gateway_ref(&output.component_gateway);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let slot: Slot<IstioListener> = |state| &state.istio_gateways;
        Some(self.watch_facts(api, by_name, namespace.is_none(), "Istio Gateway", slot, |this, _| {
            let _ = this.all_trigger.unbounded_send(());
        }))
    }

    /// Every GatewayClass (few, cluster-scoped), with HTTPRoutes only; a change of one re-reconciles
    /// the APIs when a component Gateway is of that class. Optional, as the Istio Gateway.
    pub(super) fn gateway_classes(
        &self,
        source: AddressSource,
        discovered: &Discovered,
        gateways: Store<Gateway>,
    ) -> Option<oneshot::Receiver<()>> {
        if source != AddressSource::Gateway || !discovered.gateway_class {
            return None;
        }
        let resource = crate::core::gateway_class::gateway_class_resource();
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let slot: Slot<ClassFeatures> = |state| &state.gateway_classes;
        let config = watcher::Config::default();
        Some(self.watch_facts(api, config, false, "GatewayClass", slot, move |this, changed| {
            let of_class = |gw: &std::sync::Arc<Gateway>| changed.iter().any(|(_, c)| *c == gw.spec.gateway_class_name);
            if gateways.state().iter().any(of_class) {
                let _ = this.all_trigger.unbounded_send(());
            }
        }))
    }

    /// Feeds `slot` from a watch; `on_change` hears which keys' facts changed.
    fn watch_facts<T: Fact>(
        &self,
        api: Api<DynamicObject>,
        config: watcher::Config,
        scoped: bool,
        kind: &str,
        slot: Slot<T>,
        on_change: impl Fn(&SideWatches, &[Key]) + Send + 'static,
    ) -> oneshot::Receiver<()> {
        let this = self.handle();
        let namespaces = scoped.then(|| self.namespaces.clone());
        let stream = watcher::watcher(api, config);
        let health = self.telemetry.health.clone();
        let kind = (kind, super::watch_task::Listing::Optional);
        super::watch_task::spawn_watch(&self.tasks, health, namespaces, kind, stream, move |event| {
            let mut facts = slot(&this.state).write();
            let before = facts.get().clone();
            facts.handle(&event);
            if matches!(event, Event::Init | Event::InitApply(_)) {
                return;
            }
            let after = facts.get();
            let changed = before.changed(after);
            drop(facts);
            if !changed.is_empty() {
                on_change(&this, &changed);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway(namespace: &str, protocol: &str) -> DynamicObject {
        DynamicObject::new("component-gateway", &istio_gateway_resource("v1"))
            .within(namespace)
            .data(json!({"spec": {"servers": [{"port": {"number": 8080, "protocol": protocol}}]}}))
    }

    #[test]
    fn facts_follow_their_objects_across_a_relist() {
        let mut facts: Relisting<Facts<IstioListener>> = Relisting::default();
        facts.handle(&Event::Apply(gateway("canvas", "HTTP")));
        assert_eq!(facts.get().get("canvas", "component-gateway"), Some(&IstioListener::PlainHttp { port: 8080 }));
        facts.handle(&Event::Apply(gateway("canvas", "HTTPS")));
        assert_eq!(facts.get().get("canvas", "component-gateway"), Some(&IstioListener::Tls));
        facts.handle(&Event::Init);
        facts.handle(&Event::InitDone);
        assert_eq!(facts.get().get("canvas", "component-gateway"), None, "gone while disconnected");
    }
}

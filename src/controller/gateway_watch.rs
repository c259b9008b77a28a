//! Where the gateway is reachable, kept current: the ingress gateway Services (VirtualService
//! backend) and the component Gateway(s). Everything is re-reconciled when an address changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::oneshot;
use tracing::warn;

use super::context::State;
use super::discovery::Discovered;
use super::watch_task::Tasks;
use crate::backend::gateway_api_status::gateway_state;
use crate::backend::route::AddressSource;
use crate::config::RunConfig;
use crate::core::gateway_address::{self, Gateway, GatewayAddress};
use crate::core::status::RouteState;

/// What HTTPRoute APIs read of a Gateway: its address, its class, its own verdict.
type RouteFacts = (GatewayAddress, String, RouteState);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Services,
    Gateways,
}

/// The signal of the first complete list, sent once no source is pending any more.
struct Listed {
    tx: Option<oneshot::Sender<()>>,
    pending: Vec<Source>,
}

impl Listed {
    fn done(&mut self, source: Option<Source>) {
        self.pending.retain(|s| Some(*s) != source);
        if self.pending.is_empty()
            && let Some(tx) = self.tx.take()
        {
            let _ = tx.send(());
        }
    }
}

/// Starts the watch; returns the Gateway cache (read by the HTTPRoute backend's URL) and the
/// signal of the first complete list.
pub(super) fn watch(
    client: &Client,
    (config, source): (&RunConfig, AddressSource),
    discovered: &Discovered,
    state: Arc<State>,
    all_trigger: UnboundedSender<()>,
    tasks: &Tasks,
) -> (Store<Gateway>, oneshot::Receiver<()>) {
    // HTTPRoutes are reached through their Gateway only; the Istio ingress Service is not theirs.
    let watch_services = source == AddressSource::IstioIngress;
    let services: Api<Service> = match config.ingress_namespace() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (gateway_ns, gateway_name) = gateway_address::gateway_ref(&config.output.component_gateway);
    let gateways: Option<Api<Gateway>> = discovered.gateway_api.then(|| match gateway_ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    });
    let (service_store, service_writer) = reflector::store::<Service>();
    let (gateway_store, gateway_writer) = reflector::store::<Gateway>();
    let service_events = if watch_services {
        watcher::watcher(services, watcher::Config::default().labels(&config.ingress_selector))
            .default_backoff()
            .reflect(service_writer)
            .map(|e| e.map(|event| (Source::Services, matches!(event, watcher::Event::InitDone))))
            .boxed()
    } else {
        futures::stream::empty().boxed()
    };
    let gateway_events = match gateways {
        Some(api) => {
            let config = watcher::Config::default().fields(&format!("metadata.name={gateway_name}"));
            let events = watcher::watcher(api, config).default_backoff().reflect(gateway_writer);
            events.map(|e| e.map(|event| (Source::Gateways, matches!(event, watcher::Event::InitDone)))).boxed()
        }
        None => futures::stream::empty().boxed(),
    };
    // Listed once each watched source has listed *and* the address was computed from it, so the
    // first reconciles already see the address.
    let (tx, rx) = oneshot::channel();
    let mut listed = Listed { tx: Some(tx), pending: vec![] };
    listed.pending.extend(watch_services.then_some(Source::Services));
    listed.pending.extend(discovered.gateway_api.then_some(Source::Gateways));
    // Nothing to watch (HTTPRoutes without the Gateway CRD): listed at once, without an address.
    listed.done(None);
    let public_hostname = config.output.public_hostname().map(String::from);
    let section = config.output.gateway_section_name().map(String::from);
    let gateways = gateway_store.clone();
    let mut per_gateway = BTreeMap::new();
    let mut recompute = move || {
        let services = service_store.state();
        let first_gateway = gateways.state().into_iter().next();
        let address = gateway_address::select(
            services.iter().map(|s| s.as_ref()),
            first_gateway.as_deref(),
            public_hostname.as_deref(),
        );
        let changed = {
            let mut current = state.gateway.write();
            let changed = *current != address;
            *current = address;
            changed
        };
        // The HTTPRoute backend reads each Gateway itself: a change of any is a change.
        let routes_changed = !watch_services && {
            // The class too (what its implementation supports shapes the routes), and whether it
            // is programmed (part of readiness).
            let now: BTreeMap<(String, String), RouteFacts> = gateways
                .state()
                .iter()
                .map(|gw| {
                    let key = (gw.namespace().unwrap_or_default(), gw.name_any());
                    let address = GatewayAddress::for_routes(gw, section.as_deref());
                    (key, (address, gw.spec.gateway_class_name.clone(), gateway_state(gw)))
                })
                .collect();
            let previous = std::mem::replace(&mut per_gateway, now);
            previous != per_gateway
        };
        if changed || routes_changed {
            let _ = all_trigger.unbounded_send(());
        }
    };
    tasks.track(tokio::spawn(futures::stream::select(service_events, gateway_events).for_each(move |event| {
        match event {
            Ok((source, init_done)) => {
                recompute();
                listed.done(init_done.then_some(source));
            }
            Err(e) => warn!(error = %e, "gateway address watch failed; retrying"),
        }
        futures::future::ready(())
    })));
    (gateway_store, rx)
}

//! Side watches: each keeps an index or store current and tells the controller which ExposedAPIs
//! a change affects. None of them LISTs per event.

use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::{ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::oneshot;
use tracing::warn;

use super::State;
use super::discovery::Discovered;
use super::watch_task::{Scope, Tasks};
use crate::component::{component_resource, listed_api_names};
use crate::config::{RunConfig, WatchNamespaces};
use crate::exposed_api::ExposedAPI;
use crate::gateway_address::{self, Gateway};
use crate::readiness::service_of;
use crate::service_monitor::service_monitor_resource;
use crate::virtual_service::{RouteKey, virtual_service_resource};

pub(super) struct SideWatches {
    pub client: Client,
    pub namespaces: WatchNamespaces,
    pub state: Arc<State>,
    pub trigger: UnboundedSender<ObjectRef<ExposedAPI>>,
    pub all_trigger: UnboundedSender<()>,
    pub tasks: Tasks,
    pub telemetry: crate::telemetry::Telemetry,
}

/// Stores filled by side watches, and the signals that they have listed once.
pub(super) struct Synced {
    pub virtual_services: Store<DynamicObject>,
    pub service_monitors: Option<Store<DynamicObject>>,
    pub components: Option<Store<DynamicObject>>,
    listed: Vec<oneshot::Receiver<()>>,
}

impl Synced {
    /// Waits until every side watch has completed its first list.
    pub async fn wait(self) {
        for listed in self.listed {
            // A dropped sender means the task ended; the controller then runs on what it has.
            let _ = listed.await;
        }
    }
}

impl SideWatches {
    pub fn start(self, config: &RunConfig, discovered: &Discovered) -> Synced {
        let mut listed = Vec::new();
        listed.push(self.endpoint_slices());
        listed.push(self.gateway_address(config, discovered));
        let vs_resource = virtual_service_resource(config.output.virtual_service_version);
        let (virtual_services, vs_listed) = self.virtual_services(&vs_resource);
        listed.push(vs_listed);
        let service_monitors = discovered.service_monitor.then(|| {
            let (store, done) = self.service_monitors();
            listed.push(done);
            store
        });
        if config.output.openmetrics_implementation != crate::config::OpenMetricsImplementation::ServiceMonitor {
            listed.push(self.service_selectors());
            listed.push(self.pods());
        }
        let components = discovered.component.is_some().then(|| {
            let (store, done) = self.components();
            listed.push(done);
            store
        });
        Synced { virtual_services, service_monitors, components, listed }
    }

    /// A dynamic API over the watched namespaces (one namespace, or all and filtered).
    fn scoped(&self, resource: &ApiResource) -> Api<DynamicObject> {
        match self.namespaces.single() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// A typed API over the watched namespaces.
    fn scoped_typed<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self.namespaces.single() {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    fn send(&self, namespace: &str, name: &str) {
        if self.namespaces.matches(namespace) {
            self.telemetry.metrics.queued((namespace.to_owned(), name.to_owned()));
            let _ = self.trigger.unbounded_send(ObjectRef::new(name).within(namespace));
        }
    }

    /// Readiness: re-reconcile the APIs of a Service when its readiness flips.
    fn endpoint_slices(&self) -> oneshot::Receiver<()> {
        let api: Api<EndpointSlice> = self.scoped_typed();
        let this = self.handle();
        let config = watcher::Config::default().labels(crate::readiness::SERVICE_NAME_LABEL).any_semantic();
        self.spawn_watch(Scope::Watched, "EndpointSlice", watcher::watcher(api, config), move |event| {
            let changed: Vec<(String, String)> = match &event {
                Event::Apply(slice) | Event::Delete(slice) => slice_service(slice).into_iter().collect(),
                _ => Vec::new(),
            };
            let before: Vec<bool> = this.readiness_of(&changed);
            if let Ok(mut index) = this.state.readiness.write() {
                index.handle(&event);
            }
            let relisted = matches!(event, Event::InitDone);
            for ((ns, svc), was) in changed.iter().zip(before) {
                if this.readiness_of(&[(ns.clone(), svc.clone())]) != [was] {
                    this.send_apis_of(ns, svc);
                }
            }
            if relisted {
                let _ = this.all_trigger.unbounded_send(());
            }
        })
    }

    /// Gateway address: re-reconcile everything when the published address changes.
    fn gateway_address(&self, config: &RunConfig, discovered: &Discovered) -> oneshot::Receiver<()> {
        let services: Api<Service> = match config.ingress_namespace() {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let (gateway_ns, gateway_name) = gateway_address::gateway_ref(&config.output.component_gateway);
        let gateways: Option<Api<Gateway>> = discovered.gateway_api.then(|| match gateway_ns {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        });
        let (service_store, service_writer) = kube::runtime::reflector::store::<Service>();
        let (gateway_store, gateway_writer) = kube::runtime::reflector::store::<Gateway>();
        let service_events = watcher::watcher(services, watcher::Config::default().labels(&config.ingress_selector))
            .default_backoff()
            .reflect(service_writer)
            .map(|e| e.map(|_| ()));
        let gateway_events = match gateways {
            Some(api) => {
                let config = watcher::Config::default().fields(&format!("metadata.name={gateway_name}"));
                watcher::watcher(api, config).default_backoff().reflect(gateway_writer).map(|e| e.map(|_| ())).boxed()
            }
            None => futures::stream::empty().boxed(),
        };
        let public_hostname = config.output.public_hostname().map(String::from);
        let (tx, rx) = oneshot::channel();
        let (services_listed, gateway_listed) = (service_store.clone(), gateway_store.clone());
        let watch_gateway = discovered.gateway_api;
        tokio::spawn(async move {
            let _ = services_listed.wait_until_ready().await;
            if watch_gateway {
                let _ = gateway_listed.wait_until_ready().await;
            }
            let _ = tx.send(());
        });
        let this = self.handle();
        let recompute = move |_: ()| {
            let services = service_store.state();
            let gateway = gateway_store.state().into_iter().next();
            let address = gateway_address::select(
                services.iter().map(|s| s.as_ref()),
                gateway.as_deref(),
                public_hostname.as_deref(),
            );
            let changed = this.state.gateway.write().map(|mut current| {
                let changed = *current != address;
                *current = address;
                changed
            });
            if changed.unwrap_or(false) {
                let _ = this.all_trigger.unbounded_send(());
            }
        };
        self.tasks.track(tokio::spawn(futures::stream::select(service_events, gateway_events).for_each(
            move |event| {
                match event {
                    Ok(()) => recompute(()),
                    Err(e) => warn!(error = %e, "gateway address watch failed; retrying"),
                }
                futures::future::ready(())
            },
        )));
        rx
    }

    /// VirtualServices: route index for conflicts, store for ownership and drift.
    fn virtual_services(&self, resource: &ApiResource) -> (Store<DynamicObject>, oneshot::Receiver<()>) {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let writer = Writer::new(resource.clone());
        let store = writer.as_reader();
        let mut writer = writer;
        let this = self.handle();
        let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
            .modify(|vs: &mut DynamicObject| vs.metadata.managed_fields = None);
        let plural = resource.plural.clone();
        let done = self.spawn_watch(Scope::Cluster, "VirtualService", stream, move |event| {
            writer.apply_watcher_event(&event);
            let echo = this.echo(&plural, &event);
            let touched = match &event {
                Event::Apply(vs) | Event::Delete(vs) => Some(vs),
                _ => None,
            };
            let mut routes = touched.map(RouteKey::all_of).unwrap_or_default();
            if let Ok(mut index) = this.state.routes.write() {
                if let Some(vs) = touched {
                    routes.extend(index.get().keys_of(vs));
                }
                index.handle(&event);
            }
            if let Some(vs) = touched {
                if !echo {
                    this.send_owner_and_namesake(vs.meta());
                }
                let woken = this.state.waiters.lock().map(|mut w| w.take(&routes)).unwrap_or_default();
                for (ns, name) in woken {
                    this.send(&ns, &name);
                }
            }
        });
        (store, done)
    }

    /// Service selectors, for the annotation modes: a changed selector re-annotates.
    fn service_selectors(&self) -> oneshot::Receiver<()> {
        let api: Api<Service> = self.scoped_typed();
        let this = self.handle();
        self.spawn_watch(
            Scope::Watched,
            "Service",
            watcher::watcher(api, watcher::Config::default().any_semantic()),
            move |event| {
                if let Ok(mut index) = this.state.selectors.write() {
                    index.handle(&event);
                }
                if let Event::Apply(svc) | Event::Delete(svc) = &event {
                    this.send_apis_of(&svc.namespace().unwrap_or_default(), &svc.name_any());
                }
            },
        )
    }

    /// Pods (metadata only), for the annotation modes: a new pod of a metrics Service gets annotated.
    fn pods(&self) -> oneshot::Receiver<()> {
        let api: Api<PartialObjectMeta<Pod>> = self.scoped_typed();
        let this = self.handle();
        self.spawn_watch(
            Scope::Watched,
            "Pod",
            watcher::watcher(api, watcher::Config::default().any_semantic()),
            move |event| {
                if let Ok(mut index) = this.state.pods.write() {
                    index.handle(&event);
                }
                if let Event::Apply(pod) = &event {
                    let ns = pod.namespace().unwrap_or_default();
                    let services: Vec<String> = this
                        .state
                        .selectors
                        .read()
                        .map(|i| i.get().services_selecting(&ns, pod.labels()).map(String::from).collect())
                        .unwrap_or_default();
                    for svc in services {
                        this.send_apis_of(&ns, &svc);
                    }
                }
            },
        )
    }

    /// ServiceMonitors: ownership and drift (few objects, so cached whole).
    fn service_monitors(&self) -> (Store<DynamicObject>, oneshot::Receiver<()>) {
        self.cached("ServiceMonitor", service_monitor_resource(), true, |this, sm| {
            this.send_owner_and_namesake(&sm.metadata)
        })
    }

    /// Components: re-reconcile the APIs a Component lists when it changes (e.g. appears late).
    fn components(&self) -> (Store<DynamicObject>, oneshot::Receiver<()>) {
        self.cached("Component", component_resource(), false, |this, component| {
            let ns = component.namespace().unwrap_or_default();
            let value = serde_json::to_value(component).unwrap_or_default();
            for name in listed_api_names(&value) {
                this.send(&ns, &name);
            }
        })
    }

    /// A cached watch over the watched namespaces; `on_change` maps a changed object to triggers,
    /// except (with `written_by_us`) for the echoes of the operator's own writes.
    fn cached(
        &self,
        kind: &'static str,
        resource: ApiResource,
        written_by_us: bool,
        on_change: impl Fn(&SideWatches, &DynamicObject) + Send + 'static,
    ) -> (Store<DynamicObject>, oneshot::Receiver<()>) {
        let api = self.scoped(&resource);
        let plural = resource.plural.clone();
        let mut writer = Writer::new(resource);
        let store = writer.as_reader();
        let this = self.handle();
        let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
            .modify(|obj: &mut DynamicObject| obj.metadata.managed_fields = None);
        let done = self.spawn_watch(Scope::Watched, kind, stream, move |event| {
            writer.apply_watcher_event(&event);
            let echo = written_by_us && this.echo(&plural, &event);
            if let Event::Apply(obj) | Event::Delete(obj) = &event
                && !echo
            {
                on_change(&this, obj);
            }
        });
        (store, done)
    }

    /// Whether an event is the echo of the operator's own write (and forgets that write).
    fn echo(&self, plural: &str, event: &Event<DynamicObject>) -> bool {
        let Ok(mut recent) = self.state.recent.lock() else { return false };
        match event {
            Event::Apply(obj) => recent.seen_object(plural, obj, false),
            Event::Delete(obj) => recent.seen_object(plural, obj, true),
            Event::Init => {
                recent.forget_objects(plural);
                false
            }
            _ => false,
        }
    }

    fn handle(&self) -> Arc<SideWatches> {
        Arc::new(SideWatches {
            client: self.client.clone(),
            namespaces: self.namespaces.clone(),
            state: self.state.clone(),
            trigger: self.trigger.clone(),
            all_trigger: self.all_trigger.clone(),
            tasks: self.tasks.clone(),
            telemetry: self.telemetry.clone(),
        })
    }

    fn readiness_of(&self, services: &[(String, String)]) -> Vec<bool> {
        let Ok(index) = self.state.readiness.read() else { return Vec::new() };
        services.iter().map(|(ns, svc)| index.get().ready(ns, svc)).collect()
    }

    fn send_apis_of(&self, namespace: &str, service: &str) {
        let names = self.state.implementations.read().map(|i| i.get().apis_of(namespace, service)).unwrap_or_default();
        for name in names {
            self.send(namespace, &name);
        }
    }

    /// The controlling ExposedAPI, and the ExposedAPI of the same name (which may be blocked by
    /// this object as `NotOwned`).
    fn send_owner_and_namesake(&self, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
        let ns = meta.namespace.clone().unwrap_or_default();
        if let Some(owner) = crate::ownership::controller_of(meta).filter(|r| r.kind == "ExposedAPI") {
            self.send(&ns, &owner.name);
        }
        if let Some(name) = meta.name.as_deref() {
            self.send(&ns, name);
        }
    }
}

fn slice_service(slice: &EndpointSlice) -> Option<(String, String)> {
    Some((slice.namespace()?, service_of(slice)?.to_owned()))
}

//! Side watches: each keeps an index or store current and tells the controller which ExposedAPIs
//! a change affects. None of them LISTs per event.

use std::sync::Arc;

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::oneshot;

use super::cached::CachedObject;
use super::cached_api::CachedApi;
use super::context::ChildStores;
use super::context::State;
use super::discovery::Discovered;
use super::watch_task::{Listing, Tasks, spawn_watch};
use crate::backend::route::{Claims, Route};
use crate::backend::{Backends, ChildKind};
use crate::config::{RunConfig, WatchNamespaces};
use crate::core::component::{component_resource, listed_api_names};
use crate::core::gateway_address::Gateway;
use crate::core::readiness::service_of;

pub(super) struct SideWatches {
    pub client: Client,
    pub namespaces: WatchNamespaces,
    pub state: Arc<State>,
    pub trigger: UnboundedSender<ObjectRef<CachedApi>>,
    pub all_trigger: UnboundedSender<()>,
    pub tasks: Tasks,
    pub telemetry: crate::telemetry::Telemetry,
    /// Tells the gateway sweep that an object in a gateway namespace changed.
    pub gateway_objects: UnboundedSender<()>,
    /// The ExposedAPI cache: only a trigger for an API that exists counts as queued.
    pub apis: kube::runtime::reflector::Store<CachedApi>,
}

/// Where a cached watch looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    Cluster,
    /// The watched namespaces (one, or all and filtered).
    Watched,
    Namespace(String),
}

/// A cached watch: the kind its keys share, its store, and the signal that it has listed once.
pub(super) type Cached = (Arc<ApiResource>, Store<CachedObject>, oneshot::Receiver<()>);

/// Stores filled by side watches, and the signals that they have listed once.
pub(super) struct Synced {
    pub children: ChildStores,
    pub components: Option<Store<CachedObject>>,
    pub gateways: Store<Gateway>,
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
    /// Starts the watches of the facts every API depends on, and of what the backends declare:
    /// their child kinds (the active route kind also feeds the conflict index) and, for the
    /// annotation scrapers, Services and Pods.
    pub fn start(self, config: &RunConfig, discovered: &Discovered, backends: &Backends) -> Synced {
        let mut listed = Vec::new();
        listed.push(self.endpoint_slices());
        let source = backends.route.address_source();
        let (gateways, gateway_listed) = super::gateway_watch::watch(
            &self.client,
            (config, source),
            discovered,
            self.state.clone(),
            self.all_trigger.clone(),
            &self.tasks,
        );
        listed.push(gateway_listed);
        listed.extend(self.istio_gateways((config, source), discovered));
        listed.extend(self.gateway_classes(source, discovered, gateways.clone()));
        let mut children = ChildStores::default();
        let route_resource = backends.route.resource();
        for kind in &backends.kinds {
            let active = (kind.resource == route_resource).then(|| backends.route.clone());
            let (kind, store, done) = self.children(kind, active);
            children.insert(kind, store);
            listed.push(done);
        }
        for resource in backends.policy_kinds() {
            let (kind, store, done) = self.gateway_objects(resource.clone(), backends.policy_namespace());
            children.insert(kind, store);
            listed.push(done);
        }
        if backends.scraper.watches_pods() {
            listed.push(self.service_selectors());
            listed.push(self.pods(backends.scraper.reads_pod_ports()));
        }
        let components = discovered.component.is_some().then(|| {
            // Our own entry patches are echoes: cached, not reconciled again.
            let (_, store, done) =
                self.cached(component_resource(), (Scope::Watched, Listing::Required), |this, event, echo| {
                    if let Event::Apply(component) | Event::Delete(component) = event
                        && !echo
                    {
                        let ns = component.namespace().unwrap_or_default();
                        let value = serde_json::to_value(component).unwrap_or_default();
                        for name in listed_api_names(&value) {
                            this.send(&ns, &name);
                        }
                    }
                });
            listed.push(done);
            store
        });
        Synced { children, components, gateways, listed }
    }

    /// A dynamic API over the watched namespaces (one namespace, or all and filtered).
    fn scoped(&self, resource: &Arc<ApiResource>) -> Api<CachedObject> {
        match self.namespaces.single() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// A typed API over the watched namespaces.
    pub(super) fn scoped_typed<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self.namespaces.single() {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    pub(super) fn send(&self, namespace: &str, name: &str) {
        if self.namespaces.matches(namespace) {
            let api = ObjectRef::new(name).within(namespace);
            // A namesake or a deleted API is no work waiting (the controller drops its trigger).
            if self.apis.get(&api).is_some() {
                self.telemetry.metrics.queued((namespace.to_owned(), name.to_owned()));
            }
            let _ = self.trigger.unbounded_send(api);
        }
    }

    /// Readiness: re-reconcile the APIs of a Service when its readiness flips.
    fn endpoint_slices(&self) -> oneshot::Receiver<()> {
        let api: Api<EndpointSlice> = self.scoped_typed();
        let this = self.handle();
        let config = watcher::Config::default().labels(crate::core::readiness::SERVICE_NAME_LABEL).any_semantic();
        self.spawn_watch(true, ("EndpointSlice", Listing::Required), watcher::watcher(api, config), move |event| {
            let changed: Vec<(String, String)> = match &event {
                Event::Apply(slice) | Event::Delete(slice) => slice_service(slice).into_iter().collect(),
                _ => Vec::new(),
            };
            let before: Vec<bool> = this.readiness_of(&changed);
            this.state.readiness.write().handle(&event);
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

    /// The children of one kind: cached for ownership and drift, the owner (and the namesake it
    /// may block) re-reconciled on a change that is not our own echo. The active route kind also
    /// feeds the conflict index and wakes the APIs waiting on a key it touches.
    fn children(&self, kind: &ChildKind, route: Option<Arc<dyn Route>>) -> Cached {
        let scope = if kind.cluster_wide { Scope::Cluster } else { Scope::Watched };
        self.cached(kind.resource.clone(), (scope, Listing::Required), move |this, event, echo| {
            let touched = match event {
                Event::Apply(obj) | Event::Delete(obj) => Some(obj),
                _ => None,
            };
            if let Some(route) = &route {
                let claims = |obj: &DynamicObject| Claims {
                    route: (obj.namespace().unwrap_or_default(), obj.name_any()),
                    keys: route.claims(obj),
                };
                let claimed = map_event(event, claims);
                let mut keys = match &claimed {
                    Event::Apply(c) | Event::Delete(c) => c.keys.clone(),
                    _ => Vec::new(),
                };
                {
                    let mut index = this.state.routes.write();
                    if let Event::Apply(c) | Event::Delete(c) = &claimed {
                        keys.extend(index.get().keys_of(&c.route));
                    }
                    index.handle(&claimed);
                }
                let woken = this.state.waiters.lock().take(&keys);
                for (ns, name) in woken {
                    this.send(&ns, &name);
                }
            }
            if let Some(obj) = touched
                && !echo
            {
                this.send_owner_and_namesake(&obj.metadata);
            }
        })
    }

    /// A cached watch of `scope` (compact: [`CachedObject`]) of a kind the operator writes;
    /// `on_event` gets every event, as a `DynamicObject`, and whether it is the echo of the
    /// operator's own write.
    pub(super) fn cached(
        &self,
        resource: ApiResource,
        (scope, listing): (Scope, Listing),
        on_event: impl Fn(&SideWatches, &Event<DynamicObject>, bool) + Send + 'static,
    ) -> Cached {
        let filtered = scope == Scope::Watched;
        let shared = Arc::new(resource.clone());
        let api: Api<CachedObject> = match &scope {
            Scope::Cluster => Api::all_with(self.client.clone(), &shared),
            Scope::Watched => self.scoped(&shared),
            Scope::Namespace(ns) => Api::namespaced_with(self.client.clone(), ns, &shared),
        };
        let (plural, kind) = (resource.plural.clone(), resource.kind.clone());
        let mut writer = Writer::new(shared.clone());
        let store = writer.as_reader();
        let this = self.handle();
        let stream = watcher::watcher(api, watcher::Config::default().any_semantic());
        let done = self.spawn_watch(filtered, (&kind, listing), stream, move |event| {
            writer.apply_watcher_event(&event);
            let event = map_event(&event, |obj| obj.to_dynamic(&resource));
            let echo = this.echo(&plural, &event);
            on_event(&this, &event, echo);
        });
        (shared, store, done)
    }

    pub(super) fn spawn_watch<K, S>(
        &self,
        scoped: bool,
        (kind, listing): (&str, Listing),
        stream: S,
        on_event: impl FnMut(Event<K>) + Send + 'static,
    ) -> oneshot::Receiver<()>
    where
        K: Resource + Send + 'static,
        S: futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
    {
        let namespaces = scoped.then(|| self.namespaces.clone());
        spawn_watch(&self.tasks, self.telemetry.health.clone(), namespaces, (kind, listing), stream, on_event)
    }

    /// Whether an event is the echo of the operator's own write (and forgets that write).
    fn echo(&self, plural: &str, event: &Event<DynamicObject>) -> bool {
        let mut recent = self.state.recent();
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

    pub(super) fn handle(&self) -> Arc<SideWatches> {
        Arc::new(SideWatches {
            client: self.client.clone(),
            namespaces: self.namespaces.clone(),
            state: self.state.clone(),
            trigger: self.trigger.clone(),
            all_trigger: self.all_trigger.clone(),
            tasks: self.tasks.clone(),
            telemetry: self.telemetry.clone(),
            gateway_objects: self.gateway_objects.clone(),
            apis: self.apis.clone(),
        })
    }

    fn readiness_of(&self, services: &[(String, String)]) -> Vec<bool> {
        let index = self.state.readiness.read();
        services.iter().map(|(ns, svc)| index.get().ready(ns, svc)).collect()
    }

    pub(super) fn send_apis_of(&self, namespace: &str, service: &str) {
        let names = self.state.implementations.read().get().apis_of(namespace, service);
        for name in names {
            self.send(namespace, &name);
        }
    }

    /// The controlling ExposedAPI, and the ExposedAPI of the same name (which may be blocked by
    /// this object as `NotOwned`).
    fn send_owner_and_namesake(&self, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
        let ns = meta.namespace.clone().unwrap_or_default();
        if let Some(owner) = crate::core::ownership::controller_of(meta).filter(|r| r.kind == "ExposedAPI") {
            self.send(&ns, &owner.name);
        }
        if let Some(name) = meta.name.as_deref() {
            self.send(&ns, name);
            // The APIM backend's Ingress is named after its API with a prefix.
            if let Some(api) = name.strip_prefix(crate::backend::ingress::NAME_PREFIX) {
                self.send(&ns, api);
            }
        }
    }
}

/// The same event, of what `f` makes of each object.
fn map_event<K, T>(event: &Event<K>, f: impl Fn(&K) -> T) -> Event<T> {
    match event {
        Event::Apply(obj) => Event::Apply(f(obj)),
        Event::Delete(obj) => Event::Delete(f(obj)),
        Event::Init => Event::Init,
        Event::InitApply(obj) => Event::InitApply(f(obj)),
        Event::InitDone => Event::InitDone,
    }
}

fn slice_service(slice: &EndpointSlice) -> Option<(String, String)> {
    Some((slice.namespace()?, service_of(slice)?.to_owned()))
}

//! In-memory indexes fed by watch streams, so that a reconcile and an event mapping are lookups
//! rather than LISTs or scans: readiness per Service, ExposedAPIs per implementation Service, and
//! VirtualServices per route key (for O(1) conflict detection).

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::runtime::watcher::Event;

use crate::exposed_api::ExposedAPI;
use crate::readiness::{any_endpoint_ready, service_of};
use crate::virtual_service::RouteKey;

/// `(namespace, name)`.
pub type Key = (String, String);

/// An index over one kind, maintained from its watch events.
pub trait Index<K>: Default {
    fn apply(&mut self, obj: &K);
    fn delete(&mut self, obj: &K);
}

/// Keeps an index consistent across watch restarts: a re-list builds a fresh index that replaces
/// the live one only once complete, so objects deleted while disconnected disappear.
#[derive(Default)]
pub struct Relisting<I> {
    live: I,
    pending: Option<I>,
}

impl<I> Relisting<I> {
    pub fn handle<K>(&mut self, event: &Event<K>)
    where
        I: Index<K>,
    {
        match event {
            Event::Init => self.pending = Some(I::default()),
            Event::InitApply(obj) => self.pending.get_or_insert_with(I::default).apply(obj),
            Event::InitDone => {
                if let Some(fresh) = self.pending.take() {
                    self.live = fresh;
                }
            }
            Event::Apply(obj) => self.live.apply(obj),
            Event::Delete(obj) => self.live.delete(obj),
        }
    }

    pub fn get(&self) -> &I {
        &self.live
    }
}

/// Readiness of every Service that has EndpointSlices: `(namespace, service)` → slice → ready.
#[derive(Default, Debug)]
pub struct ReadinessIndex {
    services: HashMap<Key, HashMap<String, bool>>,
}

impl ReadinessIndex {
    /// True while any endpoint of any slice of the Service is ready.
    pub fn ready(&self, namespace: &str, service: &str) -> bool {
        self.services.get(&(namespace.to_owned(), service.to_owned())).is_some_and(|slices| slices.values().any(|r| *r))
    }
}

fn slice_key(slice: &EndpointSlice) -> Option<Key> {
    Some((slice.namespace()?, service_of(slice)?.to_owned()))
}

impl Index<EndpointSlice> for ReadinessIndex {
    fn apply(&mut self, slice: &EndpointSlice) {
        let Some(key) = slice_key(slice) else { return };
        let ready = any_endpoint_ready([slice]);
        self.services.entry(key).or_default().insert(slice.name_any(), ready);
    }

    fn delete(&mut self, slice: &EndpointSlice) {
        let Some(key) = slice_key(slice) else { return };
        if let Some(slices) = self.services.get_mut(&key) {
            slices.remove(&slice.name_any());
            if slices.is_empty() {
                self.services.remove(&key);
            }
        }
    }
}

/// ExposedAPIs by implementation Service: `(namespace, service)` → API names.
#[derive(Default, Debug)]
pub struct ImplementationIndex {
    apis: HashMap<Key, BTreeSet<String>>,
    implementation_of: HashMap<Key, String>,
}

impl ImplementationIndex {
    /// Names of the ExposedAPIs implemented by a Service.
    pub fn apis_of(&self, namespace: &str, service: &str) -> Vec<String> {
        self.apis
            .get(&(namespace.to_owned(), service.to_owned()))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Index<ExposedAPI> for ImplementationIndex {
    fn apply(&mut self, api: &ExposedAPI) {
        self.delete(api);
        let (Some(namespace), Some(service)) = (api.namespace(), api.spec.implementation.clone()) else { return };
        let name = api.name_any();
        self.apis.entry((namespace.clone(), service.clone())).or_default().insert(name.clone());
        self.implementation_of.insert((namespace, name), service);
    }

    fn delete(&mut self, api: &ExposedAPI) {
        let Some(namespace) = api.namespace() else { return };
        let key = (namespace.clone(), api.name_any());
        if let Some(service) = self.implementation_of.remove(&key) {
            let by_service = (namespace, service);
            if let Some(names) = self.apis.get_mut(&by_service) {
                names.remove(&key.1);
                if names.is_empty() {
                    self.apis.remove(&by_service);
                }
            }
        }
    }
}

/// VirtualServices by the routes they claim, for conflict detection.
#[derive(Default, Debug)]
pub struct RouteIndex {
    claims: HashMap<RouteKey, BTreeSet<Key>>,
    routes_of: HashMap<Key, Vec<RouteKey>>,
}

impl RouteIndex {
    /// VirtualServices other than `own` claiming `key`, as `name.namespace` (the reference's form).
    pub fn claimants_except(&self, key: &RouteKey, own: &Key) -> Vec<String> {
        self.claims
            .get(key)
            .map(|set| set.iter().filter(|k| *k != own).map(|(ns, name)| format!("{name}.{ns}")).collect())
            .unwrap_or_default()
    }
}

impl RouteIndex {
    /// The routes a VirtualService claimed when last seen.
    pub fn keys_of(&self, vs: &DynamicObject) -> Vec<RouteKey> {
        let key = (vs.namespace().unwrap_or_default(), vs.name_any());
        self.routes_of.get(&key).cloned().unwrap_or_default()
    }
}

impl Index<DynamicObject> for RouteIndex {
    fn apply(&mut self, vs: &DynamicObject) {
        self.delete(vs);
        let Some(namespace) = vs.namespace() else { return };
        let key = (namespace, vs.name_any());
        let routes = RouteKey::all_of(vs);
        for route in &routes {
            self.claims.entry(route.clone()).or_default().insert(key.clone());
        }
        self.routes_of.insert(key, routes);
    }

    fn delete(&mut self, vs: &DynamicObject) {
        let Some(namespace) = vs.namespace() else { return };
        let key = (namespace, vs.name_any());
        for route in self.routes_of.remove(&key).unwrap_or_default() {
            if let Some(set) = self.claims.get_mut(&route) {
                set.remove(&key);
                if set.is_empty() {
                    self.claims.remove(&route);
                }
            }
        }
    }
}

/// ExposedAPIs blocked by a route conflict, woken when a VirtualService on that route changes.
#[derive(Default, Debug)]
pub struct ConflictWaiters {
    waiting: HashMap<RouteKey, HashSet<Key>>,
}

impl ConflictWaiters {
    pub fn wait(&mut self, route: RouteKey, api: Key) {
        self.waiting.entry(route).or_default().insert(api);
    }

    /// Takes the APIs waiting on any of these routes.
    pub fn take(&mut self, routes: &[RouteKey]) -> Vec<Key> {
        routes.iter().filter_map(|r| self.waiting.remove(r)).flatten().collect()
    }
}

#[cfg(test)]
#[path = "indexes_tests.rs"]
mod tests;

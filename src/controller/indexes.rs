//! In-memory indexes fed by watch streams, so that a reconcile and an event mapping are lookups
//! rather than LISTs or scans: readiness per Service, ExposedAPIs per implementation Service, and
//! routes per route key (for O(1) conflict detection; the index itself is the route backends').

use std::collections::HashMap;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

use super::cached_api::CachedApi;
pub use crate::backend::route::Key;
use crate::backend::route::{Claims, RouteIndex};
use crate::core::few::FewSet;
use crate::core::readiness::{any_endpoint_ready, service_of};

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
    apis: HashMap<Key, FewSet<String>>,
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

impl Index<CachedApi> for ImplementationIndex {
    fn apply(&mut self, api: &CachedApi) {
        self.delete(api);
        let (Some(namespace), Some(service)) = (api.namespace(), api.implementation().map(String::from)) else {
            return;
        };
        let name = api.name_any();
        self.apis.entry((namespace.clone(), service.clone())).or_default().insert(name.clone());
        self.implementation_of.insert((namespace, name), service);
    }

    fn delete(&mut self, api: &CachedApi) {
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

/// The conflict index of the active route backend, fed with what each observed route claims.
impl Index<Claims> for RouteIndex {
    fn apply(&mut self, claims: &Claims) {
        self.claim(claims);
    }

    fn delete(&mut self, claims: &Claims) {
        self.release(&claims.route);
    }
}

#[cfg(test)]
#[path = "indexes_tests.rs"]
mod tests;

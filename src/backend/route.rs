//! The contract of the route backends (Istio `VirtualService`, Gateway API `HTTPRoute`) and what
//! they share: the route key two routes must not share, the index of who claims which key, and
//! the state a route's own status reports.

use std::collections::{HashMap, HashSet};

use kube::core::{ApiResource, DynamicObject};

use super::gateway_policy::PolicyTarget;
use super::{BuildError, ChildKind};
use crate::core::few::FewSet;
use crate::core::gateway_class::ClassFeatures;
pub use crate::core::status::RouteState;
use crate::core::validation::ValidApi;

/// Where the URL of an API a publisher publishes comes from: what the controller watches for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSource {
    /// The Istio ingress gateway Service (else its Gateway), through the Istio `Gateway` the route
    /// binds to (TLS or plain HTTP).
    IstioIngress,
    /// The Gateway API `Gateway` the route attaches to: its addresses and listeners; its
    /// GatewayClass says which implementation serves it (features, policy engine).
    Gateway,
    /// A system outside the cluster publishes the API and gives its URL.
    External,
}

/// One way of publishing an API on the gateway (the publisher role of the contract).
pub trait Route: Send + Sync {
    /// The kind and version written.
    fn resource(&self) -> ApiResource;
    /// Where the URL of the API comes from.
    fn address_source(&self) -> AddressSource;
    /// The desired route of a valid API: same name and namespace, controlled by the API.
    fn desired(&self, api: &ValidApi) -> Result<DynamicObject, BuildError>;
    /// The desired route on a Gateway API implementation that reports its features: what it does
    /// not support is left out. Kinds that carry no optional features build [`Self::desired`].
    fn desired_on(&self, api: &ValidApi, implementation: Option<&ClassFeatures>) -> Result<DynamicObject, BuildError> {
        let _ = implementation;
        self.desired(api)
    }
    /// The name of the API's route object: the API's own, unless the kind names it otherwise.
    fn object_name(&self, api_name: &str) -> String {
        api_name.to_owned()
    }
    /// The key the desired route claims.
    fn route_key(&self, api: &ValidApi) -> RouteKey;
    /// Every key an observed route of this kind claims, whoever wrote it.
    fn claims(&self, route: &DynamicObject) -> Vec<RouteKey>;
    /// What the observed route's own status says (e.g. a gateway controller's acceptance).
    fn state(&self, route: &DynamicObject) -> RouteState;

    /// How Istio gateway policy objects attach to this kind's routes; `None` for a route whose
    /// policies something else enforces.
    fn gateway_policies(&self) -> Option<&dyn GatewayAttachment> {
        None
    }

    /// Whether this kind can carry the API's CORS policy (on the installed CRD).
    fn cors_supported(&self) -> bool {
        true
    }

    /// The kind as a watched child: cluster-wide, since a conflicting route may be anywhere.
    fn child_kind(&self) -> ChildKind {
        ChildKind { resource: self.resource(), cluster_wide: true }
    }
}

/// How the Istio gateway policy objects (rate limits, token requirements) of an API find the
/// gateway and the API's route there.
pub trait GatewayAttachment: Send + Sync {
    /// Where the gateway-wide policy objects of an API in `api_namespace` go, and how they select
    /// the gateway.
    fn policy_target(&self, api_namespace: &str) -> PolicyTarget;
    /// The name Istio gives the API's route in Envoy (what a rate-limit patch matches).
    fn envoy_route_name(&self, api: &ValidApi) -> String;
    /// AuthorizationPolicy path patterns covering every path the route sends to the API.
    fn protected_paths(&self, api: &ValidApi) -> Vec<String>;
}

/// What two routes must not share: gateway (`<namespace>/<name>`), host and path prefix.
///
/// A bare gateway name means the route's own namespace (as Istio and Gateway API resolve it), so
/// `component-gateway` in namespace `canvas` and `canvas/component-gateway` are the same gateway,
/// and bare names in two namespaces are not mistaken for one. A route without host names claims
/// `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub gateway: String,
    pub host: String,
    pub prefix: String,
}

impl RouteKey {
    pub fn new(namespace: &str, gateway: &str, host: &str, prefix: &str) -> Self {
        let gateway = if gateway.contains('/') { gateway.to_owned() } else { format!("{namespace}/{gateway}") };
        Self { gateway, host: host.to_owned(), prefix: prefix.to_owned() }
    }

    /// Every combination of gateways, hosts and prefixes, sorted and without repeats.
    pub fn product(namespace: &str, gateways: &[&str], hosts: &[&str], prefixes: &[&str]) -> Vec<Self> {
        let mut keys = Vec::new();
        for gateway in gateways {
            for host in hosts {
                for prefix in prefixes {
                    keys.push(Self::new(namespace, gateway, host, prefix));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

/// `(namespace, name)`.
pub type Key = (String, String);

/// The keys one observed route claims (what the conflict index is fed with).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub route: Key,
    pub keys: Vec<RouteKey>,
}

/// Routes by the keys they claim, for O(1) conflict detection.
#[derive(Default, Debug)]
pub struct RouteIndex {
    claims: HashMap<RouteKey, FewSet<Key>>,
    routes_of: HashMap<Key, Vec<RouteKey>>,
}

impl RouteIndex {
    /// Records what a route claims now, replacing what it claimed before.
    pub fn claim(&mut self, claims: &Claims) {
        self.release(&claims.route);
        for key in &claims.keys {
            self.claims.entry(key.clone()).or_default().insert(claims.route.clone());
        }
        self.routes_of.insert(claims.route.clone(), claims.keys.clone());
    }

    /// Forgets a route.
    pub fn release(&mut self, route: &Key) {
        for key in self.routes_of.remove(route).unwrap_or_default() {
            if let Some(set) = self.claims.get_mut(&key) {
                set.remove(route);
                if set.is_empty() {
                    self.claims.remove(&key);
                }
            }
        }
    }

    /// Routes other than `own` claiming `key`, as `name.namespace` (the reference's form).
    pub fn claimants_except(&self, key: &RouteKey, own: &Key) -> Vec<String> {
        self.claims
            .get(key)
            .map(|set| set.iter().filter(|k| *k != own).map(|(ns, name)| format!("{name}.{ns}")).collect())
            .unwrap_or_default()
    }

    /// The keys a route claimed when last seen.
    pub fn keys_of(&self, route: &Key) -> Vec<RouteKey> {
        self.routes_of.get(route).cloned().unwrap_or_default()
    }
}

/// ExposedAPIs blocked by a route conflict, woken when a route on that key changes.
#[derive(Default, Debug)]
pub struct ConflictWaiters {
    waiting: HashMap<RouteKey, HashSet<Key>>,
}

impl ConflictWaiters {
    pub fn wait(&mut self, route: RouteKey, api: Key) {
        self.waiting.entry(route).or_default().insert(api);
    }

    /// Takes the APIs waiting on any of these keys.
    pub fn take(&mut self, routes: &[RouteKey]) -> Vec<Key> {
        routes.iter().filter_map(|r| self.waiting.remove(r)).flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(ns: &str, name: &str, keys: &[RouteKey]) -> Claims {
        Claims { route: (ns.into(), name.into()), keys: keys.to_vec() }
    }

    #[test]
    fn claims_are_replaced_and_released() {
        let (a, b) = (RouteKey::new("ns", "gw", "*", "/a"), RouteKey::new("ns", "gw", "*", "/b"));
        let mut index = RouteIndex::default();
        index.claim(&claims("ns", "one", std::slice::from_ref(&a)));
        index.claim(&claims("other", "two", std::slice::from_ref(&a)));
        assert_eq!(index.claimants_except(&a, &("ns".into(), "one".into())), vec!["two.other"]);
        index.claim(&claims("other", "two", std::slice::from_ref(&b)));
        assert!(index.claimants_except(&a, &("ns".into(), "one".into())).is_empty());
        assert_eq!(index.keys_of(&("other".into(), "two".into())), vec![b.clone()]);
        index.release(&("other".into(), "two".into()));
        assert!(index.claimants_except(&b, &("x".into(), "y".into())).is_empty());
    }

    #[test]
    fn bare_gateways_belong_to_the_route_namespace() {
        assert_eq!(RouteKey::new("canvas", "gw", "*", "/p"), RouteKey::new("x", "canvas/gw", "*", "/p"));
        assert_ne!(RouteKey::new("a", "gw", "*", "/p"), RouteKey::new("b", "gw", "*", "/p"));
        let keys = RouteKey::product("ns", &["gw", "ns/gw"], &["*"], &["/b", "/a", "/a"]);
        assert_eq!(keys, vec![RouteKey::new("ns", "gw", "*", "/a"), RouteKey::new("ns", "gw", "*", "/b")]);
    }

    #[test]
    fn waiters_are_woken_once() {
        let key = RouteKey::new("ns", "gw", "*", "/a");
        let mut waiters = ConflictWaiters::default();
        waiters.wait(key.clone(), ("ns".into(), "api".into()));
        assert_eq!(waiters.take(std::slice::from_ref(&key)), vec![("ns".to_owned(), "api".to_owned())]);
        assert!(waiters.take(&[key]).is_empty());
    }
}

//! Facts of gateway objects besides the address, one per object in a small index fed by a watch
//! (`gateway_facts`): the Istio Gateway's listeners, the GatewayClasses' features.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::core::DynamicObject;

use super::indexes::{Index, Key};
use crate::core::gateway_class::ClassFeatures;
use crate::core::istio_gateway::IstioListener;

/// What the operator derives from one object of a kind.
pub trait Fact: Clone + PartialEq + Send + Sync + 'static {
    fn of(object: &DynamicObject) -> Self;
}

impl Fact for ClassFeatures {
    fn of(class: &DynamicObject) -> Self {
        ClassFeatures::of(&class.data)
    }
}

impl Fact for IstioListener {
    fn of(gateway: &DynamicObject) -> Self {
        IstioListener::of_spec(gateway.data.get("spec").unwrap_or(&serde_json::Value::Null))
    }
}

/// The fact of each object, by `(namespace, name)` (namespace empty for cluster-scoped kinds).
#[derive(Clone, Debug, PartialEq)]
pub struct Facts<T>(BTreeMap<Key, T>);

impl<T> Default for Facts<T> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<T> Facts<T> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<&T> {
        self.0.get(&(namespace.to_owned(), name.to_owned()))
    }
}

impl<T: PartialEq> Facts<T> {
    /// The objects whose fact differs between `self` (before) and `after`.
    pub fn changed(&self, after: &Self) -> Vec<Key> {
        let keys = self.0.keys().chain(after.0.keys());
        keys.filter(|k| self.0.get(*k) != after.0.get(*k)).cloned().collect()
    }
}

fn key(object: &DynamicObject) -> Key {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl<T: Fact> Index<DynamicObject> for Facts<T> {
    fn apply(&mut self, object: &DynamicObject) {
        self.0.insert(key(object), T::of(object));
    }

    fn delete(&mut self, object: &DynamicObject) {
        self.0.remove(&key(object));
    }
}

//! An ExposedAPI as the controller's cache holds it: the four metadata fields the cache's key is
//! made of, its implementation Service (what the implementation index reads on every event), and
//! the object as JSON text.
//!
//! Typed, an ExposedAPI is about 1.3 KB inline behind its `Arc`, plus a B-tree leaf for its labels
//! and one for `spec.specification`: the largest part of the operator's heap at 10k APIs. As text
//! it takes what it weighs; a reconcile parses back the one it works on, microseconds for an
//! object this size (managed fields are dropped: nothing here reads them).

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::NamespaceResourceScope;
use serde::de::{self, Deserialize, Deserializer};

use super::cached::store_key;
use crate::exposed_api::ExposedAPI;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedApi {
    /// Name, namespace, resourceVersion and uid only: what the store's key needs.
    key: ObjectMeta,
    /// `spec.implementation`.
    implementation: Option<Box<str>>,
    /// The whole object, managed fields dropped.
    text: Box<str>,
}

impl CachedApi {
    /// The compact form of `api`, managed fields dropped.
    pub fn new(mut api: ExposedAPI) -> Result<Self, serde_json::Error> {
        api.metadata.managed_fields = None;
        let key = store_key(&api.metadata);
        let implementation = api.spec.implementation.as_deref().map(Box::from);
        Ok(Self { key, implementation, text: serde_json::to_string(&api)?.into_boxed_str() })
    }

    /// The ExposedAPI, parsed back (it was written from one, so this fails only on a defect).
    pub fn decode(&self) -> Result<ExposedAPI, serde_json::Error> {
        serde_json::from_str(&self.text)
    }

    pub fn implementation(&self) -> Option<&str> {
        self.implementation.as_deref()
    }
}

/// Decoded as an ExposedAPI (so a watch refuses what the typed watch refused), then made compact.
impl<'de> Deserialize<'de> for CachedApi {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CachedApi::new(ExposedAPI::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

/// The ExposedAPI's own kind: the cache is of ExposedAPIs, only held differently.
impl Resource for CachedApi {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        ExposedAPI::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        ExposedAPI::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        ExposedAPI::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        ExposedAPI::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        ExposedAPI::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.key
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.key
    }
}

#[cfg(test)]
mod tests {
    use super::CachedApi;
    use crate::exposed_api::ExposedAPI;
    use kube::ResourceExt;
    use serde_json::json;

    #[test]
    fn the_api_comes_back_whole_without_managed_fields() {
        let object = json!({
            "apiVersion": "oda.tmforum.org/v1", "kind": "ExposedAPI",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "labels": {"oda.tmforum.org/componentName": "c"},
                "managedFields": [{"manager": "someone", "operation": "Apply"}]},
            "spec": {"path": "/a", "implementation": "svc", "port": 8080,
                "specification": [{"url": "https://example.com/oas.json"}], "x-extra": {"kept": true}},
            "status": {"apiStatus": {"url": "https://gw/a"}}
        });
        let cached: CachedApi = serde_json::from_value(object.clone()).unwrap();
        assert_eq!((cached.name_any(), cached.namespace()), ("a".into(), Some("ns".into())));
        assert_eq!(cached.resource_version().as_deref(), Some("7"));
        assert_eq!(cached.implementation(), Some("svc"));
        let mut want: ExposedAPI = serde_json::from_value(object).unwrap();
        want.metadata.managed_fields = None;
        assert_eq!(serde_json::to_value(cached.decode().unwrap()).unwrap(), serde_json::to_value(want).unwrap());
    }
}

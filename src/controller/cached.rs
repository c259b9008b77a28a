//! A watched object as the child caches hold it: compact JSON text, and the four metadata fields
//! the cache's key is made of.
//!
//! A `DynamicObject` keeps its body as a `serde_json::Value`, whose every object is a B-tree node
//! sized for eleven entries: a 700-byte VirtualService takes about 7.5 KB that way, 75 MB at 10k
//! APIs; even a typed `ObjectMeta` with one label and one owner takes 1.5 KB. As text it takes what
//! it weighs; a reconcile reads one child and parses it back ([`CachedObject::to_dynamic`]),
//! microseconds for an object this size.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::{ApiResource, DynamicObject, DynamicResourceScope};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedObject {
    /// Name, namespace, resourceVersion and uid only: what the store's key needs.
    key: ObjectMeta,
    /// The whole metadata (managed fields dropped), as JSON text.
    metadata: Box<str>,
    /// `spec`, `status` and whatever else the kind has, by name, as JSON text.
    fields: Box<[(Box<str>, Box<str>)]>,
}

impl CachedObject {
    /// The object as a `DynamicObject` of `resource` (its fields parsed back).
    pub fn to_dynamic(&self, resource: &ApiResource) -> DynamicObject {
        let data = self
            .fields
            .iter()
            .filter_map(|(name, text)| Some((name.to_string(), serde_json::from_str::<Value>(text).ok()?)))
            .collect::<serde_json::Map<_, _>>();
        let mut obj = DynamicObject::new("", resource).data(Value::Object(data));
        obj.metadata = serde_json::from_str(&self.metadata).unwrap_or_else(|_| self.key.clone());
        obj
    }

    /// What a watch event carries, managed fields dropped (nothing here reads them).
    fn compact(metadata: ObjectMeta, fields: Vec<(Box<str>, Box<str>)>) -> Result<Self, serde_json::Error> {
        let metadata = ObjectMeta { managed_fields: None, ..metadata };
        let key = store_key(&metadata);
        let text = serde_json::to_string(&metadata)?.into_boxed_str();
        Ok(Self { key, metadata: text, fields: fields.into_boxed_slice() })
    }
}

/// Name, namespace, resourceVersion and uid: what a store's key and its echo check need.
pub(super) fn store_key(metadata: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: metadata.name.clone(),
        namespace: metadata.namespace.clone(),
        resource_version: metadata.resource_version.clone(),
        uid: metadata.uid.clone(),
        ..ObjectMeta::default()
    }
}

impl<'de> Deserialize<'de> for CachedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = CachedObject;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CachedObject, A::Error> {
                let (mut metadata, mut fields) = (None, Vec::new());
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "metadata" => metadata = Some(map.next_value()?),
                        // The kind and version are the cache's, the same for every object.
                        "apiVersion" | "kind" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            let value: Value = map.next_value()?;
                            let text = serde_json::to_string(&value).map_err(de::Error::custom)?;
                            fields.push((key.into_boxed_str(), text.into_boxed_str()));
                        }
                    }
                }
                CachedObject::compact(metadata.unwrap_or_default(), fields).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// The kind is shared: every key of the cache holds it (five strings per object otherwise).
impl Resource for CachedObject {
    type DynamicType = Arc<ApiResource>;
    type Scope = DynamicResourceScope;

    fn group(dt: &Arc<ApiResource>) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &Arc<ApiResource>) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &Arc<ApiResource>) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &Arc<ApiResource>) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &Arc<ApiResource>) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.key
    }

    /// Only the key's fields; the text keeps what the API server sent.
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.key
    }
}

#[cfg(test)]
mod tests {
    use kube::core::ObjectList;
    use serde_json::json;

    use super::*;

    fn resource() -> ApiResource {
        crate::backend::istio::virtual_service_resource(crate::config::VirtualServiceVersion::V1)
    }

    fn virtual_service() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {
                "name": "a1", "namespace": "c1", "resourceVersion": "7", "labels": {"x": "y"},
                "managedFields": [{"manager": "someone", "operation": "Apply"}],
            },
            "spec": {"hosts": ["*"], "http": [{"match": [{"uri": {"prefix": "/a1"}}]}]},
            "status": {"observedGeneration": 1},
        })
    }

    #[test]
    fn the_object_comes_back_whole_without_managed_fields() {
        let cached: CachedObject = serde_json::from_value(virtual_service()).unwrap();
        let back = cached.to_dynamic(&resource());
        let mut want: DynamicObject = serde_json::from_value(virtual_service()).unwrap();
        want.metadata.managed_fields = None;
        assert_eq!(back, want);
    }

    #[test]
    fn lists_deserialize_too() {
        // A list's items go through serde's buffered path (`ObjectList` flattens its type fields).
        let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [virtual_service()]});
        let list: ObjectList<CachedObject> = serde_json::from_value(list).unwrap();
        assert_eq!(list.items[0].to_dynamic(&resource()).data["spec"]["hosts"], json!(["*"]));
        assert_eq!(list.items[0].meta().resource_version.as_deref(), Some("7"));
        assert_eq!(list.items[0].meta().labels, None, "the key holds the key's fields only");
    }
}

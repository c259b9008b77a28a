//! The output backends: each turns a valid ExposedAPI into the one object it owns.
//!
//! A backend is a pure builder. The controller applies what backends return with server-side
//! apply, checks ownership first, and watches each backend's kind to repair drift.

use kube::core::{ApiResource, DynamicObject};

use crate::validation::ValidApi;

/// One kind of object the operator writes for an ExposedAPI.
pub trait Output: Send + Sync {
    /// The kind and version written.
    fn api_resource(&self) -> ApiResource;
    /// The desired object, or `None` when this API needs none (e.g. no ServiceMonitor for openapi).
    fn desired(&self, api: &ValidApi) -> Option<DynamicObject>;
}

/// Builds a namespaced object of `resource` with the given metadata and body fields.
pub(crate) fn object(
    resource: &ApiResource,
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    data: serde_json::Value,
) -> DynamicObject {
    let mut obj = DynamicObject::new("", resource).data(data);
    obj.metadata = metadata;
    obj
}

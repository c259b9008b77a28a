//! Readiness of an API's implementation, from the EndpointSlices of its Service.
//!
//! Unlike the reference, which only ever set `ready: true` and looked at one slice, readiness is
//! true while any endpoint of any slice is ready and false otherwise.

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The Service an EndpointSlice belongs to.
pub fn service_of(slice: &EndpointSlice) -> Option<&str> {
    slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL).map(String::as_str)
}

/// True when any endpoint of the given slices is ready. Only an explicit `ready: true` counts,
/// as in the reference (the EndpointSlice controller always sets the condition).
pub fn any_endpoint_ready<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> bool {
    slices
        .into_iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .any(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};

    fn slice(ready: &[Option<bool>]) -> EndpointSlice {
        EndpointSlice {
            endpoints: Some(
                ready
                    .iter()
                    .map(|r| Endpoint {
                        addresses: vec!["10.0.0.1".into()],
                        conditions: Some(EndpointConditions { ready: *r, ..Default::default() }),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn ready_when_any_endpoint_of_any_slice_is_ready() {
        assert!(any_endpoint_ready(&[slice(&[Some(false)]), slice(&[Some(false), Some(true)])]));
        assert!(!any_endpoint_ready(&[slice(&[Some(false)]), slice(&[None])]));
        assert!(!any_endpoint_ready(&[slice(&[])]));
        assert!(!any_endpoint_ready(&[]));
    }
}

//! What the end-to-end tests (`tests/e2e`) and the benchmark (`bench/`) both need to work on a real
//! control plane: clients from the kubeconfig variables, the custom resources they read and write
//! as dynamic objects, namespaces, and retries of transient API errors.
//!
//! It deliberately does not depend on the operator crate: the custom resources are described
//! independently of the operator's own types, so the tests check the operator against the CRDs.
#![forbid(unsafe_code)]

pub mod apim;
pub mod clients;
pub mod namespaces;
pub mod resources;
pub mod retry;

//! The pure core: an ExposedAPI, the configuration and observed facts in; validated facts, URLs,
//! conditions and status out. No I/O and no clock (the time is passed in), so every function here
//! is deterministic and unit-tested without a cluster.

pub mod api_keys;
pub mod component;
pub mod cors;
pub mod decision;
pub mod few;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod gateway_address;
pub mod gateway_class;
pub mod istio_gateway;
pub mod ownership;
pub mod policy;
pub mod rate_limit;
pub mod readiness;
pub mod status;
pub mod url;
pub mod validation;

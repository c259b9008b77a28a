//! oda-api-operator: exposes TM Forum ODA Canvas `ExposedAPI`s through the Istio mesh.
//!
//! The pure core turns an ExposedAPI, the configuration and observed facts (gateway address,
//! EndpointSlices) into desired objects and status; the controller applies them.
#![forbid(unsafe_code)]

pub mod api_url;
pub mod component;
pub mod config;
pub mod controller;
pub mod crd;
pub mod error;
pub mod exposed_api;
#[cfg(test)]
mod fixtures;
pub mod gateway_address;
pub mod http;
pub mod leader;
pub mod output;
pub mod ownership;
pub mod pod_annotations;
pub mod readiness;
pub mod render;
pub mod service_monitor;
pub mod status;
pub mod telemetry;
pub mod validation;
pub mod virtual_service;

pub use error::{Error, Result};

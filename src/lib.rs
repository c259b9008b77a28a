//! oda-api-operator: exposes TM Forum ODA Canvas `ExposedAPI`s on the Canvas gateway, through Istio
//! `VirtualService`s or Gateway API `HTTPRoute`s, with metrics scraping configured alongside.
//!
//! - [`core`]: pure — ExposedAPI + observed facts → validated facts, URL, conditions, status.
//! - [`backend`]: pure, one module per way of exposing an API — facts → desired objects + report.
//! - [`controller`]: the I/O edge — watches, the reconcile pipeline, server-side apply, Events.
#![forbid(unsafe_code)]

pub mod azure;
pub mod backend;
pub mod config;
pub mod controller;
pub mod core;
pub mod crd;
pub mod diagnose;
pub mod error;
pub mod exposed_api;
pub mod http;
pub mod render;
pub mod telemetry;

pub use error::{Error, Result};

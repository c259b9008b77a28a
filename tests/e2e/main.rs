//! End-to-end tests against a real Kubernetes control plane.
//!
//! ```sh
//! eval "$(scripts/testenv up)"   # etcd + kube-apiserver + kube-controller-manager, real CRDs
//! cargo test --test e2e
//! ```
//!
//! See docs/testenv.md and `support` for the environment variables and helpers.

mod apim;
mod chart;
mod controller;
mod diagnose;
mod effect;
mod gateway_policies;
#[path = "../common/helm.rs"]
mod helm;
mod httproute;
mod httproute_policies;
mod kstatus;
mod metrics;
mod operating;
mod operator;
mod plane;
mod policies;
mod smoke;
mod support;
mod takeover;
mod uninstall;

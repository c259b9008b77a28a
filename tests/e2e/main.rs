//! End-to-end tests against a real Kubernetes control plane.
//!
//! ```sh
//! eval "$(scripts/testenv up)"   # etcd + kube-apiserver + kube-controller-manager 1.20.2
//! cargo test --test e2e
//! ```
//!
//! See docs/testenv.md and `support` for the environment variables and helpers.

mod controller;
mod metrics;
mod operating;
mod operator;
mod smoke;
mod support;
mod takeover;

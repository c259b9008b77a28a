//! Errors of the operator. Each says what went wrong and, where it can, what to do.

use crate::crd::CrdError;

/// The crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot build the ExposedAPI CRD: {0}")]
    Crd(#[from] CrdError),
    #[error("cannot encode or decode YAML: {0}")]
    Yaml(String),
    #[error("cannot encode or decode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("the cluster is not ready for the operator: {0}")]
    Setup(String),
    #[error("cannot {what}: {source}")]
    Start { what: String, source: std::io::Error },
    #[error("leader election failed: {0}")]
    Lease(String),
    #[error("{0}")]
    Render(#[from] crate::render::RenderError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

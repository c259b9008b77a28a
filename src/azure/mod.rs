//! The Azure side of the APIM backend, I/O: bearer tokens and a small typed client for exactly
//! the ARM calls the backend needs (design: shared/reference azure-apim §2). Every base URL is a
//! setting, so tests point them at the local stand-in (`azure-standin/`).

pub mod arm;
pub mod document;
mod http;
pub mod metrics;
pub mod token;
pub mod vault;

pub use arm::{ApiPage, ArmClient, ArmConfig};
pub use document::Documents;
pub use token::{ClientSecret, ManagedIdentity, Secret, TokenSource};
pub use vault::{KeyVault, VaultSettings};

use std::time::Duration;

/// What went wrong talking to Azure, by what the caller should do about it (§2.8).
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// 400, 403, 404 on a write: a condition, and no fast retry; the message is Azure's.
    #[error("Azure refused the request ({status} {code}): {message}")]
    Rejected { status: u16, code: String, message: String },
    /// 412: the object changed since it was read (read it again).
    #[error("the object changed since it was read (412 PreconditionFailed)")]
    Precondition,
    /// 429 or 503: retry after the time Azure asked for.
    #[error("Azure asked to retry after {0:?} ({1})")]
    RetryAfter(Duration, u16),
    /// 409 (an operation still in progress), other 5xx, timeouts, connection errors: retry with
    /// backoff.
    #[error("transient failure talking to Azure: {0}")]
    Transient(String),
    /// No token could be had, or a fresh token was refused too.
    #[error(
        "authentication with Entra ID failed: {0}; check the operator's identity (AZURE_CLIENT_ID, the federated token or secret)"
    )]
    Auth(String),
    /// A long-running operation did not finish in time; a later reconcile polls or re-sends.
    #[error("the Azure operation did not finish within {0:?}")]
    Timeout(Duration),
    /// A setting or URL is unusable.
    #[error("{0}")]
    Config(String),
}

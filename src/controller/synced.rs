//! What the external step found and did, for the status (see `context::ExternalSystem`).

use std::time::Duration;

use super::error::ReconcileError;
use crate::core::status::{ConditionSpec, ReadyReason};
use crate::core::url::PublishedUrl;
use crate::exposed_api::ApimStatus;

/// What an external system found and did for one API.
pub struct Synced {
    pub condition: ConditionSpec,
    /// The record to keep in status (`None`: keep what is there).
    pub record: Option<ApimStatus>,
    /// Why the API is not ready on APIM's side.
    pub blocked: Option<(ReadyReason, String)>,
    pub url: Option<PublishedUrl>,
    /// Why the API policy is not in APIM, for the policy conditions.
    pub policy_failure: Option<(&'static str, String)>,
    /// A failure to retry with backoff (after the status is written).
    pub failure: Option<ReconcileError>,
    pub requeue: Duration,
}

//! The external-system role of the publishing contract: a system outside the cluster that
//! publishes an API once its route is in place (Azure API Management first). The context holds it
//! as a trait object, so the pipeline names no system; each system's I/O lives in its own module.

use futures::future::BoxFuture;

use super::apim::{self, Apim};
use super::context::Context;
use super::error::ReconcileError;
use super::events::Journal;
use crate::core::status::ConditionSpec;
use crate::core::validation::ValidApi;
use crate::exposed_api::{ExposedAPI, ExposedApiSpec, ExposedApiStatus};

/// What the external step found and did, for the status.
pub(super) use super::apim::Synced;

pub(super) trait ExternalSystem: Send + Sync {
    /// Publishes a valid API whose route is in place; `previous` is the status it last recorded.
    fn sync<'a>(
        &'a self,
        ctx: &'a Context,
        api: &'a ExposedAPI,
        valid: &'a ValidApi,
        previous: Option<&'a ExposedApiStatus>,
        journal: &'a Journal,
    ) -> BoxFuture<'a, Synced>;

    /// Removes the API from the system; the ExposedAPI's finalizer goes only once this succeeds.
    fn release<'a>(&'a self, ctx: &'a Context, api: &'a ExposedAPI) -> BoxFuture<'a, Result<(), ReconcileError>>;

    /// The condition of every requested policy: the system carries the policies itself.
    fn policy_conditions(&self, spec: &ExposedApiSpec, synced: &Synced) -> Vec<ConditionSpec>;
}

impl ExternalSystem for Apim {
    fn sync<'a>(
        &'a self,
        ctx: &'a Context,
        api: &'a ExposedAPI,
        valid: &'a ValidApi,
        previous: Option<&'a ExposedApiStatus>,
        journal: &'a Journal,
    ) -> BoxFuture<'a, Synced> {
        Box::pin(apim::sync(ctx, self, api, valid, previous, journal))
    }

    fn release<'a>(&'a self, ctx: &'a Context, api: &'a ExposedAPI) -> BoxFuture<'a, Result<(), ReconcileError>> {
        Box::pin(apim::release(ctx, self, api))
    }

    fn policy_conditions(&self, spec: &ExposedApiSpec, synced: &Synced) -> Vec<ConditionSpec> {
        let failure = synced.policy_failure.as_ref().map(|(reason, why)| (*reason, why.as_str()));
        crate::backend::apim::conditions::policy_conditions(spec, failure)
    }
}

//! The external systems behind the `ExternalSystem` role (declared with the context, which holds
//! one as a trait object, so the pipeline names no system): Azure API Management first, its I/O in
//! `apim`.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::apim::{self, Apim};
use super::apim_sweep;
use super::context::{Context, Requeue};
use super::error::ReconcileError;
use super::events::Journal;
use crate::core::status::ConditionSpec;
use crate::core::validation::ValidApi;
use crate::exposed_api::{ExposedAPI, ExposedApiSpec, ExposedApiStatus};

pub(super) use super::context::ExternalSystem;
pub(super) use super::synced::Synced;

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

    fn background(&self, ctx: Arc<Context>, requeue: Requeue) -> Option<BoxFuture<'static, ()>> {
        Some(Box::pin(apim_sweep::sweep_forever(self.sweeper.clone(), ctx, requeue)))
    }
}

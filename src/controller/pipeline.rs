//! One reconcile of one ExposedAPI, as a pipeline of named steps:
//!
//! validate → scrape (metrics backend) → expose (route backend) → dereference (facts from the
//! caches) → status (pure: `core::status`) → write it if it changed → propagate to the Component →
//! one Event. Each step fails with its own [`ReconcileError`] kind; a failed step is reported in
//! the conditions and the later steps still run, so the status always says what happened. A write
//! that finds the API gone or being deleted ends the reconcile quietly: that is how APIs end.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, debug, info_span, warn};

use super::apply::write_status;
use super::cached_api::CachedApi;
use super::context::Context;
use super::dereference::facts;
use super::error::ReconcileError;
use super::events::publish;
use super::events::{Told, tell};
use super::propagate::propagate;
use super::steps::{self, Fold, Run};
use super::{engine, finalizer, scraping};
use crate::backend::BuildError;
use crate::core::decision::{self, Requeue};
use crate::core::status::{ReadyReason, needs_write};
use crate::exposed_api::ExposedAPI;

/// The longest Retry-After taken as given.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(600);

/// The controller's entry: the cached API parsed back, then [`reconcile`].
pub(super) async fn reconcile_cached(api: Arc<CachedApi>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let source = |source| BuildError { kind: "ExposedAPI".into(), source };
    let api = api.decode().map_err(|e| ReconcileError::Build(source(e)))?;
    reconcile(Arc::new(api), ctx).await
}

/// Reconciles one ExposedAPI. A write that finds it (or its namespace) gone or being deleted is how
/// APIs end: debug, not an error (no count, no Warning, no retry; its backoff is forgotten).
pub(super) async fn reconcile(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let key = key_of(api.as_ref());
    match steps(api, ctx.clone()).await {
        Err(e) if e.is_gone() => {
            debug!(namespace = %key.0, name = %key.1, error = %e, "the ExposedAPI is gone or being deleted");
            ctx.state.failures.lock().remove(&key);
            Ok(Action::await_change())
        }
        done => done,
    }
}

/// What a reconcile does: the clean-ups of an API being deleted, then the removal of the
/// finalizer; else the finalizer that scraping needs, then the pipeline.
async fn steps(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = api.namespace().unwrap_or_default();
    if !ctx.namespaces.matches(&namespace) {
        return Ok(Action::await_change());
    }
    // `exposedapi`, not `name`: JSON logs already use `name` for the span's own name.
    // Deletions end here too: nothing of them is left waiting.
    ctx.telemetry.metrics.dequeued(&key_of(api.as_ref()));
    let span = info_span!("reconcile", namespace = %namespace, exposedapi = %api.name_any(), component = api.component_name().unwrap_or(""));
    if api.meta().deletion_timestamp.is_some() {
        if finalizer::held(&api) {
            let attempts = failures(&ctx, &api);
            release(&ctx, &api, attempts).instrument(span).await?;
        }
        return Ok(Action::await_change());
    }
    // Only APIs with something garbage collection cannot remove carry the finalizer; the write's
    // own event brings the API back.
    if scraping::needs_finalizer(&ctx, &api) && !finalizer::held(&api) {
        finalizer::ensure(&ctx, &api).await?;
        return Ok(Action::await_change());
    }
    reconcile_api(api, ctx).instrument(span).await
}

/// Deletion: the external system's API, then the gateway objects, then the pod annotations; then
/// every name of the finalizer. A release that keeps failing stops only its own clean-up after
/// `finalizer::CLEANUP_ATTEMPTS` (with a Warning); the external system's is retried for as long
/// as it takes, since its API would otherwise be left serving.
async fn release(ctx: &Context, api: &ExposedAPI, attempts: u32) -> Result<(), ReconcileError> {
    match &ctx.external {
        Some(system) => system.release(ctx, api).await?,
        None if api.status.as_ref().is_some_and(|s| s.apim.is_some()) => {
            let note = "ROUTE_BACKEND is not AzureAPIM: the API in APIM is left as it is";
            warn!(namespace = %api.namespace().unwrap_or_default(), name = %api.name_any(), "{note}");
            publish(ctx, api, EventType::Warning, "CleanupSkipped", note);
        }
        None => {}
    }
    engine::release(ctx, api, attempts).await?;
    scraping::release(ctx, api, attempts).await?;
    finalizer::settle(ctx, api, false).await
}

/// Consecutive failed reconciles of the API.
fn failures(ctx: &Context, api: &ExposedAPI) -> u32 {
    ctx.state.failures.lock().get(&key_of(api)).copied().unwrap_or(0)
}

fn key_of<K: Resource>(api: &K) -> (String, String) {
    (api.namespace().unwrap_or_default(), api.name_any())
}

/// The pipeline of a live API: its named steps (`steps`), folded; the status written only when it
/// changed, the Component told, one Event; the first failure returned after all of that.
async fn reconcile_api(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = api.namespace().unwrap_or_default();
    let metrics = &ctx.telemetry.metrics;
    let _timer = metrics.reconcile_started(&key_of(api.as_ref()));
    let run = Run::new(&ctx, &api, &namespace)?;
    let mut fold = Fold::default();
    let scraping = fold.take(steps::scrape(&run).await);
    let guard = fold.take(steps::guard(&run).await?);
    let outcome = fold.take(steps::publish(&run, &guard).await);
    fold.take(steps::prune(&run, &outcome).await);
    let facts = facts(&ctx, &api, &namespace);
    let previous = facts.recent_status.as_ref().or(api.status.as_ref());
    let synced = steps::external(&run, &outcome, previous).await.map(|step| fold.take(step));
    let decided = steps::status(&run, (outcome, &guard, synced), &facts, scraping.as_ref(), previous);
    let reason = decided.ready.reason;
    metrics.conflicted(key_of(api.as_ref()), reason == ReadyReason::RouteConflict);
    // Blocked is counted here; failed steps are counted by their step in `error_policy`.
    if reason.stalls() {
        metrics.error(reason.as_str());
    }
    if needs_write(previous, &decided.status) {
        let main_resource = !ctx.discovered.exposed_api_status_subresource;
        let written = write_status(&ctx.client, &api, &decided.status, !main_resource).await;
        ctx.telemetry.health.record("write exposedapis status", &written);
        let version = written.map_err(ReconcileError::Status)?;
        metrics.wrote("status");
        ctx.state.recent().wrote_status(&api, version, decided.status.clone());
    }
    let told = Told { scraping: scraping.as_ref(), policies: &decided.policies, ready: &decided.ready };
    tell(&ctx, &api, previous, told, run.journal.take());
    propagate(&ctx, &api, &decided.status).await?;
    finalizer::settle(&ctx, &api, fold.failed() || steps::needs_finalizer(&run, &guard, &decided)).await?;
    fold.into_failure().map_or(Ok(()), Err)?;
    ctx.state.failures.lock().remove(&key_of(api.as_ref()));
    Ok(match decision::requeue(reason, decided.requeue) {
        Requeue::AwaitChange => Action::await_change(),
        Requeue::After(after) => Action::requeue(after),
    })
}

/// Exponential backoff per API (5 s doubling to 5 min), so a failing API never spins. Throttling
/// is not counted: it is the service's wait, shared by every API, not this API's failure (counted,
/// a burst of 429s would leave a later transient failure minutes of backoff).
pub(super) fn error_policy<K: Resource>(api: Arc<K>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let throttled = matches!(error, ReconcileError::Azure(crate::azure::AzureError::RetryAfter(..)));
    let attempts = {
        let mut failures = ctx.state.failures.lock();
        let n = failures.entry(key_of(api.as_ref())).or_insert(0);
        if !throttled {
            *n = n.saturating_add(1);
        }
        *n
    };
    let backoff = Duration::from_secs(5u64.saturating_mul(1 << attempts.min(6).saturating_sub(1)).min(300));
    // Azure's Retry-After is honoured as it is (throttling is not made worse by retrying sooner).
    let delay = match error {
        ReconcileError::Azure(crate::azure::AzureError::RetryAfter(after, _)) => {
            (*after).clamp(Duration::from_secs(1), RETRY_AFTER_CAP)
        }
        _ => backoff,
    };
    ctx.telemetry.metrics.error(error.category());
    warn!(namespace = %api.namespace().unwrap_or_default(), name = %api.name_any(), category = error.category(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

//! One reconcile of one ExposedAPI, as a pipeline of named steps:
//!
//! validate → scrape (metrics backend) → expose (route backend) → dereference (facts from the
//! caches) → status (pure: `core::status`) → write it if it changed → propagate to the Component →
//! one Event. Each step fails with its own [`ReconcileError`] kind; a failed step is reported in
//! the conditions and the later steps still run, so the status always says what happened. A write
//! that finds the API gone or being deleted ends the reconcile quietly: that is how APIs end.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, debug, info_span, warn};

use super::apim;
use super::apply::{self, write_status};
use super::context::Context;
use super::dereference::{self, facts};
use super::error::ReconcileError;
use super::events::{Journal, Told, publish, tell};
use super::expose::{expose, withhold};
use super::policies;
use super::propagate::propagate;
use super::scraping;
use crate::config::Unenforceable;
use crate::core::api_keys::{self, Plan};
use crate::core::gateway_class::Enforcer;
use crate::core::policy::{self, Enforcement};
use crate::core::status::{
    ConditionSpec, MetricsReason, Outcome, ReadyReason, assemble, desired_status, needs_write, progress_condition,
    spec_hash,
};
use crate::core::url::published_url;
use crate::core::validation::validate;
use crate::exposed_api::ExposedAPI;

const RESYNC: Duration = Duration::from_secs(3600);
const BLOCKED_RECHECK: Duration = Duration::from_secs(300);
/// The longest Retry-After taken as given.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(600);
/// Failed clean-ups after which the finalizer goes anyway: deletion is never blocked for good.
pub(super) const CLEANUP_ATTEMPTS: u32 = 5;

/// Reconciles one ExposedAPI. A write that finds it gone or being deleted is how APIs end: debug,
/// not an error (no count, no Warning, no retry; its backoff is forgotten).
pub(super) async fn reconcile(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let key = key_of(&api);
    match steps(api, ctx.clone()).await {
        Err(e) if e.is_gone() => {
            debug!(namespace = %key.0, name = %key.1, error = %e, "the ExposedAPI is gone or being deleted");
            ctx.state.failures.lock().remove(&key);
            Ok(Action::await_change())
        }
        done => done,
    }
}

/// What a reconcile does: the clean-ups of an API being deleted, in order, each ending with the
/// removal of its finalizer; else the finalizer that scraping needs, then the pipeline.
async fn steps(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = api.namespace().unwrap_or_default();
    if !ctx.namespaces.matches(&namespace) {
        return Ok(Action::await_change());
    }
    // `exposedapi`, not `name`: JSON logs already use `name` for the span's own name.
    // Deletions end here too: nothing of them is left waiting.
    ctx.telemetry.metrics.dequeued(&key_of(&api));
    let span = info_span!("reconcile", namespace = %namespace, exposedapi = %api.name_any(), component = api.component_name().unwrap_or(""));
    // The APIM API and objects in a gateway namespace go first; the metrics finalizer is handled
    // on the next event.
    if api.meta().deletion_timestamp.is_some() && apim::has_finalizer(&api) {
        return match &ctx.apim {
            Some(side) => apim::release(&ctx, side, &api).instrument(span).await.map(|()| Action::await_change()),
            None => {
                let note = "ROUTE_BACKEND is not AzureAPIM: the API in APIM is left as it is";
                warn!(namespace = %namespace, name = %api.name_any(), "{note}");
                publish(&ctx, &api, EventType::Warning, "CleanupSkipped", note);
                apply::remove_finalizer(&ctx, &api, apim::FINALIZER).await.map(|()| Action::await_change())
            }
        };
    }
    if api.meta().deletion_timestamp.is_some() && policies::has_finalizer(&api) {
        let attempts = failures(&ctx, &api);
        policies::release(&ctx, &api, attempts).instrument(span).await?;
        return Ok(Action::await_change());
    }
    if api.meta().deletion_timestamp.is_some() {
        if scraping::has_finalizer(&api) {
            cleanup(&api, &ctx).instrument(span).await?;
            apply::remove_finalizer(&ctx, &api, scraping::FINALIZER).await?;
        }
        return Ok(Action::await_change());
    }
    // Only APIs with something garbage collection cannot remove carry the finalizer; the write's
    // own event brings the API back.
    if scraping::needs_finalizer(&ctx, &api) && !scraping::has_finalizer(&api) {
        apply::add_finalizer(&ctx, &api, scraping::FINALIZER).await?;
        return Ok(Action::await_change());
    }
    reconcile_api(api, ctx).instrument(span).await
}

/// Deletion: remove our pod annotations. After repeated failures the finalizer goes anyway, with
/// a Warning Event.
async fn cleanup(api: &ExposedAPI, ctx: &Context) -> Result<(), ReconcileError> {
    if let Err(e) = scraping::remove_annotations(ctx, api).await {
        let attempts = failures(ctx, api);
        if attempts < CLEANUP_ATTEMPTS {
            return Err(ReconcileError::Cleanup(e));
        }
        let note = format!(
            "could not remove metrics annotations after {attempts} attempts ({e}); removing the finalizer anyway"
        );
        warn!("{note}");
        publish(ctx, api, EventType::Warning, "CleanupFailed", &note);
    }
    Ok(())
}

/// Consecutive failed reconciles of the API.
fn failures(ctx: &Context, api: &ExposedAPI) -> u32 {
    ctx.state.failures.lock().get(&key_of(api)).copied().unwrap_or(0)
}

fn key_of(api: &ExposedAPI) -> (String, String) {
    (api.namespace().unwrap_or_default(), api.name_any())
}

async fn reconcile_api(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = api.namespace().unwrap_or_default();
    let metrics = &ctx.telemetry.metrics;
    let _timer = metrics.reconcile_started(&key_of(&api));
    let journal = Journal::default();
    let mut failure = None;

    let validated = validate(&api, &namespace);
    // Metrics scraping first, then the route, in the reference's order; a scraping failure does
    // not keep the route from being published.
    let scraping = match &validated {
        Ok(valid) => match scraping::configure(&ctx, &api, valid, &journal).await {
            Ok(condition) => condition,
            Err(e) => {
                let condition = MetricsReason::Failed.condition(e.to_string());
                failure = Some(e);
                Some(condition)
            }
        },
        Err(_) => None,
    };
    // Gateway policies before the route, so that a required token is in force before it is live.
    let policy_config = &ctx.config.policy;
    // APIM verifies API keys itself (subscription keys), and carries the other policies too.
    let apim_side = ctx.apim.as_deref();
    // Istio's policy objects are enforced only by an Istio gateway; with HTTPRoutes the Gateway's
    // class says whose it is (unknown: written as before).
    let gateway_class = dereference::implementation(&ctx, &namespace);
    let gateway = Enforcer::of(gateway_class.as_ref(), &policy_config.istio_gateway_controllers());
    let istio_security = ctx.backends.installed.istio_security;
    let api_keys = validated
        .as_ref()
        .ok()
        .filter(|_| apim_side.is_none())
        .and_then(|_| api_keys::plan(&api.spec, policy_config, istio_security, &gateway));
    let enforced = match &validated {
        Ok(valid) => policies::enforce(&ctx, &api, valid, (api_keys.as_ref(), &gateway), &journal).await?,
        Err(_) => policies::Enforced::default(),
    };
    let fail_closed = policy_config.api_key_unenforceable == Unenforceable::FailClosed;
    let withheld = match &api_keys {
        Some(Plan::Unenforceable { why, closed: true }) => Some(why.clone()),
        Some(Plan::Jwt { .. }) if fail_closed && enforced.api_keys != Enforcement::Enforced => {
            Some("its AuthorizationPolicy is not in place".to_owned())
        }
        _ => None,
    };
    failure = failure.or(enforced.failure);
    let outcome = match (&validated, withheld) {
        (Err(invalid), _) => Outcome::Blocked { reason: ReadyReason::InvalidSpec, message: invalid.to_string() },
        (Ok(valid), Some(why)) => match withhold(&ctx, &api, valid, &journal).await {
            Ok(()) => Outcome::Blocked {
                reason: ReadyReason::SecurityPolicyNotEnforceable,
                message: format!(
                    "apiKeyVerification is requested but cannot be enforced ({why}): the route is not published \
                     (APIKEY_UNENFORCEABLE=FailClosed)"
                ),
            },
            Err(e) => {
                let outcome = Outcome::Blocked { reason: ReadyReason::ApplyFailed, message: e.to_string() };
                failure = Some(e);
                outcome
            }
        },
        (Ok(valid), None) => match expose(&ctx, &api, (valid, gateway_class.as_ref()), &journal).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let outcome = Outcome::Blocked { reason: ReadyReason::ApplyFailed, message: e.to_string() };
                failure = Some(e);
                outcome
            }
        },
    };

    // An HTTPRoute serves only through a Gateway its implementation has programmed.
    let outcome = outcome.and_gateway(dereference::gateway_state(&ctx, &namespace));
    let facts = facts(&ctx, &api, &namespace);
    let previous = facts.recent_status.as_ref().or(api.status.as_ref());
    let synced = match (apim_side, &validated, &outcome) {
        (Some(side), Ok(valid), Outcome::Applied { .. }) => {
            Some(apim::sync(&ctx, side, &api, valid, previous, &journal).await)
        }
        _ => None,
    };
    let (outcome, url) = match &synced {
        Some(synced) => match &synced.blocked {
            Some((reason, message)) => (Outcome::Blocked { reason: *reason, message: message.clone() }, None),
            None => (outcome, synced.url.clone()),
        },
        None => {
            let url = validated.as_ref().ok().and_then(|v| published_url(v, facts.gateway.as_ref()));
            (outcome, url)
        }
    };
    let (api_status, implementation, ready) =
        desired_status(&outcome, url.as_ref(), facts.implementation_ready, previous);
    let reason = ready.reason;
    metrics.conflicted(key_of(&api), reason == ReadyReason::RouteConflict);
    // Blocked is counted here; failed steps are counted by their step in `error_policy`.
    if reason.stalls() {
        metrics.error(reason.as_str());
    }
    // Every requested policy is reported, enforced or not; the API is published either way.
    let route = &ctx.backends.route;
    let policy_facts = policy::PolicyFacts {
        kind: &route.resource().kind,
        cors_supported: route.cors_supported(),
        implementation: gateway_class.as_ref(),
        gateway: &gateway,
        streaming: validated.as_ref().is_ok_and(|v| v.api_type.is_streaming()),
        per_client: policy_config.rate_limit_per_client,
        rate_limit: &enforced.rate_limit,
        api_keys: api_keys.as_ref(),
        api_key_policy: &enforced.api_keys,
        fail_closed,
    };
    let policies = match (&validated, &synced) {
        (Err(_), _) => Vec::new(),
        (Ok(_), Some(synced)) => {
            let failure = synced.policy_failure.as_ref().map(|(reason, why)| (*reason, why.as_str()));
            crate::backend::apim::conditions::policy_conditions(&api.spec, failure)
        }
        (Ok(_), None) => policy::conditions(&api.spec, &policy_facts),
    };
    let apim_condition = synced.as_ref().map(|s| s.condition.clone());
    let conditions: Vec<ConditionSpec> = std::iter::once(ConditionSpec::from(&ready))
        .chain(progress_condition(&ready))
        .chain(apim_condition)
        .chain(scraping.clone())
        .chain(policies.iter().cloned())
        .collect();
    let main_resource = !ctx.discovered.exposed_api_status_subresource;
    // Without a status subresource every status write bumps the generation, so no
    // observedGeneration could ever equal it (kstatus tools would wait forever): the status names
    // the spec it describes by its hash instead.
    let generation = if main_resource { None } else { api.meta().generation };
    let mut status = assemble(api_status, implementation, &conditions, generation, previous, Time(Timestamp::now()));
    status.observed_spec_hash = main_resource.then(|| spec_hash(&api.spec));
    let (apim_record, apim_failure, apim_requeue) = match synced {
        Some(synced) => (synced.record, synced.failure, Some(synced.requeue)),
        None => (None, None, None),
    };
    if apim_record.is_some() {
        status.apim = apim_record;
    }
    failure = failure.or(apim_failure);
    if needs_write(previous, &status) {
        let written = write_status(&ctx.client, &api, &status, !main_resource).await;
        ctx.telemetry.health.record("write exposedapis status", &written);
        let version = written.map_err(ReconcileError::Status)?;
        metrics.wrote("status");
        ctx.state.recent().wrote_status(&api, version, status.clone());
    }
    tell(
        &ctx,
        &api,
        previous,
        Told { scraping: scraping.as_ref(), policies: &policies, ready: &ready },
        journal.take(),
    );
    propagate(&ctx, &api, &status).await?;

    if let Some(e) = failure {
        return Err(e);
    }
    ctx.state.failures.lock().remove(&key_of(&api));
    Ok(match (reason, apim_requeue) {
        (ReadyReason::InvalidSpec, None) => Action::await_change(),
        (_, Some(requeue)) => Action::requeue(requeue),
        (ReadyReason::RouteConflict | ReadyReason::NotOwned, None) => Action::requeue(BLOCKED_RECHECK),
        _ => Action::requeue(RESYNC),
    })
}

/// Exponential backoff per API (5 s doubling to 5 min), so a failing API never spins.
pub(super) fn error_policy(api: Arc<ExposedAPI>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let attempts = {
        let mut failures = ctx.state.failures.lock();
        let n = failures.entry(key_of(&api)).or_insert(0);
        *n = n.saturating_add(1);
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

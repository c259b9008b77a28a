//! One reconcile of one ExposedAPI: validate → check ownership and conflicts → apply children →
//! compute status → write it if it changed → propagate to the Component.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use super::apply::{apply_child, matches_observed, patch_component, write_status};
use super::{Context, scraping};
use crate::Error;
use crate::api_url::published_url;
use crate::component::{Published, component_resource, propagation_patch};
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};
use crate::output::Output;
use crate::ownership::is_controlled_by;
use crate::status::{
    ConditionSpec, METRICS, MetricsReason, Outcome, READY, ReadyReason, assemble, desired_status, needs_write,
};
use crate::validation::{ValidApi, validate};

/// What one reconcile wrote, told in a single Event at its end (not one Event per write).
#[derive(Default)]
pub(super) struct Journal(std::sync::Mutex<Vec<String>>);

impl Journal {
    pub fn note(&self, note: String) {
        if let Ok(mut notes) = self.0.lock() {
            notes.push(note);
        }
    }

    fn take(&self) -> Vec<String> {
        self.0.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default()
    }
}

const RESYNC: Duration = Duration::from_secs(3600);
const BLOCKED_RECHECK: Duration = Duration::from_secs(300);

pub(super) async fn reconcile(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = api.namespace().unwrap_or_default();
    if !ctx.namespaces.matches(&namespace) {
        return Ok(Action::await_change());
    }
    // `exposedapi`, not `name`: JSON logs already use `name` for the span's own name.
    let span = info_span!("reconcile", namespace = %namespace, exposedapi = %api.name_any(), component = api.component_name().unwrap_or(""));
    if api.meta().deletion_timestamp.is_some() {
        return finalize(api, ctx).instrument(span).await;
    }
    reconcile_api(api, ctx, namespace).instrument(span).await
}

/// Deletion: remove our pod annotations, then our finalizer. After five failed attempts the
/// finalizer goes anyway (with a Warning Event): deletion is never blocked for good.
async fn finalize(api: Arc<ExposedAPI>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !scraping::has_finalizer(&api) {
        return Ok(Action::await_change());
    }
    if let Err(e) = scraping::remove_annotations(&ctx, &api).await {
        let attempts = ctx.state.failures.lock().map(|f| f.get(&key_of(&api)).copied().unwrap_or(0)).unwrap_or(0);
        if attempts < 5 {
            return Err(e.into());
        }
        let note = format!(
            "could not remove metrics annotations after {attempts} attempts ({e}); removing the finalizer anyway"
        );
        warn!("{note}");
        publish(&ctx, &api, EventType::Warning, "CleanupFailed", &note);
    }
    scraping::remove_finalizer(&ctx, &api).await?;
    Ok(Action::await_change())
}

fn key_of(api: &ExposedAPI) -> (String, String) {
    (api.namespace().unwrap_or_default(), api.name_any())
}

async fn reconcile_api(api: Arc<ExposedAPI>, ctx: Arc<Context>, namespace: String) -> Result<Action, Error> {
    let metrics = &ctx.telemetry.metrics;
    let _timer = metrics.reconcile_started(&key_of(&api));
    metrics.managed_apis.set(ctx.apis.len() as i64);
    let validated = validate(&api, &namespace);
    let journal = Journal::default();
    let mut failure = None;
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
    let outcome = match &validated {
        Err(invalid) => Outcome::Blocked { reason: ReadyReason::InvalidSpec, message: invalid.to_string() },
        Ok(valid) => match expose(&api, valid, &ctx, &journal).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let outcome = Outcome::Blocked { reason: ReadyReason::ApplyFailed, message: e.to_string() };
                failure = Some(e);
                outcome
            }
        },
    };

    let implementation = api.spec.implementation.as_deref().unwrap_or_default();
    let ready = ctx.state.readiness.read().map(|i| i.get().ready(&namespace, implementation)).unwrap_or(false);
    let gateway = ctx.state.gateway.read().ok().and_then(|g| g.clone());
    let url = validated.as_ref().ok().and_then(|v| published_url(v, gateway.as_ref()));
    // Our own last status write, if the cache has not caught up with it yet.
    let recent = ctx.state.recent.lock().ok().and_then(|r| r.status(&namespace, &api.name_any()).cloned());
    let previous = recent.as_ref().or(api.status.as_ref());
    let (api_status, implementation, condition) = desired_status(&outcome, url.as_ref(), ready, previous);
    let reason = condition.reason;
    let message = condition.message.clone();
    ctx.telemetry.metrics.conflicted(key_of(&api), reason == ReadyReason::RouteConflict);
    if !condition.status && reason != ReadyReason::AddressPending && reason != ReadyReason::ImplementationNotReady {
        ctx.telemetry.metrics.error(reason.as_str());
    }
    let now = Time(Timestamp::now());
    let conditions: Vec<ConditionSpec> =
        std::iter::once(ConditionSpec::from(&condition)).chain(scraping.clone()).collect();
    let main_resource = !ctx.discovered.exposed_api_status_subresource;
    // Without a status subresource, writing the status writes the object and bumps its generation
    // by one: the status names the generation its own write produces, so that tools reading
    // kstatus (observedGeneration == generation) see it current.
    let generation = api.meta().generation.map(|g| if main_resource { g + 1 } else { g });
    let status = assemble(api_status, implementation, &conditions, generation, previous, now);
    // A spec change that leaves the status as it was still needs the generation acknowledged (the
    // cache shows our own last write by then: no overlay pending).
    let unacknowledged = main_resource
        && recent.is_none()
        && api.status.as_ref().and_then(|s| s.observed_generation) != api.meta().generation;
    if needs_write(previous, &status, main_resource) || unacknowledged {
        let written = write_status(&ctx.client, &api, &status, !main_resource).await;
        ctx.telemetry.health.record("write exposedapis status", &written);
        let version = written?;
        ctx.telemetry.metrics.wrote("status");
        if let Ok(mut recent) = ctx.state.recent.lock() {
            recent.wrote_status(&api, version, status.clone());
        }
    }
    let mut notes = journal.take();
    let mut event = None;
    if let Some(scraping) = &scraping
        && previous_reason(previous, METRICS) != Some(scraping.reason)
    {
        let type_ = if scraping.status { EventType::Normal } else { EventType::Warning };
        notes.push(scraping.message.clone());
        event = Some((type_, format!("Metrics{}", scraping.reason)));
    }
    if previous_reason(previous, READY) != Some(reason.as_str()) {
        info!(reason = reason.as_str(), %message, "status changed");
        notes.push(message);
        event = Some((reason_event_type(reason), reason.as_str().to_owned()));
    }
    if !notes.is_empty() {
        let (type_, reason) = event.unwrap_or((EventType::Normal, "Applied".to_owned()));
        publish(&ctx, &api, type_, &reason, &notes.join("; "));
    }
    propagate(&ctx, &api, &status).await?;

    if let Some(e) = failure {
        return Err(e.into());
    }
    if let Ok(mut failures) = ctx.state.failures.lock() {
        failures.remove(&key_of(&api));
    }
    Ok(match reason {
        ReadyReason::InvalidSpec => Action::await_change(),
        ReadyReason::RouteConflict | ReadyReason::NotOwned => Action::requeue(BLOCKED_RECHECK),
        _ => Action::requeue(RESYNC),
    })
}

/// Checks ownership and conflicts of the route, then applies it if it differs.
async fn expose<'a>(
    api: &ExposedAPI,
    valid: &'a ValidApi,
    ctx: &Context,
    journal: &Journal,
) -> Result<Outcome<'a>, kube::Error> {
    let uid = api.uid().unwrap_or_default();
    let key = (valid.namespace.clone(), valid.name.clone());
    let desired_vs = ctx.routes.desired(valid);
    let observed_vs = observed(ctx, &ctx.virtual_services, &ctx.routes, valid);
    if let Some(existing) = &observed_vs
        && !is_controlled_by(&existing.metadata, &uid)
    {
        let message = format!(
            "VirtualService {}/{} exists and is not controlled by this ExposedAPI; it is left untouched",
            valid.namespace, valid.name
        );
        return Ok(Outcome::Blocked { reason: ReadyReason::NotOwned, message });
    }

    let route = ctx.routes.route_key(valid);
    let others = ctx.state.routes.read().map(|r| r.get().claimants_except(&route, &key)).unwrap_or_default();
    if !others.is_empty() {
        if let Ok(mut waiters) = ctx.state.waiters.lock() {
            waiters.wait(route.clone(), key);
        }
        let message = format!(
            "conflicting VirtualService '{}' already routes gateway {}, host {} and path prefix {}; nothing was written",
            others.join("', '"),
            route.gateway,
            route.host,
            route.prefix
        );
        return Ok(Outcome::Blocked { reason: ReadyReason::RouteConflict, message });
    }

    let mut route_uid = observed_vs.as_ref().and_then(|vs| vs.uid());
    if let Some(desired) = &desired_vs
        && let Some(applied) =
            apply_if_changed(ctx, &ctx.routes.api_resource(), desired, observed_vs.as_deref(), journal).await?
    {
        route_uid = applied.uid();
    }
    Ok(Outcome::Applied { api: valid, route_uid })
}

/// The child of this API's name: our own last write while its echo is pending, else the cache.
pub(super) fn observed(
    ctx: &Context,
    store: &Store<DynamicObject>,
    output: &dyn Output,
    valid: &ValidApi,
) -> Option<Arc<DynamicObject>> {
    let resource = output.api_resource();
    let recent = ctx.state.recent.lock().ok().and_then(|r| r.object(&resource.plural, &valid.namespace, &valid.name));
    recent.or_else(|| store.get(&ObjectRef::new_with(&valid.name, resource).within(&valid.namespace)))
}

pub(super) async fn apply_if_changed(
    ctx: &Context,
    resource: &ApiResource,
    desired: &DynamicObject,
    observed: Option<&DynamicObject>,
    journal: &Journal,
) -> Result<Option<DynamicObject>, kube::Error> {
    if observed.is_some_and(|o| matches_observed(o, desired)) {
        return Ok(None);
    }
    let applied = apply_child(&ctx.client, resource, desired).await;
    ctx.telemetry.health.record(&format!("write {}", resource.plural), &applied);
    let applied = applied?;
    ctx.telemetry.metrics.wrote(&resource.kind);
    if let Ok(mut recent) = ctx.state.recent.lock() {
        let before = observed.and_then(|o| o.metadata.resource_version.as_deref());
        recent.wrote_object(&resource.plural, before, applied.clone());
    }
    let verb = if observed.is_some() { "Updated" } else { "Created" };
    let note = format!("{verb} {} {}", resource.kind, desired.name_any());
    info!("{note}");
    journal.note(note);
    Ok(Some(applied))
}

/// Copies URL, developer UI and readiness into the owning Component's entry, when they differ.
async fn propagate(ctx: &Context, api: &ExposedAPI, status: &ExposedApiStatus) -> Result<(), Error> {
    let (Some(store), Some(subresource)) = (&ctx.components, ctx.discovered.component) else { return Ok(()) };
    let Some(owner) = api.owner_references().iter().find(|r| r.kind == "Component") else { return Ok(()) };
    let namespace = api.namespace().unwrap_or_default();
    let resource = component_resource();
    let Some(component) = store.get(&ObjectRef::new_with(&owner.name, resource.clone()).within(&namespace)) else {
        // Not there yet: the Component watch reconciles this API when it appears.
        return Ok(());
    };
    let api_status = status.api_status.clone().unwrap_or_default();
    let published = Published {
        api_uid: api.meta().uid.as_deref().unwrap_or_default(),
        url: api_status.url.as_deref(),
        developer_ui: api_status.developer_ui.as_deref(),
        ready: status.implementation.as_ref().is_some_and(|i| i.ready),
    };
    let ops = propagation_patch(&serde_json::to_value(component.as_ref())?, &published);
    if ops.is_empty() {
        return Ok(());
    }
    info!(component = %owner.name, "updating the Component's entry");
    let patched = patch_component(&ctx.client, &resource, &namespace, &owner.name, ops, subresource).await;
    ctx.telemetry.health.record("write components", &patched);
    if patched.is_ok() {
        ctx.telemetry.metrics.wrote("Component");
    }
    match patched {
        // A failed `test` means the entries moved under us; the Component watch brings us back.
        Err(kube::Error::Api(e)) if e.code == 422 => Ok(()),
        other => Ok(other?),
    }
}

fn previous_reason<'a>(previous: Option<&'a ExposedApiStatus>, type_: &str) -> Option<&'a str> {
    previous?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.reason.as_str())
}

fn reason_event_type(reason: ReadyReason) -> EventType {
    match reason {
        ReadyReason::InvalidSpec | ReadyReason::RouteConflict | ReadyReason::NotOwned | ReadyReason::ApplyFailed => {
            EventType::Warning
        }
        _ => EventType::Normal,
    }
}

/// Publishes an Event in the background: Events inform, they must not slow convergence.
pub(super) fn publish(ctx: &Context, api: &ExposedAPI, type_: EventType, reason: &str, note: &str) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    let (recorder, reference) = (ctx.recorder.clone(), api.object_ref(&()));
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &reference).await {
            warn!(error = %e, "cannot publish event");
        }
    });
}

/// Exponential backoff per API (5 s doubling to 5 min), so a failing API never spins.
pub(super) fn error_policy(api: Arc<ExposedAPI>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = (api.namespace().unwrap_or_default(), api.name_any());
    let attempts = ctx
        .state
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_secs(5u64.saturating_mul(1 << attempts.min(6).saturating_sub(1)).min(300));
    ctx.telemetry.metrics.error("Error");
    warn!(namespace = %api.namespace().unwrap_or_default(), name = %api.name_any(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

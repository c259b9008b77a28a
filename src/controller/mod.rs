//! The controller: watches ExposedAPIs and the facts they depend on, and reconciles each API by
//! applying its children with server-side apply and writing its status when it changes.
//!
//! Side watches (EndpointSlices, the kinds the backends write, gateway address sources,
//! Components) run as tasks that keep in-memory indexes and send reconcile triggers. The controller
//! starts only once every cache has listed, so a restart over converged objects writes nothing.

mod apim;
mod apim_start;
mod apim_sweep;
mod apply;
mod cached;
mod cached_api;
mod children;
mod context;
mod dereference;
mod discovery;
mod engine;
#[cfg(test)]
mod engine_tests;
mod error;
mod events;
mod expose;
#[cfg(test)]
mod expose_tests;
mod external;
mod facts;
mod finalizer;
mod gateway_facts;
mod gateway_objects;
mod gateway_watch;
mod indexes;
mod journal;
mod leader;
mod pipeline;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod placed_tests;
mod pod_index;
mod pod_watch;
mod propagate;
#[cfg(test)]
mod propagate_tests;
mod prune;
#[cfg(test)]
mod prune_tests;
mod recent;
mod recorder;
mod scraping;
#[cfg(test)]
mod scraping_tests;
mod steps;
mod synced;
#[cfg(test)]
mod test_context;
mod watch_task;
mod watches;

use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc;
use kube::runtime::controller::Controller;
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::Result;
use crate::backend::Backends;
use crate::config::{OpenMetricsImplementation, RouteBackend, RunConfig, WatchNamespaces};
use crate::telemetry::Telemetry;
pub use apply::MANAGER;
use cached_api::CachedApi;
use context::{Context, State};
pub use error::ReconcileError;

/// Runs the operator until `stop` turns true, with leader election when configured; then finishes
/// in-flight reconciles (and releases the lease) and returns.
pub async fn run(client: Client, config: RunConfig, telemetry: Telemetry, stop: watch::Receiver<bool>) -> Result<()> {
    if config.leader_election {
        let lead = |shutdown| run_until(client.clone(), config.clone(), telemetry.clone(), shutdown);
        return leader::run_with_lease(client.clone(), &config, telemetry.clone(), stop, lead).await;
    }
    let mut stop = stop;
    run_until(client, config, telemetry, async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    info!("shutdown requested; finishing in-flight reconciles");
}

/// Runs the operator until `shutdown` resolves, then finishes in-flight reconciles and returns.
pub async fn run_until(
    client: Client,
    config: RunConfig,
    telemetry: Telemetry,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let mut shutdown = Box::pin(shutdown);
    let external: Option<Arc<dyn external::ExternalSystem>> = if config.output.route_backend == RouteBackend::AzureApim
    {
        match start_apim(&config, &mut shutdown).await? {
            Some(apim) => Some(Arc::new(apim)),
            None => return Ok(()),
        }
    } else {
        None
    };
    let namespaces = config.namespaces();
    // Engines are configured before discovery: it checks that their kinds are served.
    let configured = Backends::new(&config.output, crate::backend::Installed::ALL).engine_kinds();
    let Some(discovered) = discover_when_up(&client, &config, &configured, &mut shutdown).await? else {
        return Ok(());
    };
    info!(?namespaces, ?discovered, "starting");
    let backends = Backends::new(&config.output, discovered.installed())
        .with_engines(|kind| discovered.engine_kinds.contains(&discovery::kind_key(kind)));
    warn_missing_crds(&config, &discovered, &backends);

    let state = Arc::new(State::default());
    let tasks = watch_task::Tasks::default();
    let (trigger, triggers) = mpsc::unbounded();
    let apim_requeue = trigger.clone();
    let (all_trigger, all_triggers) = mpsc::unbounded();
    let (gateway_objects, gateway_changes) = mpsc::unbounded();
    let (reader, writer) = reflector::store::<CachedApi>();
    let side = watches::SideWatches {
        client: client.clone(),
        namespaces: namespaces.clone(),
        state: state.clone(),
        trigger,
        all_trigger,
        tasks: tasks.clone(),
        telemetry: telemetry.clone(),
        gateway_objects,
        apis: reader.clone(),
    };
    let synced = side.start(&config, &discovered, &backends);

    let (recorder, publisher) =
        recorder::Recorder::start(client.clone(), (MANAGER, config.pod_name.as_deref()), telemetry.metrics.clone());
    let publisher = tokio::spawn(publisher);
    let ctx = Arc::new(Context {
        client: client.clone(),
        backends: backends.clone(),
        config: config.output.clone(),
        namespaces: namespaces.clone(),
        gateways: discovered.gateway_api.then(|| synced.gateways.clone()),
        discovered,
        state: state.clone(),
        recorder,
        children: synced.children.clone(),
        components: synced.components.clone(),
        apis: reader.clone(),
        telemetry: telemetry.clone(),
        external,
    });

    info!("waiting for caches to sync");
    synced.wait().await;
    info!("caches synced; reconciling");
    telemetry.health.set_synced(true);
    tasks.track(tokio::spawn(gateway_objects::sweep_forever(ctx.clone(), gateway_changes)));
    if let Some(background) = ctx.external.as_ref().and_then(|e| e.background(ctx.clone(), apim_requeue)) {
        tasks.track(tokio::spawn(background));
    }

    let apis = exposed_api_stream(&client, &namespaces, (writer, reader.clone()), state, telemetry.clone());
    Controller::for_stream(apis, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency))
        .reconcile_on(triggers)
        .reconcile_all_on(all_triggers)
        .graceful_shutdown_on(shutdown)
        .run(pipeline::reconcile_cached, pipeline::error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    tasks.abort_all();
    // The last holders of the context (and with it the Event queue) are gone: what is still
    // queued gets a moment.
    let publishing = publisher.abort_handle();
    if tokio::time::timeout(EVENT_DRAIN, publisher).await.is_err() {
        publishing.abort();
    }
    telemetry.health.set_synced(false);
    info!("stopped");
    Ok(())
}

/// How long Events still queued at stop may take to be published.
const EVENT_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// One try of a start-up step: done, worth retrying (with what to log), or failed for good.
enum Attempt<T> {
    Done(T),
    Retry(String),
    Fail(crate::Error),
}

/// Runs a start-up step until it is done, retrying with backoff (from `first`, doubling, at most
/// `cap`) while it says so; `None` when shut down first. An operator started during an outage of
/// what it needs waits for it instead of exiting.
async fn until_done<T, Fut>(
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
    (first, cap): (std::time::Duration, std::time::Duration),
    waiting_for: &str,
    mut attempt: impl FnMut() -> Fut,
) -> Result<Option<T>>
where
    Fut: std::future::Future<Output = Attempt<T>>,
{
    let mut wait = first;
    loop {
        match attempt().await {
            Attempt::Done(value) => return Ok(Some(value)),
            Attempt::Fail(e) => return Err(e),
            Attempt::Retry(why) => warn!(error = %why, retry_in = ?wait, "cannot reach {waiting_for} yet"),
        }
        tokio::select! {
            () = &mut *shutdown => return Ok(None),
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(cap);
    }
}

/// Start-up discovery, retried while the API server cannot be reached or answers with a server
/// error; a refusal or a missing CRD stops start-up with its message.
async fn discover_when_up(
    client: &Client,
    config: &RunConfig,
    engine_kinds: &[kube::core::ApiResource],
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Result<Option<discovery::Discovered>> {
    let backoff = (std::time::Duration::from_millis(500), std::time::Duration::from_secs(30));
    until_done(shutdown, backoff, "the API server", || async {
        match discovery::discover(client, config.output.virtual_service_version, engine_kinds).await {
            Ok(discovered) => Attempt::Done(discovered),
            Err(crate::Error::Kube(e)) if is_transient(&e) => Attempt::Retry(e.to_string()),
            Err(e) => Attempt::Fail(e),
        }
    })
    .await
}

/// Whether an API call failed for a passing reason: no answer, throttling or a server error.
fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(e) => e.code == 429 || e.code >= 500,
        _ => true,
    }
}

/// The APIM backend's start-up, retried while Azure cannot be reached (the operator is not ready
/// meanwhile); a missing or unsafe setting stops it.
async fn start_apim(
    config: &RunConfig,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Result<Option<apim::Apim>> {
    let backoff = (std::time::Duration::from_secs(2), std::time::Duration::from_secs(60));
    until_done(shutdown, backoff, "Azure API Management", || async {
        match apim_start::start(config).await {
            Ok(apim) => Attempt::Done(apim),
            Err(apim_start::StartError::Setting(e)) => Attempt::Fail(e),
            Err(apim_start::StartError::Azure(e)) => Attempt::Retry(e.to_string()),
        }
    })
    .await
}

/// Says which configured kinds the cluster cannot take (their writes fail with a condition).
fn warn_missing_crds(config: &RunConfig, discovered: &discovery::Discovered, backends: &Backends) {
    let route = backends.route.resource();
    if !backends.kinds.iter().any(|k| k.resource == route) {
        warn!(
            kind = %route.kind,
            api_version = %route.api_version,
            "ROUTE_BACKEND's kind is not served by the cluster (its CRD is missing, or not at this version): every \
             apply will fail until it is installed"
        );
    }
    let wants_service_monitors = config.output.openmetrics_implementation == OpenMetricsImplementation::ServiceMonitor;
    if wants_service_monitors && !discovered.service_monitor {
        warn!(
            "OPENMETRICS_IMPLEMENTATION=ServiceMonitor but the ServiceMonitor CRD is not installed: no ServiceMonitors are written"
        );
    }
}

/// The ExposedAPI watch: scoped to the watched namespaces, held compact ([`CachedApi`]: text,
/// managed fields dropped), and feeding the implementation index.
fn exposed_api_stream(
    client: &Client,
    namespaces: &WatchNamespaces,
    (writer, reader): (reflector::store::Writer<CachedApi>, reflector::Store<CachedApi>),
    state: Arc<State>,
    telemetry: Telemetry,
) -> impl futures::Stream<Item = Result<CachedApi, watcher::Error>> + Send + 'static {
    let api: Api<CachedApi> = match namespaces.single() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let namespaces = namespaces.clone();
    let (recent, listed) = (state.clone(), state.clone());
    let counted = telemetry.clone();
    watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .filter_map(move |event| {
            futures::future::ready(match event {
                Ok(event) => watch_task::keep_namespaces(event, &namespaces).map(Ok),
                Err(e) => Some(Err(e)),
            })
        })
        .inspect(move |event| {
            if let Ok(event) = event {
                state.implementations.write().handle(event);
            }
        })
        .reflect(writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::InitDone) = event {
                listed.apis_listed.notify_one();
            }
            // The gauges follow the cache, deletions included (a deleted API is never reconciled).
            let metrics = &counted.metrics;
            if let Ok(watcher::Event::Delete(api)) = event {
                metrics.forget(&(api.namespace().unwrap_or_default(), api.name_any()));
            }
            if let Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) = event {
                metrics.managed_apis.set(reader.len() as i64);
            }
        })
        .filter(move |event| {
            let echo = own_echo(&recent, event);
            if !echo && let Ok(watcher::Event::Apply(api) | watcher::Event::InitApply(api)) = event {
                telemetry.metrics.queued((api.namespace().unwrap_or_default(), api.name_any()));
            }
            futures::future::ready(!echo)
        })
        .applied_objects()
}

/// The echo of the operator's own status write carries nothing new: it is cached, not reconciled.
fn own_echo(state: &State, event: &Result<watcher::Event<CachedApi>, watcher::Error>) -> bool {
    let mut recent = state.recent();
    match event {
        Ok(watcher::Event::Apply(api)) => recent.seen_api(api, false),
        Ok(watcher::Event::Delete(api)) => recent.seen_api(api, true),
        Ok(watcher::Event::Init) => {
            recent.forget_statuses();
            false
        }
        _ => false,
    }
}

//! Watches the ExposedAPIs and VirtualServices of the benchmark namespace: when each API has
//! converged (status URL for the expected path and implementation ready; VirtualService prefix
//! equal to the path), and every change of resourceVersion, which counts effective writes
//! independently of the operator's own metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Client, ResourceExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use oda_test_support::resources::{dynamic_api, exposed_api_resource, virtual_service_resource};

use crate::cluster::Result;
use crate::fixtures::{api_name, expected_url};
use crate::report::{Convergence, quantile};

/// Effective writes seen on the watches (one per new resourceVersion).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct WriteCounts {
    /// ExposedAPIs created (the harness).
    pub api_created: u64,
    /// ExposedAPI changes that bumped `metadata.generation`: spec changes (the harness).
    pub api_spec: u64,
    /// Other ExposedAPI changes: status, finalizers, metadata (the operator).
    pub api_status: u64,
    /// VirtualService creations and changes (the operator).
    pub virtual_service: u64,
    /// Watch restarts with a relist after the first list: writes in between may be missed.
    pub desyncs: u64,
    pub watch_errors: u64,
}

impl WriteCounts {
    /// The writes the operator made.
    pub fn operator(&self) -> u64 {
        self.api_status + self.virtual_service
    }

    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            api_created: self.api_created - earlier.api_created,
            api_spec: self.api_spec - earlier.api_spec,
            api_status: self.api_status - earlier.api_status,
            virtual_service: self.virtual_service - earlier.virtual_service,
            desyncs: self.desyncs - earlier.desyncs,
            watch_errors: self.watch_errors - earlier.watch_errors,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Api,
    Route,
}

struct Obs {
    resource_version: String,
    generation: i64,
    /// For an API the URL when the implementation is ready; for a route its first prefix.
    value: Option<String>,
    met_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    /// API name → (expected URL, expected path).
    expected: HashMap<String, (String, String)>,
    apis: HashMap<String, Obs>,
    routes: HashMap<String, Obs>,
    apis_met: usize,
    routes_met: usize,
    counts: WriteCounts,
    synced: [bool; 2],
}

impl State {
    fn wanted(&self, kind: Kind, name: &str) -> Option<&str> {
        let (url, path) = self.expected.get(name)?;
        Some(if kind == Kind::Api { url } else { path })
    }

    fn observe(&mut self, kind: Kind, obj: &DynamicObject) {
        let name = obj.name_any();
        let resource_version = obj.resource_version().unwrap_or_default();
        let generation = obj.metadata.generation.unwrap_or(0);
        let value = match kind {
            Kind::Api => {
                let ready = obj.data.pointer("/status/implementation/ready").and_then(|v| v.as_bool()) == Some(true);
                let url = obj.data.pointer("/status/apiStatus/url").and_then(|v| v.as_str());
                url.filter(|_| ready).map(str::to_owned)
            }
            Kind::Route => {
                obj.data.pointer("/spec/http/0/match/0/uri/prefix").and_then(|v| v.as_str()).map(str::to_owned)
            }
        };
        let met = value.is_some() && value.as_deref() == self.wanted(kind, &name);
        let counts = &mut self.counts;
        let (objects, met_count) = match kind {
            Kind::Api => (&mut self.apis, &mut self.apis_met),
            Kind::Route => (&mut self.routes, &mut self.routes_met),
        };
        let previous = objects.get(&name);
        if previous.is_some_and(|p| p.resource_version == resource_version) {
            return;
        }
        match (kind, previous) {
            (Kind::Route, _) => counts.virtual_service += 1,
            (Kind::Api, None) => counts.api_created += 1,
            (Kind::Api, Some(p)) if p.generation != generation => counts.api_spec += 1,
            (Kind::Api, Some(_)) => counts.api_status += 1,
        }
        let was_met = previous.and_then(|p| p.met_at);
        let met_at = match (met, was_met) {
            (true, Some(at)) => Some(at),
            (true, None) => {
                *met_count += 1;
                Some(Instant::now())
            }
            (false, Some(_)) => {
                *met_count -= 1;
                None
            }
            (false, None) => None,
        };
        objects.insert(name, Obs { resource_version, generation, value, met_at });
    }

    fn forget(&mut self, kind: Kind, name: &str) {
        let (objects, met_count) = match kind {
            Kind::Api => (&mut self.apis, &mut self.apis_met),
            Kind::Route => (&mut self.routes, &mut self.routes_met),
        };
        if objects.remove(name).is_some_and(|o| o.met_at.is_some()) {
            *met_count -= 1;
        }
    }

    /// Sets what converged means from now on, and re-evaluates every object.
    fn expect(&mut self, expected: HashMap<String, (String, String)>) {
        self.expected = expected;
        let now = Instant::now();
        for kind in [Kind::Api, Kind::Route] {
            let mut met = 0;
            let names: Vec<String> = if kind == Kind::Api {
                self.apis.keys().cloned().collect()
            } else {
                self.routes.keys().cloned().collect()
            };
            for name in names {
                let want = self.wanted(kind, &name).map(str::to_owned);
                let objects = if kind == Kind::Api { &mut self.apis } else { &mut self.routes };
                let Some(obs) = objects.get_mut(&name) else { continue };
                let is_met = obs.value.is_some() && obs.value == want;
                obs.met_at = is_met.then_some(now);
                met += usize::from(is_met);
            }
            *(if kind == Kind::Api { &mut self.apis_met } else { &mut self.routes_met }) = met;
        }
    }
}

/// The watches of one namespace; stopped when dropped.
pub struct Tracker {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Tracker {
    /// Starts watching `ns` and waits until both watches have listed.
    pub async fn start(client: &Client, ns: &str) -> Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let notify = Arc::new(Notify::new());
        let tasks = [(Kind::Api, exposed_api_resource()), (Kind::Route, virtual_service_resource())]
            .into_iter()
            .map(|(kind, ar)| spawn_watch(client, ns, kind, ar, state.clone(), notify.clone()))
            .collect();
        let tracker = Self { state, notify, tasks };
        tracker
            .wait_until(Duration::from_secs(60), "the benchmark's watches to list", |s| s.synced == [true, true])
            .await?;
        Ok(tracker)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on an API has converged when its URL ends with `path(i)` (and it is ready) and its
    /// VirtualService routes that prefix.
    pub fn expect(&self, n: usize, path: impl Fn(usize) -> String) {
        let expected = (0..n).map(|i| (api_name(i), (expected_url(&path(i)), path(i)))).collect();
        self.lock().expect(expected);
        self.notify.notify_waiters();
    }

    pub fn counts(&self) -> WriteCounts {
        self.lock().counts
    }

    /// Waits until every expected API has converged; prints progress every 10 s.
    pub async fn wait_converged(&self, n: usize, timeout: Duration) -> Result<()> {
        let mut last_note = Instant::now();
        let start = Instant::now();
        self.wait_until(timeout, "convergence", |s| {
            if last_note.elapsed() > Duration::from_secs(10) {
                last_note = Instant::now();
                eprintln!(
                    "bench:   {:>5.0} s: {}/{n} URLs, {}/{n} routes",
                    start.elapsed().as_secs_f64(),
                    s.apis_met,
                    s.routes_met
                );
            }
            s.apis_met >= n && s.routes_met >= n
        })
        .await
    }

    async fn wait_until(&self, timeout: Duration, what: &str, mut done: impl FnMut(&State) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            {
                let state = self.lock();
                if done(&state) {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "timed out after {} s waiting for {what} ({} URLs and {} routes as expected)",
                        timeout.as_secs(),
                        state.apis_met,
                        state.routes_met
                    )
                    .into());
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1).min(deadline - Instant::now()), notified).await;
        }
    }

    /// Convergence figures of the APIs `0..n`: times from `start`, and per API from `sent[i]`.
    pub fn convergence(&self, n: usize, start: Instant, sent: &[Instant]) -> Convergence {
        let state = self.lock();
        let mut done = Vec::with_capacity(n);
        let mut latency = Vec::with_capacity(n);
        let (mut urls, mut routes) = (0.0f64, 0.0f64);
        for i in 0..n {
            let name = api_name(i);
            let api = state.apis.get(&name).and_then(|o| o.met_at);
            let route = state.routes.get(&name).and_then(|o| o.met_at);
            let (Some(api), Some(route)) = (api, route) else { continue };
            let since = |at: Instant| at.saturating_duration_since(start).as_secs_f64();
            urls = urls.max(since(api));
            routes = routes.max(since(route));
            let at = api.max(route);
            done.push(since(at));
            latency.push(at.saturating_duration_since(sent.get(i).copied().unwrap_or(start)).as_secs_f64());
        }
        done.sort_by(f64::total_cmp);
        latency.sort_by(f64::total_cmp);
        Convergence {
            seconds: done.last().copied().unwrap_or(0.0),
            urls_seconds: urls,
            routes_seconds: routes,
            p50_seconds: quantile(&done, 0.5),
            p90_seconds: quantile(&done, 0.9),
            per_api_latency_p50_seconds: quantile(&latency, 0.5),
            per_api_latency_p90_seconds: quantile(&latency, 0.9),
            per_api_latency_max_seconds: latency.last().copied().unwrap_or(0.0),
        }
    }

    /// A probe of (URLs, routes) converged now, for a sampling task.
    pub fn probe(&self) -> impl Fn() -> (usize, usize) + Send + 'static {
        let state = self.state.clone();
        move || {
            let state = state.lock().unwrap_or_else(|e| e.into_inner());
            (state.apis_met, state.routes_met)
        }
    }
}

fn spawn_watch(
    client: &Client,
    ns: &str,
    kind: Kind,
    ar: ApiResource,
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
) -> JoinHandle<()> {
    let api = dynamic_api(client.clone(), ns, &ar);
    tokio::spawn(async move {
        let mut stream = watch(api, watcher::Config::default()).default_backoff().boxed();
        let mut lists = 0u32;
        while let Some(event) = stream.next().await {
            {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Ok(Event::Init) => {
                        lists += 1;
                        if lists > 1 {
                            state.counts.desyncs += 1;
                        }
                    }
                    Ok(Event::InitApply(obj) | Event::Apply(obj)) => state.observe(kind, &obj),
                    Ok(Event::InitDone) => state.synced[usize::from(kind == Kind::Route)] = true,
                    Ok(Event::Delete(obj)) => state.forget(kind, &obj.name_any()),
                    Err(_) => state.counts.watch_errors += 1,
                }
            }
            notify.notify_waiters();
        }
    })
}

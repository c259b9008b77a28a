//! What the operator tells its operators: Prometheus metrics and health.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Instant;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::core::status::ReadyReason;

/// Label of write counters: the kind of object written.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// Label of error counters: why a reconcile failed or was blocked.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// Kinds of writes counted in `oda_api_operator_writes_total`.
pub const WRITE_KINDS: [&str; 10] = [
    "VirtualService",
    "HTTPRoute",
    "ServiceMonitor",
    "EnvoyFilter",
    "AuthorizationPolicy",
    "RequestAuthentication",
    "status",
    "Component",
    "Pod",
    "finalizer",
];
/// Declares [`FailedStep`] with its labels, and `ALL` from the same list: every step is
/// pre-registered, so no label can be missing from the metric.
macro_rules! failed_steps {
    ($($(#[$doc:meta])* $step:ident => $label:literal,)*) => {
        /// The step of a failed reconcile (`ReconcileError::step`): the `reason` label of
        /// `oda_api_operator_reconcile_errors_total`. Failed reconciles are retried with backoff.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum FailedStep { $($(#[$doc])* $step,)* }

        impl FailedStep {
            pub const ALL: &'static [FailedStep] = &[$(FailedStep::$step,)*];

            pub fn label(self) -> &'static str {
                match self { $(FailedStep::$step => $label,)* }
            }
        }
    };
}

failed_steps! {
    /// A desired object could not be encoded.
    Build => "BuildFailed",
    /// Writing a child (route, ServiceMonitor, gateway policy object).
    Apply => "ApplyFailed",
    /// Removing a child the API no longer needs.
    Remove => "RemoveFailed",
    /// Annotating the implementation's pods.
    Annotate => "AnnotateFailed",
    /// Writing the ExposedAPI status.
    Status => "StatusWriteFailed",
    /// Patching the parent Component.
    Propagate => "PropagationFailed",
    /// Cleaning up on deletion.
    Cleanup => "CleanupFailed",
    /// Adding or removing a finalizer.
    Finalizer => "FinalizerFailed",
    /// A call to Azure API Management.
    Azure => "AzureFailed",
}

/// The `Ready` reasons counted in `oda_api_operator_reconcile_errors_total` when an API is blocked:
/// those that need someone to act (`ApplyFailed` is counted by its failed step instead).
pub fn blocked_reasons() -> impl Iterator<Item = ReadyReason> {
    ReadyReason::ALL.into_iter().filter(|r| r.stalls())
}

/// The operator's metrics, all prefixed `oda_api_operator_`.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub errors: Family<ReasonLabel, Counter>,
    pub duration: Histogram,
    pub managed_apis: Gauge,
    pub route_conflicts: Gauge,
    pub queue_depth: Gauge,
    pub writes: Family<KindLabel, Counter>,
    pub events_pending: Gauge,
    pub events_dropped: Counter,
    pending: Mutex<HashSet<(String, String)>>,
    conflicted: Mutex<HashSet<(String, String)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("oda_api_operator");
        let reconciles = Counter::default();
        let errors = Family::<ReasonLabel, Counter>::default();
        let duration = Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]);
        let (managed_apis, route_conflicts, queue_depth) = (Gauge::default(), Gauge::default(), Gauge::default());
        let writes = Family::<KindLabel, Counter>::default();
        registry.register("reconciles", "Reconciles of ExposedAPIs", reconciles.clone());
        registry.register("reconcile_errors", "Reconciles that failed or were blocked, by reason", errors.clone());
        registry.register("reconcile_duration_seconds", "Duration of one reconcile", duration.clone());
        registry.register("managed_apis", "ExposedAPIs in the watched namespaces", managed_apis.clone());
        registry.register("route_conflicts", "ExposedAPIs blocked by a route conflict", route_conflicts.clone());
        registry.register("queue_depth", "ExposedAPIs waiting for a reconcile", queue_depth.clone());
        registry.register("writes", "Writes to the API server, by kind of object", writes.clone());
        let (events_pending, events_dropped) = (Gauge::default(), Counter::default());
        registry.register("events_pending", "Events queued, not yet published", events_pending.clone());
        registry.register("events_dropped", "Events dropped because the queue was full", events_dropped.clone());
        let arm = crate::azure::metrics::ARM_REQUESTS.clone();
        registry.register("arm_requests", "Requests to Azure Resource Manager, by method and resource", arm);
        // Known label values start at zero, so dashboards and alerts see the series before it moves.
        for kind in WRITE_KINDS {
            let _ = writes.get_or_create(&KindLabel { kind: kind.to_owned() });
        }
        let steps = FailedStep::ALL.iter().map(|s| s.label());
        for reason in blocked_reasons().map(ReadyReason::as_str).chain(steps) {
            let _ = errors.get_or_create(&ReasonLabel { reason: reason.to_owned() });
        }
        Self {
            registry,
            reconciles,
            errors,
            duration,
            managed_apis,
            route_conflicts,
            queue_depth,
            writes,
            events_pending,
            events_dropped,
            pending: Mutex::default(),
            conflicted: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Counts one write of `kind`.
    pub fn wrote(&self, kind: &str) {
        self.writes.get_or_create(&KindLabel { kind: kind.to_owned() }).inc();
    }

    /// Total writes so far, all kinds.
    pub fn total_writes(&self) -> u64 {
        WRITE_KINDS.iter().map(|kind| self.writes.get_or_create(&KindLabel { kind: (*kind).to_owned() }).get()).sum()
    }

    /// Total failed and blocked reconciles so far, all reasons.
    pub fn total_errors(&self) -> u64 {
        let steps = FailedStep::ALL.iter().map(|s| s.label());
        let reasons = blocked_reasons().map(ReadyReason::as_str).chain(steps);
        reasons.map(|reason| self.errors.get_or_create(&ReasonLabel { reason: reason.to_owned() }).get()).sum()
    }

    /// Counts a failed or blocked reconcile.
    pub fn error(&self, reason: &str) {
        self.errors.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// An ExposedAPI is waiting for a reconcile.
    pub fn queued(&self, key: (String, String)) {
        let mut pending = self.pending.lock();
        pending.insert(key);
        self.queue_depth.set(pending.len() as i64);
    }

    /// An ExposedAPI is no longer waiting: its reconcile began (or it is being deleted).
    pub fn dequeued(&self, key: &(String, String)) {
        let mut pending = self.pending.lock();
        pending.remove(key);
        self.queue_depth.set(pending.len() as i64);
    }

    /// An ExposedAPI is gone: it waits for nothing and conflicts with nothing.
    pub fn forget(&self, key: &(String, String)) {
        self.dequeued(key);
        self.conflicted(key.clone(), false);
    }

    /// A reconcile of an ExposedAPI starts; returns a guard that records its duration.
    pub fn reconcile_started(&self, key: &(String, String)) -> ReconcileTimer<'_> {
        self.dequeued(key);
        self.reconciles.inc();
        ReconcileTimer { metrics: self, start: Instant::now() }
    }

    /// Records whether an ExposedAPI is currently blocked by a route conflict.
    pub fn conflicted(&self, key: (String, String), blocked: bool) {
        let mut set = self.conflicted.lock();
        if blocked {
            set.insert(key);
        } else {
            set.remove(&key);
        }
        self.route_conflicts.set(set.len() as i64);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Observes a reconcile's duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.duration.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Liveness and readiness, with the problems that make the operator unready.
#[derive(Default)]
pub struct Health {
    caches_synced: AtomicBool,
    /// `None` without leader election; otherwise whether this replica leads.
    leading: Mutex<Option<bool>>,
    /// Standing problems, by source (e.g. a Forbidden watch or write), cleared when it recovers.
    problems: Mutex<BTreeMap<String, String>>,
}

impl Health {
    pub fn set_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::SeqCst);
    }

    pub fn set_leading(&self, leading: Option<bool>) {
        *self.leading.lock() = leading;
    }

    pub fn leading(&self) -> Option<bool> {
        *self.leading.lock()
    }

    /// Records the outcome of a call to `source`: a Forbidden answer becomes a standing problem.
    pub fn record<T>(&self, source: &str, result: &Result<T, kube::Error>) {
        let mut problems = self.problems.lock();
        match result {
            Err(kube::Error::Api(e)) if e.code == 403 => {
                problems.insert(source.to_owned(), format!("forbidden: {}", e.message));
            }
            Ok(_) => {
                problems.remove(source);
            }
            Err(_) => {}
        }
    }

    pub fn problem(&self, source: &str, message: Option<String>) {
        let mut problems = self.problems.lock();
        match message {
            Some(m) => problems.insert(source.to_owned(), m),
            None => problems.remove(source),
        };
    }

    /// Ready: caches synced (or standing by for the lease) and no standing problem.
    pub fn readiness(&self) -> Result<String, String> {
        let problems: Vec<String> = self.problems.lock().iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        match self.leading() {
            Some(false) => Ok("standby: waiting for the leader lease".into()),
            _ if self.caches_synced.load(Ordering::SeqCst) => Ok("ok".into()),
            _ => Err("caches not synced yet".into()),
        }
    }
}

/// Metrics and health of one operator instance.
#[derive(Clone, Default)]
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_exposed_with_the_prefix() {
        let metrics = Metrics::default();
        metrics.queued(("ns".into(), "a".into()));
        drop(metrics.reconcile_started(&("ns".into(), "a".into())));
        metrics.wrote("VirtualService");
        metrics.error("RouteConflict");
        let text = metrics.encode();
        for series in [
            "oda_api_operator_reconciles_total 1",
            "oda_api_operator_writes_total{kind=\"VirtualService\"} 1",
            "oda_api_operator_reconcile_errors_total{reason=\"RouteConflict\"} 1",
            "oda_api_operator_reconcile_duration_seconds_count 1",
            "oda_api_operator_queue_depth 0",
            "oda_api_operator_managed_apis 0",
            "oda_api_operator_route_conflicts 0",
        ] {
            assert!(text.contains(series), "{series} missing in\n{text}");
        }
        assert_eq!(metrics.total_writes(), 1);
    }

    #[test]
    fn readiness_needs_sync_and_no_forbidden_problem() {
        let health = Health::default();
        assert!(health.readiness().is_err());
        health.set_synced(true);
        assert!(health.readiness().is_ok());
        let forbidden: Result<(), kube::Error> = Err(kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            message: "cannot patch virtualservices".into(),
            ..Default::default()
        })));
        health.record("write virtualservices", &forbidden);
        assert!(health.readiness().unwrap_err().contains("cannot patch virtualservices"));
        health.record("write virtualservices", &Ok::<(), kube::Error>(()));
        assert!(health.readiness().is_ok());
        health.set_leading(Some(false));
        assert!(health.readiness().unwrap().starts_with("standby"));
    }
}

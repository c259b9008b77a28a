//! One size N: the write floor, then convergence from scratch, a restart over the converged set,
//! and one change per API, each in fresh namespaces that are deleted afterwards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::apiserver;
use oda_test_support::resources::{exposed_api_resource, virtual_service_resource};

use crate::cluster::{self, Clients, Result};
use crate::fixtures::{self, api_path};
use crate::floor;
use crate::process::{OperatorProcess, OperatorSpec, cpu_snapshot, proc_stats};
use crate::prom::OperatorMetrics;
use crate::report::{Convergence, PhaseReport, ProcessReport, RestartReport, RunReport, Sample};
use crate::tracker::{Tracker, WriteCounts};

/// What every size shares.
pub struct Ctx {
    pub clients: Clients,
    pub binary: PathBuf,
    pub concurrency: u16,
    pub client_concurrency: usize,
    /// Wait after a restart when the operator serves no metrics.
    pub fixed_settle: Duration,
    /// No new write for this long: the operator has settled.
    pub quiet: Duration,
    pub timeout: Option<Duration>,
    pub keep_namespaces: bool,
    pub log_dir: PathBuf,
    pub control_plane: Vec<(String, u32)>,
}

pub async fn run(ctx: &Ctx, n: usize) -> Result<RunReport> {
    let admin = &ctx.clients.admin;
    let load_average = crate::process::load_average();
    let suffix = cluster::run_suffix();
    let ns_timeout = Duration::from_secs(300 + n as u64 / 10);

    let floor_ns = format!("bench-floor-{n}-{suffix}");
    eprintln!("bench: N={n}: write floor in namespace {floor_ns} (no operator)");
    cluster::create_namespace(admin, &floor_ns).await?;
    let floors = floor::run(ctx, &floor_ns, n).await;
    let deleted = delete_unless_kept(ctx, &floor_ns, ns_timeout).await;
    let (floor, change_floor) = floors?;
    deleted?;
    eprintln!(
        "bench: N={n}: floor {:.2} s for the creates, {:.2} s for the changes ({:.0} requests/s)",
        floor.seconds, change_floor.seconds, floor.writes_per_second
    );

    let ns = format!("bench-op-{n}-{suffix}");
    cluster::create_namespace(admin, &ns).await?;
    let result = with_operator(ctx, n, &ns).await;
    let cleanup = Instant::now();
    let deleted = delete_unless_kept(ctx, &ns, ns_timeout).await;
    let mut report = result?;
    deleted?;
    report.ratio_to_floor = report.converge.convergence.seconds / floor.seconds;
    report.change_ratio_to_floor = report.change.convergence.seconds / change_floor.seconds;
    report.floor = floor;
    report.change_floor = change_floor;
    report.cleanup_seconds = cleanup.elapsed().as_secs_f64();
    report.load_average_at_start = load_average;
    Ok(report)
}

/// Deletes a namespace of the run and waits until it is gone (unless `--keep-namespaces`).
async fn delete_unless_kept(ctx: &Ctx, ns: &str, timeout: Duration) -> Result<()> {
    if ctx.keep_namespaces {
        return Ok(());
    }
    eprintln!("bench: deleting namespace {ns}");
    cluster::delete_namespace(&ctx.clients.admin, ns, timeout).await.map(|_| ())
}

/// What is compared before and after a phase.
struct Snapshot {
    metrics: Option<OperatorMetrics>,
    apiserver: Option<apiserver::Snapshot>,
    counts: WriteCounts,
    events: u64,
    cpu: f64,
    other: Vec<(String, f64)>,
}

async fn snapshot(ctx: &Ctx, op: &OperatorProcess, tracker: &Tracker, ns: &str) -> Result<Snapshot> {
    Ok(Snapshot {
        metrics: op.metrics().await,
        apiserver: apiserver::snapshot(&ctx.clients.admin).await,
        counts: tracker.counts(),
        events: cluster::operator_events(&ctx.clients.admin, ns).await?,
        cpu: op.stats().map_or(0.0, |s| s.cpu_seconds),
        other: cpu_snapshot(&ctx.control_plane),
    })
}

fn phase_report(
    n: usize,
    before: &Snapshot,
    after: &Snapshot,
    convergence: Convergence,
    burst: f64,
    settle: f64,
) -> PhaseReport {
    let metrics = match (&after.metrics, &before.metrics) {
        (Some(a), Some(b)) => Some(a.since(b)),
        _ => None,
    };
    let watched = after.counts.since(&before.counts);
    let other = cpu_delta(&before.other, &after.other);
    PhaseReport {
        convergence,
        burst_seconds: burst,
        settle_seconds: settle,
        writes_per_api_metrics: metrics.as_ref().map(|m| m.writes / n as f64),
        metrics,
        writes_per_api_watched: watched.operator() as f64 / n as f64,
        watched,
        events: after.events - before.events,
        operator_cpu_seconds: after.cpu - before.cpu,
        other_cpu_seconds: other,
        apiserver: apiserver::delta(&before.apiserver, &after.apiserver),
    }
}

/// CPU seconds spent between two [`cpu_snapshot`]s.
pub fn cpu_delta(before: &[(String, f64)], after: &[(String, f64)]) -> BTreeMap<String, f64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.iter().find(|(b, _)| b == k).map_or(0.0, |(_, b)| *b))).collect()
}

/// Waits until neither the operator's write counter nor the watched writes have moved for
/// `ctx.quiet` (and neither its queue nor its Event queue holds anything); returns the time until
/// the last movement.
async fn settle(ctx: &Ctx, op: &OperatorProcess, tracker: &Tracker) -> f64 {
    let start = Instant::now();
    let mut last_change = start;
    let mut last = None;
    while start.elapsed() < Duration::from_secs(120) {
        let metrics = op.metrics().await;
        let pending = |m: &OperatorMetrics| m.queue_depth.unwrap_or(0.0) + m.events_pending.unwrap_or(0.0);
        let busy = metrics.as_ref().is_some_and(|m| pending(m) > 0.0);
        let now = (metrics.map(|m| (m.writes as u64, m.reconciles as u64)), tracker.counts().operator());
        if last.as_ref() != Some(&now) || busy {
            last = Some(now);
            last_change = Instant::now();
        } else if last_change.elapsed() >= ctx.quiet {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    last_change.duration_since(start).as_secs_f64()
}

/// One sample a second of an operator process.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: JoinHandle<()>,
}

impl Sampler {
    fn start(op: &OperatorProcess, tracker: &Tracker) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (pid, started, progress, out) = (op.pid, op.started, tracker.probe(), samples.clone());
        let task = tokio::spawn(async move {
            while let Some(stats) = proc_stats(pid) {
                let (urls, routes) = progress();
                let sample = Sample {
                    t: started.elapsed().as_secs_f64(),
                    urls,
                    routes,
                    rss_mib: stats.rss_mib,
                    cpu_seconds: stats.cpu_seconds,
                };
                out.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { samples, task }
    }

    fn finish(self) -> Vec<Sample> {
        self.task.abort();
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start_operator(ctx: &Ctx, ns: &str, nth: u32) -> Result<OperatorProcess> {
    std::fs::create_dir_all(&ctx.log_dir)?;
    OperatorProcess::spawn(&OperatorSpec {
        binary: &ctx.binary,
        kubeconfig: &ctx.clients.operator_kubeconfig,
        namespace: ns,
        concurrency: ctx.concurrency,
        log: ctx.log_dir.join(format!("{ns}-operator-{nth}.log")),
    })
}

async fn stop_operator(op: OperatorProcess, sampler: Sampler, role: &str, ready: Duration) -> Result<ProcessReport> {
    let warnings = op.warnings();
    let log = op.log.display().to_string();
    let (last, shutdown) = op.stop(Duration::from_secs(30)).await?;
    Ok(ProcessReport {
        role: role.to_owned(),
        ready_seconds: ready.as_secs_f64(),
        shutdown_seconds: shutdown.as_secs_f64(),
        last,
        warnings: warnings.len(),
        first_warnings: warnings.into_iter().take(5).collect(),
        log,
        timeline: sampler.finish(),
    })
}

async fn with_operator(ctx: &Ctx, n: usize, ns: &str) -> Result<RunReport> {
    let admin = &ctx.clients.admin;
    let timeout = ctx.timeout.unwrap_or(Duration::from_secs(120 + n as u64 / 10));
    let cc = ctx.client_concurrency;
    fixtures::ingress_gateway(admin, ns).await?;
    eprintln!("bench: N={n}: creating {n} implementation Services and EndpointSlices in {ns}");
    let fixtures_seconds = fixtures::implementations(admin, ns, n, cc).await?.as_secs_f64();
    let tracker = Tracker::start(admin, ns).await?;
    tracker.expect(n, |i| api_path(i, 4));

    // 1. Convergence from scratch.
    let mut op = start_operator(ctx, ns, 1)?;
    let sampler = Sampler::start(&op, &tracker);
    let ready = op.wait_ready(Duration::from_secs(120)).await?;
    let before = snapshot(ctx, &op, &tracker, ns).await?;
    eprintln!("bench: N={n}: operator ready after {:.2} s; creating {n} ExposedAPIs", ready.as_secs_f64());
    let (burst, _) = fixtures::create_apis(admin, ns, n, cc).await?;
    tracker.wait_converged(n, timeout).await?;
    let convergence = tracker.convergence(n, burst.start, &burst.sent);
    eprintln!("bench: N={n}: converged in {:.2} s; waiting for writes to stop", convergence.seconds);
    let settled = settle(ctx, &op, &tracker).await;
    let after = snapshot(ctx, &op, &tracker, ns).await?;
    let converge = phase_report(n, &before, &after, convergence, burst.duration.as_secs_f64(), settled);
    let first = stop_operator(op, sampler, "convergence", ready).await?;

    // 2. Restart over the converged set.
    let apis_before = cluster::resource_versions(admin, ns, &exposed_api_resource()).await?;
    let routes_before = cluster::resource_versions(admin, ns, &virtual_service_resource()).await?;
    let (counts, events) = (tracker.counts(), cluster::operator_events(admin, ns).await?);
    let apiserver_before = apiserver::snapshot(admin).await;
    eprintln!("bench: N={n}: restarting the operator over the converged set");
    let mut op = start_operator(ctx, ns, 2)?;
    let sampler = Sampler::start(&op, &tracker);
    let ready2 = op.wait_ready(Duration::from_secs(120)).await?;
    let (recheck, method) = recheck(ctx, &op, n, timeout).await?;
    settle(ctx, &op, &tracker).await;
    let apis_after = cluster::resource_versions(admin, ns, &exposed_api_resource()).await?;
    let routes_after = cluster::resource_versions(admin, ns, &virtual_service_resource()).await?;
    let changed = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
        a.iter().filter(|(k, v)| b.get(*k) != Some(v)).count() + b.keys().filter(|k| !a.contains_key(*k)).count()
    };
    let restart = RestartReport {
        ready_seconds: ready2.as_secs_f64(),
        recheck_seconds: recheck,
        recheck_method: method.to_owned(),
        metrics: op.metrics().await.map(|m| m.since(&OperatorMetrics::default())),
        changed_exposed_apis: changed(&apis_before, &apis_after),
        changed_virtual_services: changed(&routes_before, &routes_after),
        watched: tracker.counts().since(&counts),
        events: cluster::operator_events(admin, ns).await? - events,
        operator_cpu_seconds: op.stats().map_or(0.0, |s| s.cpu_seconds),
        apiserver: apiserver::delta(&apiserver_before, &apiserver::snapshot(admin).await),
    };
    eprintln!(
        "bench: N={n}: re-checked in {recheck:.2} s ({method}); {} ExposedAPIs and {} VirtualServices changed",
        restart.changed_exposed_apis, restart.changed_virtual_services
    );

    // 3. One change per API.
    tracker.expect(n, |i| api_path(i, 5));
    let before = snapshot(ctx, &op, &tracker, ns).await?;
    eprintln!("bench: N={n}: changing spec.path of every ExposedAPI");
    let burst = fixtures::patch_paths(admin, ns, n, cc, 5).await?;
    tracker.wait_converged(n, timeout).await?;
    let convergence = tracker.convergence(n, burst.start, &burst.sent);
    eprintln!("bench: N={n}: converged again in {:.2} s", convergence.seconds);
    let settled = settle(ctx, &op, &tracker).await;
    let after = snapshot(ctx, &op, &tracker, ns).await?;
    let change = phase_report(n, &before, &after, convergence, burst.duration.as_secs_f64(), settled);
    let second = stop_operator(op, sampler, "restart and change", ready2).await?;

    Ok(RunReport {
        n,
        fixtures_seconds,
        floor: Default::default(),
        change_floor: Default::default(),
        converge,
        ratio_to_floor: 0.0,
        restart,
        change,
        change_ratio_to_floor: 0.0,
        processes: vec![first, second],
        cleanup_seconds: 0.0,
        load_average_at_start: None,
    })
}

/// Until the restarted operator has reconciled every API (`reconciles_total` ≥ N), or, without
/// metrics, a fixed settle time. Seconds since the process started.
async fn recheck(ctx: &Ctx, op: &OperatorProcess, n: usize, timeout: Duration) -> Result<(f64, &'static str)> {
    if op.metrics().await.is_none() {
        tokio::time::sleep(ctx.fixed_settle).await;
        return Ok((op.started.elapsed().as_secs_f64(), "fixed settle"));
    }
    let start = Instant::now();
    loop {
        if op.metrics().await.is_some_and(|m| m.reconciles >= n as f64) {
            return Ok((op.started.elapsed().as_secs_f64(), "metrics"));
        }
        if start.elapsed() > timeout {
            return Err(
                format!("the restarted operator did not reconcile {n} APIs within {} s", timeout.as_secs()).into()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

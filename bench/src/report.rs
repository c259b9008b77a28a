//! The results: a JSON document, and a markdown section for docs/benchmarks.md.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::apiserver::Delta;
use crate::cluster::Result;
use crate::process::ProcStats;
use crate::prom::OperatorMetrics;
use crate::tracker::WriteCounts;

/// Markers around the generated part of docs/benchmarks.md.
pub const BEGIN: &str = "<!-- bench:results:begin -->";
pub const END: &str = "<!-- bench:results:end -->";

#[derive(Serialize)]
pub struct Report {
    pub date: String,
    pub commit: Option<String>,
    pub machine: Machine,
    pub settings: Settings,
    pub runs: Vec<RunReport>,
    /// Sizes that failed, with the error.
    pub failures: Vec<String>,
}

#[derive(Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub memory_mib: u64,
    pub cpu_model: String,
    pub kernel: String,
}

#[derive(Serialize)]
pub struct Settings {
    pub reconcile_concurrency: u16,
    pub client_concurrency: usize,
    pub operator_binary: String,
}

#[derive(Serialize)]
pub struct RunReport {
    pub n: usize,
    /// Creating the implementation Services and EndpointSlices (before the operator starts).
    pub fixtures_seconds: f64,
    /// The same request stream as the create burst, without an operator.
    pub floor: FloorReport,
    /// The same request stream as the change burst, without an operator.
    pub change_floor: FloorReport,
    pub converge: PhaseReport,
    /// Headline: convergence time ÷ floor.
    pub ratio_to_floor: f64,
    pub restart: RestartReport,
    pub change: PhaseReport,
    pub change_ratio_to_floor: f64,
    /// The first operator process (convergence) and the second (restart and change).
    pub processes: Vec<ProcessReport>,
    pub cleanup_seconds: f64,
    /// 1-minute load average when the run started (other work on the machine skews the figures).
    pub load_average_at_start: Option<f64>,
}

#[derive(Default, Serialize)]
pub struct FloorReport {
    pub seconds: f64,
    /// Every request of the stream: the N creates or changes and the writes.
    pub requests: u64,
    /// The writes the operator cannot avoid (a route and a status per API).
    pub writes: u64,
    /// Requests per second.
    pub writes_per_second: f64,
    pub concurrency: usize,
    pub virtual_service_apply_ms_p50: f64,
    pub virtual_service_apply_ms_p90: f64,
    pub status_apply_ms_p50: f64,
    pub status_apply_ms_p90: f64,
    /// CPU seconds of the control plane, the harness and the machine during the timed writes.
    pub cpu_seconds: BTreeMap<String, f64>,
    pub apiserver: Option<Delta>,
}

/// Times from the first write of the burst (t0), in seconds.
#[derive(Clone, Copy, Default, Serialize)]
pub struct Convergence {
    /// Every API has its URL, readiness and route.
    pub seconds: f64,
    pub urls_seconds: f64,
    pub routes_seconds: f64,
    pub p50_seconds: f64,
    pub p90_seconds: f64,
    /// From the API's own write to its convergence.
    pub per_api_latency_p50_seconds: f64,
    pub per_api_latency_p90_seconds: f64,
    pub per_api_latency_max_seconds: f64,
}

#[derive(Serialize)]
pub struct PhaseReport {
    pub convergence: Convergence,
    /// How long the harness took to send the burst.
    pub burst_seconds: f64,
    /// After convergence, until writes stopped.
    pub settle_seconds: f64,
    /// From the operator's /metrics (absent when it serves none).
    pub metrics: Option<OperatorMetrics>,
    pub writes_per_api_metrics: Option<f64>,
    /// From resourceVersion changes on the watches.
    pub watched: WriteCounts,
    pub writes_per_api_watched: f64,
    /// Events the operator published (writes too, not counted above).
    pub events: u64,
    pub operator_cpu_seconds: f64,
    /// CPU seconds of the control plane and of the harness during the phase.
    pub other_cpu_seconds: BTreeMap<String, f64>,
    pub apiserver: Option<Delta>,
}

#[derive(Serialize)]
pub struct RestartReport {
    pub ready_seconds: f64,
    /// From the start of the new process until it had reconciled every API (or the fixed settle).
    pub recheck_seconds: f64,
    /// `metrics` (reconciles_total ≥ N) or `fixed settle`.
    pub recheck_method: String,
    pub metrics: Option<OperatorMetrics>,
    pub changed_exposed_apis: usize,
    pub changed_virtual_services: usize,
    pub watched: WriteCounts,
    pub events: u64,
    pub operator_cpu_seconds: f64,
    pub apiserver: Option<Delta>,
}

#[derive(Serialize)]
pub struct ProcessReport {
    pub role: String,
    pub ready_seconds: f64,
    /// From SIGTERM to exit.
    pub shutdown_seconds: f64,
    /// Read just before SIGTERM.
    pub last: Option<ProcStats>,
    pub warnings: usize,
    pub first_warnings: Vec<String>,
    pub log: String,
    /// One sample a second.
    pub timeline: Vec<Sample>,
}

/// The operator process at one moment.
#[derive(Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the process started.
    pub t: f64,
    /// APIs whose URL / route had converged.
    pub urls: usize,
    pub routes: usize,
    pub rss_mib: f64,
    pub cpu_seconds: f64,
}

/// `q`-quantile of sorted values (nearest rank), 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Replaces the generated section of `path` (between [`BEGIN`] and [`END`]), or writes a new file.
pub fn update_document(path: &Path, section: &str) -> Result<()> {
    let block = format!("{BEGIN}\n{section}{END}");
    let text = match std::fs::read_to_string(path) {
        Ok(text) => match (text.find(BEGIN), text.find(END)) {
            (Some(begin), Some(end)) if begin < end => format!("{}{block}{}", &text[..begin], &text[end + END.len()..]),
            _ => format!("{}\n\n{block}\n", text.trim_end()),
        },
        Err(_) => format!("# Benchmarks\n\n{block}\n"),
    };
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// The machine, from /proc.
pub fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Machine {
        nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        memory_mib: memory_kib / 1024,
        cpu_model,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.9), 4.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_generated_section_is_replaced_in_place() {
        let dir = std::env::temp_dir().join(format!("oda-bench-doc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.md");
        std::fs::write(&path, format!("# T\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n")).unwrap();
        update_document(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("# T\n\nbefore\n\n{BEGIN}\nnew\n{END}\n\nafter\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

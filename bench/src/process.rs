//! The operator as a child process: start, readiness, `/proc` figures, `/metrics`, stop. A
//! process that is still running when its handle is dropped (error, interruption) is killed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cluster::Result;
use crate::prom::{HttpClient, OperatorMetrics, Scrape};

/// CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ProcStats {
    /// utime + stime, seconds.
    pub cpu_seconds: f64,
    /// VmRSS, MiB.
    pub rss_mib: f64,
    /// VmHWM (peak RSS), MiB.
    pub peak_rss_mib: f64,
}

/// Clock ticks per second (`getconf CLK_TCK`, else 100).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Reads the figures of process `pid` (`None` once it is gone).
pub fn proc_stats(pid: u32) -> Option<ProcStats> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some(ProcStats {
        cpu_seconds: ticks / clock_ticks(),
        rss_mib: kib("VmRSS:") / 1024.0,
        peak_rss_mib: kib("VmHWM:") / 1024.0,
    })
}

/// Settings of one operator process.
pub struct OperatorSpec<'a> {
    pub binary: &'a Path,
    pub kubeconfig: &'a str,
    pub namespace: &'a str,
    pub concurrency: u16,
    pub log: PathBuf,
}

/// A running operator.
pub struct OperatorProcess {
    child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    pub log: PathBuf,
    pub started: Instant,
    http: HttpClient,
}

/// Configuration variables of the operator that must not leak from the caller's environment.
const SCRUBBED: &[&str] = &[
    "COMPONENT_NAMESPACES_CLI",
    "APIOPERATORISTIO_PUBLICHOSTNAME",
    "APIOPERATORISTIO_COMPONENTGATEWAY",
    "APIOPERATORISTIO_VIRTUALSERVICE_VERSION",
    "APIOPERATORISTIO_INGRESS_SELECTOR",
    "LOG_FORMAT",
    "LEADER_ELECTION",
    "LEADER_ELECTION_NAMESPACE",
    "LEADER_ELECTION_LEASE_NAME",
    "RUST_LOG",
];

impl OperatorProcess {
    pub fn spawn(spec: &OperatorSpec<'_>) -> Result<Self> {
        let port = free_port()?;
        let log = File::create(&spec.log).map_err(|e| format!("creating {}: {e}", spec.log.display()))?;
        let mut command = Command::new(spec.binary);
        command
            .arg("run")
            .env("KUBECONFIG", spec.kubeconfig)
            .env("COMPONENT_NAMESPACE", spec.namespace)
            .env("APIOPERATORISTIO_INGRESS_NAMESPACE", spec.namespace)
            .env("OPENMETRICS_IMPLEMENTATION", "ServiceMonitor")
            .env("RECONCILE_CONCURRENCY", spec.concurrency.to_string())
            .env("HTTP_PORT", port.to_string())
            .env("LOGGING", "20")
            .env("NO_COLOR", "1")
            // As the image runs it (Dockerfile, scripts/image).
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for var in SCRUBBED {
            command.env_remove(var);
        }
        let child = command.spawn().map_err(|e| format!("starting {}: {e}", spec.binary.display()))?;
        let pid = child.id();
        Ok(Self {
            child: Some(child),
            pid,
            port,
            log: spec.log.clone(),
            started: Instant::now(),
            http: HttpClient::new(),
        })
    }

    pub fn stats(&self) -> Option<ProcStats> {
        proc_stats(self.pid)
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits until `/readyz` answers 200, or (without the HTTP server) the log says the caches
    /// synced. Returns the time since start.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        loop {
            if let Some(status) = self.exited() {
                return Err(
                    format!("the operator exited ({status}) while starting; log: {}", self.log.display()).into()
                );
            }
            let ready =
                self.http.get(self.port, "/readyz", Duration::from_secs(2)).await.is_ok_and(|(code, _)| code == 200);
            let logged = std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("caches synced"));
            if ready || logged {
                return Ok(self.started.elapsed());
            }
            if self.started.elapsed() > timeout {
                return Err(format!(
                    "the operator was not ready after {} s; log: {}",
                    timeout.as_secs(),
                    self.log.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The operator's metrics, or `None` when `/metrics` is not served (yet).
    pub async fn metrics(&self) -> Option<OperatorMetrics> {
        let (code, body) = self.http.get(self.port, "/metrics", Duration::from_secs(5)).await.ok()?;
        let scrape = Scrape::parse(&body);
        let served = code == 200 && scrape.samples.iter().any(|s| s.name.starts_with("oda_api_operator_"));
        served.then(|| OperatorMetrics::from_scrape(&scrape))
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `timeout`). Returns the figures read just
    /// before the signal and how long the shutdown took.
    pub async fn stop(mut self, timeout: Duration) -> Result<(Option<ProcStats>, Duration)> {
        let last = self.stats();
        let start = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        while self.exited().is_none() {
            if start.elapsed() > timeout {
                eprintln!("bench: the operator did not stop within {} s of SIGTERM; killing it", timeout.as_secs());
                self.kill();
                return Err(format!("the operator ignored SIGTERM for {} s", timeout.as_secs()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = None;
        Ok((last, start.elapsed()))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Lines of the log at WARN or ERROR level.
    pub fn warnings(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .map(|l| l.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The control-plane processes of `scripts/testenv` (pid files in `<run dir>/run/`), when local.
pub fn control_plane_pids(run_dir: &Path) -> Vec<(String, u32)> {
    ["kube-apiserver", "etcd", "kube-controller-manager"]
        .iter()
        .filter_map(|name| {
            let pid: u32 =
                std::fs::read_to_string(run_dir.join("run").join(format!("{name}.pid"))).ok()?.trim().parse().ok()?;
            proc_stats(pid).map(|_| ((*name).to_owned(), pid))
        })
        .collect()
}

/// Name of the whole machine's busy CPU time in [`cpu_snapshot`].
pub const MACHINE: &str = "machine (all processes)";

/// CPU seconds of each control-plane process, of this harness, and of the whole machine (busy
/// time from /proc/stat: what else runs on the machine shows as the difference).
pub fn cpu_snapshot(control_plane: &[(String, u32)]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = control_plane
        .iter()
        .filter_map(|(name, pid)| proc_stats(*pid).map(|s| (name.clone(), s.cpu_seconds)))
        .collect();
    if let Some(me) = proc_stats(std::process::id()) {
        out.push(("bench harness".to_owned(), me.cpu_seconds));
    }
    if let Some(busy) = machine_busy_seconds() {
        out.push((MACHINE.to_owned(), busy));
    }
    out
}

/// user + nice + system + irq + softirq + steal of all CPUs, in seconds.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> =
        stat.lines().next()?.strip_prefix("cpu ")?.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    Some(busy / clock_ticks())
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

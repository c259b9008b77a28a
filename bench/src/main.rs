//! `oda-api-operator-bench`: convergence time, writes, CPU and memory of the operator at N
//! ExposedAPIs, on a real control plane (`scripts/testenv`), against a write floor. See
//! docs/benchmarks.md; `scripts/bench` builds, brings the control plane up, runs this and updates
//! that document. Not part of the test command: nothing here asserts a time.
#![forbid(unsafe_code)]

mod apiserver;
mod cluster;
mod expected;
mod fixtures;
mod floor;
mod markdown;
mod plot;
mod process;
mod prom;
mod report;
mod scenario;
mod tracker;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;

use crate::cluster::{Clients, Result};
use crate::report::{Report, Settings};
use crate::scenario::Ctx;

#[derive(Parser)]
#[command(about = "Benchmark of oda-api-operator on a real control plane (see docs/benchmarks.md)")]
struct Cli {
    /// Numbers of ExposedAPIs, comma-separated (e.g. `100,1000`); each runs in fresh namespaces.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    n: Vec<usize>,
    /// Also write the JSON document to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the markdown results into this file, between the `bench:results` markers.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// The operator binary (run as `<binary> run`).
    #[arg(long, default_value = "target/release/oda-api-operator")]
    operator: PathBuf,
    /// RECONCILE_CONCURRENCY of the operator, and the floor's concurrency.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Requests in flight when the harness creates or changes objects.
    #[arg(long, default_value_t = 32)]
    client_concurrency: usize,
    /// Give up on a convergence after this many seconds (default 120 + N/10).
    #[arg(long)]
    timeout_secs: Option<u64>,
    /// After a restart, wait this long when the operator serves no /metrics.
    #[arg(long, default_value_t = 15)]
    settle_secs: u64,
    /// The operator has settled when no write happened for this many seconds.
    #[arg(long, default_value_t = 3)]
    quiet_secs: u64,
    /// Keep the benchmark's namespaces (for inspection; the next run deletes them).
    #[arg(long)]
    keep_namespaces: bool,
    /// Run dir of scripts/testenv, for the control plane's CPU figures (pid files).
    #[arg(long, env = "ODA_TESTENV_DIR", default_value = "/tmp/oda-testenv")]
    testenv_dir: PathBuf,
    /// Where the operator logs go.
    #[arg(long, default_value = "/tmp/oda-bench")]
    log_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<bool> {
    if !cli.operator.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release --workspace --bins`",
            cli.operator.display()
        )
        .into());
    }
    if cli.n.is_empty() || cli.n.contains(&0) {
        return Err("--n takes positive numbers".into());
    }
    let clients = Clients::from_env().await?;
    cluster::delete_leftovers(&clients.admin, Duration::from_secs(1800)).await?;
    let control_plane = process::control_plane_pids(&cli.testenv_dir);
    let ctx = Ctx {
        clients,
        binary: cli.operator.clone(),
        concurrency: cli.concurrency,
        client_concurrency: cli.client_concurrency,
        fixed_settle: Duration::from_secs(cli.settle_secs),
        quiet: Duration::from_secs(cli.quiet_secs),
        timeout: cli.timeout_secs.map(Duration::from_secs),
        keep_namespaces: cli.keep_namespaces,
        log_dir: cli.log_dir.clone(),
        control_plane,
    };
    let mut report = Report {
        date: jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default(),
        commit: commit(),
        machine: report::machine(),
        settings: Settings {
            reconcile_concurrency: cli.concurrency,
            client_concurrency: cli.client_concurrency,
            operator_binary: cli.operator.display().to_string(),
        },
        runs: Vec::new(),
        failures: Vec::new(),
    };
    for &n in &cli.n {
        eprintln!("bench: ===== N={n} =====");
        // On SIGINT/SIGTERM the scenario is dropped: its operator process is killed on the spot.
        let outcome = tokio::select! {
            outcome = scenario::run(&ctx, n) => outcome,
            () = shutdown_signal() => {
                eprintln!("bench: interrupted; deleting the benchmark's namespaces");
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    cluster::delete_leftovers(&ctx.clients.admin, Duration::from_secs(10)),
                )
                .await;
                return Err("interrupted".into());
            }
        };
        match outcome {
            Ok(run) => report.runs.push(run),
            Err(e) => {
                eprintln!("bench: N={n} failed: {e}");
                report.failures.push(format!("N={n}: {e}"));
            }
        }
    }

    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &cli.json {
        std::fs::write(path, format!("{json}\n")).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let markdown = report.markdown();
    eprintln!("\n{markdown}");
    if let Some(path) = &cli.markdown {
        report::update_document(path, &markdown)?;
        eprintln!("bench: results written to {}", path.display());
        if let Some(svg) = plot::cost_curve(&report.runs) {
            let plot = path.with_file_name("benchmarks-cost.svg");
            std::fs::write(&plot, svg).map_err(|e| format!("writing {}: {e}", plot.display()))?;
        }
    }
    Ok(report.failures.is_empty())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

/// `git describe`-like commit of the working tree, `+dirty` when it has changes.
fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

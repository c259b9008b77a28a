//! `oda-apim-bench`: what the APIM backend costs in ARM requests at N ExposedAPIs, on a real control
//! plane (`scripts/testenv`) against the Azure stand-in (docs/benchmarks.md, "APIM at 1 000 APIs"):
//! the create burst (requests per API, operation polls apart), a converged restart (all requests
//! until its first drift sweep is done), and the steady state over a window, as requests per API
//! per hour. The counts are the operator's own `oda_api_operator_arm_requests_total{kind}`, checked
//! against what the stand-in received. `scripts/bench-apim` builds, brings up a plane and runs this.
//! It prints figures and asserts nothing.
#![forbid(unsafe_code)]

mod apim_support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};

use apim_support::{Counts, Operator, Result, StandIn};
use oda_test_support::resources::{dynamic_api, exposed_api_resource};

#[derive(Parser)]
#[command(about = "ARM requests of oda-api-operator's APIM backend at N ExposedAPIs (docs/benchmarks.md)")]
struct Cli {
    /// Number of ExposedAPIs.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// The operator binary (run as `<binary> run`).
    #[arg(long, default_value = "target/release/oda-api-operator")]
    operator: PathBuf,
    /// The stand-in binary.
    #[arg(long, default_value = "target/release/oda-azure-standin")]
    standin: PathBuf,
    /// APIM_RESYNC_SECS and APIM_POLICY_RESYNC_SECS are the binary's defaults divided by this during
    /// the run; the steady-state rate is divided by it again (every periodic request's rate is
    /// inversely proportional to its period). 1: the defaults, measured as they are.
    #[arg(long, default_value_t = 30)]
    time_scale: u64,
    /// Length of the steady-state window, in (scaled) sweep periods.
    #[arg(long, default_value_t = 20)]
    window_sweeps: u64,
    /// ExposedAPI creates in flight.
    #[arg(long, default_value_t = 32)]
    client_concurrency: usize,
    /// Give up waiting for a convergence after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Where the operator logs go.
    #[arg(long, default_value = "/tmp/oda-apim-bench")]
    log_dir: PathBuf,
}

/// `oda-api-operator run`'s settings, for their defaults.
#[derive(Parser)]
struct Run {
    #[command(flatten)]
    config: oda_api_operator::config::RunConfig,
}

/// The binary's default of the setting read from `env`.
fn default_of(env: &str) -> Result<u64> {
    let command = Run::command();
    let arg = command.get_arguments().find(|a| a.get_env().is_some_and(|e| e == env)).ok_or(format!("no {env}"))?;
    let value = arg.get_default_values().first().ok_or(format!("{env} has no default"))?;
    Ok(value.to_string_lossy().parse()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("apim-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apim-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn log(message: impl AsRef<str>) {
    eprintln!("apim-bench: {}", message.as_ref());
}

async fn run(cli: &Cli) -> Result<()> {
    let (resync, policy) = (default_of("APIM_RESYNC_SECS")?, default_of("APIM_POLICY_RESYNC_SECS")?);
    let scale = cli.time_scale.max(1);
    let scaled = (resync / scale, policy / scale);
    log(format!(
        "N={}: APIM_RESYNC_SECS {resync} / {scale} = {} s, APIM_POLICY_RESYNC_SECS {policy} / {scale} = {} s",
        cli.n, scaled.0, scaled.1
    ));
    std::fs::create_dir_all(&cli.log_dir)?;
    let admin = oda_test_support::clients::admin_client().await?;
    let (kubeconfig, _) = oda_test_support::clients::operator_kubeconfig().ok_or("KUBECONFIG is not set")?;
    let ns = format!("bench-apim-{}", std::process::id());
    oda_test_support::namespaces::create_labelled_namespace(&admin, &ns, "oda-bench").await?;
    let standin = StandIn::start(&cli.standin)?;
    let env = standin.operator_env(&ns, scaled);
    let start = |name: &str| Operator::start(&cli.operator, &kubeconfig, &env, &cli.log_dir.join(name));
    let apis = dynamic_api(admin.clone(), &ns, &exposed_api_resource());
    let timeout = Duration::from_secs(cli.timeout_secs);

    // (a) The create burst.
    let operator = start("operator-1.log")?;
    operator.wait_ready(Duration::from_secs(120)).await?;
    let ready = operator.arm_requests().await?;
    let began = Instant::now();
    create(&apis, &ns, cli.n, cli.client_concurrency, &standin).await?;
    wait_synced(&apis, cli.n, timeout).await?;
    let converged = began.elapsed();
    let burst = settle(&operator, &["PUT api", "PUT policy", "GET api", "GET operation"]).await?.since(&ready);
    let stored = standin.api_count().await?;
    log(format!(
        "create burst: {} APIs synced in {:.1} s; the stand-in holds {stored}",
        cli.n,
        converged.as_secs_f64()
    ));

    // (b) A converged restart: everything it sends until its first sweep is done.
    operator.process.stop(Duration::from_secs(30)).await;
    let operator = start("operator-2.log")?;
    let started = Instant::now();
    operator.wait_ready(Duration::from_secs(120)).await?;
    let pages = cli.n.div_ceil(100) as u64;
    loop {
        if operator.arm_requests().await?.get("GET apis") >= pages || started.elapsed() > timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let restart = settle(&operator, &["GET apis", "HEAD policy", "GET api", "PUT api", "PUT policy"]).await?;
    log(format!("converged restart: first sweep done {:.1} s after start", started.elapsed().as_secs_f64()));

    // (c) The steady state over a window of whole sweeps.
    let window = Duration::from_secs(scaled.0 * cli.window_sweeps);
    let (before, seen_before) = (operator.arm_requests().await?, standin.arm_requests().await?);
    log(format!("steady state: measuring {} s", window.as_secs()));
    tokio::time::sleep(window).await;
    let steady = operator.arm_requests().await?.since(&before);
    let seen = standin.arm_requests().await? - seen_before;

    print_report(cli, (resync, policy, scale), (&burst, converged), &restart, (&steady, seen, window));

    // Clean-up while the operator runs: it deletes every API in APIM before its finalizer goes.
    let deleting = Instant::now();
    let _ = oda_test_support::retry::retry("deleting the namespace", || async {
        Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone()).delete(&ns, &DeleteParams::background()).await
    })
    .await;
    while !apis.list(&ListParams::default().limit(1)).await.map(|l| l.items.is_empty()).unwrap_or(true) {
        if deleting.elapsed() > timeout {
            strip_finalizers(&apis).await;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    log(format!("deleted in {:.1} s", deleting.elapsed().as_secs_f64()));
    operator.process.stop(Duration::from_secs(30)).await;
    standin.process.stop(Duration::from_secs(5)).await;
    Ok(())
}

async fn create(apis: &Api<DynamicObject>, ns: &str, n: usize, concurrency: usize, standin: &StandIn) -> Result<()> {
    let url = standin.document_url("tmf620.json");
    stream::iter(0..n)
        .map(|i| {
            let name = format!("api-{i:05}");
            let obj = DynamicObject::new(&name, &exposed_api_resource()).within(ns).data(json!({"spec": {
                "name": name, "apiType": "openapi", "implementation": format!("impl-{i:05}"),
                "path": format!("/bench-{i:05}/tmf-api/productCatalogManagement/v4"), "port": 8080,
                "specification": {"url": url}}}));
            async move {
                let post = PostParams::default();
                oda_test_support::retry::retry("creating an ExposedAPI", || apis.create(&post, &obj)).await.map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Waits until every ExposedAPI's `ApimSynced` is `True`.
async fn wait_synced(apis: &Api<DynamicObject>, n: usize, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let listed = apis.list(&ListParams::default()).await?;
        let synced = listed.items.iter().filter(|a| condition_true(&a.data, "ApimSynced")).count();
        if synced >= n {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!("{synced} of {n} APIs synced after {} s", timeout.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn condition_true(data: &Value, type_: &str) -> bool {
    let conditions = data.pointer("/status/conditions").and_then(Value::as_array);
    conditions.into_iter().flatten().any(|c| c["type"] == type_ && c["status"] == "True")
}

/// The counts once `kinds` have not moved for 3 s.
async fn settle(operator: &Operator, kinds: &[&str]) -> Result<Counts> {
    let watched = |c: &Counts| kinds.iter().map(|k| c.get(k)).collect::<Vec<_>>();
    let mut last = operator.arm_requests().await?;
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = operator.arm_requests().await?;
        if watched(&now) != watched(&last) {
            quiet = Instant::now();
        }
        last = now;
    }
    Ok(last)
}

async fn strip_finalizers(apis: &Api<DynamicObject>) {
    let Ok(listed) = apis.list(&ListParams::default()).await else { return };
    let patch = json!({"metadata": {"finalizers": null}});
    for api in listed.items {
        let name = api.metadata.name.unwrap_or_default();
        let _ = apis.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
    }
}

fn table(counts: &Counts) -> String {
    let rows: Vec<String> = counts.0.iter().map(|(k, v)| format!("| `{k}` | {v} |")).collect();
    format!("| kind | requests |\n|---|---|\n{}\n| total | {} |", rows.join("\n"), counts.total())
}

fn print_report(
    cli: &Cli,
    (resync, policy, scale): (u64, u64, u64),
    (burst, converged): (&Counts, Duration),
    restart: &Counts,
    (steady, seen, window): (&Counts, usize, Duration),
) {
    let n = cli.n as f64;
    let polls = burst.get("GET operation");
    let per_api = (burst.total() - polls - burst.get("GET apis") - burst.get("HEAD policy")) as f64 / n;
    let hours = window.as_secs_f64() / 3600.0;
    let measured = steady.total() as f64 / n / hours;
    println!("## APIM at {} APIs\n", cli.n);
    println!("(a) Create burst: {} APIs synced in {:.1} s.\n\n{}\n", cli.n, converged.as_secs_f64(), table(burst));
    println!(
        "Per API: {per_api:.2} requests (every kind but the operation polls and the sweeps' `GET apis` / \
         `HEAD policy` during the burst), plus {:.2} operation polls.\n",
        polls as f64 / n
    );
    println!("(b) Converged restart, until its first sweep is done:\n\n{}\n", table(restart));
    println!(
        "(c) Steady state over {} s ({} sweeps at APIM_RESYNC_SECS={} and APIM_POLICY_RESYNC_SECS={}, the \
         defaults {resync} and {policy} divided by {scale}); the stand-in received {seen} ARM requests in the \
         window:\n\n{}\n",
        window.as_secs(),
        cli.window_sweeps,
        resync / scale,
        policy / scale,
        table(steady)
    );
    println!(
        "Measured: {measured:.3} requests per API per hour at the shortened periods; at the defaults (÷ {scale}): \
         **{:.4} requests per API per hour** ({:.1} per hour for {} APIs).",
        measured / scale as f64,
        measured * n / scale as f64,
        cli.n
    );
}

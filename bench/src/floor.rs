//! The write floor: with no operator, a plain client makes the writes the operator cannot avoid —
//! per ExposedAPI one VirtualService server-side apply and one status server-side apply — with the
//! operator's concurrency. Objects and bodies are built with the operator's own code
//! ([`crate::expected`]), so they are the same size and shape as the operator's.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Patch, PatchParams};
use kube::{Client, ResourceExt};
use oda_test_support::resources::{dynamic_api, exposed_api_resource};
use oda_test_support::retry::retry;

use crate::apiserver;
use crate::cluster::{OPERATOR_MANAGER, Result};
use crate::expected::{Expected, ExpectedApi};
use crate::fixtures::{self, GATEWAY_IP};
use crate::process::cpu_snapshot;
use crate::report::{FloorReport, quantile};
use crate::scenario::{Ctx, cpu_delta};

/// Runs the floor in the (fresh, empty) namespace `ns`.
pub async fn run(ctx: &Ctx, ns: &str, n: usize) -> Result<FloorReport> {
    let (clients, concurrency, client_concurrency) =
        (&ctx.clients, usize::from(ctx.concurrency), ctx.client_concurrency);
    // Outside the timed window: the ExposedAPIs, created as in the operator run.
    let (setup, uids) = fixtures::create_apis(&clients.admin, ns, n, client_concurrency).await?;
    let apis: Vec<ExpectedApi> = (0..n)
        .map(|i| ExpectedApi::from_fixture(&fixtures::exposed_api(ns, i, 4), &uids[i], ns))
        .collect::<Result<_>>()?;
    let expected = Expected::new(GATEWAY_IP);

    let cpu_before = cpu_snapshot(&ctx.control_plane);
    let apiserver_before = apiserver::snapshot(&clients.admin).await;
    let start = Instant::now();
    let latencies: Vec<(f64, f64)> = stream::iter(apis.iter())
        .map(|api| write_one(&clients.operator, &expected, api))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = cpu_delta(&cpu_before, &cpu_snapshot(&ctx.control_plane));
    let apiserver = apiserver::delta(&apiserver_before, &apiserver::snapshot(&clients.admin).await);

    let mut route_ms: Vec<f64> = latencies.iter().map(|l| l.0 * 1000.0).collect();
    let mut status_ms: Vec<f64> = latencies.iter().map(|l| l.1 * 1000.0).collect();
    route_ms.sort_by(f64::total_cmp);
    status_ms.sort_by(f64::total_cmp);
    Ok(FloorReport {
        seconds,
        writes: 2 * n as u64,
        writes_per_second: (2 * n) as f64 / seconds.max(1e-9),
        concurrency,
        setup_seconds: setup.duration.as_secs_f64(),
        virtual_service_apply_ms_p50: quantile(&route_ms, 0.5),
        virtual_service_apply_ms_p90: quantile(&route_ms, 0.9),
        status_apply_ms_p50: quantile(&status_ms, 0.5),
        status_apply_ms_p90: quantile(&status_ms, 0.9),
        cpu_seconds,
        apiserver,
    })
}

/// One API's writes, in the operator's order: the route, then the status naming it. Returns the
/// two latencies in seconds.
async fn write_one(client: &Client, expected: &Expected, api: &ExpectedApi) -> Result<(f64, f64)> {
    let (name, ns) = (api.name(), api.namespace());
    let desired = expected.virtual_service(api)?;
    let vs_api = dynamic_api(client.clone(), ns, &expected.virtual_service_resource());
    let params = PatchParams::apply(OPERATOR_MANAGER).force();
    let t = Instant::now();
    let applied = retry(&format!("applying VirtualService {name}"), || async {
        vs_api.patch(name, &params, &Patch::Apply(&desired)).await
    })
    .await?;
    let route_latency = t.elapsed();

    let body = expected.status(api, applied.uid());
    let apis = dynamic_api(client.clone(), ns, &exposed_api_resource());
    let t = Instant::now();
    retry(&format!("applying the status of ExposedAPI {name}"), || async {
        apis.patch_status(name, &params, &Patch::Apply(&body)).await
    })
    .await?;
    Ok((route_latency.as_secs_f64(), t.elapsed().as_secs_f64()))
}

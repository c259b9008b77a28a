//! The floor: with no operator, a plain client makes the same request stream the scenario needs —
//! the N creates (or N path changes) at the harness's concurrency, and for each API, as soon as
//! its own request is answered, the writes the operator cannot avoid (one VirtualService
//! server-side apply, one status server-side apply) at the operator's concurrency. 1.0× is thus
//! the limit of an operator that adds nothing. Objects and bodies are built with the operator's
//! own code ([`crate::expected`]), so they are the same size and shape as the operator's.

use std::future::Future;
use std::time::Instant;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, TryStreamExt, stream};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use oda_test_support::resources::{dynamic_api, exposed_api_resource};
use oda_test_support::retry::retry;
use serde_json::json;

use crate::apiserver;
use crate::cluster::{OPERATOR_MANAGER, Result};
use crate::expected::{Expected, ExpectedApi};
use crate::fixtures::{self, GATEWAY_IP, api_name, api_path};
use crate::process::cpu_snapshot;
use crate::report::{FloorReport, quantile};
use crate::scenario::{Ctx, cpu_delta};

/// The create floor, then the change floor, in the (fresh, empty) namespace `ns`.
pub async fn run(ctx: &Ctx, ns: &str, n: usize) -> Result<(FloorReport, FloorReport)> {
    let admin = ctx.clients.admin.clone();
    let apis = dynamic_api(admin.clone(), ns, &exposed_api_resource());
    let create = timed(ctx, n, |i| {
        let (apis, obj) = (apis.clone(), fixtures::exposed_api(ns, i, 4));
        async move {
            let created = retry(&format!("creating ExposedAPI {}", api_name(i)), || async {
                apis.create(&PostParams::default(), &obj).await
            })
            .await?;
            ExpectedApi::from_fixture(&obj, &created.uid().unwrap_or_default(), ns)
        }
    })
    .await?;
    let uids: Vec<String> = create.1.iter().map(|(_, uid)| uid.clone()).collect();
    let change = timed(ctx, n, |i| {
        let (apis, uid) = (apis.clone(), uids[i].clone());
        let patch = json!({"spec": {"path": api_path(i, 5)}});
        async move {
            retry(&format!("patching ExposedAPI {}", api_name(i)), || async {
                apis.patch(&api_name(i), &PatchParams::default(), &Patch::Merge(&patch)).await
            })
            .await?;
            ExpectedApi::from_fixture(&fixtures::exposed_api(ns, i, 5), &uid, ns)
        }
    })
    .await?;
    Ok((create.0, change.0))
}

/// Times one stream: `request(i)` for every API (at the harness's concurrency), each answered one
/// followed by its two writes (at the operator's). Also returns each API's index and uid.
async fn timed<F, Fut>(ctx: &Ctx, n: usize, request: F) -> Result<(FloorReport, Vec<(usize, String)>)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<ExpectedApi>>,
{
    let clients = &ctx.clients;
    let concurrency = usize::from(ctx.concurrency);
    let expected = Expected::new(GATEWAY_IP);
    let (tx, rx) = mpsc::channel::<(usize, ExpectedApi)>(n.max(1));
    let cpu_before = cpu_snapshot(&ctx.control_plane);
    let apiserver_before = apiserver::snapshot(&clients.admin).await;
    let start = Instant::now();
    let requests = stream::iter(0..n)
        .map(|i| {
            let call = request(i);
            async move { call.await.map(|api| (i, api)) }
        })
        .buffer_unordered(ctx.client_concurrency)
        .try_fold(tx, |mut tx, item| async move {
            tx.send(item).await.map_err(|e| format!("the floor's queue: {e}"))?;
            Ok(tx)
        });
    // The sender goes once every request is answered, which ends the writes' stream.
    let requests = async move { requests.await.map(drop) };
    let writes = rx
        .map(|(i, api)| {
            let (client, expected) = (&clients.operator, &expected);
            async move { write_one(client, expected, &api).await.map(|l| (i, api.uid(), l)) }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>();
    let (sent, written) = futures::join!(requests, writes);
    sent?;
    let written = written?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = cpu_delta(&cpu_before, &cpu_snapshot(&ctx.control_plane));
    let apiserver = apiserver::delta(&apiserver_before, &apiserver::snapshot(&clients.admin).await);

    let mut route_ms: Vec<f64> = written.iter().map(|w| w.2.0 * 1000.0).collect();
    let mut status_ms: Vec<f64> = written.iter().map(|w| w.2.1 * 1000.0).collect();
    route_ms.sort_by(f64::total_cmp);
    status_ms.sort_by(f64::total_cmp);
    let mut uids: Vec<(usize, String)> = written.iter().map(|w| (w.0, w.1.clone())).collect();
    uids.sort();
    let report = FloorReport {
        seconds,
        requests: 3 * n as u64,
        writes: 2 * n as u64,
        writes_per_second: (3 * n) as f64 / seconds.max(1e-9),
        concurrency,
        virtual_service_apply_ms_p50: quantile(&route_ms, 0.5),
        virtual_service_apply_ms_p90: quantile(&route_ms, 0.9),
        status_apply_ms_p50: quantile(&status_ms, 0.5),
        status_apply_ms_p90: quantile(&status_ms, 0.9),
        cpu_seconds,
        apiserver,
    };
    Ok((report, uids))
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

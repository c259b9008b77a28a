//! The write floor: with no operator, a plain client makes the writes the operator cannot avoid —
//! per ExposedAPI one VirtualService server-side apply and one status server-side apply — with the
//! operator's concurrency. Objects and bodies are built with the operator's own code, so they are
//! the same size and shape as the operator's.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::{Client, ResourceExt};
use oda_api_operator::api_url::published_url;
use oda_api_operator::config::OperatorConfig;
use oda_api_operator::exposed_api::ExposedAPI;
use oda_api_operator::gateway_address::{GatewayAddress, IngressPort, IngressTarget};
use oda_api_operator::output::Output;
use oda_api_operator::status::{ConditionSpec, Outcome, assemble, desired_status};
use oda_api_operator::validation::{ValidApi, validate};
use oda_api_operator::virtual_service::VirtualServiceOutput;
use serde_json::json;

use crate::apiserver;
use crate::cluster::{OPERATOR_MANAGER, Result, retry};
use crate::fixtures::{self, GATEWAY_IP, api_name};
use crate::process::cpu_snapshot;
use crate::report::{FloorReport, quantile};
use crate::scenario::{Ctx, cpu_delta};

/// Runs the floor in the (fresh, empty) namespace `ns`.
pub async fn run(ctx: &Ctx, ns: &str, n: usize) -> Result<FloorReport> {
    let (clients, concurrency, client_concurrency) =
        (&ctx.clients, usize::from(ctx.concurrency), ctx.client_concurrency);
    // Outside the timed window: the ExposedAPIs, created as in the operator run.
    let (setup, uids) = fixtures::create_apis(&clients.admin, ns, n, client_concurrency).await?;
    let apis: Vec<ValidApi> = (0..n)
        .map(|i| {
            let mut obj: ExposedAPI = serde_json::from_value(serde_json::to_value(fixtures::exposed_api(ns, i, 4))?)?;
            obj.metadata.uid = Some(uids[i].clone());
            validate(&obj, ns).map_err(|e| format!("the fixture does not validate: {e}").into())
        })
        .collect::<Result<_>>()?;
    let gateway = GatewayAddress {
        target: Some(IngressTarget { ip: Some(GATEWAY_IP.to_owned()), hostname: None }),
        ports: vec![IngressPort { name: Some("http2".to_owned()), port: 80 }],
    };
    let routes = VirtualServiceOutput::new(&OperatorConfig::default());

    let cpu_before = cpu_snapshot(&ctx.control_plane);
    let apiserver_before = apiserver::snapshot(&clients.admin).await;
    let start = Instant::now();
    let latencies: Vec<(f64, f64)> = stream::iter(apis.iter().enumerate())
        .map(|(i, api)| write_one(&clients.operator, &routes, &gateway, api, i))
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
async fn write_one(
    client: &Client,
    routes: &VirtualServiceOutput,
    gateway: &GatewayAddress,
    api: &ValidApi,
    i: usize,
) -> Result<(f64, f64)> {
    let name = api_name(i);
    let desired = routes.desired(api).ok_or("no VirtualService for the fixture")?;
    let vs_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &api.namespace, &routes.api_resource());
    let params = PatchParams::apply(OPERATOR_MANAGER).force();
    let t = Instant::now();
    let applied = retry(&format!("applying VirtualService {name}"), || async {
        vs_api.patch(&name, &params, &Patch::Apply(&desired)).await
    })
    .await?;
    let route_latency = t.elapsed();

    let url = published_url(api, Some(gateway));
    let outcome = Outcome::Applied { api, route_uid: applied.uid() };
    let (api_status, implementation, condition) = desired_status(&outcome, url.as_ref(), true, None);
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let status = assemble(api_status, implementation, &[ConditionSpec::from(&condition)], Some(1), None, now);
    let body = json!({
        "apiVersion": "oda.tmforum.org/v1",
        "kind": "ExposedAPI",
        "metadata": {"name": name, "namespace": api.namespace},
        "status": status,
    });
    let apis: Api<ExposedAPI> = Api::namespaced(client.clone(), &api.namespace);
    let t = Instant::now();
    retry(&format!("applying the status of ExposedAPI {name}"), || async {
        apis.patch_status(&name, &params, &Patch::Apply(&body)).await
    })
    .await?;
    Ok((route_latency.as_secs_f64(), t.elapsed().as_secs_f64()))
}

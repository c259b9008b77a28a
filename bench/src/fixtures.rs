//! What a Canvas cluster would hold: an ingress gateway Service with an address, and per API an
//! implementation Service with a ready endpoint, and the ExposedAPI itself.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::{Client, ResourceExt};
use serde_json::json;

use oda_test_support::resources::{dynamic_api, exposed_api_resource};
use oda_test_support::retry::retry;

use crate::cluster::Result;

/// The ingress gateway's load-balancer address: every URL starts with `https://` + this.
pub const GATEWAY_IP: &str = "20.1.2.3";
/// Port of every implementation Service.
pub const PORT: i32 = 8080;

pub fn api_name(i: usize) -> String {
    format!("api-{i:05}")
}

pub fn implementation_name(i: usize) -> String {
    format!("impl-{i:05}")
}

fn component_name(i: usize) -> String {
    format!("bench-{i:05}")
}

/// The API's path; `version` changes in the "one change per API" phase.
pub fn api_path(i: usize, version: u32) -> String {
    format!("/{}/tmf-api/productCatalogManagement/v{version}", component_name(i))
}

/// The URL the operator must publish for `path`.
pub fn expected_url(path: &str) -> String {
    format!("https://{GATEWAY_IP}{path}")
}

/// The ExposedAPI the Component operator would create for API `i`.
pub fn exposed_api(ns: &str, i: usize, version: u32) -> DynamicObject {
    let mut obj = DynamicObject::new(&api_name(i), &exposed_api_resource()).within(ns).data(json!({
        "spec": {
            "name": "productcatalogmanagement",
            "apiType": "openapi",
            "implementation": implementation_name(i),
            "path": api_path(i, version),
            "port": PORT,
            "specification": {"url": "https://raw.githubusercontent.com/tmforum-apis/TMF620_ProductCatalog/master/TMF620-ProductCatalog-v4.0.0.swagger.json"},
        }
    }));
    obj.metadata.labels = Some([("oda.tmforum.org/componentName".to_owned(), component_name(i))].into());
    obj
}

/// A Service without a selector: its EndpointSlices are the bench's own (as a mesh writes them), so
/// the endpointslice controller leaves them alone and the run measures the operator, not it.
fn service(name: &str, labels: &[(&str, &str)], ports: &[(&str, i32)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(
                ports
                    .iter()
                    .map(|(port_name, port)| ServicePort {
                        name: Some((*port_name).to_owned()),
                        port: *port,
                        protocol: Some("TCP".to_owned()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `istio=ingressgateway` LoadBalancer Service, with [`GATEWAY_IP`] set through `/status`.
pub async fn ingress_gateway(client: &Client, ns: &str) -> Result<()> {
    let mut svc = service(
        "istio-ingressgateway",
        &[("istio", "ingressgateway")],
        &[("status-port", 15021), ("http2", 80), ("https", 443)],
    );
    if let Some(spec) = svc.spec.as_mut() {
        spec.type_ = Some("LoadBalancer".to_owned());
    }
    let api = Api::<Service>::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &svc).await.map_err(|e| format!("creating the ingress gateway Service: {e}"))?;
    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": GATEWAY_IP}]}}});
    api.patch_status("istio-ingressgateway", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| format!("setting the ingress gateway address: {e}"))?;
    Ok(())
}

/// An EndpointSlice with one ready endpoint for implementation Service `name`.
fn endpoint_slice(name: &str, i: usize) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("{name}-bench")),
            labels: Some(
                [
                    ("kubernetes.io/service-name".to_owned(), name.to_owned()),
                    ("endpointslice.kubernetes.io/managed-by".to_owned(), "oda-bench".to_owned()),
                ]
                .into(),
            ),
            ..Default::default()
        },
        address_type: "IPv4".to_owned(),
        endpoints: Some(vec![Endpoint {
            addresses: vec![format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256)],
            conditions: Some(EndpointConditions { ready: Some(true), serving: Some(true), terminating: Some(false) }),
            ..Default::default()
        }]),
        ports: Some(vec![EndpointPort {
            name: Some("http".to_owned()),
            port: Some(PORT),
            protocol: Some("TCP".to_owned()),
            app_protocol: None,
        }]),
    }
}

/// Creates a typed object, treating "already exists" (a retried create that had succeeded) as done.
async fn create<K>(api: &Api<K>, obj: &K, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    retry(what, || async {
        match api.create(&PostParams::default(), obj).await {
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await?;
    Ok(())
}

/// Creates the implementation Service and its EndpointSlice of every API, `concurrency` at a time.
pub async fn implementations(client: &Client, ns: &str, n: usize, concurrency: usize) -> Result<Duration> {
    let start = Instant::now();
    let services = Api::<Service>::namespaced(client.clone(), ns);
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), ns);
    stream::iter(0..n)
        .map(|i| {
            let (services, slices) = (&services, &slices);
            async move {
                let name = implementation_name(i);
                let svc = service(&name, &[("app", &name)], &[("http", PORT)]);
                create(services, &svc, &format!("creating Service {name}")).await?;
                create(slices, &endpoint_slice(&name, i), &format!("creating EndpointSlice {name}-bench")).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

/// When a burst started and when each request of it was sent (index = API number).
pub struct Burst {
    pub start: Instant,
    pub sent: Vec<Instant>,
    pub duration: Duration,
}

/// Creates the N ExposedAPIs in one burst, `concurrency` requests in flight. Returns the created
/// objects' uids in API order too.
pub async fn create_apis(client: &Client, ns: &str, n: usize, concurrency: usize) -> Result<(Burst, Vec<String>)> {
    let api = dynamic_api(client.clone(), ns, &exposed_api_resource());
    burst(n, concurrency, |i| {
        let (api, obj, name) = (&api, exposed_api(ns, i, 4), api_name(i));
        async move {
            let created = retry(&format!("creating ExposedAPI {name}"), || async {
                match api.create(&PostParams::default(), &obj).await {
                    Err(kube::Error::Api(e)) if e.code == 409 => api.get(&name).await,
                    other => other,
                }
            })
            .await?;
            Ok(created.uid().unwrap_or_default())
        }
    })
    .await
}

/// Changes `spec.path` of every API to version `version`, `concurrency` requests in flight.
pub async fn patch_paths(client: &Client, ns: &str, n: usize, concurrency: usize, version: u32) -> Result<Burst> {
    let api = dynamic_api(client.clone(), ns, &exposed_api_resource());
    let (burst, _) = burst(n, concurrency, |i| {
        let (api, patch) = (&api, json!({"spec": {"path": api_path(i, version)}}));
        async move {
            retry(&format!("patching ExposedAPI {}", api_name(i)), || async {
                api.patch(&api_name(i), &PatchParams::default(), &Patch::Merge(&patch)).await
            })
            .await?;
            Ok(String::new())
        }
    })
    .await?;
    Ok(burst)
}

/// Runs `request(i)` for every API, `concurrency` in flight, noting when each was sent; returns
/// the burst's timing and each request's output in API order.
async fn burst<F, Fut>(n: usize, concurrency: usize, request: F) -> Result<(Burst, Vec<String>)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<String>>,
{
    let start = Instant::now();
    let results: Vec<(usize, Instant, String)> = stream::iter(0..n)
        .map(|i| {
            // The request (and what it sends) is built first; the clock starts when it is sent.
            let request = request(i);
            async move {
                let sent = Instant::now();
                Ok::<_, crate::cluster::Error>((i, sent, request.await?))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let duration = start.elapsed();
    let mut sent = vec![start; n];
    let mut outputs = vec![String::new(); n];
    for (i, at, output) in results {
        sent[i] = at;
        outputs[i] = output;
    }
    Ok((Burst { start, sent, duration }, outputs))
}

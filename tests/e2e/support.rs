//! Shared helpers for the end-to-end tests, which run against a real control plane.
//!
//! Start one with `eval "$(scripts/testenv up)"` (see docs/testenv.md). The harness reads:
//!
//! - `KUBECONFIG`: the admin identity (required; may be a `:`-separated list),
//! - `ODA_OPERATOR_KUBECONFIG`: the operator identity, bound only to the `oda-api-operator`
//!   ClusterRole (optional; falls back to `KUBECONFIG`),
//! - `E2E_KEEP_NAMESPACES=1`: keep each test's namespace for debugging instead of deleting it.
//!
//! Every test gets its own namespace ([`TestNamespace`]), so tests run in parallel.
//!
//! The clients are created per test: a `kube::Client` is bound to the Tokio runtime that built
//! it, and every `#[tokio::test]` has its own runtime.
#![allow(dead_code)] // not every test module uses every helper

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Namespace, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config, Resource, ResourceExt};
use serde_json::json;

/// How long [`wait_for`] sleeps between attempts.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Garbage collection of objects owned by a custom resource can take up to the controller
/// manager's ~30 s discovery resync (plus GC queue time) when the CRD is new.
pub const GC_TIMEOUT: Duration = Duration::from_secs(90);
/// Field manager used by the test fixtures for server-side apply.
pub const FIELD_MANAGER: &str = "oda-e2e";

const NO_CLUSTER: &str = "no cluster: run `eval \"$(scripts/testenv up)\"` (see docs/testenv.md)";

// ---------------------------------------------------------------------------------------------
// clients

async fn client_from_kubeconfig_list(var: &str, paths: &str) -> Client {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.split(':').filter(|p| !p.is_empty()) {
        let kc = Kubeconfig::read_from(path)
            .unwrap_or_else(|e| panic!("{NO_CLUSTER}\n(cannot read {var} file {path}: {e})"));
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).unwrap_or_else(|e| panic!("{NO_CLUSTER}\n(cannot merge {var}: {e})")),
        });
    }
    let kc = merged.unwrap_or_else(|| panic!("{NO_CLUSTER}\n({var} is empty)"));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{NO_CLUSTER}\n(bad kubeconfig in {var}={paths}: {e})"));
    Client::try_from(config).unwrap_or_else(|e| panic!("{NO_CLUSTER}\n(cannot build a client from {var}={paths}: {e})"))
}

/// Client with the admin identity, from `KUBECONFIG`.
///
/// Panics with instructions when no cluster is configured. `~/.kube/config` is deliberately
/// NOT used as a fallback, so the tests never touch a cluster by accident.
pub async fn admin_client() -> Client {
    let paths = std::env::var("KUBECONFIG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| panic!("{NO_CLUSTER}\n(KUBECONFIG is not set)"));
    client_from_kubeconfig_list("KUBECONFIG", &paths).await
}

/// Client with the operator's identity (User `oda-api-operator`, bound to the ClusterRole of
/// deploy/rbac.yaml), from `ODA_OPERATOR_KUBECONFIG`; falls back to [`admin_client`].
pub async fn operator_client() -> Client {
    match std::env::var("ODA_OPERATOR_KUBECONFIG") {
        Ok(paths) if !paths.trim().is_empty() => client_from_kubeconfig_list("ODA_OPERATOR_KUBECONFIG", &paths).await,
        _ => admin_client().await,
    }
}

/// True when the operator identity is a separate, least-privilege one (false when
/// `ODA_OPERATOR_KUBECONFIG` is unset or equal to `KUBECONFIG`, e.g. with `TESTENV_KUBECONFIG`).
pub fn operator_identity_is_separate() -> bool {
    match (std::env::var("ODA_OPERATOR_KUBECONFIG"), std::env::var("KUBECONFIG")) {
        (Ok(op), Ok(admin)) => !op.trim().is_empty() && op != admin,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// waiting

/// What one attempt of [`wait_for`] returns: done with a value, or not yet (with a reason that
/// is shown if the wait times out).
pub trait Attempt {
    type Output;
    fn into_result(self) -> Result<Self::Output, String>;
}

impl<T> Attempt for Option<T> {
    type Output = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "condition not met (None)".to_string())
    }
}

impl<T, E: Debug> Attempt for Result<T, E> {
    type Output = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

impl Attempt for bool {
    type Output = ();
    fn into_result(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("condition not met (false)".to_string()) }
    }
}

/// Polls `attempt` every [`POLL_INTERVAL`] until it returns `Some(v)` / `Ok(v)` / `true`, and
/// returns `v`. Panics after `timeout` with the caller's location and the last reason
/// (the `Err` value or "None"/"false").
///
/// ```ignore
/// let vs = wait_for(Duration::from_secs(30), || async {
///     vs_api.get_opt("my-api").await.ok().flatten()
/// }).await;
/// ```
#[track_caller]
pub fn wait_for<F, Fut, A>(timeout: Duration, mut attempt: F) -> impl Future<Output = A::Output>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
    A: Attempt,
{
    let caller = Location::caller();
    async move {
        let start = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let last = match attempt().await.into_result() {
                Ok(v) => return v,
                Err(reason) => reason,
            };
            if start.elapsed() >= timeout {
                panic!(
                    "wait_for at {caller} timed out after {:.1} s ({tries} attempts); last attempt: {last}",
                    start.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// namespaces

static NS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Unique, DNS-label-safe name: `e2e-<test>-<suffix>` (at most 63 characters).
pub fn unique_namespace_name(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mix =
        nanos ^ (u128::from(std::process::id()) << 40) ^ (u128::from(NS_COUNTER.fetch_add(1, Ordering::Relaxed)) << 20);
    let suffix = base36((mix % 36u128.pow(8)) as u64);
    let mut slug: String =
        test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let slug = slug.trim_matches('-');
    let max_slug = 63 - "e2e-".len() - 1 - suffix.len();
    let slug = slug[..slug.len().min(max_slug)].trim_end_matches('-');
    if slug.is_empty() { format!("e2e-{suffix}") } else { format!("e2e-{slug}-{suffix}") }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; 8];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).expect("ascii")
}

/// A namespace of its own for one test, deleted (best effort, without waiting) when dropped —
/// also when the test panics. Set `E2E_KEEP_NAMESPACES=1` to keep it for debugging.
/// Leftovers can be removed with `kubectl delete ns -l oda-testenv/e2e=true`.
pub struct TestNamespace {
    name: String,
    client: Client,
}

impl TestNamespace {
    /// Creates `e2e-<test>-<suffix>` labelled `oda-testenv/e2e=true`.
    pub async fn new(test: &str) -> Self {
        let client = admin_client().await;
        let name = unique_namespace_name(test);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels(&[("oda-testenv/e2e", "true")])),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        TestNamespace { name, client }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin client used to create the namespace.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A typed, namespaced API in this namespace with the admin client.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace now and waits until it is gone (it takes a few seconds while the
    /// namespace controller empties it). Dropping the guard afterwards is harmless.
    pub async fn delete_and_wait(&self, timeout: Duration) {
        let api = Api::<Namespace>::all(self.client.clone());
        let _ = api.delete(&self.name, &DeleteParams::background()).await;
        wait_for(timeout, || async { matches!(api.get_opt(&self.name).await, Ok(None)) }).await;
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var("E2E_KEEP_NAMESPACES").is_ok_and(|v| !v.is_empty() && v != "0") {
            eprintln!("E2E_KEEP_NAMESPACES: keeping namespace {}", self.name);
            return;
        }
        // The test's runtime is shutting down (or unwinding), and a kube Client only works on
        // the runtime that built it: delete from a short-lived thread with its own runtime.
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let delete = async {
                    let client = admin_client().await;
                    Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()).await
                };
                match tokio::time::timeout(Duration::from_secs(10), delete).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(kube::Error::Api(e))) if e.code == 404 => {}
                    Ok(Err(e)) => eprintln!("warning: deleting namespace {name}: {e}"),
                    Err(_) => eprintln!("warning: deleting namespace {name}: timed out"),
                }
            });
        });
        let _ = handle.join();
    }
}

// ---------------------------------------------------------------------------------------------
// custom resources (as DynamicObject, independent of the operator's own types)

pub fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// `oda.tmforum.org/v1` ExposedAPI (CRD from deploy/crds).
pub fn exposed_api_resource() -> ApiResource {
    api_resource("oda.tmforum.org", "v1", "ExposedAPI", "exposedapis")
}

/// `oda.tmforum.org/v1` Component (stand-in CRD, no status subresource).
pub fn component_resource() -> ApiResource {
    api_resource("oda.tmforum.org", "v1", "Component", "components")
}

/// `networking.istio.io/v1alpha3` VirtualService (stand-in CRD; v1beta1 and v1 also served).
pub fn virtual_service_resource() -> ApiResource {
    api_resource("networking.istio.io", "v1alpha3", "VirtualService", "virtualservices")
}

/// `monitoring.coreos.com/v1` ServiceMonitor (stand-in CRD).
pub fn service_monitor_resource() -> ApiResource {
    api_resource("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors")
}

/// `gateway.networking.k8s.io/v1` Gateway (stand-in CRD).
pub fn gateway_api_gateway_resource() -> ApiResource {
    api_resource("gateway.networking.k8s.io", "v1", "Gateway", "gateways")
}

/// `gateway.networking.k8s.io/v1` HTTPRoute (stand-in CRD).
pub fn http_route_resource() -> ApiResource {
    api_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
}

/// Namespaced dynamic API for `ar`.
pub fn dynamic_api(client: Client, ns: &str, ar: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client, ns, ar)
}

/// Builds a namespaced custom object: `data` holds the top-level fields besides
/// apiVersion/kind/metadata (usually `{"spec": {...}}`).
pub fn dynamic_object(
    ar: &ApiResource,
    ns: &str,
    name: &str,
    labels_: &[(&str, &str)],
    data: serde_json::Value,
) -> DynamicObject {
    let mut obj = DynamicObject::new(name, ar).within(ns).data(data);
    if !labels_.is_empty() {
        obj.metadata.labels = Some(labels(labels_));
    }
    obj
}

/// A minimal valid ExposedAPI spec (the fields the Canvas CRD requires).
pub fn exposed_api_spec(implementation: &str, path: &str, port: i32) -> serde_json::Value {
    json!({
        "name": implementation,
        "apiType": "openapi",
        "implementation": implementation,
        "path": path,
        "port": port,
    })
}

/// Creates an ExposedAPI (oda.tmforum.org/v1) with the given spec in `ns`.
pub async fn create_exposed_api(
    client: Client,
    ns: &str,
    name: &str,
    labels_: &[(&str, &str)],
    spec: serde_json::Value,
) -> DynamicObject {
    let ar = exposed_api_resource();
    let obj = dynamic_object(&ar, ns, name, labels_, json!({ "spec": spec }));
    dynamic_api(client, ns, &ar)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("creating ExposedAPI {ns}/{name}: {e}"))
}

/// OwnerReference to `owner` (controller=true, blockOwnerDeletion=true), for any typed or
/// dynamic object that has been read from the server (needs its uid).
pub fn controller_owner_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().expect("owner has a name"),
        uid: owner.uid.clone().expect("owner was read from the server (has a uid)"),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

// ---------------------------------------------------------------------------------------------
// Services, EndpointSlices, Pods

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A ClusterIP Service selecting `app=<name>`, one port per `(port name, port)` with
/// `protocol: TCP` on every port (server-side apply in 1.20 rejects ports without protocol)
/// and targetPort = port.
pub fn service(name: &str, labels_: &[(&str, &str)], ports: &[(&str, i32)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: (!labels_.is_empty()).then(|| labels(labels_)),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels(&[("app", name)])),
            ports: Some(
                ports
                    .iter()
                    .map(|(port_name, port)| ServicePort {
                        name: Some(port_name.to_string()),
                        port: *port,
                        protocol: Some("TCP".to_string()),
                        target_port: Some(IntOrString::Int(*port)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates [`service`] in `ns`.
pub async fn create_service(
    client: Client,
    ns: &str,
    name: &str,
    labels_: &[(&str, &str)],
    ports: &[(&str, i32)],
) -> Service {
    Api::<Service>::namespaced(client, ns)
        .create(&PostParams::default(), &service(name, labels_, ports))
        .await
        .unwrap_or_else(|e| panic!("creating Service {ns}/{name}: {e}"))
}

/// Creates [`service`] of type LoadBalancer in `ns` (e.g. an ingress gateway's Service). No
/// cloud controller runs: set its address with [`set_load_balancer_ingress`].
pub async fn create_load_balancer_service(
    client: Client,
    ns: &str,
    name: &str,
    labels_: &[(&str, &str)],
    ports: &[(&str, i32)],
) -> Service {
    let mut svc = service(name, labels_, ports);
    if let Some(spec) = svc.spec.as_mut() {
        spec.type_ = Some("LoadBalancer".to_string());
    }
    Api::<Service>::namespaced(client, ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap_or_else(|e| panic!("creating LoadBalancer Service {ns}/{name}: {e}"))
}

/// Sets `status.loadBalancer.ingress` of a Service through the `status` subresource (what a
/// cloud controller would do). An empty slice clears it.
pub async fn set_load_balancer_ingress(
    client: Client,
    ns: &str,
    service_name: &str,
    ingress: &[LoadBalancerIngress],
) -> Service {
    let patch = json!({ "status": { "loadBalancer": { "ingress": ingress } } });
    Api::<Service>::namespaced(client, ns)
        .patch_status(service_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("setting load-balancer ingress of Service {ns}/{service_name}: {e}"))
}

/// [`set_load_balancer_ingress`] with one IP address.
pub async fn set_load_balancer_ip(client: Client, ns: &str, service_name: &str, ip: &str) -> Service {
    let ingress = LoadBalancerIngress { ip: Some(ip.to_string()), ..Default::default() };
    set_load_balancer_ingress(client, ns, service_name, &[ingress]).await
}

/// [`set_load_balancer_ingress`] with one host name.
pub async fn set_load_balancer_hostname(client: Client, ns: &str, service_name: &str, hostname: &str) -> Service {
    let ingress = LoadBalancerIngress { hostname: Some(hostname.to_string()), ..Default::default() };
    set_load_balancer_ingress(client, ns, service_name, &[ingress]).await
}

/// An EndpointSlice (discovery.k8s.io/v1) for `svc` shaped as the EndpointSlice controller makes
/// them: generateName `<service>-`, the Service's labels plus `kubernetes.io/service-name` and
/// `endpointslice.kubernetes.io/managed-by`, a controller ownerReference to the Service, ports
/// from the Service (targetPort numbers), and one IPv4 endpoint per `(address, ready)` with
/// `conditions.ready/serving` = ready and `terminating` = false.
///
/// `svc` must have been read from the server (the ownerReference needs its uid).
pub fn endpoint_slice(svc: &Service, endpoints: &[(&str, bool)]) -> EndpointSlice {
    let svc_name = svc.name_any();
    let mut slice_labels = svc.metadata.labels.clone().unwrap_or_default();
    slice_labels.insert("kubernetes.io/service-name".to_string(), svc_name.clone());
    slice_labels
        .insert("endpointslice.kubernetes.io/managed-by".to_string(), "endpointslice-controller.k8s.io".to_string());
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref()).map(|ports| {
        ports
            .iter()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(match &p.target_port {
                    Some(IntOrString::Int(n)) => *n,
                    _ => p.port,
                }),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect()
    });
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{svc_name}-")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(slice_labels),
            owner_references: Some(vec![controller_owner_ref("v1", "Service", &svc.metadata)]),
            ..Default::default()
        },
        address_type: "IPv4".to_string(),
        endpoints: Some(
            endpoints
                .iter()
                .map(|(address, ready)| Endpoint {
                    addresses: vec![address.to_string()],
                    conditions: Some(EndpointConditions {
                        ready: Some(*ready),
                        serving: Some(*ready),
                        terminating: Some(false),
                    }),
                    ..Default::default()
                })
                .collect(),
        ),
        ports,
    }
}

/// Creates [`endpoint_slice`] for `svc` in the Service's namespace and returns it (with its
/// generated name).
pub async fn create_endpoint_slice(client: Client, svc: &Service, endpoints: &[(&str, bool)]) -> EndpointSlice {
    let ns = svc.namespace().expect("Service read from the server has a namespace");
    Api::<EndpointSlice>::namespaced(client, &ns)
        .create(&PostParams::default(), &endpoint_slice(svc, endpoints))
        .await
        .unwrap_or_else(|e| panic!("creating EndpointSlice for Service {ns}/{}: {e}", svc.name_any()))
}

/// Sets `conditions.ready` and `conditions.serving` of every endpoint of a slice (JSON merge
/// patch of the whole `endpoints` list, as the CRD-served EndpointSlice accepts no strategic
/// merge patch).
pub async fn set_endpoint_slice_ready(client: Client, slice: &EndpointSlice, ready: bool) -> EndpointSlice {
    let ns = slice.namespace().expect("slice has a namespace");
    let name = slice.name_any();
    let api = Api::<EndpointSlice>::namespaced(client, &ns);
    let current = api.get(&name).await.unwrap_or_else(|e| panic!("reading EndpointSlice {ns}/{name}: {e}"));
    let mut endpoints = current.endpoints.unwrap_or_default();
    for ep in &mut endpoints {
        let cond = ep.conditions.get_or_insert_with(Default::default);
        cond.ready = Some(ready);
        cond.serving = Some(ready);
    }
    let patch = json!({ "endpoints": endpoints });
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patching EndpointSlice {ns}/{name}: {e}"))
}

/// Creates a Pod (it stays Pending: there is no scheduler or kubelet) with `labels_`, one
/// container and `automountServiceAccountToken: false`. Retries for up to 30 s while the new
/// namespace's `default` ServiceAccount does not exist yet (ServiceAccount admission).
pub async fn create_pod(client: Client, ns: &str, name: &str, labels_: &[(&str, &str)]) -> Pod {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": labels(labels_) },
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{ "name": "app", "image": "registry.invalid/e2e/app:1" }],
        },
    }))
    .expect("valid Pod");
    let api = Api::<Pod>::namespaced(client, ns);
    wait_for(Duration::from_secs(30), || async {
        match api.create(&PostParams::default(), &pod).await {
            Ok(p) => Ok(p),
            Err(kube::Error::Api(e)) if e.code == 409 => api.get(name).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

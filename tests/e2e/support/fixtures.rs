//! Fixtures: custom resources as `DynamicObject`s (independent of the operator's own types),
//! written with `fieldValidation=Strict`; Services; implementations made ready by their Pods (the
//! real endpointslice controller makes their EndpointSlices); EndpointSlices written by hand, as some
//! meshes write them; and Pods.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::node::create_running_pod;
use super::*;

// ---------------------------------------------------------------------------------------------
// custom resources (as DynamicObject, independent of the operator's own types)

/// Server-side apply by the fixtures' field manager with `fieldValidation=Strict`.
pub fn strict_apply() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).validation_strict()
}

/// Creates (or updates) `obj` with server-side apply and `fieldValidation=Strict`, so that a field the
/// CRD's schema does not know is an error rather than silently pruned.
pub async fn create_strict<K>(api: &Api<K>, obj: &K) -> K
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.meta().name.clone().expect("the object has a name");
    api.patch(&name, &strict_apply(), &Patch::Apply(obj))
        .await
        .unwrap_or_else(|e| panic!("applying {name} strictly: {e}"))
}

/// Whether the cluster's ExposedAPI CRD has a status subresource (ours has; the Canvas' has not).
pub async fn exposed_api_has_status_subresource() -> bool {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd = Api::<CustomResourceDefinition>::all(admin_client().await)
        .get("exposedapis.oda.tmforum.org")
        .await
        .expect("the ExposedAPI CRD is installed");
    crd.spec.versions.iter().any(|v| v.name == "v1" && v.subresources.as_ref().is_some_and(|s| s.status.is_some()))
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
    create_strict(&dynamic_api(client, ns, &ar), &obj).await
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

/// A ClusterIP Service selecting `app=<name>`, one TCP port per `(port name, port)`, targetPort =
/// port. Its EndpointSlices are the endpointslice controller's, from Pods labelled `app=<name>`.
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

/// The `endpointslice.kubernetes.io/managed-by` of hand-written slices: not the endpointslice
/// controller's, so it leaves them alone.
pub const MESH_MANAGER: &str = "mesh.e2e.oda-testenv";

/// An EndpointSlice (discovery.k8s.io/v1) for `svc` written by someone other than the endpointslice
/// controller, as some meshes write them (`endpointslice.kubernetes.io/managed-by` names
/// [`MESH_MANAGER`], so the controller leaves it alone): generateName `<service>-`, the Service's
/// labels plus `kubernetes.io/service-name`, a controller ownerReference to the Service, ports from
/// the Service (targetPort numbers), and one IPv4 endpoint per `(address, ready)` with
/// `conditions.ready/serving` = ready and `terminating` = false. Readiness of implementations is
/// otherwise driven by Pods ([`create_running_pod`]).
///
/// `svc` must have been read from the server (the ownerReference needs its uid).
pub fn endpoint_slice(svc: &Service, endpoints: &[(&str, bool)]) -> EndpointSlice {
    let svc_name = svc.name_any();
    let mut slice_labels = svc.metadata.labels.clone().unwrap_or_default();
    slice_labels.insert("kubernetes.io/service-name".to_string(), svc_name.clone());
    slice_labels.insert("endpointslice.kubernetes.io/managed-by".to_string(), MESH_MANAGER.to_string());
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

/// Sets `conditions.ready` and `conditions.serving` of every endpoint of a hand-written slice (JSON
/// merge patch of the whole `endpoints` list).
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

/// Creates a Pod bound to no node (it stays Pending: there is no scheduler) with `labels_`, one
/// container and `automountServiceAccountToken: false`. Retries for up to 30 s while the new
/// namespace's `default` ServiceAccount does not exist yet (ServiceAccount admission).
pub async fn create_pod(client: Client, ns: &str, name: &str, labels_: &[(&str, &str)]) -> Pod {
    create_pod_when_admitted(client, ns, &pod_manifest(name, labels_, None)).await
}

/// A Pod with one container and `automountServiceAccountToken: false`, bound to `node` when given
/// (tolerating the simulated Node's taint).
pub fn pod_manifest(name: &str, labels_: &[(&str, &str)], node: Option<&str>) -> Pod {
    let mut spec = json!({
        "automountServiceAccountToken": false,
        "containers": [{ "name": "app", "image": "registry.invalid/e2e/app:1" }],
    });
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
        spec["tolerations"] = json!([{ "key": "oda-testenv/simulated", "operator": "Exists" }]);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": labels(labels_) },
        "spec": spec,
    }))
    .expect("valid Pod")
}

/// Creates `pod`, retrying for up to 30 s while the new namespace's `default` ServiceAccount does
/// not exist yet (ServiceAccount admission); a Pod that exists already is returned as it is.
pub async fn create_pod_when_admitted(client: Client, ns: &str, pod: &Pod) -> Pod {
    let api = Api::<Pod>::namespaced(client, ns);
    let name = pod.name_any();
    wait_for(Duration::from_secs(30), || async {
        match api.create(&PostParams::default(), pod).await {
            Ok(p) => Ok(p),
            Err(kube::Error::Api(e)) if e.code == 409 => api.get(&name).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Creates Service `name` (port 8080) and its Pod `<name>-0`, Running with `Ready` = `ready`. A ready
/// one is returned once the endpointslice controller has published the ready endpoint, so that an
/// operator started next sees the Service ready from its first reconcile.
pub async fn implementation(ns: &TestNamespace, name: &str, labels_: &[(&str, &str)], ready: bool) -> Service {
    let svc = create_service(ns.client(), ns.name(), name, labels_, &[("http", 8080)]).await;
    create_running_pod(ns.client(), ns.name(), &format!("{name}-0"), &[("app", name)], ready).await;
    if ready {
        let slices: Api<EndpointSlice> = Api::namespaced(ns.client(), ns.name());
        let selector = kube::api::ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
        wait_for(Duration::from_secs(30), || async {
            let list = slices.list(&selector).await.ok()?;
            oda_api_operator::core::readiness::any_endpoint_ready(&list.items).then_some(())
        })
        .await;
    }
    svc
}

/// An ingress gateway Service labelled `istio=ingressgateway` with address 20.1.2.3 (port `http2`
/// 80), and a Service `impl` (port 8080) with one ready Pod.
pub async fn gateway_and_service(ns: &TestNamespace) {
    let labels_ = [("istio", "ingressgateway")];
    create_load_balancer_service(ns.client(), ns.name(), "istio-ingress", &labels_, &[("http2", 80)]).await;
    set_load_balancer_ip(ns.client(), ns.name(), "istio-ingress", "20.1.2.3").await;
    implementation(ns, "impl", &[], true).await;
}

//! A simulated Node and the Pods bound to it, in place of a kubelet.
//!
//! The test plane runs no kubelet and no scheduler. Pods are created with `spec.nodeName` set to a
//! Node object this module creates, and their status (phase, `Ready` condition, IP) is written by
//! the tests, so the cluster's real endpointslice controller makes the EndpointSlices from Pod
//! readiness, as on any cluster. The Node is tainted `NoSchedule` so that on a real cluster no
//! scheduler ever places a real workload on it; and a heartbeat renews its Lease, so that a real
//! cluster's node lifecycle controller keeps it (and its Pods) ready while the tests run.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{FIELD_MANAGER, admin_client, create_pod_when_admitted, pod_manifest};

/// Name of the simulated Node every test Pod is bound to.
pub const SIMULATED_NODE: &str = "oda-testenv-node";
const LEASE_NAMESPACE: &str = "kube-node-lease";
const HEARTBEAT: Duration = Duration::from_secs(10);

static HEARTBEAT_STARTED: Once = Once::new();
static POD_IPS: AtomicU32 = AtomicU32::new(1);

/// Creates (or updates) the simulated Node, Ready, and starts its heartbeat once per test process.
pub async fn ensure_simulated_node(client: Client) {
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": SIMULATED_NODE, "labels": {
            "kubernetes.io/hostname": SIMULATED_NODE,
            "oda-testenv/simulated": "true",
        }},
        "spec": { "taints": [{ "key": "oda-testenv/simulated", "value": "true", "effect": "NoSchedule" }] },
    });
    let nodes = Api::<Node>::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force().validation_strict();
    nodes.patch(SIMULATED_NODE, &params, &Patch::Apply(&node)).await.expect("applying the simulated Node");
    write_node_ready(&client).await;
    HEARTBEAT_STARTED.call_once(|| {
        std::thread::spawn(heartbeat);
    });
}

async fn write_node_ready(client: &Client) {
    let now = Time(jiff::Timestamp::now());
    let status = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": SIMULATED_NODE },
        "status": {
            "conditions": [{ "type": "Ready", "status": "True", "reason": "Simulated",
                             "message": "simulated by the e2e suite", "lastHeartbeatTime": now,
                             "lastTransitionTime": now }],
            "addresses": [{ "type": "InternalIP", "address": "10.255.0.1" },
                          { "type": "Hostname", "address": SIMULATED_NODE }],
        },
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Api::<Node>::all(client.clone())
        .patch_status(SIMULATED_NODE, &params, &Patch::Apply(&status))
        .await
        .expect("writing the simulated Node's status");
}

/// Renews the Node's Lease and Ready condition for as long as the test process runs. Only a cluster
/// with a node lifecycle controller reads them; the test plane has none.
fn heartbeat() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    rt.block_on(async {
        let client = admin_client().await;
        let leases = Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE);
        loop {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": { "name": SIMULATED_NODE, "namespace": LEASE_NAMESPACE },
                "spec": { "holderIdentity": SIMULATED_NODE, "leaseDurationSeconds": 40,
                          "renewTime": MicroTime(jiff::Timestamp::now()) },
            });
            let params = PatchParams::apply(FIELD_MANAGER).force();
            if let Err(e) = leases.patch(SIMULATED_NODE, &params, &Patch::Apply(&lease)).await {
                eprintln!("warning: renewing the simulated Node's Lease: {e}");
            }
            write_node_ready(&client).await;
            tokio::time::sleep(HEARTBEAT).await;
        }
    });
}

/// A Pod IP of its own (the endpointslice controller publishes what the status says).
fn next_pod_ip() -> String {
    let n = POD_IPS.fetch_add(1, Ordering::Relaxed) + (std::process::id() % 64) * 65536;
    format!("10.{}.{}.{}", 128 + (n >> 16) % 64, (n >> 8) % 256, n % 256)
}

/// Creates a Pod bound to the simulated Node, Running, with `Ready` = `ready`.
pub async fn create_running_pod(client: Client, ns: &str, name: &str, labels_: &[(&str, &str)], ready: bool) -> Pod {
    let pod = pod_manifest(name, labels_, Some(SIMULATED_NODE));
    run_pod_at(client, ns, &pod, &next_pod_ip(), ready).await
}

/// Creates `pod` (made by [`pod_manifest`] for the simulated Node), Running at `ip`, with `Ready` =
/// `ready`: a data-plane test's Pod whose address is where its process really listens.
pub async fn run_pod_at(client: Client, ns: &str, pod: &Pod, ip: &str, ready: bool) -> Pod {
    ensure_simulated_node(client.clone()).await;
    let name = pod.name_any();
    let name = name.as_str();
    create_pod_when_admitted(client.clone(), ns, pod).await;
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let status = json!({ "status": {
        "phase": "Running",
        "hostIP": "10.255.0.1",
        "podIP": ip,
        "podIPs": [{ "ip": ip }],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("setting the status of Pod {ns}/{name}: {e}"));
    set_pod_ready(client, ns, name, ready).await
}

/// Deletes the Pods bound to the simulated Node in `ns` at once (grace period 0), as their kubelet
/// would once their containers stopped: a bound Pod's graceful deletion waits for its kubelet, and
/// a namespace is not removed while it holds Pods.
pub async fn release_simulated_pods(client: Client, ns: &str) {
    let pods = Api::<Pod>::namespaced(client, ns);
    let on_node = ListParams::default().fields(&format!("spec.nodeName={SIMULATED_NODE}"));
    let Ok(list) = pods.list_metadata(&on_node).await else { return };
    let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
    for pod in list.items {
        if let Err(e) = pods.delete(&pod.name_any(), &now).await {
            eprintln!("warning: deleting Pod {ns}/{}: {e}", pod.name_any());
        }
    }
}

/// Sets the Pod's `Ready` (and `ContainersReady`) condition, as a kubelet does after its probes.
pub async fn set_pod_ready(client: Client, ns: &str, name: &str, ready: bool) -> Pod {
    let status = if ready { "True" } else { "False" };
    let now = Time(jiff::Timestamp::now());
    let conditions: Vec<_> = ["Ready", "ContainersReady"]
        .iter()
        .map(|t| json!({ "type": t, "status": status, "lastTransitionTime": now }))
        .collect();
    // Strategic merge: conditions merge by type, as the kubelet writes them.
    let patch = json!({ "status": { "conditions": conditions } });
    let pod = Api::<Pod>::namespaced(client, ns)
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap_or_else(|e| panic!("setting Ready={status} on Pod {ns}/{name}: {e}"));
    assert_eq!(pod.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some(SIMULATED_NODE), "{}", pod.name_any());
    pod
}

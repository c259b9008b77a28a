//! A real data plane for one test: istiod (started by `scripts/testenv up`) and an Envoy of the
//! test's own acting as the ingress gateway, with everything istiod needs to configure it in the
//! test's namespace: the gateway Pod and Service, an Istio `Gateway` (for VirtualServices) and a
//! Gateway API `Gateway` of class `istio` (for HTTPRoutes), both on one HTTP listener.
//!
//! istiod runs with `PILOT_SCOPE_GATEWAY_TO_NAMESPACE`, so a Gateway configures only the Envoy of its
//! own namespace: tests running at once each have a gateway of their own, on a port of their own.
//! Addresses are the machine's non-loopback address (`ODA_TESTENV_HOST_IP`): the API server refuses
//! loopback endpoints, and Envoy must reach the backends at the Pod addresses istiod sends it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

use super::*;

/// The ingress gateway Service (labelled `istio=ingressgateway`, where the operator reads the URL's
/// address), the Istio Gateway and the Gateway API Gateway of a [`Gateway`].
pub const GATEWAY_SERVICE: &str = "istio-ingressgateway";
pub const ISTIO_GATEWAY: &str = "component-gateway";
pub const GATEWAY_API_GATEWAY: &str = "gw";
/// The listener of both Gateways.
pub const LISTENER: &str = "http";
const GATEWAY_POD: &str = "gateway-0";
const GATEWAY_LABEL: (&str, &str) = ("oda-e2e/gateway", "envoy");
/// What Istio's Gateway API policies (`targetRefs` naming a Gateway) select the Gateway's Pods by:
/// a Pod of a gateway istiod deploys carries it, so the Pods of a manually deployed one must too.
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";
/// istiod 1.31 still sets this route field, which Envoy 1.39 calls deprecated on every route update.
pub const ISTIO_DEPRECATION: &str = "RouteAction.max_grpc_timeout";
const BOOTSTRAP: &str = include_str!("../../../scripts/testenv-envoy/bootstrap.yaml");

/// What `scripts/testenv up` provides for request-level tests.
#[derive(Clone, Debug)]
pub struct DataPlane {
    envoy: PathBuf,
    xds: String,
    pub host_ip: String,
}

impl DataPlane {
    /// The data plane, or `None` (and a line saying why the test is skipped) when the plane runs
    /// without one (`ODA_TESTENV_DATAPLANE=0`, or a cluster of `TESTENV_KUBECONFIG`).
    pub fn from_env(test: &str) -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("ODA_TESTENV_ENVOY"), var("ODA_TESTENV_XDS"), var("ODA_TESTENV_HOST_IP")) {
            (Some(envoy), Some(xds), Some(host_ip)) => Some(DataPlane { envoy: envoy.into(), xds, host_ip }),
            _ => {
                eprintln!(
                    "{test}: skipped: no data plane (ODA_TESTENV_ENVOY, ODA_TESTENV_XDS, ODA_TESTENV_HOST_IP \
                     come from `scripts/testenv up` with its data plane)"
                );
                None
            }
        }
    }
}

/// A free TCP port on `ip` (bound, then released for the caller).
pub fn free_port(ip: &str) -> u16 {
    let listener = std::net::TcpListener::bind((ip, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// An Envoy configured by istiod as the test namespace's ingress gateway. Killed when dropped.
pub struct Gateway {
    pub port: u16,
    pub host_ip: String,
    admin: u16,
    log: PathBuf,
    child: tokio::process::Child,
}

impl Gateway {
    /// Creates the gateway's objects in `ns`, starts its Envoy and waits until istiod has given it
    /// its first configuration.
    pub async fn start(ns: &TestNamespace, plane: &DataPlane) -> Self {
        let port = free_port(&plane.host_ip);
        let admin = free_port("127.0.0.1");
        gateway_objects(ns, plane, port).await;
        let dir = std::env::temp_dir().join("oda-e2e-envoy");
        std::fs::create_dir_all(&dir).expect("envoy dir");
        let bootstrap = dir.join(format!("{}.yaml", ns.name()));
        let log = dir.join(format!("{}.log", ns.name()));
        std::fs::write(&bootstrap, bootstrap_yaml(ns.name(), plane, admin)).expect("bootstrap written");
        let child = tokio::process::Command::new(&plane.envoy)
            .args(["-c", &bootstrap.to_string_lossy(), "--disable-hot-restart", "--concurrency", "1"])
            .args(["--log-level", &envoy_log_level(), "--log-path", &log.to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("envoy starts");
        let gateway = Gateway { port, host_ip: plane.host_ip.clone(), admin, log, child };
        let ready = format!("http://127.0.0.1:{admin}/ready");
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while !http::get(&ready).await.is_ok_and(|a| a.status == 200) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        if waited.is_err() {
            panic!("the gateway Envoy of {} is not ready after 60 s; its log:\n{}", ns.name(), gateway.log_tail());
        }
        gateway
    }

    /// The gateway's base URL (`http://<host ip>:<port>`), what the operator publishes.
    pub fn base(&self) -> String {
        format!("http://{}:{}", self.host_ip, self.port)
    }

    /// The last lines of the Envoy log (warnings and errors) but Istio's known deprecation notes
    /// (`docs/dataplane.md`): shown when a test fails.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        super::last_lines(&text, 40, |l| l.contains(ISTIO_DEPRECATION))
    }

    /// The deprecation warnings Envoy logged for the configuration it was given, but Istio's own
    /// ([`ISTIO_DEPRECATION`]): what the operator writes must be in the form Envoy keeps.
    pub fn deprecations(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("deprecat") && !l.contains(ISTIO_DEPRECATION))
            .map(str::to_owned)
            .collect()
    }

    /// The whole Envoy log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Envoy's view of its configuration (admin `/config_dump`), for diagnostics.
    pub async fn config_dump(&self) -> String {
        http::get(&format!("http://127.0.0.1:{}/config_dump", self.admin)).await.map(|a| a.body).unwrap_or_default()
    }

    /// Whether the Envoy still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Envoy's log level: `warn`, or `E2E_ENVOY_LOG_LEVEL` (e.g. `debug` to see every request).
fn envoy_log_level() -> String {
    std::env::var("E2E_ENVOY_LOG_LEVEL").ok().filter(|l| !l.is_empty()).unwrap_or_else(|| "warn".into())
}

fn bootstrap_yaml(ns: &str, plane: &DataPlane, admin: u16) -> String {
    let (xds_host, xds_port) = plane.xds.rsplit_once(':').expect("ODA_TESTENV_XDS is host:port");
    let labels = json!({
        "istio": "ingressgateway", GATEWAY_LABEL.0: GATEWAY_LABEL.1, GATEWAY_NAME_LABEL: GATEWAY_API_GATEWAY,
    })
    .to_string();
    BOOTSTRAP
        .replace("@IP@", &plane.host_ip)
        .replace("@POD@", GATEWAY_POD)
        .replace("@NAMESPACE@", ns)
        .replace("@LABELS@", &labels)
        .replace("@ADMIN_PORT@", &admin.to_string())
        .replace("@XDS_HOST@", xds_host)
        .replace("@XDS_PORT@", xds_port)
}

/// The gateway's Pod (at the host address, so istiod knows the Envoy as that Pod's proxy), its
/// Service, and the two Gateways.
async fn gateway_objects(ns: &TestNamespace, plane: &DataPlane, port: u16) {
    let port = i32::from(port);
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": GATEWAY_SERVICE, "labels": {"istio": "ingressgateway"}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {GATEWAY_LABEL.0: GATEWAY_LABEL.1},
            "ports": [{"name": "http2", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }))
    .expect("valid Service");
    Api::<Service>::namespaced(ns.client(), ns.name())
        .create(&PostParams::default(), &service)
        .await
        .unwrap_or_else(|e| panic!("creating the gateway Service: {e}"));
    set_load_balancer_ip(ns.client(), ns.name(), GATEWAY_SERVICE, &plane.host_ip).await;
    let labels = [GATEWAY_LABEL, ("istio", "ingressgateway"), (GATEWAY_NAME_LABEL, GATEWAY_API_GATEWAY)];
    let mut pod = pod_manifest(GATEWAY_POD, &labels, Some(SIMULATED_NODE));
    set_container_port(&mut pod, port);
    run_pod_at(ns.client(), ns.name(), &pod, &plane.host_ip, true).await;

    let istio_gateway = dynamic_object(
        &istio_gateway_resource(),
        ns.name(),
        ISTIO_GATEWAY,
        &[],
        json!({"spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{"port": {"number": port, "name": LISTENER, "protocol": "HTTP"}, "hosts": ["*"]}],
        }}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &istio_gateway_resource()), &istio_gateway).await;
    let gateway = dynamic_object(
        &gateway_api_gateway_resource(),
        ns.name(),
        GATEWAY_API_GATEWAY,
        &[],
        json!({"spec": {
            "gatewayClassName": "istio",
            // A Service's host name: istiod's "manual deployment", configuring the Pods of that
            // Service (ours) instead of deploying a gateway of its own.
            "addresses": [{"type": "Hostname", "value": format!("{GATEWAY_SERVICE}.{}.svc.cluster.local", ns.name())}],
            "listeners": [{"name": LISTENER, "port": port, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}],
        }}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource()), &gateway).await;
}

fn set_container_port(pod: &mut Pod, port: i32) {
    let port: k8s_openapi::api::core::v1::ContainerPort =
        serde_json::from_value(json!({"containerPort": port, "protocol": "TCP"})).expect("valid port");
    if let Some(container) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        container.ports = Some(vec![port]);
    }
}

/// An implementation the gateway can reach: Service `name` (port `service_port`, targeting the
/// backend's real port) and its Pod `<name>-0` at the host address, `Ready` = `ready`, declaring
/// the backend's port as its container port.
pub async fn served_implementation(
    ns: &TestNamespace,
    plane: &DataPlane,
    name: &str,
    service_port: i32,
    backend: &http::Backend,
    ready: bool,
) -> Service {
    let mut svc = service(name, &[], &[("http", service_port)]);
    if let Some(port) = svc.spec.as_mut().and_then(|s| s.ports.as_mut()).and_then(|p| p.first_mut()) {
        port.target_port =
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i32::from(backend.port())));
    }
    let svc = Api::<Service>::namespaced(ns.client(), ns.name())
        .create(&PostParams::default(), &svc)
        .await
        .unwrap_or_else(|e| panic!("creating Service {name}: {e}"));
    let mut pod = pod_manifest(&format!("{name}-0"), &[("app", name)], Some(SIMULATED_NODE));
    set_container_port(&mut pod, i32::from(backend.port()));
    run_pod_at(ns.client(), ns.name(), &pod, &plane.host_ip, ready).await;
    svc
}
